/**
 * The WGSL dtype library (compiler/wgsl/dtypes.ts) run on Dawn and held to the CPU conversions bit for bit: every
 * f16 / bf16 / fp8 bit pattern decoded, f32 bit patterns chosen around every exponent and rounding boundary (ties,
 * subnormals, overflow, saturation, ±0, NaN, ±inf) plus random ones encoded and rounded, the integer conversions of
 * castScalar / typed arrays, and the buffer accessors and atomics on packed and word layouts. Without a Dawn adapter
 * the tests are skipped with a visible SKIP message.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { WgslBufferBinding } from '../src/compiler/wgsl/abi';
import { bufferAccessors, bufferAtomics, bufferDecl, conversionLibrary } from '../src/compiler/wgsl/dtypes';
import { castScalar, DTYPE_INFO, type DType, wrapInt } from '../src/dtype/dtype';
import {
  bf16BitsFromF32,
  f16BitsFromF32,
  f32FromBf16Bits,
  f32FromF16Bits,
  f32FromFp8e4m3Bits,
  f32FromFp8e5m2Bits,
  fp8e4m3BitsFromF32,
  fp8e5m2BitsFromF32,
} from '../src/dtype/float-formats';

// ------------------------------------------------------------------------------------------------------------- Dawn

/** Dawn's instance: kept referenced for the whole file (collecting it tears the device down). */
let instance: GPU | undefined;

async function openDawn(): Promise<GPUDevice | null> {
  try {
    // Dawn's OpenGL back end reads EGL_PLATFORM when the first adapter is requested (no display on CI machines).
    process.env.EGL_PLATFORM ??= 'surfaceless';
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    for (const [backend, featureLevel] of [
      ['vulkan', 'core'],
      ['opengl', 'compatibility'],
    ] as const) {
      instance = create([`backend=${backend}`]);
      const adapter = await instance.requestAdapter({ featureLevel });
      if (!adapter) continue;
      const requiredLimits: Record<string, number> = {};
      for (const k of [
        'maxStorageBuffersPerShaderStage',
        'maxComputeWorkgroupStorageSize',
        'maxComputeInvocationsPerWorkgroup',
        'maxComputeWorkgroupSizeX',
        'maxStorageBufferBindingSize',
        'maxBufferSize',
      ])
        requiredLimits[k] = (adapter.limits as unknown as Record<string, number>)[k]!;
      return await adapter.requestDevice({ requiredLimits });
    }
  } catch (e) {
    console.warn(`SKIP: Dawn (webgpu) could not be loaded: ${(e as Error).message}`);
    return null;
  }
  return null;
}

const device = await openDawn();
if (!device) console.warn('SKIP: no Dawn adapter (vulkan or opengl): the WGSL dtype library is not run.');

