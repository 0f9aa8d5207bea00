/**
 * SIMT IR → WGSL (compiler/wgsl/simt.ts): the program's description on the ABI (bindings, uniform fields and their
 * sources, fault sites, features, workgroup bytes), the refusals, the dump, and warp intrinsics lowered to subgroup
 * operations. Running the generated WGSL against the reference back end is @tessera/backend-webgpu's
 * test/simt-lowering.test.ts (it has the runner); here Dawn, where it exists, only type-checks the warp kernels' WGSL
 * with stand-ins for the subgroup builtins (this machine's adapters have no `subgroups`), with a visible SKIP otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileKernel, dumpSink } from '../src/compiler/pipeline';
import { simtToWgsl } from '../src/compiler/wgsl/simt';
import { type Device, type SimtKernel, simtKernel } from '../src/index';
import { expectThrowCode, testRuntime } from './helpers';

type G3 = [number, number, number];

const vecAdd = simtKernel(
  { name: 'vectorAdd', params: { a: 'ptr<f32>', b: 'ptr<f32>', c: 'ptr<f32>', n: 'i32' } },
  (k, { a, b, c, n }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    if (i < n) c.set(i, a.get(i) + b.get(i));
  },
);

/** A warp-shuffle reduction with every warp intrinsic, under thread-dependent control flow too. */
const warpAll = simtKernel(
  { name: 'warp_all', params: { x: 'ptr<f32>', out: 'ptr<i32>', sums: 'ptr<f32>' } },
  (k, { x, out, sums }) => {
    const t = k.threadIdx.x;
    let v = x.get(k.blockIdx.x * k.blockDim.x + t);
    for (let o = k.warpSize >> 1; o > 0; o >>= 1) v += k.shflDown(0xffffffff, v, o);
    const up = k.shflUp(0xffffffff, t, 1, 8);
    const swapped = k.shflXor(0xffffffff, t, 3, 16);
    const first = k.shfl(0xffffffff, v, 0);
    const ballot = k.ballot(0xffffffff, t % 3 === 0);
    let r = 0;
    if (t < 16) {
      const m = k.activeMask();
      r = k.reduceAdd(m, t) + k.reduceMax(m, t, 'u32');
      if (k.any(m, t === 5)) r += 1000;
      if (k.all(m, t < 16)) r += 2000;
    }
    k.syncwarp(0xffffffff);
    out.set(k.blockIdx.x * k.blockDim.x + t, up + swapped * 100 + (ballot & 0xff) * 10000 + r);
    if (k.laneId === 0) sums.set(k.warpId, v + first);
  },
);

let dev: Device;
beforeAll(async () => {
  dev = (await testRuntime()).device(0);
});

const lower = (k: SimtKernel, args: Record<string, unknown>, block: G3 = [32, 1, 1], subgroupSize?: number, smem = 0) =>
  simtToWgsl(compileKernel(k, args, block, smem).ir, { block, subgroupSize });

