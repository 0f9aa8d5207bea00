/**
 * The backends the CLI knows — every backend in `@tessera/device`'s registry — and device lookup across them: device
 * ids are unique across backends, so `--device h100` or `--device 910B2` needs no `--backend`.
 *
 * Each `Backends` holds its own instances (`createBackend`), not the registry's shared ones, so a device added with
 * `--device-spec` belongs to that one run of the program. Opt-in backends (registered with a negative priority:
 * `webgpu`, whose creation opens a real GPU) are created only when a command names them (`--backend`,
 * `TESSERA_BACKEND`); one that cannot be created (no adapter) fails only the command that asked for it.
 */

import { readFileSync } from 'node:fs';
import {
  type Backend,
  createBackend,
  type DeviceProperties,
  isTesseraError,
  listBackends,
  TesseraError,
} from '@tessera/device';

export class Backends {
  private loading: Promise<Backend[]> | undefined;
  private loaded: Backend[] | undefined;
  /** Opt-in backends that were asked for and could not be created, with the reason. */
  private readonly failed = new Map<string, TesseraError>();

  /**
   * Creates this program's instance of every registered backend that is not opt-in, once, and of each opt-in one
   * `names` lists (unknown names are left to `byName` to report); commands wait for it before anything else.
   */
  async load(names: readonly (string | undefined)[] = []): Promise<readonly Backend[]> {
    this.loading ??= Promise.all(listBackends({ optIn: false }).map((name) => createBackend(name)));
    const base = await this.loading;
    this.loaded ??= base;
    const registered = listBackends();
    for (const raw of names) {
      const name = raw?.trim().toLowerCase();
      if (!name || !registered.includes(name) || this.failed.has(name) || this.loaded.some((b) => b.name === name))
        continue;
      try {
        this.loaded = [...this.loaded, await createBackend(name)];
      } catch (e) {
        if (!isTesseraError(e)) throw e;
        this.failed.set(name, e);
      }
    }
    // Registry order (highest priority first), whatever order they were asked for in.
    this.loaded.sort((a, b) => registered.indexOf(a.name) - registered.indexOf(b.name));
    return this.loaded;
  }

  /** The backends created so far (after `load()`): every one that is not opt-in, and the opt-in ones asked for. */
  get all(): readonly Backend[] {
    if (!this.loaded) {
      throw new TesseraError('NotInitialized', 'The CLI used its backends before loading them.', {
        hint: 'Await backends.load() first.',
      });
    }
    return this.loaded;
  }

  /** Opt-in backends that are registered but were not asked for (`tessera devices` mentions them). */
  notLoaded(): string[] {
    return listBackends().filter((n) => !this.all.some((b) => b.name === n) && !this.failed.has(n));
  }

  /**
   * The backend registered as `name` (case-insensitive); `source` names where the name came from, for the error. An
   * opt-in backend must have been named to `load` first; one that could not be created throws why.
   */
  byName(name: string, source = '--backend'): Backend {
    const want = name.trim().toLowerCase();
    const b = this.all.find((x) => x.name === want);
    if (b) return b;
    const failure = this.failed.get(want);
    if (failure) throw failure;
    const registered = listBackends();
    if (registered.includes(want))
      throw new TesseraError('NotInitialized', `The CLI used backend '${want}' before loading it.`, {
        hint: 'Pass its name to backends.load() first.',
      });
    throw new TesseraError(
      'NoBackend',
      source === 'TESSERA_BACKEND'
        ? `TESSERA_BACKEND names '${want}', but no backend of that name is registered.`
        : `No backend named '${want}' is registered.`,
      { hint: `Registered backends: ${registered.join(', ')}.`, backend: want, registered },
    );
  }

  /** The backends a command uses when no `--backend` is given: the one `TESSERA_BACKEND` names, else all of them. */
  selected(): readonly Backend[] {
    const env = process.env.TESSERA_BACKEND?.trim();
    return env ? [this.byName(env, 'TESSERA_BACKEND')] : this.all;
  }

  /** Finds a device id (case-insensitive) in any backend's catalogue. */
  findDevice(id: string): { backend: Backend; device: DeviceProperties } {
    const want = id.trim().toLowerCase();
    for (const backend of this.all) {
      const device = backend.catalog().find((d) => d.id === want);
      if (device) return { backend, device };
    }
    const known = this.all.flatMap((b) => b.catalog().map((d) => d.id));
    const optIn = this.notLoaded();
    throw new TesseraError('InvalidDevice', `Unknown device '${id}'.`, {
      hint:
        `Known devices: ${known.join(', ')}. Add one with --device-spec FILE.` +
        (optIn.length
          ? ` (${optIn.join(', ')}: name it with --backend or TESSERA_BACKEND=${optIn[0]} for its devices.)`
          : ''),
    });
  }

  /** Adds a device from a JSON spec file; its `vendor` (nvidia / huawei) picks the backend. */
  addSpecFile(path: string): DeviceProperties {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new TesseraError('InvalidValue', `Cannot read device spec '${path}': ${(e as Error).message}.`);
    }
    let spec: unknown;
    try {
      spec = JSON.parse(text);
    } catch (e) {
      throw new TesseraError('InvalidValue', `${path} is not valid JSON: ${(e as Error).message}.`);
    }
    const vendor = (spec as { vendor?: unknown })?.vendor;
    const backend =
      vendor === 'huawei' ? this.byName('ascend-sim') : vendor === 'nvidia' ? this.byName('nvidia-sim') : null;
    if (!backend) {
      throw new TesseraError(
        'InvalidValue',
        `${path}: field 'vendor' must be "nvidia" or "huawei", got ${JSON.stringify(vendor)}.`,
      );
    }
    return backend.addDevice(spec, path);
  }
}
