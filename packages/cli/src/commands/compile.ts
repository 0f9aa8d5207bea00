/**
 * `tessera compile FILE --kernel NAME`: compiles one kernel of a module for one specialisation and prints its IR, the
 * JavaScript the CPU back end generates, or the cost record of a launch (with the modelled time on a device) — like
 * `TRITON_KERNEL_DUMP`, without running anything.
 *
 *   --arg BM=64            a constexpr or runtime scalar
 *   --arg a=bf16           a buffer's dtype (default f32); a=bf16:1048576 also sets its length (for costs)
 *   --arg seqStarts=0,7,9  a host-array parameter
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type Backend,
  type CostRecord,
  type DeviceProperties,
  DTYPES,
  fakeBuffer,
  inspectKernel,
  isKernel,
  type Kernel,
  TesseraError,
} from '@tessera/device';

export interface CompileOptions {
  file: string;
  kernel: string;
  args: string[];
  grid?: string;
  block?: string;
  sharedMemBytes?: string;
  dump: 'ir' | 'js' | 'wgsl' | 'cost';
}

/** Buffers default to this many elements when `--arg name=dtype` gives no length (costs check views against it). */
const DEFAULT_LENGTH = 1 << 24;

function dims(text: string | undefined, what: string): [number, number, number] {
  if (!text) return [1, 1, 1];
  const parts = text.split(/[,x×]/).map((s) => Number(s.trim()));
  if (parts.length < 1 || parts.length > 3 || parts.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new TesseraError('InvalidValue', `${what} '${text}' must be 1 to 3 positive integers, e.g. 64,8,1.`);
  }
  return [parts[0]!, parts[1] ?? 1, parts[2] ?? 1];
}

/** Finds the kernel: an export of that name, or an exported kernel whose `name` it is. */
async function loadKernel(file: string, name: string): Promise<Kernel> {
  const mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  const kernels = Object.entries(mod).filter(([, v]) => isKernel(v)) as [string, Kernel][];
  const hit = kernels.find(([k, v]) => k === name || v.name === name);
  if (!hit) {
    throw new TesseraError('InvalidValue', `${file} exports no kernel named '${name}'.`, {
      hint: kernels.length
        ? `Its kernels: ${kernels.map(([k, v]) => (k === v.name ? k : `${k} ('${v.name}')`)).join(', ')}.`
        : 'It exports no kernels (tileKernel / simtKernel values).',
    });
  }
  return hit[1];
}

function parseArgs(kernel: Kernel, given: string[], needScalars: boolean): Record<string, unknown> {
  const raw = new Map<string, string>();
  for (const a of given) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new TesseraError('InvalidValue', `--arg '${a}' must be name=value.`);
    raw.set(a.slice(0, eq).trim(), a.slice(eq + 1).trim());
  }
  const params = kernel.params as Record<string, string>;
  for (const k of raw.keys()) {
    if (!(k in params)) {
      throw new TesseraError('InvalidValue', `kernel '${kernel.name}' has no parameter '${k}'.`, {
        hint: `Its parameters: ${Object.entries(params)
          .map(([n, s]) => `${n} (${s})`)
          .join(', ')}.`,
      });
    }
  }
  const out: Record<string, unknown> = {};
  const missing: string[] = [];
  for (const [name, spec] of Object.entries(params)) {
    const v = raw.get(name);
    if (spec.startsWith('ptr')) {
      const [dtype = 'f32', len] = (v ?? '').split(':');
      const d = (dtype || spec.match(/^ptr<([a-z0-9]+)/)?.[1] || 'f32') as (typeof DTYPES)[number];
      if (!(DTYPES as readonly string[]).includes(d)) {
        throw new TesseraError('InvalidValue', `--arg ${name}=${v}: '${d}' is not a dtype (${DTYPES.join(', ')}).`);
      }
      const length = len === undefined ? DEFAULT_LENGTH : Number(len);
      if (!Number.isSafeInteger(length) || length < 1)
        throw new TesseraError('InvalidValue', `--arg ${name}: length '${len}' must be a positive integer.`);
      out[name] = fakeBuffer({ dtype: d, length }, name);
    } else if (spec.endsWith('[]')) {
      out[name] = v ? v.split(',').map((x) => Number(x)) : [];
    } else if (v === undefined) {
      // Runtime scalars only matter for costs; the IR and the code are the same for every value.
      if (spec === 'constexpr' || needScalars) missing.push(`${name} (${spec})`);
      else out[name] = spec === 'f32' ? 0.5 : 1;
    } else {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new TesseraError('InvalidValue', `--arg ${name}=${v} must be a number.`);
      out[name] = n;
    }
  }
  if (missing.length) {
    throw new TesseraError('InvalidValue', `kernel '${kernel.name}' needs values for: ${missing.join(', ')}.`, {
      hint: 'Pass each as --arg name=value (constexprs shape the compiled code; runtime scalars matter for costs).',
    });
  }
  return out;
}

export async function compileCommand(
  o: CompileOptions,
  device: { backend: Backend; device: DeviceProperties } | null,
): Promise<string> {
  const kernel = await loadKernel(o.file, o.kernel);
  const args = parseArgs(kernel, o.args, o.dump === 'cost');
  const block = kernel.style === 'simt' ? dims(o.block, '--block') : undefined;
  const smem = o.sharedMemBytes ? Number(o.sharedMemBytes) : 0;
  const view = inspectKernel(kernel, args, { block, dynamicSharedBytes: smem });
  const head = `// kernel '${kernel.name}' ${view.key} — compiled in ${view.compileMs.toFixed(1)} ms`;
  if (o.dump === 'ir') return `${head}\n${view.ir}`;
  if (o.dump === 'js') return `${head}\n${view.js()}`;
  if (o.dump === 'wgsl') return `${head}\n${view.wgsl()}`;
  const grid = dims(o.grid, '--grid');
  const cost: CostRecord = view.cost(grid);
  const lines = [
    head,
    `// grid ${grid.join('×')}${block ? `, block ${block.join('×')}` : ''}`,
    JSON.stringify(costJson(cost), null, 2),
  ];
  if (device) {
    const t = device.backend.kernelTime(device.device, cost);
    lines.push(`// modelled on ${device.device.name}: ${t.ms.toFixed(4)} ms (${t.bound}-bound)`);
  }
  return lines.join('\n');
}

function costJson(c: CostRecord) {
  return {
    programs: c.programs,
    total: c.total.toJSON(),
    classes: c.classes.map((k) => ({ count: k.count, cost: k.cost.toJSON() })),
    resources: c.resources,
    buffers: c.buffers,
    dtypes: c.dtypes,
    ...((c as { bounds?: unknown[] }).bounds?.length ? { bounds: (c as { bounds?: unknown[] }).bounds } : {}),
  };
}
