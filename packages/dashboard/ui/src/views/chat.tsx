/**
 * The chat playground: streaming chat (or plain completion) against this server's /v1 API with the sampling
 * controls, each answer showing wall and modelled TTFT/TPOT and the hardware it ran on, beside the model card. The
 * message log is a fixed-height scroller and each answer reserves its figures line above its text, so nothing moves
 * while tokens stream in.
 */
import { useRef, useState } from 'preact/hooks';
import type { ModelCard } from '../../../src/api';
import { authHeaders, errorFrom, messageOf } from '../api-client';
import {
  type AssistantTurn,
  applyChunk,
  chatRequestBody,
  DEFAULT_SAMPLING,
  emptyTurn,
  parseStreamData,
  type SamplingSettings,
} from '../data/chat';
import { fmtMs } from '../data/format';
import { readSse } from '../data/sse';

interface Message {
  role: 'user' | 'assistant';
  content: string;
  turn?: AssistantTurn;
}

function Figures({ turn }: { turn: AssistantTurn | undefined }) {
  if (!turn || (!turn.wall && !turn.error)) {
    return (
      <p class="figures muted" aria-live="off">
        {turn ? 'streaming…' : ''}
      </p>
    );
  }
  if (turn.error) return <p class="figures error">{turn.error}</p>;
  return (
    <p class="figures" data-testid="latencies">
      <span title="Measured on this machine, which computes every kernel on its CPU">
        wall TTFT <b data-testid="wall-ttft">{fmtMs(turn.wall?.ttftMs)}</b> · TPOT {fmtMs(turn.wall?.tpotMs)}
      </span>
      <span title="What the simulated hardware would take for the same steps">
        modelled TTFT <b data-testid="modelled-ttft">{fmtMs(turn.modelled?.ttftMs)}</b> · TPOT{' '}
        {fmtMs(turn.modelled?.tpotMs)}
      </span>
      <span class="muted">
        on {turn.hardware} · {turn.finishReason ?? ''}
      </span>
    </p>
  );
}

function NumberField(props: {
  label: string;
  value: number;
  min: number;
  max: number;
  step: number;
  onChange: (v: number) => void;
}) {
  return (
    <label>
      {props.label}
      <input
        type="number"
        min={props.min}
        max={props.max}
        step={props.step}
        value={props.value}
        onChange={(e) => {
          const v = Number((e.target as HTMLInputElement).value);
          if (Number.isFinite(v)) props.onChange(Math.min(props.max, Math.max(props.min, v)));
        }}
      />
    </label>
  );
}

