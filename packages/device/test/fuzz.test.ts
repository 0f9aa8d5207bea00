/**
 * Property-based fuzzing of the device API (fast-check): random sequences of valid and invalid operations — allocs
 * with good and bad dtypes and shapes, frees, views, uploads, copies in every direction (across devices and runtimes,
 * from freed buffers, past the end), memsets, launches that work, fault or throw, streams, events, pinned host memory,
 * resets and injected failures — run against a model that predicts which calls must fail and which must succeed.
 * After every operation: every error is a TesseraError; a failed call changed no byte of any buffer; canary buffers
 * (random contents, written once) are byte-identical; memGetInfo and the host-memory count match the model exactly;
 * a device is failed exactly when a kernel faulted on it or it was failed on purpose.
 *
 * Budget: TESSERA_FUZZ_RUNS (default below). A failure prints fast-check's `{ seed, path }`; replay it with
 *   TESSERA_FUZZ_SEED=<seed> TESSERA_FUZZ_PATH=<path> pnpm --filter @tessera/device exec vitest run test/fuzz.test.ts
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DTYPE_INFO, DTYPES } from '../src/dtype/dtype';
import {
  createRuntime,
  type Device,
  type DeviceBuffer,
  type Event,
  type Runtime,
  type Stream,
  simtKernel,
  TesseraError,
  tileKernel,
} from '../src/index';
import { fuzzParameters, fuzzScale } from '../src/testing/fuzz';
import { randomInts } from '../src/testing/reference';
import { createTestBackend } from '../src/testing/test-backend';

const HOST_LIMIT = 1 << 20;
const DEFAULT_RUNS = 300;

const scale = tileKernel({ name: 'fuzz_scale', params: { x: 'ptr', n: 'i32' } }, (t, { x, n }) => {
  const o = t.arange(0, 32).add(t.programId(0) * 32);
  const m = o.lt(n); // n past the buffer's end is an unmasked out-of-bounds access: a fault
  t.store(x, o, t.load(x, o, { mask: m }).mul(2), { mask: m });
});
const throwsAt = tileKernel({ name: 'fuzz_throws', params: { x: 'ptr', n: 'i32' } }, (t, { x, n }) => {
  if (t.programId(0) === n % 4) throw new Error('fuzz'); // never when n % 4 = 3, the grid has ≤ 3 programs
  t.store(x, t.arange(0, 1), t.full([1], 1));
});
const sharedAt = simtKernel(
  { name: 'fuzz_shared', params: { x: 'ptr', n: 'i32' }, shared: { s: ['f32', 8] } },
  function* (k, { x, n }) {
    const s = k.shared.s!;
    s[k.threadIdx.x + (n % 2)] = 1; // thread 7 writes s[8] when n is odd
    yield;
    if (k.threadIdx.x < x.length) x.set(k.threadIdx.x, s[k.threadIdx.x]!);
  },
);
const KERNELS = [scale, throwsAt, sharedAt];

// ------------------------------------------------------------------ operations

const BAD = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53 + 2, null, undefined, '4', {}] as const;
const count = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(...BAD, 1e11, 70_000, 300_000, [2, 3], [2, -1], [2 ** 30, 2 ** 30]) },
);
const dtype = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...DTYPES) },
  { weight: 1, arbitrary: fc.constantFrom('toString', 'constructor', '__proto__', 'f64', '', null, 7) },
);
const byte = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 255 }) }, fc.constantFrom(256, ...BAD));
const values = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.double({ min: -4, max: 4, noNaN: true }), { maxLength: 40 }) },
  fc.constantFrom(['a', 'b'], [1, undefined], [1, null], 'abc', null, 7, { length: Number.NaN }),
);
const grid = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) },
  fc.constantFrom(0, -1, null, [1, 1, 1, 1], '1'),
);
const pick = fc.nat(1000);
/** One operation kind, drawn with `weight`: `{ k, ...fields }`. */
function kind<K extends string, F extends { [f: string]: fc.Arbitrary<unknown> }>(weight: number, k: K, fields: F) {
  return {
    weight,
    arbitrary: fc.record({ k: fc.constant(k), ...fields }) as fc.Arbitrary<
      { k: K } & { [P in keyof F]: F[P] extends fc.Arbitrary<infer T> ? T : never }
    >,
  };
}
const own = fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, fc.constant(false)); // mostly the buffer's own device
const small = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 8 }) }, count);
const offset = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, small);
const op = fc.oneof(
  kind(12, 'alloc', { dev: fc.nat(2), dtype, shape: count }),
  kind(3, 'malloc', { dev: fc.nat(2), bytes: count }),
  kind(5, 'free', { dev: fc.nat(2), buf: pick }),
  kind(5, 'view', { buf: pick, offset: small, length: small }),
  kind(3, 'as', { buf: pick, dtype }),
  kind(8, 'upload', { own, buf: pick, values, offset }),
  kind(5, 'download', { own, buf: pick }),
  kind(5, 'htod', { own, buf: pick, raw: fc.boolean(), n: small }),
  kind(5, 'dtoh', { own, buf: pick, raw: fc.boolean(), n: small }),
  kind(10, 'dtod', { own, dst: pick, src: pick, bytes: fc.option(small) }),
  kind(5, 'memset', { own, buf: pick, byte }),
  kind(5, 'fill', { buf: pick, value: fc.oneof(fc.double(), fc.constantFrom(null, '1')) }),
  kind(8, 'launch', { own, kernel: fc.nat(2), buf: pick, grid, n: small }),
  kind(5, 'stream', { dev: fc.nat(2), what: fc.nat(4), s: pick, e: pick }),
  kind(5, 'hostAlloc', { dtype, n: count }),
  kind(3, 'hostFree', { a: pick }),
  kind(1, 'reset', { dev: fc.nat(2) }),
  kind(1, 'fail', { dev: fc.nat(2) }),
  kind(4, 'abuseCanary', { buf: pick, how: fc.nat(7) }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

// ------------------------------------------------------------------ the model

interface Entry {
  buf: DeviceBuffer;
  dev: number;
  canary: boolean;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isDType = (v: unknown) => typeof v === 'string' && Object.hasOwn(DTYPE_INFO, v);
const shapeCount = (v: unknown): number | null => {
  if (isCount(v)) return v;
  if (!Array.isArray(v) || !v.every(isCount)) return null;
  const n = v.reduce((a: number, b: number) => a * b, 1);
  return Number.isSafeInteger(n) ? n : null;
};

class World {
  readonly devs: Device[];
  readonly used = [0, 0, 0];
  readonly failed = [false, false, false];
  hostBytes = 0;
  readonly entries: Entry[] = [];
  readonly canaries: { e: Entry; bytes: Uint8Array }[] = [];
  readonly dead = new Set<object>();
  readonly pinned: ArrayBufferView[] = [];
  readonly streams: Stream[] = [];
  readonly events: Event[] = [];

  constructor(
    readonly rt: Runtime,
    foreign: Runtime,
    seed: number,
  ) {
    this.devs = [rt.device(0), rt.device(1), foreign.device(0)];
    for (const [d, dev] of this.devs.entries()) {
      for (const [dt, n] of [
        ['u8', 97],
        ['f32', 33],
      ] as const) {
        const buf = dev.alloc(dt, n);
        const bytes = Uint8Array.from(randomInts(buf.byteLength, seed + d * 7 + n, 0, 255));
        dev.memcpyHtoD(buf, bytes);
        const e = this.add(buf, d, true);
        this.canaries.push({ e, bytes });
      }
    }
    this.hostBytes = this.canaries.reduce((a, c) => a + (c.e.dev < 2 ? c.bytes.length : 0), 0);
  }

  add(buf: DeviceBuffer, dev: number, canary: boolean): Entry {
    const e = { buf, dev, canary };
    this.entries.push(e);
    if (!buf.parent && dev < 2) this.used[dev]! += charged(buf.allocation.byteLength);
    return e;
  }

  entry(i: number, user = false): Entry | undefined {
    const pool = user ? this.entries.filter((e) => !e.canary) : this.entries;
    return pool[i % Math.max(1, pool.length)];
  }

  isDead(e: Entry): boolean {
    return this.dead.has(e.buf.allocation);
  }
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;
const charged = (bytes: number) => Math.max(256, Math.ceil(bytes / 256) * 256);

/**
 * Runs `fn`; the model says whether it must throw ('throw'), must fault the device ('fault'), must succeed ('ok') or
 * may do either.
 */
function attempt(o: Op, expect_: 'throw' | 'fault' | 'ok' | 'either', fn: () => void): TesseraError | null {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof TesseraError)) throw new Error(`${o.k} threw a non-Tessera error: ${String(e)}`);
    if (expect_ === 'ok') throw new Error(`${o.k} should have succeeded: ${e.message}`);
    if (expect_ === 'fault' && !e.sticky) throw new Error(`${o.k} should have faulted: ${e.message}`);
    return e;
  }
  if (expect_ === 'throw' || expect_ === 'fault') throw new Error(`${o.k} should have thrown: ${JSON.stringify(o)}`);
  return null;
}

function execute(w: World, o: Op): void {
  const usable = (d: number) => !w.failed[d];
  const before = w.entries
    .filter((e) => !e.buf.parent && !w.isDead(e) && usable(e.dev))
    .map((e) => ({ e, bytes: e.buf.bytes().slice() }));
  let err: TesseraError | null = null;
  /** Target device and whether the buffer `e` is fine to use on it (own, live, usable). */
  const on = (e: Entry, own: boolean) => {
    const d = own ? e.dev : (e.dev + 1) % 3;
    return { d, dev: w.devs[d]!, ok: own && !w.isDead(e) && usable(d) };
  };
  switch (o.k) {
    case 'alloc':
    case 'malloc': {
      const dt = o.k === 'alloc' ? o.dtype : 'u8';
      const shape = o.k === 'alloc' ? o.shape : o.bytes;
      const n = o.k === 'alloc' ? shapeCount(shape) : isCount(shape) ? shape : null;
      const valid = usable(o.dev) && isDType(dt) && n !== null;
      const bytes = valid ? n! * DTYPE_INFO[dt as 'u8'].bytes : 0;
      const fits = o.dev === 2 || w.hostBytes + bytes <= HOST_LIMIT;
      const dev = w.devs[o.dev]!;
      let buf: DeviceBuffer | undefined;
      err = attempt(o, !valid ? 'throw' : fits && bytes < 1e6 ? 'ok' : 'either', () => {
        buf = o.k === 'alloc' ? dev.alloc(dt as 'u8', shape as number) : dev.malloc(shape as number);
      });
      if (buf) {
        w.add(buf, o.dev, false);
        if (o.dev < 2) w.hostBytes += buf.byteLength;
      }
      break;
    }
    case 'free': {
      const e = w.entry(o.buf, true);
      if (!e) return;
      const dev = w.devs[o.dev]!;
      const ok = e.dev === o.dev && usable(o.dev) && !w.isDead(e) && !e.buf.parent;
      err = attempt(o, ok ? 'ok' : 'throw', () => dev.free(e.buf));
      if (!err) {
        w.dead.add(e.buf.allocation);
        if (e.dev < 2) {
          w.used[e.dev]! -= charged(e.buf.allocation.byteLength);
          w.hostBytes -= e.buf.byteLength;
        }
      }
      break;
    }
    case 'view': {
      const e = w.entry(o.buf)!;
      let out: DeviceBuffer | undefined;
      const len = o.length === undefined && isCount(o.offset) ? e.buf.length - o.offset : o.length;
      const valid = !w.isDead(e) && isCount(o.offset) && isCount(len) && o.offset + len <= e.buf.length;
      err = attempt(o, valid ? 'ok' : 'throw', () => {
        out = e.buf.view(o.offset as number, o.length as number);
      });
      if (out) w.entries.push({ buf: out, dev: e.dev, canary: e.canary });
      break;
    }
    case 'as': {
      const e = w.entry(o.buf)!;
      let out: DeviceBuffer | undefined;
      err = attempt(o, !w.isDead(e) && isDType(o.dtype) ? 'either' : 'throw', () => {
        out = e.buf.as(o.dtype as 'u8');
      });
      if (out) w.entries.push({ buf: out, dev: e.dev, canary: e.canary });
      break;
    }
    case 'upload': {
      const e = w.entry(o.buf, true);
      if (!e) return;
      const { dev, ok } = on(e, o.own);
      const good = Array.isArray(o.values) && o.values.every((v: unknown) => typeof v === 'number');
      const off = o.offset === undefined ? 0 : o.offset;
      const fits = good && isCount(off) && off + (o.values as number[]).length <= e.buf.length;
      const opts = o.offset === undefined ? undefined : { offset: o.offset as number };
      err = attempt(o, !ok || !fits ? 'throw' : 'ok', () => dev.upload(e.buf, o.values as number[], opts));
      break;
    }
    case 'download': {
      const e = w.entry(o.buf)!;
      const { dev, ok } = on(e, o.own);
      err = attempt(o, ok ? 'ok' : 'throw', () => dev.download(e.buf));
      break;
    }
    case 'htod':
    case 'dtoh': {
      const e = w.entry(o.buf, o.k === 'htod');
      if (!e) return;
      const { dev, ok } = on(e, o.own);
      const n = isCount(o.n) ? Math.min(o.n, 4096) : 0;
      const host = o.raw ? new Uint8Array(n) : o.n === null ? (null as never) : new Float32Array(n);
      const typeOk = o.raw || e.buf.dtype === 'f32';
      const fits = isCount(o.n) && host.byteLength <= e.buf.byteLength;
      const good = ok && typeOk && fits && o.n !== null;
      err = attempt(o, good ? 'ok' : ok ? 'either' : 'throw', () =>
        o.k === 'htod' ? dev.memcpyHtoD(e.buf, host) : dev.memcpyDtoH(host, e.buf),
      );
      break;
    }
    case 'dtod': {
      const dst = w.entry(o.dst, true);
      const src = w.entry(o.src)!;
      if (!dst) return;
      const { d, dev, ok } = on(dst, o.own);
      const sameRuntime = (src.dev === 2) === (d === 2);
      const srcOk = sameRuntime && !w.isDead(src) && usable(src.dev);
      const bytes = o.bytes ?? src.buf.byteLength; // null: no options; undefined: the default
      const fits = isCount(bytes) && bytes <= src.buf.byteLength && bytes <= dst.buf.byteLength;
      const opts = o.bytes === null ? undefined : { bytes: o.bytes as number };
      err = attempt(o, ok && srcOk && fits ? 'ok' : 'throw', () => dev.memcpyDtoD(dst.buf, src.buf, opts));
      break;
    }
    case 'memset':
    case 'fill': {
      const e = w.entry(o.buf, true);
      if (!e) return;
      const { dev, ok } = on(e, o.k === 'fill' || o.own);
      const good = o.k === 'memset' ? isCount(o.byte) && o.byte <= 255 : typeof o.value === 'number';
      err = attempt(o, !ok || !good ? 'throw' : 'ok', () =>
        o.k === 'memset' ? dev.memset(e.buf, o.byte as number) : dev.fill(e.buf, o.value as number),
      );
      break;
    }
    case 'launch': {
      const e = w.entry(o.buf, true);
      if (!e) return;
      const { d, dev, ok } = on(e, o.own);
      const k = KERNELS[o.kernel]!;
      const config = k.style === 'simt' ? { grid: o.grid, block: 8 } : { grid: o.grid };
      const valid =
        ok && typeof o.grid === 'number' && o.grid >= 1 && Number.isInteger(o.n) && Math.abs(o.n as number) < 2 ** 31;
      const [g, n, len] = [o.grid as number, o.n as number, e.buf.length];
      // which launches must fault: scale reads past the end; throwsAt throws (or stores to an empty x); sharedAt
      // writes past its shared array. The cost analysis finds the first fault of any program before anything runs
      // (and before the device's dtype check). scale on an fp8 buffer does not compile (fp8 tiles only cast and dot).
      const compiles = !(o.kernel === 0 && e.buf.dtype.startsWith('fp8'));
      const faults = [Math.min(n, g * 32) > len, n % 4 === 0 || len === 0 || (n % 4 > 0 && n % 4 < g), n % 2 !== 0][
        o.kernel
      ];
      err = attempt(o, !valid || !compiles ? 'throw' : faults ? 'fault' : 'either', () =>
        dev.launch(k, config as never, { x: e.buf, n: o.n }),
      );
      if (err?.sticky && valid) w.failed[d] = true;
      break;
    }
    case 'stream': {
      const dev = w.devs[o.dev]!;
      const s = w.streams[o.s % Math.max(1, w.streams.length)];
      const ev = w.events[o.e % Math.max(1, w.events.length)];
      if (o.what === 0) {
        err = attempt(o, usable(o.dev) ? 'ok' : 'throw', () => {
          w.streams.push(dev.createStream());
          w.events.push(dev.createEvent());
        });
      } else if (o.what === 1 && ev) err = attempt(o, s ? 'either' : 'throw', () => ev.record(s ?? (null as never)));
      else if (o.what === 2 && s) err = attempt(o, ev ? 'either' : 'throw', () => s.waitEvent(ev ?? ({} as never)));
      else if (o.what === 3 && s) err = attempt(o, 'either', () => s.destroy());
      else if (o.what === 4) err = attempt(o, usable(o.dev) ? 'ok' : 'throw', () => dev.synchronize());
      break;
    }
    case 'hostAlloc': {
      const n = isCount(o.n) ? o.n : null;
      const valid = isDType(o.dtype) && n !== null;
      const bytes = valid ? n! * DTYPE_INFO[o.dtype as 'u8'].bytes : 0;
      const fits = w.hostBytes + bytes <= HOST_LIMIT;
      err = attempt(o, !valid || !fits ? 'throw' : 'ok', () => {
        w.pinned.push(w.rt.hostAlloc(o.dtype as 'u8', o.n as number));
      });
      if (!err) w.hostBytes += bytes;
      break;
    }
    case 'hostFree': {
      const a = w.pinned.length > 0 ? w.pinned.splice(o.a % w.pinned.length, 1)[0]! : new Float32Array(1);
      err = attempt(o, w.rt.isPinned(a) ? 'ok' : 'throw', () => w.rt.hostFree(a));
      if (!err) w.hostBytes -= a.byteLength;
      break;
    }
    case 'reset': {
      const dev = w.devs[o.dev]!;
      dev.reset();
      for (const e of w.entries) {
        if (e.dev !== o.dev || e.buf.parent || w.isDead(e)) continue;
        w.dead.add(e.buf.allocation);
        if (o.dev < 2) w.hostBytes -= e.buf.byteLength;
      }
      w.used[o.dev] = 0;
      w.failed[o.dev] = false;
      break;
    }
    case 'fail':
      w.devs[o.dev]!.fail('fuzz');
      w.failed[o.dev] = true;
      break;
    case 'abuseCanary': {
      const c = w.canaries[o.buf % w.canaries.length]!.e;
      const dev = w.devs[c.dev]!;
      const n = c.buf.length;
      const abuse = [
        () => dev.upload(c.buf, new Array(n + 1).fill(1)),
        () => dev.upload(c.buf, ['a', ...new Array(n - 1).fill(1)] as never),
        () => dev.upload(c.buf, [1], { offset: n }),
        () => dev.memset(c.buf, 300),
        () => dev.memcpyHtoD(c.buf, new Uint8Array(c.buf.byteLength + 1)),
        () => dev.memcpyDtoD(c.buf, c.buf, { bytes: c.buf.byteLength + 1 }),
        () => dev.launch(scale, { grid: null as never }, { x: c.buf, n }),
        () => dev.launch(scale, undefined as never, { x: c.buf, n }),
      ];
      err = attempt(o, 'throw', abuse[o.how % abuse.length]!);
      break;
    }
  }
  // ---- invariants after every operation
  if (err) {
    for (const { e, bytes } of before) {
      if (usable(e.dev) && !same(e.buf.bytes(), bytes))
        throw new Error(`${o.k} failed but changed ${e.buf.describe()}`);
    }
  }
  for (const [d, dev] of w.devs.entries()) {
    expect(dev.failed, `device ${d} failed state after ${o.k}`).toBe(w.failed[d]);
    if (d === 2) continue;
    const { free, total } = dev.memGetInfo();
    expect(Number.isFinite(free)).toBe(true);
    expect(free, `memGetInfo of device ${d} after ${o.k}`).toBe(total - w.used[d]!);
  }
  expect(w.rt.hostBytesInUse).toBe(w.hostBytes);
  expect(w.hostBytes).toBeLessThanOrEqual(HOST_LIMIT);
  for (const { e, bytes } of w.canaries) {
    if (!w.isDead(e) && usable(e.dev) && !same(e.buf.bytes(), bytes))
      throw new Error(`${o.k} changed canary ${e.buf.describe()}`);
  }
}

describe('device API fuzz', () => {
  it(
    'random valid and invalid operation sequences keep every invariant',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: 2 ** 30 }),
          fc.array(op, { minLength: 5, maxLength: 50, size: 'max' }),
          async (seed, ops) => {
            const rt = await createRuntime({ backend: createTestBackend(), count: 2, hostMemoryLimit: HOST_LIMIT });
            const foreign = await createRuntime({ backend: createTestBackend() });
            const w = new World(rt, foreign, seed);
            for (const o of ops) execute(w, o);
            // capacity checks still hold on every usable device; failed ones refuse reads until reset
            for (const [d, dev] of w.devs.entries()) {
              if (w.failed[d]) {
                for (const { e } of w.canaries.filter((c) => c.e.dev === d))
                  expect(() => dev.download(e.buf)).toThrow(TesseraError);
                dev.reset();
                expect(dev.memGetInfo().free).toBe(dev.memGetInfo().total);
              }
              expect(() => dev.alloc('u8', dev.memGetInfo().free + 1)).toThrow(/Out of memory/);
            }
          },
        ),
        fuzzParameters(DEFAULT_RUNS),
      );
    },
    60_000 * fuzzScale(DEFAULT_RUNS),
  );
});
