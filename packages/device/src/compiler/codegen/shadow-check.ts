/**
 * The code generator's shadow check (TESSERA_SHADOW=codegen): before the launch runs, copy the memory of its buffer
 * arguments and run the generated code for every program of the grid on one copy (and the IR interpreter on another,
 * when that is cheap); after it, compare both copies with what the launch wrote, bit for bit (the copies run on one
 * thread in order, the launch possibly on the program pool).
 */
import { type StorageArray, storageView } from '../../dtype/dtype';
import type { ExecuteOptions } from '../../kernel/execute';
import type { Allocation, DeviceBuffer } from '../../memory/buffer';
import { interpretPrograms } from '../interpret';
import { type KernelIR, printIR } from '../ir';
import type { ShadowCheck } from '../shadow';
import { compileKernel, runCompiled } from './compile';
import { launchArgs } from './launch-args';

interface Copy {
  /** Allocation → its copied bytes. */
  stores: Map<Allocation, SharedArrayBuffer>;
  /** A run that threw instead of finishing (the launch did not, or `after` would not be called). */
  error: string | null;
  ms: number;
}

interface State {
  codegen: Copy;
  interp: Copy | null;
  buffers: { name: string; buffer: DeviceBuffer }[];
}

type Env = { TESSERA_SHADOW_INTERPRET?: string; TESSERA_SHADOW_DUMP?: string };
const env = (): Env => (globalThis as { process?: { env: Env } }).process?.env ?? {};

/** Largest launch (bytes of argument memory) the interpreter also shadows by default. */
const INTERPRET_LIMIT = 64 * 1024 * 1024;

function argBuffers(o: ExecuteOptions, ir: KernelIR): { name: string; buffer: DeviceBuffer }[] {
  const out: { name: string; buffer: DeviceBuffer }[] = [];
  for (const p of ir.params)
    if (p.value?.type.kind === 'buffer') out.push({ name: p.name, buffer: o.args[p.name] as DeviceBuffer });
  return out;
}

function copyMemory(buffers: readonly { buffer: DeviceBuffer }[]): Map<Allocation, SharedArrayBuffer> {
  const stores = new Map<Allocation, SharedArrayBuffer>();
  for (const { buffer } of buffers) {
    const a = buffer.allocation;
    if (stores.has(a)) continue;
    const src = a.store();
    const copy = new SharedArrayBuffer(src.byteLength);
    new Uint8Array(copy).set(new Uint8Array(src));
    stores.set(a, copy);
  }
  return stores;
}

function run(o: ExecuteOptions, ir: KernelIR, buffers: State['buffers'], how: 'codegen' | 'interp'): Copy {
  const stores = copyMemory(buffers);
  const views = new Map<DeviceBuffer, StorageArray>();
  const L = launchArgs(ir, o.args, o.grid, o.owner.label, (b) => {
    let v = views.get(b);
    if (!v) {
      v = storageView(b.dtype, stores.get(b.allocation)!, b.byteOffset, b.length);
      views.set(b, v);
    }
    return v;
  });
  const programs = o.grid[0] * o.grid[1] * o.grid[2];
  const t0 = performance.now();
  let error: string | null = null;
  try {
    if (how === 'codegen') runCompiled(compileKernel(ir), ir, L, 0, programs);
    else interpretPrograms(ir, L, 0, programs);
  } catch (e) {
    error = `${how === 'codegen' ? 'generated code' : 'IR interpreter'} threw ${(e as Error).message?.split('\n')[0] ?? String(e)}`;
  }
  return { stores, error, ms: performance.now() - t0 };
}

function bytesOf(buffers: State['buffers']): number {
  const seen = new Set<Allocation>();
  let n = 0;
  for (const { buffer } of buffers) {
    if (seen.has(buffer.allocation)) continue;
    seen.add(buffer.allocation);
    n += buffer.allocation.byteLength;
  }
  return n;
}

/** The first byte where two regions differ, or -1. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const B = (
    globalThis as { Buffer?: { from(x: ArrayBufferLike, o: number, n: number): { equals(y: unknown): boolean } } }
  ).Buffer;
  if (B?.from(a.buffer, a.byteOffset, a.byteLength).equals(B.from(b.buffer, b.byteOffset, b.byteLength))) return -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function compare(copy: Copy, buffers: State['buffers'], what: string): string | null {
  if (copy.error) return `${what}: ${copy.error} where the launch did not`;
  for (const { name, buffer } of buffers) {
    const ran = buffer.bytes();
    const mine = new Uint8Array(copy.stores.get(buffer.allocation)!, buffer.byteOffset, buffer.byteLength);
    const d = firstDiff(ran, mine);
    if (d < 0) continue;
    const eb = buffer.byteLength / buffer.length;
    const i = Math.floor(d / eb);
    const ev = buffer.storage()[i];
    const mv = storageView(buffer.dtype, copy.stores.get(buffer.allocation)!, buffer.byteOffset, buffer.length)[i];
    let count = 0;
    for (let j = d; j < ran.length; j++) if (ran[j] !== mine[j]) count++;
    return `${what}: ${name} (${buffer.dtype}[${buffer.length}]) differs at element ${i}: launch ${ev} vs ${mv} (${count} bytes differ)`;
  }
  return null;
}

export const codegenShadow: ShadowCheck = {
  before(o, ir) {
    if (o.mode !== 'functional' || ir.style !== 'tile') return null;
    const buffers = argBuffers(o, ir);
    const codegen = run(o, ir, buffers, 'codegen');
    const limit = Number(env().TESSERA_SHADOW_INTERPRET ?? INTERPRET_LIMIT);
    const interp = bytesOf(buffers) <= limit ? run(o, ir, buffers, 'interp') : null;
    return { codegen, interp, buffers } satisfies State;
  },
  after(_o, ir, _record, state) {
    const s = state as State | null;
    if (!s) return null;
    const d = [compare(s.codegen, s.buffers, 'codegen'), s.interp ? compare(s.interp, s.buffers, 'interpreter') : null];
    const msg = d.filter((x) => x !== null).join('; ') || null;
    if (msg && env().TESSERA_SHADOW_DUMP) dump(ir, msg);
    return msg;
  },
};

const dumped = new Set<string>();

/** With TESSERA_SHADOW_DUMP=dir, writes the IR and generated source of a kernel that disagreed (once per key). */
function dump(ir: KernelIR, msg: string): void {
  const key = `${ir.name} ${ir.key}`;
  if (dumped.has(key)) return;
  dumped.add(key);
  const fs = (globalThis as { process?: { getBuiltinModule?: (m: string) => unknown } }).process?.getBuiltinModule?.(
    'fs',
  ) as { writeFileSync(p: string, s: string): void; mkdirSync(p: string, o: object): void } | undefined;
  if (!fs) return;
  const dir = env().TESSERA_SHADOW_DUMP!;
  fs.mkdirSync(dir, { recursive: true });
  let src = '';
  try {
    src = compileKernel(ir).source;
  } catch (e) {
    src = `// codegen failed: ${(e as Error).stack}`;
  }
  fs.writeFileSync(`${dir}/${ir.name}-${dumped.size}.txt`, `// ${msg}\n${printIR(ir)}\n\n${src}\n`);
}
