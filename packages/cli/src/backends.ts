/**
 * The backends the CLI knows, and device lookup across them: device ids are unique across backends, so
 * `--device h100` or `--device 910B2` needs no `--backend`.
 */

import { readFileSync } from 'node:fs';
import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { type Backend, type DeviceProperties, TesseraError } from '@tessera/device';

export class Backends {
  readonly all: Backend[] = [createNvidiaSimBackend(), createAscendSimBackend()];

  byName(name: string): Backend {
    const b = this.all.find((x) => x.name === name.toLowerCase());
    if (!b) {
      throw new TesseraError('NoBackend', `Unknown backend '${name}'.`, {
        hint: `Use one of: ${this.all.map((x) => x.name).join(', ')}.`,
      });
    }
    return b;
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