export function ChatView({ model }: { model: ModelCard }) {
  const [messages, setMessages] = useState<Message[]>([]);
  const [draft, setDraft] = useState('Hello! Tell me about tensor parallelism.');
  const [mode, setMode] = useState<'chat' | 'completion'>('chat');
  const [sampling, setSampling] = useState<SamplingSettings>(DEFAULT_SAMPLING);
  const [busy, setBusy] = useState(false);
  const abort = useRef<AbortController | null>(null);
  const log = useRef<HTMLDivElement>(null);

  const set = (patch: Partial<SamplingSettings>) => setSampling({ ...sampling, ...patch });

  async function send(e: Event) {
    e.preventDefault();
    const text = draft.trim();
    if (!text || busy) return;
    const history = mode === 'chat' ? messages.map((m) => ({ role: m.role, content: m.content })) : [];
    const next: Message[] = [...(mode === 'chat' ? messages : []), { role: 'user', content: text }];
    setMessages([...next, { role: 'assistant', content: '', turn: emptyTurn() }]);
    setBusy(true);
    const controller = new AbortController();
    abort.current = controller;
    const started = performance.now();
    let turn = emptyTurn();
    const show = () => {
      setMessages([...next, { role: 'assistant', content: turn.text, turn }]);
      const el = log.current;
      if (el) el.scrollTop = el.scrollHeight;
    };
    try {
      const body =
        mode === 'chat'
          ? chatRequestBody(model.id, [...history, { role: 'user', content: text }], sampling)
          : { ...chatRequestBody(model.id, [], sampling), messages: undefined, prompt: text };
      const res = await fetch(mode === 'chat' ? '/v1/chat/completions' : '/v1/completions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...authHeaders() },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      if (!res.ok || !res.body) throw await errorFrom(res);
      for await (const ev of readSse(res.body, controller.signal)) {
        const data = parseStreamData(ev.data);
        if (data === 'done') break;
        turn = applyChunk(turn, data, performance.now() - started);
        show();
      }
    } catch (err) {
      turn = { ...turn, error: messageOf(err) };
      show();
    } finally {
      setBusy(false);
      abort.current = null;
    }
  }

  return (
    <div class="chat-layout">
      <div class="panel chat-main">
        <div class="chat-log" ref={log} aria-live="polite" data-testid="chat-log">
          {messages.length === 0 && (
            <p class="muted">
              Send a message to start. Every token is computed by Tessera kernels on the simulated hardware.
            </p>
          )}
          {messages.map((m, i) => (
            <div
              key={i}
              class={`msg ${m.role}`}
              data-testid={m.role === 'assistant' ? 'assistant-message' : undefined}
              data-chunks={m.turn?.chunks}
            >
              <div class="who">{m.role === 'user' ? 'You' : model.id}</div>
              {/* The figures sit above the text, in a line reserved from the start: streamed text grows only at the
                  bottom of the log, so nothing on screen moves while it arrives. */}
              {m.role === 'assistant' && <Figures turn={m.turn} />}
              <div class="text">
                {m.content || (m.role === 'assistant' && busy && i === messages.length - 1 ? '…' : '')}
              </div>
            </div>
          ))}
        </div>
        <form class="composer" onSubmit={send}>
          <label class="sr-only" for="chat-input">
            Message
          </label>
          <textarea
            id="chat-input"
            rows={2}
            value={draft}
            onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) send(e);
            }}
          />
          {busy ? (
            <button type="button" onClick={() => abort.current?.abort()}>
              Stop
            </button>
          ) : (
            <button type="submit" class="primary" data-testid="send">
              Send
            </button>
          )}
        </form>
      </div>
      <aside class="panel side">
        <h2>Model</h2>
        <dl class="card" data-testid="model-card">
          <dt>id</dt>
          <dd>{model.id}</dd>
          <dt>weights</dt>
          <dd>
            {model.untrained ? (
              <span class="badge warn">untrained (seeded random) — its text is noise by design</span>
            ) : (
              `${model.format}: ${model.source}`
            )}
          </dd>
          <dt>about</dt>
          <dd>{model.description}</dd>
          <dt>shape</dt>
          <dd>
            {model.layers} layers, hidden {model.hiddenSize}, {model.heads} heads / {model.kvHeads} KV, vocab{' '}
            {model.vocabSize}, {model.dtype}
          </dd>
          <dt>context</dt>
          <dd>{model.maxModelLen} tokens</dd>
          <dt>hardware</dt>
          <dd>{model.hardware}</dd>
        </dl>
        <h2>Sampling</h2>
        <div class="controls">
          <label>
            Mode
            <select
              value={mode}
              onChange={(e) => setMode((e.target as HTMLSelectElement).value as 'chat' | 'completion')}
            >
              <option value="chat">chat</option>
              <option value="completion">completion</option>
            </select>
          </label>
          <NumberField
            label="max tokens"
            value={sampling.maxTokens}
            min={1}
            max={model.maxModelLen}
            step={1}
            onChange={(v) => set({ maxTokens: Math.round(v) })}
          />
          <NumberField
            label="temperature"
            value={sampling.temperature}
            min={0}
            max={2}
            step={0.1}
            onChange={(v) => set({ temperature: v })}
          />
          <NumberField
            label="top p"
            value={sampling.topP}
            min={0.01}
            max={1}
            step={0.05}
            onChange={(v) => set({ topP: v })}
          />
          <NumberField
            label="top k (−1: off)"
            value={sampling.topK}
            min={-1}
            max={1000}
            step={1}
            onChange={(v) => set({ topK: Math.round(v) })}
          />
          <label>
            seed
            <input
              type="number"
              placeholder="random"
              value={sampling.seed ?? ''}
              onChange={(e) => {
                const raw = (e.target as HTMLInputElement).value;
                set({ seed: raw === '' ? null : Math.round(Number(raw)) });
              }}
            />
          </label>
        </div>
      </aside>
    </div>
  );
}
