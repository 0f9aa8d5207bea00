/**
 * The contract between the WGSL lowerings (simt.ts for SIMT kernels, tile.ts for tile kernels) and whatever runs
 * their output (@tessera/backend-webgpu, the Dawn test runner). A lowering returns a `WgslProgram`: the WGSL text and
 * a description of every binding, so the runner never has to read the WGSL.
 *
 * Launch geometry. WebGPU caps each dispatch dimension (maxComputeWorkgroupsPerDimension, 65535 by default) while a
 * Tessera grid may have 2^31−1 programs along x, and a runner may split a launch into chunks (scratch memory is sized
 * per chunk). So every lowered kernel computes its linear program (tile) or block (SIMT) id itself:
 *
 *   lin = pid_base + wid.x + wid.y * nwg.x        (wid = workgroup_id, nwg = num_workgroups)
 *   if (lin >= grid_x * grid_y * grid_z) { return; }   (workgroup-uniform: barriers stay valid)
 *   x = lin % grid_x;  y = (lin / grid_x) % grid_y;  z = lin / (grid_x * grid_y)
 *
 * and the runner dispatches `(min(n, 65535), ceil(n / 65535), 1)` workgroups per chunk of `n` programs, writing the
 * chunk's first linear id into the `pidBase` uniform field. `grid_*` come from the uniform too (`gridDim` in SIMT).
 *
 * Memory. A buffer parameter is bound to a storage buffer holding the bytes of the allocation (or a copy of the
 * view's bytes: runners choose); the element offset of the parameter inside that binding and its element count are
 * uniform fields (`offset`, `length`), so views need no 256-byte binding alignment and bounds checks know the true
 * element count. `word` layout: f32 / i32 one element per 32-bit word (declared `array<f32>` / `array<i32>`, or
 * `array<atomic<i32|u32>>` when `atomic`). `packed` layout: sub-word dtypes (f16, bf16, fp8e4m3, fp8e5m2, i16, i8, u8)
 * `32 / bits` elements per little-endian u32 word — the same bytes as host memory — declared `array<u32>`, or
 * `array<atomic<u32>>` when the kernel writes them (neighbouring elements share a word, so stores are atomic
 * and/or on their own bits). Values are converted exactly as on the CPU (dtypes.ts: round to nearest even, fp8
 * saturating), so results match the CPU back ends bit for bit wherever the arithmetic does.
 *
 * Faults. Every global and shared access is bounds-checked. An out-of-bounds access does not touch memory (a load
 * gives 0, or `other` for a masked tile load's lanes); instead the first one is recorded in the `fault` binding:
 *
 *   fault[0]  number of faults (atomicAdd; the invocation that saw 0 writes the rest)
 *   fault[1]  the site (an index into `WgslProgram.sites`)
 *   fault[2]  the element index (i32 bits)
 *   fault[3]  the linear program / block id
 *   fault[4]  SIMT: the linear thread id in the block (x fastest); tile: 0
 *
 * The runner reads it after the launch and raises the same sticky `IllegalAddress` the CPU back ends raise (or a
 * `LaunchFailure` for a `trap` site). Which of several faulting accesses is reported may differ from the CPU's (the
 * GPU has no program order across invocations); that a fault is reported does not.
 */
import type { DType } from '../../dtype/dtype';

/** Element types a storage binding is declared with. */
export type WgslWord = 'f32' | 'i32' | 'u32';

export interface WgslBufferBinding {
  kind: 'buffer';
  binding: number;
  /** The kernel parameter's name. */
  name: string;
  /** The kernel buffer's dtype. */
  dtype: DType;
  /** `word`: one element per 32-bit word (f32, i32); `packed`: sub-word elements in u32 words (see above). */
  layout: 'word' | 'packed';
  /** `read` when the kernel never writes it. */
  access: 'read' | 'read_write';
  /** Declared with atomic elements (atomics on it, or stores into a packed buffer). */
  atomic: boolean;
}

/** Where a runner takes a uniform field's value from. */
export type WgslFieldSource =
  | { kind: 'scalar'; param: string }
  | { kind: 'offset'; param: string }
  | { kind: 'length'; param: string }
  | { kind: 'arrayOffset'; param: string }
  | { kind: 'arrayLength'; param: string }
  | { kind: 'grid'; axis: 0 | 1 | 2 }
  | { kind: 'pidBase' };

export interface WgslScalarField {
  /** The WGSL member name in `struct Params`. */
  name: string;
  type: 'i32' | 'f32' | 'u32';
  /** Byte offset in the uniform buffer (4-byte members, in order). */
  offset: number;
  source: WgslFieldSource;
}

export interface WgslUniformBinding {
  kind: 'uniform';
  binding: number;
  fields: WgslScalarField[];
  /** Bytes of the uniform buffer (a multiple of 16). */
  size: number;
}

/**
 * Host-array parameters (`i32[]` / `f32[]`), all in one read-only `array<u32>` of 32-bit words (i32 values, or f32
 * bits), each starting at its `arrayOffset` field with `arrayLength` elements.
 */
