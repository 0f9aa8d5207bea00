/**
 * The conformance suite every backend re-runs against itself (as TF.js backends re-run tfjs-core's tests):
 * device properties, memory and its misuse, streams and events, kernels on random inputs against float64 references
 * (outputs poisoned first; f32 < 1e-5, f16/bf16 < 1e-2), the sticky-fault model, and timing-only mode.
 *
 *   import { runConformanceSuite } from '@tessera/device/testing';
 *   runConformanceSuite({ backend: () => createMyBackend() });
 */
import { describe, expect, it } from 'vitest';
import { DTYPE_INFO, type DType } from '../dtype/dtype';
import { TesseraError } from '../errors';
import type { Backend } from '../runtime/backend';
import type { Device } from '../runtime/device';
import { createRuntime } from '../runtime/runtime';
import * as K from './kernels';
import { randomArray, randomInts, referenceMatmul, referenceSoftmax, relativeError, TOLERANCE } from './reference';

export interface ConformanceOptions {
  /** Creates the backend under test. */
  backend: () => Backend | Promise<Backend>;
  /** Catalogue ids to run the kernel tests on (default: the first device of the catalogue). */
  devices?: readonly string[];
}

function expectCode(fn: () => unknown, code: TesseraError['code'], text?: RegExp): TesseraError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a TesseraError ${code}`).toBeInstanceOf(TesseraError);
  const err = caught as TesseraError;
  expect(err.code).toBe(code);
  if (text) expect(err.message).toMatch(text);
  return err;
}

/** Values as the device stores them (rounded to the dtype), for references. */
function stored(dev: Device, dtype: DType, values: ArrayLike<number>): Float64Array {
  const b = dev.alloc(dtype, values.length);
  dev.upload(b, values);
  const out = Float64Array.from(dev.download(b));
  dev.free(b);
  return out;
}

export function runConformanceSuite(options: ConformanceOptions): void {
  describe('catalogue and properties', () => {
    it('describes every device with positive, sourced figures', async () => {
      const backend = await options.backend();
      const cat = backend.catalog();
      expect(cat.length).toBeGreaterThan(0);
      for (const d of cat) {
        expect(d.id).toBe(d.id.toLowerCase());
        for (const v of [
          d.computeUnits,
          d.clockGHz,
          d.memoryBytes,
          d.memoryBandwidthGBs,
          d.maxThreadsPerBlock,
          d.hostLink.pinnedGBs,
        ]) {
          expect(v).toBeGreaterThan(0);
        }
        expect(Object.keys(d.peakTflops.vector).length).toBeGreaterThan(0);
        expect(d.dtypes).toContain('f32');
        expect(Object.keys(d.sources).length).toBeGreaterThan(0);
      }
    });

    it('opens devices by id case-insensitively and rejects unknown ids with the list', async () => {
      const backend = await options.backend();
      const id = backend.catalog()[0]!.id;
      const rt = await createRuntime({ backend, devices: id.toUpperCase(), count: 2 });
      expect(rt.getDeviceCount()).toBe(2);
      expect(rt.device(1).properties.id).toBe(id);
      await expect(createRuntime({ backend, devices: 'no-such-chip' })).rejects.toThrow(/Known devices/);
      expectCode(() => rt.device(2), 'InvalidDevice');
    });
  });

  for (const deviceId of options.devices ?? [null]) {
    describe(`device ${deviceId ?? '(default)'}`, () => {
      const open = async (mode: 'functional' | 'timing' = 'functional') => {
        const backend = await options.backend();
        const id = deviceId ?? backend.catalog()[0]!.id;
        return createRuntime({ backend, devices: id, mode });
      };

      describe('memory', () => {
        it('round-trips every supported dtype through upload/download and raw copies', async () => {
          const rt = await open();
          const dev = rt.device(0);
          for (const dt of dev.properties.dtypes) {
            const info = DTYPE_INFO[dt];
            const vals =
              info.kind === 'int'
                ? Array.from(randomInts(37, 7, Math.max(info.min, -100), Math.min(info.max, 100)))
                : Array.from(randomArray(37, 7, -4, 4));
            const b = dev.alloc(dt, 37);
            dev.upload(b, vals);
            const back = dev.download(b);
            for (let i = 0; i < 37; i++) {
              const tol = info.kind === 'int' ? 0 : dt === 'f32' ? 1e-6 : dt.startsWith('fp8') ? 0.13 : 1e-2;
              expect(Math.abs(back[i]! - vals[i]!)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(vals[i]!)));
            }
            const raw = new Uint8Array(b.byteLength);
            dev.memcpyDtoH(raw, b);
            const b2 = dev.alloc(dt, 37);
            dev.memcpyHtoD(b2, raw);
            expect(Array.from(dev.download(b2))).toEqual(Array.from(back));
            dev.free(b);
            dev.free(b2);
          }
        });

        it('accounts capacity and reports out-of-memory with device, requested and free bytes', async () => {
          const rt = await open('timing');
          const dev = rt.device(0);
          const { total, free } = dev.memGetInfo();
          expect(free).toBe(total);
          const half = dev.alloc('u8', Math.floor(total / 2));
          expect(dev.memGetInfo().free).toBeLessThanOrEqual(total - Math.floor(total / 2));
          const err = expectCode(() => dev.alloc('u8', total), 'OutOfMemory', new RegExp(dev.label));
          expect(err.message).toMatch(/requested .* free of/);
          expect(err.details.requested).toBe(total);
          dev.free(half);
          expect(dev.memGetInfo().free).toBe(total);
          dev.free(dev.alloc('f32', 1024)); // the device still allocates after an OOM
        });

        it('rejects misuse at once and leaves other buffers intact', async () => {
          const rt = await open();
          const dev = rt.device(0);
          const keep = dev.alloc('f32', 64);
          const keepVals = Array.from(randomArray(64, 11));
          dev.upload(keep, keepVals);
          const before = Array.from(dev.download(keep));
          const victim = dev.alloc('f32', 16);
          dev.free(victim);
          expectCode(() => dev.free(victim), 'InvalidValue', /double free/);
          expectCode(() => dev.upload(victim, [1]), 'InvalidValue', /freed/);
          expectCode(
            () => dev.launch(K.vectorAdd, { grid: 1 }, { x: victim, y: keep, out: keep, n: 16, BLOCK: 16 }),
            'InvalidValue',
            /freed/,
          );
          const small = dev.alloc('f32', 8);
          expectCode(() => dev.memcpyHtoD(small, new Float32Array(9)), 'InvalidValue', /do not fit/);
          expectCode(() => dev.upload(small, new Array(9).fill(1)), 'InvalidValue', /past the end/);
          expectCode(() => dev.memcpyDtoD(small, keep), 'InvalidValue', /more than/);
          expectCode(() => dev.memcpyHtoD(small, new Int32Array(8)), 'InvalidValue', /Int32Array does not match/);
          expectCode(() => keep.view(60, 8), 'InvalidValue', /past the end/);
          expectCode(() => dev.free(keep.view(0, 8)), 'InvalidValue', /view/);
          expectCode(() => dev.memset(small, 300), 'InvalidValue');
          expectCode(
            () => dev.launch(K.vectorAdd, { grid: 0 }, { x: keep, y: keep, out: small, n: 8, BLOCK: 8 }),
            'InvalidConfiguration',
          );
          expectCode(
            () => dev.launch(K.vectorAdd, { grid: 1 }, { x: keep, y: keep, out: small, n: 8 } as never),
            'InvalidValue',
            /missing argument 'BLOCK'/,
          );
          expectCode(
            () => dev.launch(K.vectorAdd, { grid: 1 }, { x: keep, y: keep, out: small, n: 8.5, BLOCK: 8 }),
            'InvalidValue',
            /integer/,
          );
          const ints = dev.alloc('i32', 8);
          expectCode(
            () => dev.launch(K.atomicSum, { grid: 1 }, { x: ints, out: small, n: 8, BLOCK: 8 } as never),
            'InvalidValue',
            /must hold f32/,
          );
          expectCode(
            () =>
              dev.launch(
                K.simtVectorAdd,
                { grid: 1, block: [32, Math.ceil((dev.properties.maxThreadsPerBlock + 1) / 32)] },
                { x: keep, y: keep, out: keep, n: 8 },
              ),
            'InvalidConfiguration',
            /threads per block/,
          );
          expect(Array.from(dev.download(keep))).toEqual(before);
          // the device keeps working
          dev.launch(K.vectorAdd, { grid: 1 }, { x: keep, y: keep, out: small, n: 8, BLOCK: 8 });
          expect(Array.from(dev.download(small))).toEqual(before.slice(0, 8).map((v) => Math.fround(v + v)));
          expect(dev.getLastError()).not.toBeNull();
          expect(dev.getLastError()).toBeNull();
        });

        it('views alias their parent and memset/fill write bytes and values', async () => {
          const rt = await open();
          const dev = rt.device(0);
          const b = dev.alloc('f32', 32);
          dev.fill(b, 1.5);
          const v = b.view(8, 8);
          dev.fill(v, -2);
          const out = dev.download(b);
          expect(out[7]).toBe(1.5);
          expect(out[8]).toBe(-2);
          expect(out[15]).toBe(-2);
          expect(out[16]).toBe(1.5);
          dev.memset(b, 0);
          expect(dev.download(b).every((x) => x === 0)).toBe(true);
        });
      });

      describe('streams and events', () => {
        it('measures modelled time with events and reports NotReady before synchronisation', async () => {
          const rt = await open();
          const dev = rt.device(0);
          const n = 1 << 14;
          const x = dev.alloc('f32', n);
          dev.upload(x, randomArray(n, 3));
          const s = dev.createStream();
          const start = dev.createEvent();
          const end = dev.createEvent();
          start.record(s);
          for (let i = 0; i < 4; i++)
            dev.launch(K.vectorAdd, { grid: n / 1024, stream: s }, { x, y: x, out: x, n, BLOCK: 1024 });
          end.record(s);
          expect(end.query()).toBe(false);
          expectCode(() => start.elapsedTime(end), 'NotReady');
          end.synchronize();
          const ms = start.elapsedTime(end);
          expect(ms).toBeGreaterThan(0);
          expect(end.query()).toBe(true);
          expectCode(() => dev.createEvent().elapsedTime(end), 'InvalidResourceHandle');
        });

        it('orders work across streams with waitEvent, and overlaps copies with kernels', async () => {
          const rt = await open();
          const dev = rt.device(0);
          const n = 1 << 16;
          const a = dev.alloc('f32', n);
          const host = rt.hostAlloc('f32', n) as Float32Array;
          host.set(Float32Array.from(randomArray(n, 5)));
          const s1 = dev.createStream();
          const s2 = dev.createStream();
          dev.memcpyHtoDAsync(a, host, s1);
          const ev = dev.createEvent();
          ev.record(s1);
          s2.waitEvent(ev);
          const r = dev.launch(K.vectorAdd, { grid: n / 1024, stream: s2 }, { x: a, y: a, out: a, n, BLOCK: 1024 });
          expect(r.startMs).toBeGreaterThanOrEqual(ev.timeMs);
          // a copy on another stream overlaps the kernel; the same copy on the kernel's stream waits for it
          const b = dev.alloc('f32', n);
          const s3 = dev.createStream();
          const k2 = dev.launch(K.vectorAdd, { grid: n / 1024, stream: s2 }, { x: a, y: a, out: a, n, BLOCK: 1024 });
          dev.memcpyHtoDAsync(b, host, s3);
          const copyMs = rt.backend.copyTime(dev.properties, { kind: 'HtoD', bytes: n * 4, pinned: true });
          expect(s3.timeMs - copyMs).toBeLessThan(k2.endMs); // started while the kernel ran
          dev.memcpyHtoDAsync(b, host, s2);
          expect(s2.timeMs - copyMs).toBeGreaterThanOrEqual(k2.endMs - 1e-9); // in order after it
          dev.synchronize();
          expect(s1.query() && s2.query() && s3.query()).toBe(true);
          expect(rt.now()).toBeGreaterThanOrEqual(k2.endMs);
        });

        it('models pinned copies faster than pageable ones, and larger copies slower', async () => {
          const rt = await open('timing');
          const dev = rt.device(0);
          const n = 1 << 20;
          const b = dev.alloc('f32', n);
          const time = (src: Float32Array) => {
            const s = dev.createStream();
            const e0 = dev.createEvent();
            const e1 = dev.createEvent();
            e0.record(s);
            dev.memcpyHtoD(b, src, { stream: s });
            e1.record(s);
            e1.synchronize();
            return e0.elapsedTime(e1);
          };
          const pageable = time(new Float32Array(n));
          const pinned = time(rt.hostAlloc('f32', n) as Float32Array);
          const small = time(new Float32Array(n / 16));
          expect(pinned).toBeLessThan(pageable);
          expect(small).toBeLessThan(pageable);
        });
      });

      describe('kernels against float64 references', () => {
        for (const dt of ['f32', 'f16', 'bf16'] as const) {
          it(`vector add and elementwise math, ${dt}`, async () => {
            const rt = await open();
            const dev = rt.device(0);
            if (!dev.properties.dtypes.includes(dt)) return;
            const n = 1000;
            const xs = stored(dev, dt, randomArray(n, 21, -3, 3));
            const ys = stored(dev, dt, randomArray(n, 22, -3, 3));
            const x = dev.alloc(dt, n);
            const y = dev.alloc(dt, n);
            const o = dev.alloc(dt, n);
            dev.upload(x, xs);
            dev.upload(y, ys);
            dev.fill(o, Number.NaN);
            dev.launch(K.vectorAdd, { grid: Math.ceil(n / 256) }, { x, y, out: o, n, BLOCK: 256 });
            expect(
              relativeError(
                dev.download(o),
                xs.map((v, i) => v + ys[i]!),
              ),
            ).toBeLessThan(TOLERANCE[dt]);
            dev.fill(o, Number.NaN);
            dev.launch(K.elementwiseMix, { grid: Math.ceil(n / 128) }, { x, y, out: o, n, BLOCK: 128 });
            const ref = xs.map((a, i) => {
              const b = ys[i]!;
              const pos = a > 0 ? Math.exp(a) * b : Math.sqrt(Math.abs(a)) - b;
              return pos + Math.max(a, b) * 0.25 - Math.min(b, 0.5) / 2;
            });
            expect(relativeError(dev.download(o), ref)).toBeLessThan(TOLERANCE[dt]);
          });

          it(`tiled matmul on edge shapes, ${dt}`, async () => {
            const rt = await open();
            const dev = rt.device(0);
            if (!dev.properties.dtypes.includes(dt)) return;
            for (const [M, N, Kd] of [
              [1, 1, 1],
              [37, 29, 41],
              [64, 48, 80],
            ] as const) {
              const av = stored(dev, dt, randomArray(M * Kd, M + 1));
              const bv = stored(dev, dt, randomArray(Kd * N, N + 2));
              const a = dev.alloc(dt, M * Kd);
              const b = dev.alloc(dt, Kd * N);
              const c = dev.alloc('f32', M * N);
              dev.upload(a, av);
              dev.upload(b, bv);
              dev.fill(c, Number.NaN);
              dev.launch(
                K.matmul,
                { grid: [Math.ceil(M / 16), Math.ceil(N / 16)] },
                { a, b, c, M, N, K: Kd, BM: 16, BN: 16, BK: 16 },
              );
              expect(relativeError(dev.download(c), referenceMatmul(av, bv, M, N, Kd))).toBeLessThan(TOLERANCE.f32);
            }
          });
        }

        it('int8 GEMM accumulates exactly in int32', async () => {
          const rt = await open();
          const dev = rt.device(0);
          if (!dev.properties.dtypes.includes('i8')) return;
          const [M, N, Kd] = [19, 23, 70];
          const av = randomInts(M * Kd, 1, -128, 127);
          const bv = randomInts(Kd * N, 2, -128, 127);
          const a = dev.alloc('i8', M * Kd);
          const b = dev.alloc('i8', Kd * N);
          const c = dev.alloc('i32', M * N);
          dev.upload(a, av);
          dev.upload(b, bv);
          dev.fill(c, -1);
          dev.launch(K.matmulInt8, { grid: [2, 2] }, { a, b, c, M, N, K: Kd, BM: 16, BN: 16, BK: 32 });
          expect(Array.from(dev.download(c))).toEqual(Array.from(referenceMatmul(av, bv, M, N, Kd)));
        });

        it('softmax rows sum to one and match the reference', async () => {
          const rt = await open();
          const dev = rt.device(0);
          const [rows, cols] = [7, 300];
          const xv = randomArray(rows * cols, 9, -8, 8);
          const x = dev.alloc('f32', rows * cols);
          const y = dev.alloc('f32', rows * cols);
          dev.upload(x, xv);
          dev.fill(y, Number.NaN);
          dev.launch(K.softmax, { grid: rows }, { x, y, cols, BLOCK: 512 });
          expect(
            relativeError(dev.download(y), referenceSoftmax(Float64Array.from(xv, Math.fround), rows, cols)),
          ).toBeLessThan(TOLERANCE.f32);
        });

        it('atomics and SIMT kernels (shared memory, barriers) agree with the reference', async () => {
          const rt = await open();
          const dev = rt.device(0);
          const n = 3000;
          const xv = Float64Array.from(randomArray(n, 31), Math.fround);
          const x = dev.alloc('f32', n);
          const out = dev.alloc('f32', 1);
          dev.upload(x, xv);
          const sum = xv.reduce((a, b) => a + b, 0);
          dev.fill(out, 0);
          dev.launch(K.atomicSum, { grid: Math.ceil(n / 512) }, { x, out, n, BLOCK: 512 });
          expect(relativeError(dev.download(out), [sum])).toBeLessThan(TOLERANCE.f32);
          dev.fill(out, 0);
          dev.launch(K.simtReduce, { grid: Math.ceil(n / 256), block: 256 }, { x, out, n });
          expect(relativeError(dev.download(out), [sum])).toBeLessThan(TOLERANCE.f32);
          const o = dev.alloc('f32', n);
          dev.fill(o, Number.NaN);
          dev.launch(K.simtVectorAdd, { grid: Math.ceil(n / 128), block: 128 }, { x, y: x, out: o, n });
          expect(
            relativeError(
              dev.download(o),
              xv.map((v) => 2 * v),
            ),
          ).toBe(0);
        });
      });

      describe('faults', () => {
        it('an out-of-bounds access is a sticky illegal-address fault until reset', async () => {
          const rt = await open();
          const dev = rt.device(0);
          const x = dev.alloc('f32', 64);
          const out = dev.alloc('f32', 64);
          dev.launch(K.outOfBounds, { grid: 1 }, { x, out, n: 64, overrun: 0 });
          const err = expectCode(
            () => dev.launch(K.outOfBounds, { grid: 1 }, { x, out, n: 64, overrun: 1 }),
            'IllegalAddress',
            /element 64 is out of bounds/,
          );
          expect(err.sticky).toBe(true);
          expectCode(() => dev.alloc('f32', 4), 'IllegalAddress', /unusable/);
          expectCode(() => dev.synchronize(), 'IllegalAddress', /reset/);
          dev.reset();
          expectCode(() => dev.download(x), 'InvalidValue', /reset/);
          const y = dev.alloc('f32', 4);
          dev.fill(y, 3);
          expect(Array.from(dev.download(y))).toEqual([3, 3, 3, 3]);
        });

        it('a fault on one device leaves the others working', async () => {
          const backend = await options.backend();
          const id = deviceId ?? backend.catalog()[0]!.id;
          const rt = await createRuntime({ backend, devices: id, count: 2 });
          const [d0, d1] = [rt.device(0), rt.device(1)];
          const x = d0.alloc('f32', 64);
          expectCode(() => d0.launch(K.outOfBounds, { grid: 1 }, { x, out: x, n: 64, overrun: 5 }), 'IllegalAddress');
          const y = d1.alloc('f32', 8);
          d1.fill(y, 1);
          expect(d1.download(y)[0]).toBe(1);
          expectCode(
            () => d1.launch(K.vectorAdd, { grid: 1 }, { x, y, out: y, n: 8, BLOCK: 8 }),
            'InvalidValue',
            /not memory of/,
          );
        });
      });

      describe('timing-only mode', () => {
        it('costs a launch exactly as functional mode does, without data', async () => {
          const fr = await open('functional');
          const tr = await open('timing');
          const run = (dev: Device) => {
            const [M, N, Kd] = [96, 80, 64];
            const a = dev.alloc('f32', M * Kd);
            const b = dev.alloc('f32', Kd * N);
            const c = dev.alloc('f32', M * N);
            return dev.launch(K.matmul, { grid: [6, 5] }, { a, b, c, M, N, K: Kd, BM: 16, BN: 16, BK: 32 });
          };
          const f = run(fr.device(0));
          const t = run(tr.device(0));
          expect(t.cost.total.toJSON()).toEqual(f.cost.total.toJSON());
          expect(t.ms).toBeCloseTo(f.ms, 12);
          expectCode(() => tr.device(0).download(tr.device(0).alloc('f32', 4)), 'Unsupported', /timing-only/);
        });

        it('models a large GEMM without allocating it, and bigger work takes longer', async () => {
          const rt = await open('timing');
          const dev = rt.device(0);
          const dt = dev.properties.dtypes.includes('bf16') ? 'bf16' : 'f32';
          const gemm = (S: number) => {
            const a = dev.alloc(dt, S * S);
            const b = dev.alloc(dt, S * S);
            const c = dev.alloc(dt, S * S);
            const r = dev.launch(
              K.matmul,
              { grid: [S / 128, S / 128] },
              { a, b, c, M: S, N: S, K: S, BM: 128, BN: 128, BK: 32 },
            );
            for (const x of [a, b, c]) dev.free(x);
            return r;
          };
          const big = gemm(4096);
          const small = gemm(1024);
          expect(big.cost.total.totalMatrixFlops).toBe(2 * 4096 ** 3);
          expect(big.ms).toBeGreaterThan(small.ms);
          expect(small.ms).toBeGreaterThan(0);
        });
      });
    });
  }
}
