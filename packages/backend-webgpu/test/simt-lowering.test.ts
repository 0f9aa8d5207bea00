/**
 * SIMT IR → WGSL (simtToWgsl) run on Dawn with runProgram, against the same launch on the reference back end: the
 * cuda-samples kernels that need no warp intrinsics, kernels on every buffer dtype (packed f16 / bf16 / fp8 / i16 / i8
 * / u8 loads and stores), f32 and narrow atomics, dynamic shared memory (views, aliasing, fill), shared arrays of
 * narrow dtypes, host arrays, and faults (out-of-bounds global / shared accesses, traps) with their site and index.
 * Outputs are poisoned (NaN / -1) before both runs; integers must match bit for bit, floats within ‖gpu − ref‖ / ‖ref‖
 * ≤ 1e-6 (the GPU's scalars are f32, the CPU's float64). Without a WebGPU adapter every test is skipped with a SKIP.
 */
import {
  compileKernel,
  type Device,
  type DeviceBuffer,
  type DType,
  type Kernel,
  type SimtKernel,
  simtKernel,
} from '@tessera/device';
import { simtToWgsl, type WgslProgram } from '@tessera/device/wgsl';
import { beforeAll, describe, expect, it } from 'vitest';
import * as samples from '../../../examples/cuda-samples/src/index';
import { gpu, lastOpenError, rand, refDevice, relErr, replayProgram } from './tile-harness';

type G3 = [number, number, number];

const handle = await gpu();
if (!handle) console.warn(`SKIP: SIMT → WGSL on Dawn: ${lastOpenError}`);

interface SimtReplay {
  prog: WgslProgram;
  outputs: { name: string; dtype: DType; ref: number[]; gpu: number[] }[];
  /** The GPU's fault record: its site and element index. */
  fault: { kind: string; op: string; name: string; message?: string; index: number; thread: number } | null;
  /** The reference back end's error, when it faulted. */
  refError: Error | null;
}

/** Runs a SIMT launch on the GPU (from a snapshot of its buffers) and on the reference device; returns both. */
async function replay(
  dev: Device,
  kernel: Kernel,
  grid: G3,
  block: G3,
  args: Record<string, unknown>,
  sharedMemBytes = 0,
): Promise<SimtReplay> {
  const h = handle!;
  const compiled = compileKernel(kernel, args, block, sharedMemBytes, dev.properties.warpSize);
  const prog = simtToWgsl(compiled.ir, { block, subgroupSize: h.subgroupSize ?? undefined });
  const { res, outputs, refError } = await replayProgram(h, dev, prog, grid, args, () =>
    dev.launch(kernel as SimtKernel, { grid, block, sharedMemBytes }, args),
  );
  const site = res.fault ? prog.sites[res.fault.site]! : null;
  const fault =
    res.fault && site
      ? {
          kind: site.kind,
          op: site.op,
          name: site.name,
          message: site.message,
          index: res.fault.index,
          thread: res.fault.thread,
        }
      : null;
  return { prog, outputs, fault, refError };
}

/** No fault on either side; integers equal, floats within 1e-6 (NaN where the reference has NaN). */
function check(r: SimtReplay, exact: readonly string[] = []): void {
  expect(r.refError).toBeNull();
  expect(r.fault).toBeNull();
  expect(r.outputs.length).toBeGreaterThan(0);
  for (const o of r.outputs) {
    if (o.dtype === 'f32' && !exact.includes(o.name))
      expect(relErr(o.gpu, o.ref), `${o.name}`).toBeLessThanOrEqual(1e-6);
    else expect(o.gpu, o.name).toEqual(o.ref);
  }
}

const G = (x: number, y = 1, z = 1): G3 => [x, y, z];