export interface WgslArraysBinding {
  kind: 'arrays';
  binding: number;
  /** Parameter names, in the order the runner packs them. */
  params: string[];
  /** Those of `params` whose elements are f32 (stored as their bits); the others are i32. */
  floats: string[];
}

/** The fault record (`array<atomic<u32>, 8>`, zeroed by the runner before the launch). */
export interface WgslFaultBinding {
  kind: 'fault';
  binding: number;
}

/**
 * Per-program scratch in global memory (`array<u32>` or `array<atomic<u32>>`), for tile values too large for
 * workgroup memory: program `lin` owns words `[(lin − pid_base) · wordsPerProgram, … + wordsPerProgram)`. The runner
 * sizes it for the chunk it dispatches (and so picks chunk sizes that fit `maxStorageBufferBindingSize`).
 */
export interface WgslScratchBinding {
  kind: 'scratch';
  binding: number;
  wordsPerProgram: number;
}

export type WgslBinding =
  | WgslBufferBinding
  | WgslUniformBinding
  | WgslArraysBinding
  | WgslFaultBinding
  | WgslScratchBinding;

/** A place in the kernel that can fault, for the runner's error message. */
export interface WgslFaultSite {
  kind: 'global' | 'shared' | 'trap';
  /** `load`, `store`, `atomic`, `load_block`, … (as the CPU back ends name the access). */
  op: string;
  /** The buffer parameter or shared array accessed (empty for a trap). */
  name: string;
  /** Shared arrays: dtype and length, for the message. */
  shared?: { dtype: string; length: number };
  /** A trap's message. */
  message?: string;
  /** The source snippet, when known. */
  snippet?: string;
}

export interface WgslProgram {
  code: string;
  entryPoint: 'main';
  /** `@workgroup_size`: the SIMT block shape, or the invocations a tile program uses. */
  workgroupSize: readonly [number, number, number];
  /** Every binding, all in `@group(0)`. */
  bindings: WgslBinding[];
  /** Fault sites, by the index stored in `fault[1]`. */
  sites: WgslFaultSite[];
  /** Device features the code needs (`subgroups`, `shader-f16`); empty for core WGSL. */
  features: string[];
  /** Bytes of `var<workgroup>` memory the code declares (checked against maxComputeWorkgroupStorageSize). */
  workgroupBytes: number;
}

/** Words of the fault record. */
export const FAULT_WORDS = 8;

/** The launch-geometry uniform fields every lowering declares first (see the header). */
export function geometryFields(): WgslScalarField[] {
  return [
    { name: 'grid_x', type: 'i32', offset: 0, source: { kind: 'grid', axis: 0 } },
    { name: 'grid_y', type: 'i32', offset: 4, source: { kind: 'grid', axis: 1 } },
    { name: 'grid_z', type: 'i32', offset: 8, source: { kind: 'grid', axis: 2 } },
    { name: 'pid_base', type: 'i32', offset: 12, source: { kind: 'pidBase' } },
  ];
}

/** `struct Params` and its binding, from fields laid out 4 bytes apart in order. */
export function uniformDecl(fields: WgslScalarField[], binding: number): { decl: string; binding: WgslUniformBinding } {
  const laid = fields.map((f, i) => ({ ...f, offset: i * 4 }));
  return {
    decl:
      `struct Params {\n${laid.map((f) => `  ${f.name}: ${f.type},`).join('\n')}\n}\n` +
      `@group(0) @binding(${binding}) var<uniform> params: Params;`,
    binding: { kind: 'uniform', binding, fields: laid, size: Math.max(16, Math.ceil((laid.length * 4) / 16) * 16) },
  };
}

/**
 * The entry point's prologue: the linear id and its early return, and `pid` (vec3<i32>: the program / block id).
 * The entry point must declare `@builtin(workgroup_id) wid: vec3<u32>` and `@builtin(num_workgroups) nwg: vec3<u32>`.
 */
export function geometryPrologue(indent = '  '): string[] {
  return [
    'let lin = params.pid_base + i32(wid.x) + i32(wid.y) * i32(nwg.x);',
    'if (lin >= params.grid_x * params.grid_y * params.grid_z) { return; }',
    'let pid = vec3<i32>(lin % params.grid_x, (lin / params.grid_x) % params.grid_y, lin / (params.grid_x * params.grid_y));',
  ].map((l) => indent + l);
}

/** WGSL that records the first fault (`site`, `index` an i32 expression, `thread` an i32 expression or `0`). */
export function recordFault(site: number, index: string, thread = '0'): string {
  return (
    `if (atomicAdd(&fault[0], 1u) == 0u) { atomicStore(&fault[1], ${site}u); ` +
    `atomicStore(&fault[2], bitcast<u32>(i32(${index}))); atomicStore(&fault[3], bitcast<u32>(lin)); ` +
    `atomicStore(&fault[4], bitcast<u32>(i32(${thread}))); }`
  );
}

/** The fault binding's declaration. */
export function faultDecl(binding: number): string {
  return `@group(0) @binding(${binding}) var<storage, read_write> fault: array<atomic<u32>, ${FAULT_WORDS}>;`;
}
