/**
 * SIMT IR → WGSL (issue 13, first piece): the generated WGSL of cuda-samples-style kernels compiled and run with Dawn
 * (the `webgpu` package), compared with the same kernel run by the device package's reference back end — bit for bit
 * for integer kernels, ‖out − ref‖ / ‖ref‖ ≤ 1e-6 for f32. Where no Dawn adapter exists the Dawn tests are skipped
 * with a visible SKIP message; the refusals and the dump are checked everywhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileKernel, dumpSink } from '../src/compiler/pipeline';
import { simtToWgsl, type WgslProgram } from '../src/compiler/wgsl/simt';
import { type DeviceBuffer, type SimtKernel, simtKernel } from '../src/index';
import { expectThrowCode, testRuntime } from './helpers';

type G3 = [number, number, number];

// ---------------------------------------------------------------------------------------------------------- kernels

const vecAdd = simtKernel(
  { name: 'vectorAdd', params: { a: 'ptr<f32>', b: 'ptr<f32>', c: 'ptr<f32>', n: 'i32' } },
  (k, { a, b, c, n }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    if (i < n) c.set(i, a.get(i) + b.get(i));
  },
);

/** cuda-samples reduce0-style tree reduction: per-block partial sums (f32: WGSL has no float atomics). */
const reduceF32 = simtKernel(
  { name: 'reduce_f32', params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32' }, shared: { part: ['f32', 128] } },
  function* (k, { x, out, n }) {
    const tid = k.threadIdx.x;
    const i = k.blockIdx.x * k.blockDim.x + tid;
    const part = k.shared.part!;
    part[tid] = i < n ? x.get(i) : 0;
    yield k.syncthreads();
    for (let s = k.blockDim.x >> 1; s > 0; s >>= 1) {
      if (tid < s) part[tid] += part[tid + s]!;
      yield k.syncthreads();
    }
    if (tid === 0) out.set(k.blockIdx.x, part[0]!);
  },
);

/** The same reduction on i32 with a runtime-bounded (block-uniform) grid-stride loop and a global atomicAdd. */
const reduceI32 = simtKernel(
  {
    name: 'reduce_i32',
    params: { x: 'ptr<i32>', out: 'ptr<i32>', n: 'i32' },
    shared: { part: ['i32', 64], hits: ['u32', 1] },
  },
  function* (k, { x, out, n }) {
    const tid = k.threadIdx.x;
    const part = k.shared.part!;
    let acc = 0;
    for (let i = k.blockIdx.x * k.blockDim.x + tid; i < n; i += k.blockDim.x * k.gridDim.x) acc = (acc + x.get(i)) | 0;
    part[tid] = acc;
    k.shared.hits!.atomicAdd(0, 1);
    yield k.syncthreads();
    for (let s = k.blockDim.x >> 1; s > 0; s >>= 1) {
      if (tid < s) part[tid] = (part[tid]! + part[tid + s]!) | 0;
      yield k.syncthreads();
    }
    if (tid === 0) {
      out.atomicAdd(0, part[0]!);
      out.atomicMax(1, k.shared.hits![0]!);
      out.atomicCAS(2, 0, k.blockIdx.x + 1);
    }
  },
);

// "An Efficient Matrix Transpose in CUDA C/C++" (Mark Harris): 32×32 tiles padded to 33, 32×8 threads.
const TILE_DIM = 32;
const BLOCK_ROWS = 8;
const PITCH = TILE_DIM + 1;
const transpose = simtKernel(
  {
    name: 'transpose_no_bank_conflicts',
    params: { odata: 'ptr<f32>', idata: 'ptr<f32>', width: 'i32', height: 'i32' },
    shared: { tile: ['f32', TILE_DIM * PITCH] },
    uses: { TILE_DIM, BLOCK_ROWS, PITCH },
  },
  function* (k, { odata, idata, width }) {
    const tile = k.shared.tile!;
    let x = k.blockIdx.x * TILE_DIM + k.threadIdx.x;
    let y = k.blockIdx.y * TILE_DIM + k.threadIdx.y;
    for (let j = 0; j < TILE_DIM; j += BLOCK_ROWS)
      tile[(k.threadIdx.y + j) * PITCH + k.threadIdx.x] = idata.get((y + j) * width + x);
    yield k.syncthreads();
    x = k.blockIdx.y * TILE_DIM + k.threadIdx.x;
    y = k.blockIdx.x * TILE_DIM + k.threadIdx.y;
    for (let j = 0; j < TILE_DIM; j += BLOCK_ROWS)
      odata.set((y + j) * width + x, tile[k.threadIdx.x * PITCH + k.threadIdx.y + j]!);
  },
);

// ------------------------------------------------------------------------------------------------------------- Dawn

interface Dawn {
  gpu: GPU;
  device: GPUDevice;
  backend: string;
}

async function openDawn(): Promise<Dawn | null> {
  try {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    process.env.EGL_PLATFORM ??= 'surfaceless';
    for (const [backend, featureLevel] of [
      ['vulkan', 'core'],
      ['opengl', 'compatibility'],
    ] as const) {
      const gpu = create([`backend=${backend}`]);
      const adapter = await gpu.requestAdapter({ featureLevel });
      if (!adapter) continue;
      const device = await adapter.requestDevice({
        requiredLimits: {
          maxComputeWorkgroupSizeX: adapter.limits.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
          maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
        },
      });
      return { gpu, device, backend };
    }
  } catch (e) {
    console.warn(`SKIP: Dawn (webgpu) could not be loaded: ${(e as Error).message}`);
    return null;
  }
  return null;
}

const dawn = await openDawn();
if (!dawn) console.warn('SKIP: no Dawn adapter (vulkan or opengl): the WGSL kernels are generated but not run.');

/** Runs `prog` on Dawn: buffers by binding (initial contents), scalars by name; returns every buffer's contents. */
async function runWgsl(
  d: Dawn,
  prog: WgslProgram,
  grid: G3,
  buffers: Record<string, Float32Array | Int32Array>,
  scalars: Record<string, number>,
): Promise<Record<string, ArrayBuffer>> {
  const { device } = d;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: prog.code });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length)
    throw new Error(`WGSL errors:\n${errors.map((m) => `${m.lineNum}: ${m.message}`).join('\n')}\n${prog.code}`);
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: prog.entryPoint } });
  const gpuBufs: { name: string; buf: GPUBuffer; size: number }[] = [];
  const entries: GPUBindGroupEntry[] = [];
  for (const b of prog.bindings) {
    if (b.kind === 'buffer') {
      const data = buffers[b.name]!;
      const buf = device.createBuffer({
        size: data.byteLength,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      device.queue.writeBuffer(buf, 0, data);
      gpuBufs.push({ name: b.name, buf, size: data.byteLength });
      entries.push({ binding: b.binding, resource: { buffer: buf } });
    } else {
      const bytes = new ArrayBuffer(b.size);
      const view = new DataView(bytes);
      for (const f of b.fields) {
        if (f.type === 'i32') view.setInt32(f.offset, scalars[f.name]!, true);
        else view.setFloat32(f.offset, scalars[f.name]!, true);
      }
      const buf = device.createBuffer({ size: b.size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(buf, 0, bytes);
      entries.push({ binding: b.binding, resource: { buffer: buf } });
    }
  }
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(...grid);
  pass.end();
  const reads = gpuBufs.map((g) => {
    const r = device.createBuffer({ size: g.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.copyBufferToBuffer(g.buf, 0, r, 0, g.size);
    return { ...g, r };
  });
  device.queue.submit([enc.finish()]);
  const err = await device.popErrorScope();
  if (err) throw new Error(`WebGPU validation: ${err.message}`);
  const out: Record<string, ArrayBuffer> = {};
  for (const g of reads) {
    await g.r.mapAsync(GPUMapMode.READ);
    out[g.name] = g.r.getMappedRange().slice(0);
    g.r.unmap();
  }
  return out;
}

/** The kernel run by the reference back end and its WGSL run by Dawn, on the same inputs. */
async function both(
  k: SimtKernel,
  grid: G3,
  block: G3,
  bufs: Record<string, Float32Array | Int32Array>,
  scalars: Record<string, number>,
): Promise<{ ref: Record<string, number[]>; wgsl: Record<string, number[]>; prog: WgslProgram }> {
  const dev = (await testRuntime()).device(0);
  const args: Record<string, unknown> = { ...scalars };
  const devBufs: Record<string, DeviceBuffer> = {};
  for (const [name, data] of Object.entries(bufs)) {
    const b = dev.alloc(data instanceof Float32Array ? 'f32' : 'i32', data.length);
    dev.upload(b, data);
    devBufs[name] = b;
    args[name] = b;
  }
  const prog = simtToWgsl(compileKernel(k, args, block, 0).ir, { block });
  dev.launch(k, { grid, block }, args);
  const ref = Object.fromEntries(Object.entries(devBufs).map(([n, b]) => [n, Array.from(dev.download(b))]));
  const raw = await runWgsl(dawn!, prog, grid, bufs, scalars);
  const wgsl = Object.fromEntries(
    Object.entries(raw).map(([n, ab]) => [
      n,
      Array.from(bufs[n] instanceof Float32Array ? new Float32Array(ab) : new Int32Array(ab)),
    ]),
  );
  return { ref, wgsl, prog };
}

function relErr(out: number[], ref: number[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (out[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den);
}

const rand = (n: number, seed: number) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
};

describe.skipIf(!dawn)('WGSL from SIMT IR, run with Dawn', () => {
  afterAll(() => dawn?.device.destroy());

  it('vectorAdd (f32, a runtime bound)', async () => {
    const n = 1000;
    const { ref, wgsl } = await both(
      vecAdd as unknown as SimtKernel,
      [8, 1, 1],
      [128, 1, 1],
      {
        a: rand(n, 1),
        b: rand(n, 2),
        c: new Float32Array(n),
      },
      { n },
    );
    expect(relErr(wgsl.c!, ref.c!)).toBeLessThanOrEqual(1e-6);
  });

  it('a shared-memory tree reduction (f32 partial sums per block)', async () => {
    const n = 1000;
    const { ref, wgsl, prog } = await both(
      reduceF32 as unknown as SimtKernel,
      [8, 1, 1],
      [128, 1, 1],
      {
        x: rand(n, 3),
        out: new Float32Array(8),
      },
      { n },
    );
    expect(prog.code).toContain('var<workgroup> sh_part: array<f32, 128>;');
    expect(prog.code).toContain('workgroupBarrier();');
    expect(relErr(wgsl.out!, ref.out!)).toBeLessThanOrEqual(1e-6);
  });

  it('an i32 reduction: grid-stride loop, shared and global atomics, atomicCAS — bit for bit', async () => {
    const n = 5000;
    const x = Int32Array.from({ length: n }, (_, i) => ((i * 2654435761) | 0) >> 4);
    const { ref, wgsl, prog } = await both(
      reduceI32 as unknown as SimtKernel,
      [6, 1, 1],
      [64, 1, 1],
      {
        x,
        out: new Int32Array(3),
      },
      { n },
    );
    expect(prog.code).toContain('array<atomic<i32>>');
    expect(prog.code).toContain('array<atomic<u32>, 1>');
    expect(wgsl.out!.slice(0, 2)).toEqual(ref.out!.slice(0, 2));
    // atomicCAS(2, 0, bid + 1): exactly one block wins (which one is a race on a GPU).
    expect(wgsl.out![2]).toBeGreaterThanOrEqual(1);
    expect(wgsl.out![2]).toBeLessThanOrEqual(6);
  });

  it("Harris's padded shared-memory transpose (2-D blocks and grid) — bit for bit", async () => {
    const N = 96;
    const idata = rand(N * N, 4);
    const { ref, wgsl } = await both(
      transpose as unknown as SimtKernel,
      [N / TILE_DIM, N / TILE_DIM, 1],
      [TILE_DIM, BLOCK_ROWS, 1],
      {
        idata,
        odata: new Float32Array(N * N),
      },
      { width: N, height: N },
    );
    expect(wgsl.odata).toEqual(ref.odata);
  });
});

describe('WGSL lowering refusals and the dump', () => {
  let dev: Awaited<ReturnType<typeof testRuntime>> extends { device(i: number): infer D } ? D : never;
  beforeAll(async () => {
    dev = (await testRuntime()).device(0);
  });
  const lower = (k: SimtKernel, args: Record<string, unknown>, block: G3 = [32, 1, 1]) =>
    simtToWgsl(compileKernel(k, args, block, 0).ir, { block });

  it('refuses f32 atomics, warp intrinsics and narrow dtypes as Unsupported, naming the construct', () => {
    const fAtomic = simtKernel({ name: 'fatomic', params: { x: 'ptr<f32>' } }, (k, { x }) => {
      x.atomicAdd(0, k.threadIdx.x);
    });
    expectThrowCode(
      () => lower(fAtomic as unknown as SimtKernel, { x: dev.alloc('f32', 4) }),
      'Unsupported',
      /floating-point atomics/,
    );
    const shfl = simtKernel({ name: 'shfl', params: { x: 'ptr<i32>' } }, (k, { x }) => {
      x.set(k.threadIdx.x, k.shflDown(0xffffffff, k.threadIdx.x, 1));
    });
    expectThrowCode(
      () => lower(shfl as unknown as SimtKernel, { x: dev.alloc('i32', 32) }),
      'Unsupported',
      /simt\.shfl.*subgroups/s,
    );
    const half = simtKernel({ name: 'half', params: { x: 'ptr<f16>' } }, (k, { x }) => {
      x.set(k.threadIdx.x, 1);
    });
    expectThrowCode(
      () => lower(half as unknown as SimtKernel, { x: dev.alloc('f16', 32) }),
      'Unsupported',
      /dtype f16/,
    );
    const sh16 = simtKernel({ name: 'sh16', params: { x: 'ptr<f32>' }, shared: { s: ['bf16', 32] } }, (k, { x }) => {
      k.shared.s![k.threadIdx.x] = 1;
      x.set(k.threadIdx.x, k.shared.s![0]!);
    });
    expectThrowCode(
      () => lower(sh16 as unknown as SimtKernel, { x: dev.alloc('f32', 32) }),
      'Unsupported',
      /shared array 's' of dtype bf16/,
    );
  });

  it('TESSERA_DUMP_IR=wgsl prints the WGSL of a SIMT launch once per specialisation', () => {
    const seen: string[] = [];
    const write = dumpSink.write;
    const old = process.env.TESSERA_DUMP_IR;
    dumpSink.write = (t) => seen.push(t);
    process.env.TESSERA_DUMP_IR = 'wgsl';
    try {
      const n = 64;
      const args = { a: dev.alloc('f32', n), b: dev.alloc('f32', n), c: dev.alloc('f32', n), n };
      dev.launch(vecAdd, { grid: 2, block: 32 }, args);
      dev.launch(vecAdd, { grid: 2, block: 32 }, args);
    } finally {
      dumpSink.write = write;
      if (old === undefined) delete process.env.TESSERA_DUMP_IR;
      else process.env.TESSERA_DUMP_IR = old;
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/vectorAdd .*: generated WGSL\n/);
    expect(seen[0]).toContain('@compute @workgroup_size(32, 1, 1)');
  });
});