describe.skipIf(!handle)('SIMT kernels lowered to WGSL, run on Dawn against the reference back end', () => {
  let dev: Device;
  beforeAll(async () => {
    dev = await refDevice();
  });

  /** A buffer of `n` elements: random values (scaled; integers rounded), or poison (NaN / -1) when `seed` is null. */
  const buf = (dtype: DType, n: number, seed: number | null, scale = 1): DeviceBuffer => {
    const b = dev.alloc(dtype, n);
    const float = dtype === 'f32' || dtype === 'f16' || dtype === 'bf16' || dtype.startsWith('fp8');
    if (seed === null) dev.fill(b, float ? Number.NaN : -1);
    else
      dev.upload(
        b,
        Array.from(rand(n, seed), (v) => (float ? v * scale : Math.round(v * scale))),
      );
    return b;
  };

  it('cuda-samples vectorAdd, matrixMul, the transposes and softmax', async () => {
    const n = 1000;
    check(
      await replay(dev, samples.vectorAdd, G(4), G(256), {
        A: buf('f32', n, 1),
        B: buf('f32', n, 2),
        C: buf('f32', n, null),
        numElements: n,
      }),
    );
    const bs = samples.BLOCK_SIZE;
    const [hA, wA, wB] = [2 * bs, 3 * bs, 2 * bs];
    check(
      await replay(dev, samples.matrixMulSimt, G(wB / bs, hA / bs), G(bs, bs), {
        C: buf('f32', hA * wB, null),
        A: buf('f32', hA * wA, 3),
        B: buf('f32', wA * wB, 4),
        wA,
        wB,
      }),
    );
    const N = 64;
    for (const t of [samples.transposeNaive, samples.transposeCoalesced, samples.transposeNoBankConflicts])
      check(
        await replay(dev, t, G(N / 32, N / 32), G(32, 8), {
          odata: buf('f32', N * N, null),
          idata: buf('f32', N * N, 5),
          width: N,
          height: N,
        }),
        ['odata'],
      );
    const [rows, cols] = [3, 700];
    check(
      await replay(dev, samples.softmaxSimt, G(rows), G(256), {
        x: buf('f32', rows * cols, 6, 4),
        y: buf('f32', rows * cols, null),
        cols,
      }),
    );
  });

  it('cuda-samples reduce0 / reduce2 and the scan (dynamic shared memory)', async () => {
    const n = 1000;
    for (const k of [samples.reduce0, samples.reduce2])
      check(
        await replay(dev, k, G(4), G(256), { g_idata: buf('f32', n, 7), g_odata: buf('f32', 4, null), n }, 256 * 4),
      );
    const B = 128;
    const m = 700;
    const blocks = Math.ceil(m / (2 * B));
    const odata = buf('f32', m, null);
    check(
      await replay(
        dev,
        samples.prescan,
        G(blocks),
        G(B),
        { g_odata: odata, g_idata: buf('f32', m, 8), g_sums: buf('f32', blocks, null), n: m },
        2 * B * 4,
      ),
    );
    check(
      await replay(dev, samples.uniformAdd, G(blocks), G(B), { g_data: odata, uniforms: buf('f32', blocks, 9), n: m }),
    );
  });

  it('cuda-samples histogram256 (u8 input, shared u32 atomics, global i32 atomics) — bit for bit', async () => {
    const n = 5000;
    const data = dev.alloc('u8', n);
    dev.upload(data, samples.histogramInput(n, true, 11));
    const hist = dev.alloc('i32', samples.BINS);
    dev.fill(hist, 0);
    const r = await replay(dev, samples.histogram256, G(6), G(128), { d_Data: data, d_Histogram: hist, n });
    expect(r.prog.code).toContain('array<atomic<u32>, 256>');
    check(r);
    const h2 = dev.alloc('i32', samples.BINS);
    dev.fill(h2, 0);
    check(await replay(dev, samples.histogramSynthetic, G(5), G(64), { d_Histogram: h2, n, skewed: 1 }));
  });

  it('loads and stores of every dtype convert as castScalar does — bit for bit', async () => {
    const convert = simtKernel(
      {
        name: 'convert_all',
        params: {
          h: 'ptr<f16>',
          b: 'ptr<bf16>',
          e4: 'ptr<fp8e4m3>',
          e5: 'ptr<fp8e5m2>',
          s: 'ptr<i16>',
          q: 'ptr<i8>',
          u: 'ptr<u8>',
          oh: 'ptr<f16>',
          ob: 'ptr<bf16>',
          oe4: 'ptr<fp8e4m3>',
          oe5: 'ptr<fp8e5m2>',
          os: 'ptr<i16>',
          oq: 'ptr<i8>',
          ou: 'ptr<u8>',
          oi: 'ptr<i32>',
          n: 'i32',
        },
      },
      (k, p) => {
        const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
        if (i < p.n) {
          const x = p.h.get(i) + p.b.get(i); // exact in f32 and float64 alike
          p.oh.set(i, x * 1000); // overflows f16 for large x: ±inf on both
          p.ob.set(i, p.e4.get(i) * 3 + p.e5.get(i));
          p.oe4.set(i, x * 300); // saturates at ±448
          p.oe5.set(i, p.s.get(i) * 7); // int → fp8: rounds, saturates
          p.os.set(i, p.q.get(i) * 300 + p.u.get(i)); // int → i16 saturates
          p.oq.set(i, x * 200); // float → i8 truncates and saturates
          p.ou.set(i, p.s.get(i) - 100); // negative → 0, above 255 → 255
          p.oi.set(i, x * 2 ** 25); // a float beyond i32 saturates (exact: a power of two)
        }
      },
    );
    const n = 333;
    const args: Record<string, unknown> = {
      h: buf('f16', n, 20, 100),
      b: buf('bf16', n, 21, 10),
      e4: buf('fp8e4m3', n, 22, 400),
      e5: buf('fp8e5m2', n, 23, 1000),
      s: buf('i16', n, 24, 30000),
      q: buf('i8', n, 25, 127),
      u: buf('u8', n, 26, 255),
      n,
    };
    for (const [name, d] of [
      ['oh', 'f16'],
      ['ob', 'bf16'],
      ['oe4', 'fp8e4m3'],
      ['oe5', 'fp8e5m2'],
      ['os', 'i16'],
      ['oq', 'i8'],
      ['ou', 'u8'],
      ['oi', 'i32'],
    ] as const)
      args[name] = buf(d, n + 3, null); // odd lengths: the last word is shared with nothing
    const r = await replay(dev, convert, G(3), G(128), args);
    expect(r.prog.bindings.filter((b) => b.kind === 'buffer' && b.layout === 'packed').length).toBe(14);
    check(r);
  });

  it('global atomics: f32 add / max / min / exch / CAS through compare-exchange loops, i32 natively, packed ones', async () => {
    const atomics = simtKernel(
      {
        name: 'atomics',
        params: { x: 'ptr<f32>', f: 'ptr<f32>', i: 'ptr<i32>', h: 'ptr<f16>', q: 'ptr<i8>', n: 'i32' },
      },
      (k, { x, f, i, h, q, n }) => {
        const t = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
        if (t < n) {
          const v = Math.round(x.get(t) * 8) / 2; // halves: every sum is exact, so any order gives one result
          f.atomicAdd(0, v);
          f.atomicMax(1, v);
          f.atomicMin(2, v);
          i.atomicAdd(0, t);
          i.atomicMax(1, t * 3 - 500);
          i.atomicMin(2, t * 3 - 500);
          h.atomicAdd(t % 3, 1);
          h.atomicMax(3, v);
          q.atomicAdd(t % 2, 1); // saturates at 127 on the CPU
          q.atomicMin(2, t - 1000);
        }
        if (t === 0) {
          f.atomicExch(3, 2.5);
          f.atomicCAS(4, -0, 7); // −0 equals the stored +0
          i.atomicCAS(3, 0, 9);
        }
      },
    );
    const n = 900;
    const zero = (d: DType, len: number) => {
      const b = dev.alloc(d, len);
      dev.fill(b, 0);
      return b;
    };
    const r = await replay(dev, atomics, G(8), G(128), {
      x: buf('f32', n, 30),
      f: zero('f32', 5),
      i: zero('i32', 4),
      h: zero('f16', 5),
      q: zero('i8', 5),
      n,
    });
    check(r, ['f']);
  });

  it('dynamic shared views of f32 and i32 over the same bytes, subarray views, fill, and narrow shared arrays', async () => {
    const shared = simtKernel(
      {
        name: 'shared_mix',
        params: { x: 'ptr<f32>', out: 'ptr<f32>', bits: 'ptr<i32>', small: 'ptr<i32>' },
        shared: { h: ['f16', 64], q: ['i8', 64], u: ['u32', 4] },
      },
      function* (k, { x, out, bits, small }) {
        const t = k.threadIdx.x;
        const g = k.blockIdx.x * 64 + t;
        const fl = k.dynamicShared('f32', 0, 64);
        const ints = k.dynamicShared('i32', 0, 64); // the same bytes
        const hi = fl.subarray(32); // elements 32..63
        fl[t] = x.get(g) * 3;
        k.shared.h![t] = x.get(g) * 1000; // rounds to f16
        k.shared.q![t] = t * 9; // wraps at i8
        yield k.syncthreads();
        out.set(g, fl[63 - t]! + hi[t % 32]! + k.shared.h![(t + 1) % 64]!);
        bits.set(g, ints[t]! ^ k.shared.q![63 - t]!);
        yield k.syncthreads(); // every read above is done before the atomics change h and q
        k.shared.h!.atomicAdd(0, 0.25);
        k.shared.q!.atomicAdd(1, 3);
        k.shared.u!.atomicMax(0, t * 0x4000000); // above 2³¹: unsigned compare
        yield k.syncthreads();
        if (t === 0) {
          fl.fill(1.5, 2, -60); // elements 2, 3
          small.set(k.blockIdx.x * 4, fl[2]! + fl[3]! + fl[4]!);
          small.set(k.blockIdx.x * 4 + 1, k.shared.h![0]! * 4);
          small.set(k.blockIdx.x * 4 + 2, k.shared.q![1]!);
          small.set(k.blockIdx.x * 4 + 3, k.shared.u![0]! >>> 20);
        }
      },
    );
    const r = await replay(
      dev,
      shared,
      G(3),
      G(64),
      { x: buf('f32', 192, 40), out: buf('f32', 192, null), bits: buf('i32', 192, null), small: buf('i32', 12, null) },
      64 * 4,
    );
    expect(r.prog.code).toContain('var<workgroup> sh_dynamic: array<u32, 64>;');
    check(r);
  });

  it('shared atomics on f32, bf16, i16 and u8 arrays (compare-exchange loops), i32 natively', async () => {
    const sharedAtomics = simtKernel(
      {
        name: 'shared_atomics',
        params: { x: 'ptr<f32>', out: 'ptr<f32>' },
        shared: { f: ['f32', 4], b: ['bf16', 2], s: ['i16', 2], u: ['u8', 2], i: ['i32', 2] },
      },
      function* (k, { x, out }) {
        const t = k.threadIdx.x;
        const v = Math.round(x.get(k.blockIdx.x * k.blockDim.x + t) * 16) / 4; // quarters: sums are exact
        const sh = k.shared;
        sh.f!.atomicAdd(0, v);
        sh.f!.atomicMax(1, v);
        sh.f!.atomicMin(2, v);
        sh.b!.atomicMax(0, v * 1000); // rounds to bf16
        sh.b!.atomicAdd(1, 1); // bf16 counts exactly up to 256
        sh.s!.atomicAdd(0, 1000); // wraps at i16
        sh.s!.atomicMin(1, t - 100);
        sh.u!.atomicAdd(0, 3); // wraps at u8
        sh.u!.atomicMax(1, t);
        sh.i!.atomicMin(0, -t * 7);
        if (t === 5) {
          sh.f!.atomicCAS(3, 0, 2.5);
          sh.i!.atomicExch(1, 77);
        }
        yield k.syncthreads();
        if (t < 4) out.set(k.blockIdx.x * 16 + t, sh.f![t]!);
        if (t < 2) {
          out.set(k.blockIdx.x * 16 + 4 + t, sh.b![t]!);
          out.set(k.blockIdx.x * 16 + 6 + t, sh.s![t]!);
          out.set(k.blockIdx.x * 16 + 8 + t, sh.u![t]!);
          out.set(k.blockIdx.x * 16 + 10 + t, sh.i![t]!);
        }
      },
    );
    check(await replay(dev, sharedAtomics, G(2), G(96), { x: buf('f32', 192, 70), out: buf('f32', 32, null) }), [
      'out',
    ]);
  });

  it('bitwise operators: ToInt32 of floats and of constants beyond i32, shifts, >>> — bit for bit', async () => {
    const bits = simtKernel(
      { name: 'bitwise', params: { x: 'ptr<f32>', a: 'ptr<i32>', b: 'ptr<i32>', c: 'ptr<i32>', n: 'i32' } },
      (k, { x, a, b, c, n }) => {
        const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
        if (i < n) {
          const v = x.get(i) * 2 ** 40; // exact; ToInt32 keeps the low 32 bits of the integer part
          a.set(i, v | 0);
          b.set(i, (i ^ 0xdeadbeef) & 0xffff0000);
          c.set(i, (Math.imul(i, 0x9e3779b1) >>> 7) ^ (~i << 3) ^ ((x.get(i) * 1024) >> 2)); // * 1024: exact in f32 too
        }
      },
    );
    const n = 300;
    check(
      await replay(dev, bits, G(3), G(128), {
        x: buf('f32', n, 60),
        a: buf('i32', n, null),
        b: buf('i32', n, null),
        c: buf('i32', n, null),
        n,
      }),
    );
  });

  it('host arrays (i32[] and f32[]) and their lengths', async () => {
    const hostArrays = simtKernel(
      { name: 'host_arrays', params: { x: 'ptr<f32>', out: 'ptr<f32>', w: 'f32[]', idx: 'i32[]', n: 'i32' } },
      (k, { x, out, w, idx, n }) => {
        const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
        if (i < n) out.set(i, x.get(idx[i % idx.length]!) * w[i % w.length]! + idx.length);
      },
    );
    const n = 200;
    check(
      await replay(dev, hostArrays, G(2), G(128), {
        x: buf('f32', n, 50),
        out: buf('f32', n, null),
        w: [0.5, -2, 3.25],
        idx: [5, 0, 199, 17, 42],
        n,
      }),
    );
  });

  it('faults: an out-of-bounds store, a shared read past the array, and a trap — with site and index', async () => {
    const oob = simtKernel({ name: 'oob_store', params: { out: 'ptr<i32>', n: 'i32' } }, (k, { out, n }) => {
      const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
      if (i === n + 5) out.set(i, 1);
      else if (i < n) out.set(i, i);
    });
    const r = await replay(dev, oob, G(2), G(64), { out: buf('i32', 100, null), n: 100 });
    expect(r.refError?.message).toMatch(/write of .* at index 105 is out of bounds/);
    expect(r.fault).toMatchObject({ kind: 'global', op: 'write', name: 'out', index: 105, thread: 41 });
    dev.reset();

    const sharedOob = simtKernel(
      { name: 'shared_oob', params: { out: 'ptr<f32>' }, shared: { s: ['f32', 32] } },
      (k, { out }) => {
        out.set(k.threadIdx.x, k.shared.s![k.threadIdx.x * 2]!);
      },
    );
    const s = await replay(dev, sharedOob, G(1), G(32), { out: buf('f32', 32, null) });
    expect(s.refError?.message).toMatch(/read of shared array 's' \(f32\[32\]\) at index/);
    expect(s.fault).toMatchObject({ kind: 'shared', op: 'read', name: 's' });
    expect(s.fault!.index).toBeGreaterThanOrEqual(32);
    dev.reset();

    const trap = simtKernel({ name: 'trap', params: { out: 'ptr<f32>', n: 'i32' } }, (k, { out, n }) => {
      if (k.threadIdx.x === n) throw new RangeError('bad n');
      out.set(k.threadIdx.x, 1);
    });
    const t = await replay(dev, trap, G(1), G(32), { out: buf('f32', 32, null), n: 7 });
    expect(t.refError?.message).toMatch(/threw RangeError: bad n/);
    expect(t.fault).toMatchObject({ kind: 'trap', message: 'threw RangeError: bad n', thread: 7 });
    dev.reset();
  });
});