describe('WGSL from SIMT IR on the ABI', () => {
  it('binds buffers in parameter order, then the uniform, the host arrays and the fault record', () => {
    const k = simtKernel(
      {
        name: 'layout',
        params: { w: 'f32[]', h: 'ptr<f16>', n: 'i32', x: 'ptr<f32>', s: 'f32', idx: 'i32[]' },
        shared: { tile: ['bf16', 48], cnt: ['u32', 2] },
      },
      function* (k, { w, h, n, x, s, idx }) {
        const t = k.threadIdx.x;
        k.shared.tile![t] = x.get(t) * s + w[t % w.length]!;
        yield k.syncthreads();
        if (t < n) h.set(t, k.shared.tile![47 - t]! + idx[0]!);
        k.shared.cnt!.atomicAdd(0, 1);
      },
    );
    const p = lower(
      k as unknown as SimtKernel,
      { w: [1, 2], h: dev.alloc('f16', 48), n: 48, x: dev.alloc('f32', 48), s: 2, idx: [3] },
      [48, 1, 1],
    );
    expect(p.bindings.map((b) => b.kind)).toEqual(['buffer', 'buffer', 'uniform', 'arrays', 'fault']);
    expect(p.bindings[0]).toMatchObject({
      name: 'h',
      dtype: 'f16',
      layout: 'packed',
      access: 'read_write',
      atomic: true,
    });
    expect(p.bindings[1]).toMatchObject({ name: 'x', dtype: 'f32', layout: 'word', access: 'read', atomic: false });
    const uniform = p.bindings[2]!;
    if (uniform.kind !== 'uniform') throw new Error('no uniform');
    expect(uniform.fields.map((f) => `${f.name}:${f.type}@${f.offset}`)).toEqual([
      'grid_x:i32@0',
      'grid_y:i32@4',
      'grid_z:i32@8',
      'pid_base:i32@12',
      'aoff_w:i32@16',
      'alen_w:i32@20',
      'off_h:i32@24',
      'len_h:i32@28',
      'p_n:i32@32',
      'off_x:i32@36',
      'len_x:i32@40',
      'p_s:f32@44',
      'aoff_idx:i32@48',
      'alen_idx:i32@52',
    ]);
    expect(uniform.fields.find((f) => f.name === 'off_h')!.source).toEqual({ kind: 'offset', param: 'h' });
    expect(uniform.size).toBe(64);
    expect(p.bindings[3]).toEqual({ kind: 'arrays', binding: 3, params: ['w', 'idx'], floats: ['w'] });
    // bf16[48] one value per word, u32[2] atomic.
    expect(p.workgroupBytes).toBe(48 * 4 + 2 * 4);
    expect(p.code).toContain('var<workgroup> sh_tile: array<f32, 48>;');
    expect(p.code).toContain('var<workgroup> sh_cnt: array<atomic<u32>, 2>;');
    expect(p.features).toEqual([]);
    // One fault site per access, worded as the CPU back end words it.
    expect(p.sites.map((s) => `${s.kind} ${s.op} ${s.name}`)).toEqual([
      'global read x',
      'shared write tile',
      'shared read tile',
      'global write h',
      'shared atomicAdd cnt',
    ]);
    expect(p.sites[1]!.shared).toEqual({ dtype: 'bf16', length: 48 });
  });

  it('lowers warp intrinsics to subgroup operations when the subgroup size is the warp size', () => {
    const p = lower(
      warpAll as unknown as SimtKernel,
      {
        x: dev.alloc('f32', 64),
        out: dev.alloc('i32', 64),
        sums: dev.alloc('f32', 2),
      },
      [64, 1, 1],
      32,
    );
    expect(p.features).toEqual(['subgroups']);
    expect(p.code).toMatch(/^enable subgroups;$/m);
    for (const f of ['subgroupShuffle(', 'subgroupBallot(', 'subgroupAdd(', 'subgroupMax(', 'workgroupBarrier()'])
      expect(p.code).toContain(f);
    expect(p.sites[0]).toMatchObject({
      kind: 'trap',
      message: expect.stringMatching(/subgroups are not CUDA's warps/),
    });
  });
});

describe('WGSL lowering refusals and the dump', () => {
  it('refuses warp intrinsics without subgroups of the warp size, naming the op and the reason', () => {
    const shfl = simtKernel({ name: 'shfl', params: { x: 'ptr<i32>' } }, (k, { x }) => {
      x.set(k.threadIdx.x, k.shflDown(0xffffffff, k.threadIdx.x, 1));
    });
    const args = { x: dev.alloc('i32', 32) };
    expectThrowCode(
      () => lower(shfl as unknown as SimtKernel, args),
      'Unsupported',
      /simt\.shfl.*lacks the 'subgroups' feature/s,
    );
    expectThrowCode(
      () => lower(shfl as unknown as SimtKernel, args, [32, 1, 1], 16),
      'Unsupported',
      /subgroup size is 16, not the kernel's warp size 32/,
    );
    const syncInBranch = simtKernel({ name: 'sync_branch', params: { x: 'ptr<i32>' } }, (k, { x }) => {
      if (k.threadIdx.x < 16) k.syncwarp(0xffff);
      x.set(k.threadIdx.x, 1);
    });
    expectThrowCode(
      () => lower(syncInBranch as unknown as SimtKernel, args, [32, 1, 1], 32),
      'Unsupported',
      /k\.syncwarp.*inside control flow/,
    );
  });

  it('refuses what the GPU cannot reproduce, as Unsupported naming the construct', () => {
    const big = simtKernel({ name: 'big', params: { x: 'ptr<f32>', n: 'i64' } }, (_k, { x, n }) => {
      x.set(0, n);
    });
    expectThrowCode(() => lower(big as unknown as SimtKernel, { x: dev.alloc('f32', 1), n: 5 }), 'Unsupported', /i64/);
    const mixed = simtKernel({ name: 'mixed', params: { x: 'ptr<f32>' } }, (k, { x }) => {
      const a = k.dynamicShared('f16', 0, 8);
      const b = k.dynamicShared('i32', 0, 4);
      a[0] = 1;
      x.set(0, a[0]! + b[0]!);
    });
    expectThrowCode(
      () => lower(mixed as unknown as SimtKernel, { x: dev.alloc('f32', 1) }, [1, 1, 1], undefined, 16),
      'Unsupported',
      /dynamic shared memory viewed as f16, i32/,
    );
    const floatIntoInt = simtKernel({ name: 'fi', params: { x: 'ptr<f32>', y: 'ptr<i32>' } }, (k, { x, y }) => {
      y.atomicAdd(0, x.get(k.threadIdx.x));
    });
    expectThrowCode(
      () => lower(floatIntoInt as unknown as SimtKernel, { x: dev.alloc('f32', 32), y: dev.alloc('i32', 1) }),
      'Unsupported',
      /y\.atomicAdd with a float value on an integer \(i32\) buffer/,
    );
    const boolStore = simtKernel({ name: 'bs', params: { y: 'ptr<i32>' } }, (k, { y }) => {
      y.set(0, (k.threadIdx.x > 3) as unknown as number); // a boolean, as JavaScript lets a kernel pass
    });
    expectThrowCode(
      () => lower(boolStore as unknown as SimtKernel, { y: dev.alloc('i32', 1) }),
      'Unsupported',
      /boolean value given to y\.set/,
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

// ------------------------------------------------------------------------------------------------------------- Dawn

/** Dawn's instance: kept referenced for the whole file (collecting it tears the device down). */
let instance: GPU | undefined;

async function openDawn(): Promise<GPUDevice | null> {
  try {
    process.env.EGL_PLATFORM ??= 'surfaceless'; // read by Dawn's OpenGL back end at its first adapter request
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    for (const [backend, featureLevel] of [
      ['vulkan', 'core'],
      ['opengl', 'compatibility'],
    ] as const) {
      instance = create([`backend=${backend}`]);
      const adapter = await instance.requestAdapter({ featureLevel });
      if (adapter) return await adapter.requestDevice();
    }
  } catch (e) {
    console.warn(`SKIP: Dawn (webgpu) could not be loaded: ${(e as Error).message}`);
    return null;
  }
  return null;
}

const gpu = await openDawn();
if (!gpu) console.warn('SKIP: no Dawn adapter (vulkan or opengl): the warp kernels’ WGSL is not type-checked.');
afterAll(() => gpu?.destroy());

/**
 * The WGSL with the subgroup builtins replaced by stand-ins of the same types (identity reductions and shuffles, a
 * ballot of the caller alone), so that Dawn without the `subgroups` feature type-checks everything else.
 */
function withoutSubgroups(code: string, warpSize: number): string {
  return `fn tsr_ballot(p: bool) -> vec4<u32> { return vec4<u32>(select(0u, 1u, p), 0u, 0u, 0u); }\n${code
    .replace(/^enable subgroups;\n/m, '')
    .replace(/^diagnostic\(off, subgroup_uniformity\);\n/m, '')
    .replace(
      /, @builtin\(subgroup_invocation_id\) sg_lane: u32, @builtin\(subgroup_size\) sg_size: u32\) \{/,
      `) {\n  let sg_lane = lidx % ${warpSize}u;\n  let sg_size = ${warpSize}u;`,
    )
    .replace(/subgroupShuffle\((.*), (\w+)\)/g, 'select($1, $1, $2 == $2)')
    .replace(/subgroup(Add|Min|Max|All)\(/g, '(')
    .replace(/subgroupBallot\(/g, 'tsr_ballot(')}`;
}

describe.skipIf(!gpu)('warp kernels’ WGSL type-checks on Dawn (subgroup builtins stood in for)', () => {
  it('compiles without errors', async () => {
    const p = lower(
      warpAll as unknown as SimtKernel,
      {
        x: dev.alloc('f32', 64),
        out: dev.alloc('i32', 64),
        sums: dev.alloc('f32', 2),
      },
      [64, 1, 1],
      32,
    );
    const code = withoutSubgroups(p.code, 32);
    expect(code).not.toMatch(/subgroup[A-Z]/);
    const module = gpu!.createShaderModule({ code });
    const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
    expect(
      errors.map((m) => `${m.lineNum}: ${m.message}`),
      code,
    ).toEqual([]);
  });
});
