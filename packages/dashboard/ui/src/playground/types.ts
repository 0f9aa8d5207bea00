/**
 * The kernel playground's shapes: a parsed program (the launch the visitor's code returned, checked and normalised),
 * the issues reported back to the visitor, and the limits that keep a run from hanging the tab.
 */
import type { DType, Kernel } from '@tessera/device';

export type Dim3 = readonly [number, number, number];

/** How a buffer starts: seeded random values, NaN (outputs: a missed element stays NaN), a constant, or given values. */
export type BufferInit =
  | { kind: 'random'; lo: number; hi: number }
  | { kind: 'poison' }
  | { kind: 'value'; value: number }
  | { kind: 'values'; values: Float64Array };

export interface PlaygroundBuffer {
  name: string;
  dtype: DType;
  length: number;
  init: BufferInit;
}

/** A scalar argument: a number, or a small array for `i32[]` / `f32[]` parameters. */
export type ScalarValue = number | readonly number[];

/**
 * Computes what the output should hold, in float64, from the inputs as uploaded (each buffer's values after rounding
 * to its dtype; poisoned buffers are all NaN) and the scalars.
 */
export type ReferenceFn = (inputs: Record<string, Float64Array>, scalars: Record<string, ScalarValue>) => unknown;

export interface PlaygroundCheck {
  /** The buffer compared with the reference. */
  output: string;
  reference: ReferenceFn;
  /** Largest accepted ‖out − ref‖ / ‖ref‖ (default by the output's dtype: f32 1e-5, f16/bf16 1e-2, fp8 0.1, ints 0). */
  tolerance: number;
}

/** A parsed program: everything a launch needs, already checked against the kernel's parameters. */
export interface PlaygroundProgram {
  /** The visitor's source, as given (line numbers in issues refer to it). */
  source: string;
  kernel: Kernel;
  style: 'tile' | 'simt';
  grid: Dim3;
  /** SIMT only: threads per block. */
  block: Dim3 | null;
  /** SIMT only: dynamic shared memory per block, bytes. */
  sharedMemBytes: number;
  /** One entry per buffer parameter, in the kernel's parameter order. */
  buffers: Record<string, PlaygroundBuffer>;
  /** One entry per non-buffer parameter (runtime scalars, constexprs, host arrays). */
  scalars: Record<string, ScalarValue>;
  check: PlaygroundCheck | null;
  /** The buffer whose first values a run previews: `check.output`, else the first poisoned buffer, else the last. */
  output: string;
  /** Seed of the random inputs (the same inputs on every device, CPU or GPU). */
  seed: number;
}

/** What went wrong, in the visitor's terms. `line`/`column` (1-based) point into the program's source when known. */
export type IssueKind =
  | 'syntax' // the source is not valid JavaScript
  | 'program' // the code threw, or returned something that is not a launch
  | 'compile' // the kernel compiler refused the kernel (its message)
  | 'launch' // a device refused the launch (configuration, arguments, dtypes, on-chip limits)
  | 'fault' // the kernel faulted while running (illegal address, a throw in the body)
  | 'limit' // over the playground's bounds (sizes, work)
  | 'check' // the result differs from the reference, or the reference itself failed
  | 'unsupported' // the WGSL lowering or the visitor's GPU cannot run this kernel (the simulators can)
  | 'environment'; // the browser lacks something (no WebGPU, no SharedArrayBuffer, no such device)

export interface PlaygroundIssue {
  kind: IssueKind;
  message: string;
  hint?: string;
  line?: number;
  column?: number;
  /** The Tessera error code behind it (`IllegalAddress`, `CompileError`, …), when there is one. */
  code?: string;
}

/** Thrown for the visitor's mistakes; `issue` is the same facts as plain data (for the UI, or postMessage). */
export class PlaygroundError extends Error {
  override readonly name = 'PlaygroundError';
  readonly kind: IssueKind;
  readonly hint?: string;
  readonly line?: number;
  readonly column?: number;
  readonly code?: string;

  constructor(issue: PlaygroundIssue) {
    super(issue.message);
    this.kind = issue.kind;
    if (issue.hint !== undefined) this.hint = issue.hint;
    if (issue.line !== undefined) this.line = issue.line;
    if (issue.column !== undefined) this.column = issue.column;
    if (issue.code !== undefined) this.code = issue.code;
  }

  get issue(): PlaygroundIssue {
    return {
      kind: this.kind,
      message: this.message,
      ...(this.hint !== undefined ? { hint: this.hint } : {}),
      ...(this.line !== undefined ? { line: this.line } : {}),
      ...(this.column !== undefined ? { column: this.column } : {}),
      ...(this.code !== undefined ? { code: this.code } : {}),
    };
  }
}

/**
 * Bounds on what the visitor may run. A run computes on the CPU in the tab (or on the visitor's GPU), synchronously
 * for the simulators, so these keep a typo (`1 << 30` for `1 << 20`) from freezing the page. Modelling allocates
 * nothing and is not bound by the element counts: any size the kernel's index types allow can be modelled.
 */
export const PLAYGROUND_LIMITS = {
  /** Characters of source. */
  maxSourceChars: 200_000,
  /** Elements of one buffer (also for modelling: indices stay in i32). */
  maxBufferLength: 2 ** 31 - 1,
  /** Elements over all buffers of a run (16 MiB of f32). */
  maxRunElements: 1 << 22,
  /** Tile programs or SIMT blocks of a run. */
  maxRunPrograms: 1 << 20,
  /** SIMT threads of a run (blocks × threads per block). */
  maxRunThreads: 1 << 22,
  /**
   * Work of a run, in the cost record's units (element ops + elements moved: see `runWork`). The generated code does
   * some 10⁸ of them a second on one core, so this is a few seconds at worst.
   */
  maxRunWork: 2 ** 28,
  /** The same under the sanitizer, whose IR interpreter checks every access (some 30× slower). */
  maxSanitizedWork: 2 ** 23,
} as const;
