/**
 * The backends the CLI knows — every backend in `@tessera/device`'s registry — and device lookup across them: device
 * ids are unique across backends, so `--device h100` or `--device 910B2` needs no `--backend`.
 *
 * Each `Backends` holds its own instances (`createBackend`), not the registry's shared ones, so a device added with
 * `--device-spec` belongs to that one run of the program.
 */

import { readFileSync } from 'node:fs';
import { type Backend, createBackend, type DeviceProperties, listBackends, TesseraError } from '@tessera/device';

export class Backends {
  private loading: Promise<Backend[]> | undefined;
  private loaded: Backend[] | undefined;

  /** Creates this program's instance of every registered backend, once; commands wait for it before anything else. */
  async load(): Promise<readonly Backend[]> {
    this.loading ??= Promise.all(listBackends().map((name) => createBackend(name)));
    this.loaded = await this.loading;
    return this.loaded;
  }

  /** Every registered backend, highest priority first (after `load()`). */
  get all(): readonly Backend[] {
    if (!this.loaded) {
      throw new TesseraError('NotInitialized', 'The CLI used its backends before loading them.', {
        hint: 'Await backends.load() first.',
      });
    }
    return this.loaded;
  }

  /** The backend registered as `name` (case-insensitive); `source` names where the name came from, for the error. */
  byName(name: string, source = '--backend'): Backend {
    const want = name.trim().toLowerCase();
    const b = this.all.find((x) => x.name === want);
    if (!b) {
      const registered = this.all.map((x) => x.name);
      throw new TesseraError(
        'NoBackend',
        source === 'TESSERA_BACKEND'
          ? `TESSERA_BACKEND names '${want}', but no backend of that name is registered.`
          : `No backend named '${want}' is registered.`,
        { hint: `Registered backends: ${registered.join(', ')}.`, backend: want, registered },
      );
    }
    return b;
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
    throw new TesseraError('InvalidDevice', `Unknown device '${id}'.`, {
      hint: `Known devices: ${known.join(', ')}. Add one with --device-spec FILE.`,
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