/** Storage buffers (u32 words, initial contents) → their contents after one dispatch of `code`'s `main`. */
async function run(code: string, buffers: Uint32Array[], invocations: number, uniform?: Int32Array) {
  const d = device!;
  d.pushErrorScope('validation');
  const module = d.createShaderModule({ code });
  const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
  if (errors.length)
    throw new Error(`WGSL errors:\n${errors.map((m) => `${m.lineNum}: ${m.message}`).join('\n')}\n${code}`);
  const pipeline = d.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const gpu = buffers.map((data) => {
    const buf = d.createBuffer({ size: Math.max(16, data.byteLength), usage });
    d.queue.writeBuffer(buf, 0, data);
    return buf;
  });
  const entries: GPUBindGroupEntry[] = gpu.map((buffer, binding) => ({ binding, resource: { buffer } }));
  if (uniform) {
    const buf = d.createBuffer({
      size: Math.ceil(uniform.byteLength / 16) * 16,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    d.queue.writeBuffer(buf, 0, uniform);
    entries.push({ binding: gpu.length, resource: { buffer: buf } });
  }
  const enc = d.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, d.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
  const groups = Math.ceil(invocations / 64);
  pass.dispatchWorkgroups(Math.min(groups, 65535), Math.ceil(groups / 65535));
  pass.end();
  const reads = gpu.map((g, i) => {
    const r = d.createBuffer({ size: g.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.copyBufferToBuffer(g, 0, r, 0, g.size);
    return { r, n: buffers[i]!.length };
  });
  d.queue.submit([enc.finish()]);
  const err = await d.popErrorScope();
  if (err) throw new Error(`WebGPU validation: ${err.message}`);
  const out: Uint32Array[] = [];
  for (const { r, n } of reads) {
    await r.mapAsync(GPUMapMode.READ);
    out.push(new Uint32Array(r.getMappedRange().slice(0, n * 4)));
    r.unmap();
  }
  return out;
}

const MAIN = '@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>)';

/** `expr` (in terms of `x`, of type `inType`, decoded from each input word) applied on the GPU → result words. */
async function map(lib: string, inType: 'u32' | 'f32' | 'i32', expr: string, input: Uint32Array): Promise<Uint32Array> {
  const code = `@group(0) @binding(0) var<storage, read> inp: array<u32>;
@group(0) @binding(1) var<storage, read_write> outp: array<u32>;
${lib}
fn to_bits_f32(v: f32) -> u32 { return bitcast<u32>(v); }
fn to_bits_i32(v: i32) -> u32 { return bitcast<u32>(v); }
fn to_bits_u32(v: u32) -> u32 { return v; }
fn to_bits_bool(v: bool) -> u32 { return select(0u, 1u, v); }
${MAIN} {
  let i = g.x + g.y * ${65535 * 64}u;
  if (i >= arrayLength(&inp)) { return; }
  let x = ${inType === 'u32' ? 'inp[i]' : `bitcast<${inType}>(inp[i])`};
  outp[i] = ${expr};
}`;
  const [, out] = await run(code, [input, new Uint32Array(input.length)], input.length);
  return out!;
}

// --------------------------------------------------------------------------------------------------------- inputs

const F = new Float32Array(1);
const U = new Uint32Array(F.buffer);
const f32Of = (bits: number): number => {
  U[0] = bits;
  return F[0]!;
};
const bitsOf = (x: number): number => {
  F[0] = x;
  return U[0]!;
};

/** f32 bit patterns: every exponent with boundary mantissas (ties and their neighbours for every rounding position). */
function f32Patterns(): Uint32Array {
  const mants = new Set<number>([0, 1, 2, 3, 0x7fffff, 0x7ffffe, 0x400000, 0x400001, 0x3fffff]);
  for (let b = 0; b < 23; b++) {
    const half = 1 << b;
    for (const m of [
      half,
      half - 1,
      half + 1,
      half * 3,
      half * 3 - 1,
      half * 3 + 1,
      (half << 1) | half,
      (1 << 23) - half,
    ])
      mants.add(m & 0x7fffff);
  }
  const out: number[] = [];
  for (let e = 0; e < 256; e++)
    for (const m of mants) for (const s of [0, 0x80000000]) out.push((s | (e << 23) | m) >>> 0);
  // Random patterns, and values spread over the ranges the narrow formats use.
  let seed = 12345;
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  for (let i = 0; i < 200_000; i++) out.push(next());
  for (let i = 0; i < 100_000; i++) out.push(bitsOf((next() / 2 ** 32 - 0.5) * 2 ** ((next() % 40) - 20)));
  for (const v of [
    448,
    449,
    464,
    465,
    480,
    57344,
    61440,
    61441,
    65504,
    65519,
    65520,
    65536,
    2 ** -24,
    2 ** -25,
    3 * 2 ** -26,
  ])
    out.push(bitsOf(v), bitsOf(-v));
  return Uint32Array.from(out);
}

const patterns = f32Patterns();
const allBits = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);

/** Compares GPU words with expected ones, reporting the first few mismatches with their inputs. */
function expectWords(got: Uint32Array, want: (i: number) => number, input: Uint32Array, what: string): void {
  const bad: string[] = [];
  for (let i = 0; i < got.length && bad.length < 8; i++) {
    const w = want(i) >>> 0;
    if (got[i] !== w)
      bad.push(`${what}(0x${input[i]!.toString(16)}): got 0x${got[i]!.toString(16)}, want 0x${w.toString(16)}`);
  }
  expect(bad).toEqual([]);
}

const FLOATS = {
  f16: { enc: f16BitsFromF32, dec: f32FromF16Bits, bits: 16 },
  bf16: { enc: bf16BitsFromF32, dec: f32FromBf16Bits, bits: 16 },
  fp8e4m3: { enc: fp8e4m3BitsFromF32, dec: f32FromFp8e4m3Bits, bits: 8 },
  fp8e5m2: { enc: fp8e5m2BitsFromF32, dec: f32FromFp8e5m2Bits, bits: 8 },
} as const;

afterAll(() => device?.destroy());

describe.skipIf(!device)('WGSL dtype conversions on Dawn, bit for bit with the CPU', () => {
  for (const [name, f] of Object.entries(FLOATS)) {
    it(`${name}: decode every pattern, encode and round f32 patterns`, async () => {
      const lib = conversionLibrary([name as DType]);
      const codes = allBits(1 << f.bits);
      const dec = await map(lib, 'u32', `bitcast<u32>(tsr_dec_${name}(x))`, codes);
      expectWords(dec, (i) => bitsOf(f.dec(i)), codes, `dec_${name}`);
      const enc = await map(lib, 'f32', `tsr_enc_${name}(x)`, patterns);
      expectWords(enc, (i) => f.enc(f32Of(patterns[i]!)), patterns, `enc_${name}`);
      const round = await map(lib, 'f32', `bitcast<u32>(tsr_round_${name}(x))`, patterns);
      expectWords(round, (i) => bitsOf(f.dec(f.enc(f32Of(patterns[i]!)))), patterns, `round_${name}`);
    });
  }

  it('f32 → integer casts (castScalar), ToInt32, → bool', async () => {
    const lib = conversionLibrary(['i32', 'i16', 'i8', 'u8', 'bool']);
    for (const d of ['i32', 'i16', 'i8', 'u8'] as const) {
      const got = await map(lib, 'f32', `bitcast<u32>(tsr_f32_to_${d}(x))`, patterns);
      expectWords(got, (i) => castScalar(f32Of(patterns[i]!), d), patterns, `f32_to_${d}`);
    }
    const toInt32 = await map(lib, 'f32', 'bitcast<u32>(tsr_f32_toint32(x))', patterns);
    expectWords(toInt32, (i) => f32Of(patterns[i]!) | 0, patterns, 'toint32');
    const toBool = await map(lib, 'f32', 'to_bits_bool(tsr_f32_to_bool(x))', patterns);
    expectWords(toBool, (i) => castScalar(f32Of(patterns[i]!), 'bool'), patterns, 'to_bool');
  });

  it('integer wraps and saturations', async () => {
    const lib = conversionLibrary(['i16', 'i8', 'u8']);
    const ints = Uint32Array.from([...allBits(70000), ...patterns.subarray(0, 200000)]);
    for (const d of ['i16', 'i8', 'u8'] as const) {
      const wrap = await map(lib, 'i32', `bitcast<u32>(tsr_wrap_${d}(x))`, ints);
      expectWords(wrap, (i) => wrapInt(ints[i]! | 0, d), ints, `wrap_${d}`);
      const sat = await map(lib, 'i32', `bitcast<u32>(tsr_sat_${d}(x))`, ints);
      expectWords(sat, (i) => castScalar(ints[i]! | 0, d), ints, `sat_${d}`);
    }
  });
});

// ------------------------------------------------------------------------------------------------------ accessors

const binding = (name: string, dtype: DType, atomic: boolean, access: 'read' | 'read_write' = 'read_write') =>
  ({
    kind: 'buffer',
    binding: 0,
    name,
    dtype,
    layout: DTYPE_INFO[dtype].bytes === 4 ? 'word' : 'packed',
    access,
    atomic,
  }) satisfies WgslBufferBinding;

/** Host bytes of `values` stored as `dtype` (what a device buffer holds), as u32 words. */
function hostWords(dtype: DType, values: number[]): Uint32Array {
  const bytes = DTYPE_INFO[dtype].bytes;
  const buf = new ArrayBuffer(Math.ceil((values.length * bytes) / 4) * 4);
  const dv = new DataView(buf);
  values.forEach((v, i) => {
    const enc = dtype in FLOATS ? FLOATS[dtype as keyof typeof FLOATS].enc(v) : castScalar(v, dtype);
    if (dtype === 'f32') dv.setFloat32(i * 4, v, true);
    else if (bytes === 4) dv.setInt32(i * 4, enc, true);
    else if (bytes === 2) dv.setUint16(i * 2, enc & 0xffff, true);
    else dv.setUint8(i, enc & 0xff);
  });
  return new Uint32Array(buf);
}

describe.skipIf(!device)('WGSL buffer accessors and atomics on Dawn', () => {
  const PARAMS = (names: string[]) =>
    `struct Params {\n${names.map((n) => `  off_${n}: i32,`).join('\n')}\n}\n@group(0) @binding(${names.length}) var<uniform> params: Params;`;

  for (const dtype of ['f32', 'i32', 'f16', 'bf16', 'fp8e4m3', 'fp8e5m2', 'i16', 'i8', 'u8'] as const) {
    it(`${dtype}: ld_/st_ at an element offset keep neighbours (one invocation per element)`, async () => {
      const n = 37;
      const isInt = DTYPE_INFO[dtype].kind === 'int';
      const src = Array.from({ length: n + 5 }, (_, i) => (isInt ? ((i * 37) % 300) - 140 : (i - 20) * 0.37));
      const a = { ...binding('a', dtype, false, 'read'), binding: 0 };
      const b = { ...binding('b', dtype, true), binding: 1 };
      const conv = isInt && dtype !== 'i32' ? `tsr_sat_${dtype}` : '';
      const code = `${bufferDecl(a)}\n${bufferDecl(b)}\n${PARAMS(['a', 'b'])}\n${conversionLibrary([dtype])}
${bufferAccessors(a)}\n${bufferAccessors(b)}
${MAIN} {
  let i = i32(g.x);
  if (i >= ${n}) { return; }
  st_b(i, ${conv}(ld_a(i) ${isInt ? '* 3i' : '* 3.0f'}));
}`;
      // a is read from element 3 on; b is written from element 2 on, its neighbours poisoned.
      const poison = hostWords(dtype, Array(n + 6).fill(isInt ? 99 : Number.NaN));
      const [, out] = await run(code, [hostWords(dtype, src), poison], n, Int32Array.from([3, 2, 0, 0]));
      const want = Array(n + 6).fill(isInt ? 99 : Number.NaN);
      for (let i = 0; i < n; i++) want[2 + i] = castScalar(castScalar(src[3 + i]!, dtype) * 3, dtype);
      expect(Array.from(out!)).toEqual(Array.from(hostWords(dtype, want)));
    });
  }

  it('f32 atomics (CAS loops), i32 native atomics and packed f16 / i8 atomics, many invocations per element', async () => {
    const f = { ...binding('f', 'f32', true), binding: 0 };
    const i = { ...binding('i', 'i32', true), binding: 1 };
    const h = { ...binding('h', 'f16', true), binding: 2 };
    const q = { ...binding('q', 'i8', true), binding: 3 };
    const code = `${[f, i, h, q].map(bufferDecl).join('\n')}\n${PARAMS(['f', 'i', 'h', 'q'])}
${conversionLibrary(['f32', 'i32', 'f16', 'i8'])}
${bufferAtomics(f, ['add', 'max', 'min', 'cas'])}\n${bufferAtomics(i, ['add', 'max', 'min', 'exch', 'cas'])}
${bufferAtomics(h, ['add', 'max'])}\n${bufferAtomics(q, ['add', 'min'])}
${MAIN} {
  let t = i32(g.x);
  if (t >= 1000) { return; }
  atomic_add_f(0, f32(t % 7) * 0.5f);
  atomic_max_f(1, f32(t) - 400.5f);
  atomic_min_f(2, f32(t) - 400.5f);
  atomic_cas_f(3, 2.5f, -0.0f); // (i, v, cmp): −0 compares equal to the stored +0
  atomic_add_i(0, t);
  atomic_max_i(1, t * 7 - 3000);
  atomic_min_i(2, t * 7 - 3000);
  atomic_exch_i(3, 5);
  atomic_cas_i(4, t + 1, 0);
  atomic_add_h(1, 1.0f);
  atomic_max_h(2, f32(t) * 0.25f);
  atomic_add_q(1, select(1i, -1i, t % 2 == 0) * 3);
  atomic_min_q(2, t - 500);
  atomic_add_q(3, 1);
}`;
    const [F32, I32, H, Q] = await run(
      code,
      [
        hostWords('f32', [0, -1e9, 1e9, 0]),
        new Uint32Array(5),
        hostWords('f16', [7, 0, 0, 9]),
        hostWords('i8', [5, 0, 0, 0, 6]),
      ],
      1000,
      Int32Array.from([0, 0, 0, 0]),
    );
    let sum = 0;
    for (let t = 0; t < 1000; t++) sum += (t % 7) * 0.5;
    expect(Array.from(new Float32Array(F32!.buffer))).toEqual([sum, 598.5, -400.5, 2.5]);
    const ints = Array.from(new Int32Array(I32!.buffer));
    expect(ints.slice(0, 4)).toEqual([499500, 999 * 7 - 3000, -3000, 5]);
    expect(ints[4]).toBeGreaterThanOrEqual(1);
    expect(ints[4]).toBeLessThanOrEqual(1000);
    // f16 element 1: 1000 additions of 1 (exact up to 2048); element 2: max 249.75; neighbours 0 and 3 untouched.
    expect(Array.from(H!)).toEqual(Array.from(hostWords('f16', [7, 1000, 249.75, 9])));
    // i8: +3/−3 alternating saturates at both ends but ends where the order left it: only the bounds are checked.
    const q8 = new Int8Array(Q!.buffer);
    expect([q8[0], q8[2], q8[3], q8[4]]).toEqual([5, -128, 127, 6]);
    expect(q8[1]).toBeGreaterThanOrEqual(-128);
  });
});
