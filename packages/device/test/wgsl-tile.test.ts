/**
 * Tile IR → WGSL (tileToWgsl): the shape of what the lowering produces — bindings and uniform fields per abi.ts,
 * fault sites, the workgroup size, where tiles live (fused into private registers, workgroup memory, or the
 * per-program scratch binding when workgroup memory is short) — its refusals, and the `TESSERA_DUMP_IR=wgsl` /
 * `inspectKernel().wgsl()` hooks. The generated code is run on Dawn against the reference back end in
 * packages/backend-webgpu/test/tile-lowering.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { inspectKernel } from '../src/compiler/inspect';
import { Op, Region } from '../src/compiler/ir';
import { compileKernel, dumpSink } from '../src/compiler/pipeline';
import type { WgslBufferBinding, WgslUniformBinding } from '../src/compiler/wgsl/abi';
import { tileToWgsl } from '../src/compiler/wgsl/tile';
import { type Kernel, simtKernel, tileKernel } from '../src/index';
import * as K from '../src/testing/kernels';
import { expectThrowCode, testRuntime } from './helpers';

const LIMITS = { maxWorkgroupBytes: 16384, maxInvocations: 256 };

describe('tile kernels lowered to WGSL', () => {
  let dev: Awaited<ReturnType<typeof testRuntime>> extends { device(i: number): infer D } ? D : never;
  beforeAll(async () => {
    dev = (await testRuntime()).device(0);
  });
  const lower = (k: Kernel, args: Record<string, unknown>, limits = LIMITS) =>
    tileToWgsl(compileKernel(k, args, null, 0).ir, limits);
  const vecArgs = () => ({
    x: dev.alloc('f32', 1000),
    y: dev.alloc('f32', 1000),
    out: dev.alloc('f32', 1000),
    n: 1000,
    BLOCK: 256,
  });
  const matmulArgs = (dtype: 'f32' | 'bf16' = 'f32') => ({
    a: dev.alloc(dtype, 64 * 64),
    b: dev.alloc(dtype, 64 * 64),
    c: dev.alloc(dtype, 64 * 64),
    M: 64,
    N: 64,
    K: 64,
    BM: 32,
    BN: 32,
    BK: 32,
  });

  it('declares the bindings, uniform fields and fault sites of abi.ts', () => {
    const prog = lower(K.vectorAdd, vecArgs());
    expect(prog.entryPoint).toBe('main');
    expect(prog.workgroupSize).toEqual([256, 1, 1]);
    const bufs = prog.bindings.filter((b): b is WgslBufferBinding => b.kind === 'buffer');
    expect(bufs.map((b) => [b.name, b.access, b.layout, b.atomic])).toEqual([
      ['x', 'read', 'word', false],
      ['y', 'read', 'word', false],
      ['out', 'read_write', 'word', false],
    ]);
    const uniform = prog.bindings.find((b): b is WgslUniformBinding => b.kind === 'uniform')!;
    expect(uniform.fields.map((f) => f.name)).toEqual([
      'grid_x',
      'grid_y',
      'grid_z',
      'pid_base',
      'off_x',
      'len_x',
      'off_y',
      'len_y',
      'off_out',
      'len_out',
      'p_n',
    ]);
    expect(uniform.fields.map((f) => f.offset)).toEqual(uniform.fields.map((_, i) => i * 4));
    expect(uniform.size % 16).toBe(0);
    expect(prog.bindings.some((b) => b.kind === 'fault')).toBe(true);
    expect(prog.sites.map((s) => `${s.kind} ${s.op} ${s.name}`)).toEqual([
      'global load x',
      'global load y',
      'global store out',
    ]);
    // Bindings are numbered 0…n−1, each once.
    expect(prog.bindings.map((b) => b.binding).sort((p, q) => p - q)).toEqual(prog.bindings.map((_, i) => i));
    expect(prog.code).toContain('@compute @workgroup_size(256, 1, 1)');
    expect(prog.code).toContain('if (lin >= params.grid_x * params.grid_y * params.grid_z) { return; }');
  });

  it('fuses elementwise chains into registers: no workgroup memory for a purely elementwise kernel', () => {
    const prog = lower(K.elementwiseMix, vecArgs());
    expect(prog.workgroupBytes).toBe(0);
    expect(prog.code).not.toContain('smem');
    expect(prog.code.match(/st_out\(/g)).toHaveLength(2); // the accessor and its one call
    expect(prog.code).toContain('exp(');
  });

  it('keeps dot operands in workgroup memory (or per-program scratch when it is short), the accumulator in registers', () => {
    const wg = lower(K.matmul, matmulArgs());
    expect(wg.workgroupBytes).toBeGreaterThan(0);
    expect(wg.workgroupBytes).toBeLessThanOrEqual(LIMITS.maxWorkgroupBytes);
    expect(wg.code).toContain('workgroupBarrier();');
    expect(wg.bindings.some((b) => b.kind === 'scratch')).toBe(false);
    // acc = t.dot(a, b, acc) accumulates in place: the carried accumulator is the one private array.
    expect(wg.code.match(/var p\d+: array/g)).toHaveLength(1);
    const scr = lower(K.matmul, matmulArgs(), { maxWorkgroupBytes: 1024, maxInvocations: 256 });
    expect(scr.workgroupBytes).toBeLessThanOrEqual(1024);
    const scratch = scr.bindings.find((b) => b.kind === 'scratch');
    expect(scratch && scratch.kind === 'scratch' && scratch.wordsPerProgram).toBeGreaterThan(0);
    expect(scr.code).toContain('storageBarrier();');
  });

  it('packs sub-word buffers: a bf16 output is an atomic u32 binding written through st_', () => {
    const prog = lower(K.matmul, matmulArgs('bf16'));
    const c = prog.bindings.find((b): b is WgslBufferBinding => b.kind === 'buffer' && b.name === 'c')!;
    expect([c.layout, c.access, c.atomic]).toEqual(['packed', 'read_write', true]);
    expect(prog.code).toContain('fn tsr_enc_bf16(');
  });

  it('sizes the workgroup from the largest tile, within the adapter limit', () => {
    const small = lower(K.vectorAdd, { ...vecArgs(), BLOCK: 64 });
    expect(small.workgroupSize).toEqual([64, 1, 1]);
    const capped = lower(K.vectorAdd, { ...vecArgs(), BLOCK: 1024 }, { maxWorkgroupBytes: 16384, maxInvocations: 128 });
    expect(capped.workgroupSize).toEqual([128, 1, 1]);
    const forced = tileToWgsl(compileKernel(K.vectorAdd, vecArgs(), null, 0).ir, { ...LIMITS, workgroupSize: 32 });
    expect(forced.workgroupSize).toEqual([32, 1, 1]);
  });

  it('records traps and atomics: f32 atomics through compare-exchange, returning old values', () => {
    const prog = lower(K.atomicSum, { x: dev.alloc('f32', 100), out: dev.alloc('f32', 1), n: 100, BLOCK: 128 });
    const out = prog.bindings.find((b): b is WgslBufferBinding => b.kind === 'buffer' && b.name === 'out')!;
    expect(out.atomic).toBe(true);
    expect(prog.code).toContain('atomicCompareExchangeWeak');
    expect(prog.sites.map((s) => s.op)).toContain('atomicAdd');
    const trapping = tileKernel({ name: 'trapping', params: { x: 'ptr<f32>', n: 'i32' } }, (t, { x, n }) => {
      if (n > 4) throw new RangeError('n too large');
      t.store(x, t.arange(0, 16), 1, { mask: t.arange(0, 16).lt(n) });
    });
    const tp = lower(trapping, { x: dev.alloc('f32', 16), n: 3 });
    expect(tp.sites.find((s) => s.kind === 'trap')?.message).toContain('n too large');
  });

  it('refuses SIMT kernels and unknown ops as Unsupported, naming the kernel; `~` of a float is ToInt32 as in JS', () => {
    const simt = simtKernel({ name: 'simty', params: { x: 'ptr<f32>' } }, (k, { x }) => {
      x.set(k.threadIdx.x, 1);
    });
    expectThrowCode(
      () => tileToWgsl(compileKernel(simt, { x: dev.alloc('f32', 4) }, [4, 1, 1], 0).ir, LIMITS),
      'Unsupported',
      /simty.*only tile kernels/s,
    );
    const notFloat = tileKernel({ name: 'notfloat', params: { x: 'ptr<i32>', f: 'f32' } }, (t, { x, f }) => {
      t.store(x, 0, ~f);
    });
    expect(lower(notFloat, { x: dev.alloc('i32', 1), f: 1.5 }).code).toMatch(/~tsr_f32_toint32\(/);
    // An op this lowering does not know names itself.
    const ir = compileKernel(K.vectorAdd, vecArgs(), null, 0).ir;
    const bogus = { ...ir, body: new Region() };
    bogus.body.ops.push(...ir.body.ops, new Op('tile.frobnicate', [], []));
    expectThrowCode(() => tileToWgsl(bogus, LIMITS), 'Unsupported', /conformance_vector_add.*tile\.frobnicate/s);
  });

  it('TESSERA_DUMP_IR=wgsl prints a tile kernel once per specialisation; inspectKernel().wgsl() lowers it', () => {
    const seen: string[] = [];
    const write = dumpSink.write;
    const old = process.env.TESSERA_DUMP_IR;
    dumpSink.write = (t) => seen.push(t);
    process.env.TESSERA_DUMP_IR = 'wgsl';
    try {
      const args = vecArgs();
      dev.launch(K.vectorAdd, { grid: 4 }, args);
      dev.launch(K.vectorAdd, { grid: 4 }, args);
    } finally {
      dumpSink.write = write;
      if (old === undefined) delete process.env.TESSERA_DUMP_IR;
      else process.env.TESSERA_DUMP_IR = old;
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/conformance_vector_add .*: generated WGSL\n/);
    expect(seen[0]).toContain('@compute @workgroup_size(256, 1, 1)');
    expect(inspectKernel(K.matmul, matmulArgs()).wgsl()).toContain('fn main(');
  });
});
