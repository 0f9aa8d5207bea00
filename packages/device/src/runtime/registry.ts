/**
 * One registry of backends, as TF.js has: backends register a lazy factory under a name; the first use creates the
 * backend. The default is `TESSERA_BACKEND` if set, else the registered backend with the highest priority.
 *
 * Code above the backend floor finds backends here, by name; only a registration entry point (a side-effect import
 * of the backend packages, e.g. `import '@tessera/backend-nvidia-sim'`) names the packages themselves.
 */
import { TesseraError } from '../errors';
import { checkName, describeValue, invalidArgument } from '../validate';
import type { Backend } from './backend';
import type { DeviceProperties } from './properties';

type Factory = () => Backend | Promise<Backend>;

interface Entry {
  factory: Factory;
  priority: number;
  instance?: Promise<Backend>;
}

const registry = new Map<string, Entry>();

/** Registers a backend factory. Re-registering a name replaces it (and drops its instance). */
export function registerBackend(name: string, factory: Factory, options: { priority?: number } = {}): void {
  checkName('registerBackend', 'name', name);
  if (typeof factory !== 'function') {
    throw invalidArgument(
      'registerBackend',
      'factory',
      `must be a function returning a backend, got ${describeValue(factory)}`,
    );
  }
  const priority = options?.priority ?? 0;
  if (typeof priority !== 'number' || !Number.isFinite(priority)) {
    throw invalidArgument(
      'registerBackend',
      'options.priority',
      `must be a finite number, got ${describeValue(priority)}`,
    );
  }
  registry.set(name.toLowerCase(), { factory, priority });
}

export function removeBackend(name: string): boolean {
  return registry.delete(checkName('removeBackend', 'name', name).toLowerCase());
}

/**
 * Names of registered backends, highest priority first. A backend registered with a negative priority is opt-in
 * (`webgpu`: creating it opens a real device): never the default while another is registered, and left out by
 * `{ optIn: false }`, which callers that visit "every backend" unasked (`tessera devices`, the tour) use.
 */
export function listBackends(options: { optIn?: boolean } = {}): string[] {
  const optIn = options?.optIn ?? true;
  return [...registry.entries()]
    .filter(([, e]) => optIn || e.priority >= 0)
    .sort((a, b) => b[1].priority - a[1].priority)
    .map(([n]) => n);
}

/** `TESSERA_BACKEND`, trimmed and lower-cased, or undefined when unset or blank. */
function envBackendName(): string | undefined {
  const env = typeof process !== 'undefined' ? process.env.TESSERA_BACKEND : undefined;
  return env && env.trim() !== '' ? env.trim().toLowerCase() : undefined;
}

function defaultBackendName(): string {
  const env = envBackendName();
  if (env) return env;
  const names = listBackends();
  if (names.length === 0) {
    throw new TesseraError('NoBackend', 'No backend is registered.', {
      hint: "Import one first, e.g. `import '@tessera/backend-nvidia-sim'` or `import '@tessera/backend-ascend-sim'`.",
      registered: [],
    });
  }
  return names[0]!;
}

/** The registry entry for `name` (default: `TESSERA_BACKEND`, else the highest priority), or a `NoBackend` error. */
function lookup(fn: string, name: string | undefined): { key: string; entry: Entry } {
  const fromEnv = name === undefined && envBackendName() !== undefined;
  const key = (name === undefined ? defaultBackendName() : checkName(fn, 'name', name)).toLowerCase();
  const entry = registry.get(key);
  if (entry) return { key, entry };
  const known = listBackends();
  throw new TesseraError(
    'NoBackend',
    fromEnv
      ? `TESSERA_BACKEND names '${key}', but no backend of that name is registered.`
      : `No backend named '${key}' is registered.`,
    {
      hint: known.length
        ? `Registered backends: ${known.join(', ')}. Import the package that provides '${key}' before using it.`
        : "Import a backend package first, e.g. `import '@tessera/backend-nvidia-sim'`.",
      backend: key,
      registered: known,
    },
  );
}

/** Returns the named backend (or the default), creating it on first use; every caller shares that instance. */
export async function getBackend(name?: string): Promise<Backend> {
  const { entry } = lookup('getBackend', name);
  entry.instance ??= Promise.resolve().then(entry.factory);
  try {
    return await entry.instance;
  } catch (e) {
    entry.instance = undefined; // let a later call retry a factory that failed
    throw e;
  }
}

/**
 * Returns a new instance of the named backend (or the default) from its registered factory, independent of the one
 * `getBackend` shares: for callers that change a backend (`addDevice`) and must not change it for everyone else.
 */
export async function createBackend(name?: string): Promise<Backend> {
  const { entry } = lookup('createBackend', name);
  return await entry.factory();
}

/** Finds a device model in a backend's catalogue by id, case-insensitively, with a helpful error if absent. */
export function findDeviceModel(backend: Backend, id: string): DeviceProperties {
  if (typeof id !== 'string') {
    throw invalidArgument('findDeviceModel', 'id', `must be a device id (a string), got ${describeValue(id)}`);
  }
  const want = id.trim().toLowerCase();
  const all = backend.catalog();
  const hit = all.find((d) => d.id === want);
  if (hit) return hit;
  throw new TesseraError('InvalidDevice', `Backend '${backend.name}' has no device '${id}'.`, {
    hint: `Known devices: ${all.map((d) => d.id).join(', ')}. Add your own with backend.addDevice(spec).`,
  });
}
