/**
 * The dashboard's shell: the header (what is served, on what hardware), the API key when the server wants one, and
 * five views behind hash routes (#/chat, #/engine, #/cluster, #/projection, #/playground) so a view can be linked
 * and the browser's back button works. Under `tessera ui` there is no model: chat and the engine view are hidden.
 */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { InfoResponse } from '../../src/api';
import { apiKey, getJson, messageOf, setApiKey } from './api-client';
import { type Health, healthFrom } from './data/health';
import { ChatView } from './views/chat';
import { ClusterView } from './views/cluster';
import { EngineView } from './views/engine';
import { ProjectionView } from './views/projection';

type Route = 'chat' | 'engine' | 'cluster' | 'projection' | 'playground';

const ROUTES: { id: Route; label: string; needsModel: boolean }[] = [
  { id: 'chat', label: 'Chat', needsModel: true },
  { id: 'engine', label: 'Engine', needsModel: true },
  { id: 'cluster', label: 'Cluster', needsModel: false },
  { id: 'projection', label: 'Projection', needsModel: false },
  { id: 'playground', label: 'Kernel playground', needsModel: false },
];

/**
 * The playground carries the kernel compiler, both simulators and the editor (most of the bundle): it loads when first
 * opened, so the other views are interactive at once.
 */
function LazyPlayground() {
  const [view, setView] = useState<(() => JSX.Element) | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    import('./views/playground').then(
      (m) => setView(() => m.PlaygroundView),
      (e) => setError(`Could not load the playground: ${messageOf(e)}`),
    );
  }, []);
  if (error) return <p class="error">{error}</p>;
  const View = view;
  return View ? <View /> : <p class="muted">Loading the kernel compiler and the simulators…</p>;
}

function routeFromHash(info: InfoResponse | null): Route {
  const id = location.hash.replace(/^#\/?/, '') as Route;
  const allowed = ROUTES.filter((r) => !r.needsModel || info?.model);
  if (allowed.some((r) => r.id === id)) return id;
  return info?.model ? 'chat' : 'projection';
}

export function App() {
  const [info, setInfo] = useState<InfoResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [route, setRoute] = useState<Route>(() => routeFromHash(null));
  const [key, setKey] = useState(apiKey());
  const [visited, setVisited] = useState<ReadonlySet<Route>>(new Set());

  useEffect(() => {
    if (info && !visited.has(route)) setVisited(new Set([...visited, route]));
  }, [info, route, visited]);

  useEffect(() => {
    getJson<InfoResponse>('/api/info')
      .then((i) => {
        setInfo(i);
        setRoute(routeFromHash(i));
      })
      .catch((e) => setError(`Could not reach the server: ${messageOf(e)}`));
  }, []);

  // While a model is served, /health every 5 s: a device fault that ends the engine shows at the top of every view.
  const [health, setHealth] = useState<Health>({ state: 'ok' });
  useEffect(() => {
    if (info?.mode !== 'serve') return undefined;
    const check = () =>
      fetch('/health').then(
        async (res) =>
          setHealth(healthFrom(res.status, res.status === 503 ? await res.json().catch(() => null) : null)),
        () => setHealth(healthFrom(null, null)),
      );
    const timer = setInterval(check, 5000);
    return () => clearInterval(timer);
  }, [info]);

  useEffect(() => {
    const onHash = () => setRoute(routeFromHash(info));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, [info]);

  useEffect(() => {
    const label = ROUTES.find((r) => r.id === route)?.label ?? '';
    document.title = `${label} · Tessera`;
  }, [route]);

  const routes = ROUTES.filter((r) => !r.needsModel || info?.model);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <div class="brand">
          <span class="logo" aria-hidden="true" />
          <span>Tessera</span>
        </div>
        <nav aria-label="Views">
          <ul class="tabs">
            {routes.map((r) => (
              <li key={r.id}>
                <a href={`#/${r.id}`} aria-current={route === r.id ? 'page' : undefined}>
                  {r.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        {info?.apiKeyRequired && (
          <label class="key">
            API key
            <input
              type="password"
              autocomplete="off"
              value={key}
              onInput={(e) => {
                const v = (e.target as HTMLInputElement).value;
                setKey(v);
                setApiKey(v);
              }}
            />
          </label>
        )}
      </header>
      {info?.model && (
        <p class="hardware" data-testid="hardware">
          <strong>{info.model.id}</strong> on {info.model.hardware}
          {info.model.untrained && <span class="badge warn">untrained weights</span>}
        </p>
      )}
      {health.state !== 'ok' && (
        <p class="error banner" role="alert" data-testid="health">
          {health.state === 'failed' ? `The engine has stopped serving: ${health.reason}` : health.reason}
        </p>
      )}
      <main id="main" tabIndex={-1}>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {info === null && !error && <p class="muted">Connecting…</p>}
        {info && (
          <>
            {/* A view stays mounted once opened (hidden when another is shown): the chat keeps its messages and the
                engine feed its window while the visitor looks elsewhere. */}
            {visited.has('chat') && info.model && (
              <section hidden={route !== 'chat'} aria-label="Chat">
                <ChatView model={info.model} />
              </section>
            )}
            {visited.has('engine') && info.model && (
              <section hidden={route !== 'engine'} aria-label="Engine">
                <EngineView />
              </section>
            )}
            {visited.has('cluster') && (
              <section hidden={route !== 'cluster'} aria-label="Cluster">
                <ClusterView serving={info.mode === 'serve'} />
              </section>
            )}
            {visited.has('projection') && (
              <section hidden={route !== 'projection'} aria-label="Projection">
                <ProjectionView />
              </section>
            )}
            {visited.has('playground') && (
              <section hidden={route !== 'playground'} aria-label="Kernel playground">
                <LazyPlayground />
              </section>
            )}
          </>
        )}
      </main>
    </>
  );
}
