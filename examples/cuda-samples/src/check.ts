import type { Device, DeviceBuffer } from '@tessera/device';

/** What every kernel of a sample returns: whether its result matched a float64 reference, and what the hardware would take. */
export interface ExampleResult {
  name: string;
  /** The result matched its reference (always true on a timing-only device, where nothing is checked). */
  ok: boolean;
  /** ‖out − ref‖ / ‖ref‖ against a float64 reference; NaN where nothing was checked (a timing-only device). */
  relError: number;
  /** Modelled kernel time on the device, ms (the sum of its launches where a variant launches more than once). */
  modelledMs: number;
  detail: string;
}

/**
 * A sample: one CUDA sample's job done by one or more kernels (the sample's own SIMT kernel first, then its other
 * versions). The top-level fields summarise: `ok` if every variant matched, the largest relative error, and the
 * modelled time of the CUDA sample's own kernel (`variants[0]`).
 */
export interface SampleResult extends ExampleResult {
  variants: ExampleResult[];
}

export function sample(name: string, detail: string, variants: ExampleResult[]): SampleResult {
  return {
    name,
    ok: variants.every((v) => v.ok),
    relError: Math.max(...variants.map((v) => v.relError)),
    modelledMs: variants[0]!.modelledMs,
    detail,
    variants,
  };
}

export function relError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i]!;
    if (Number.isNaN(o)) return Number.POSITIVE_INFINITY;
    num += (o - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Deterministic inputs in [-1, 1): never all zeros. */
export function inputs(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32) * 2 - 1;
  }
  return a;
}

/**
 * Random inputs in [-1, 1) (times `scale`) uploaded into `buf`, returned for the reference. A timing-only device
 * holds no data, so there nothing is generated or uploaded and the result is empty.
 */
export function uploadInputs(dev: Device, buf: DeviceBuffer, seed: number, scale = 1): Float32Array {
  if (dev.mode !== 'functional') return new Float32Array(0);
  const xs = inputs(buf.length, seed);
  if (scale !== 1) for (let i = 0; i < xs.length; i++) xs[i] = xs[i]! * scale;
  dev.upload(buf, xs);
  return xs;
}

/** Poisons an output with NaN, so that an element the kernel forgets to write fails the check. */
export function poison(dev: Device, buf: DeviceBuffer): void {
  if (dev.mode === 'functional') dev.fill(buf, Number.NaN);
}

/** ‖out − ref‖ / ‖ref‖ of a device buffer against a float64 reference; NaN (unchecked) on a timing-only device. */
export function compare(dev: Device, out: DeviceBuffer, ref: () => ArrayLike<number>): number {
  return dev.mode === 'functional' ? relError(dev.download(out), ref()) : Number.NaN;
}

/** A relative error within tolerance, or NaN: not checked. */
export function within(err: number, tol: number): boolean {
  return Number.isNaN(err) || err <= tol;
}
