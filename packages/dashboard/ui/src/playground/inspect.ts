/**
 * What the visitor's kernel became, without running it: the IR of its specialisation, the JavaScript the CPU back end
 * generates, and the WGSL the WebGPU lowering makes — `tessera compile --dump ir|js|wgsl`, through the same
 * `inspectKernel` the CLI uses, on stand-in buffers (`fakeBuffer`: a dtype and a length, no memory).
 */
import { fakeBuffer, inspectKernel, isTesseraError, type KernelInspection } from '@tessera/device';
import { issueFrom } from './source';
import { PlaygroundError, type PlaygroundProgram } from './types';

export interface PlaygroundInspection {
  kernel: string;
  style: 'tile' | 'simt';
  /** The specialisation key (constexprs, dtypes, divisibility hints, block shape). */
  key: string;
  /** The IR after the compiler's passes, as text. */
  ir: string;
  /** The generated JavaScript the simulators run. */
  js: string;
  /** The WGSL for the visitor's GPU, or null when the lowering refuses the kernel (`wgslError` says why). */
  wgsl: string | null;
  wgslError: string | null;
  /** Milliseconds the compiler spent on this specialisation (staging and passes) when it was first compiled. */
  compileMs: number;
}

/** The launch's arguments with stand-in buffers: what specialisation and cost analysis read of a launch. */
export function inspectionArgs(program: PlaygroundProgram): Record<string, unknown> {
  const args: Record<string, unknown> = { ...program.scalars };
  for (const b of Object.values(program.buffers))
    args[b.name] = fakeBuffer({ dtype: b.dtype, length: b.length }, b.name);
  return args;
}

/**
 * Compiles the program's kernel for a device with `warpSize` lanes per warp (SIMT costs are counted warp by warp;
 * 1 on devices without warps). A kernel the compiler refuses is a `PlaygroundError` of kind `compile`, with the
 * compiler's message and the line of the offending code.
 */
export function compileFor(program: PlaygroundProgram, warpSize = 32, ownerLabel = 'playground'): KernelInspection {
  try {
    return inspectKernel(program.kernel, inspectionArgs(program), {
      ...(program.block ? { block: program.block } : {}),
      dynamicSharedBytes: program.sharedMemBytes,
      warpSize,
      ownerLabel,
    });
  } catch (e) {
    throw new PlaygroundError(issueFrom(e, 'compile', { source: program.source, kernelBody: program.kernel.body }));
  }
}

/** IR, generated JavaScript and WGSL of the program's kernel. Throws `PlaygroundError` (kind `compile`). */
export function inspectPlayground(program: PlaygroundProgram): PlaygroundInspection {
  const view = compileFor(program);
  let js: string;
  try {
    js = view.js();
  } catch (e) {
    throw new PlaygroundError(issueFrom(e, 'compile', { source: program.source, kernelBody: program.kernel.body }));
  }
  let wgsl: string | null = null;
  let wgslError: string | null = null;
  try {
    wgsl = view.wgsl();
  } catch (e) {
    // The lowering refuses what WGSL cannot express yet (`Unsupported`): the kernel still runs on the simulators.
    if (!isTesseraError(e)) throw e;
    wgslError = e.message;
  }
  return {
    kernel: program.kernel.name,
    style: program.style,
    key: view.key,
    ir: view.ir,
    js,
    wgsl,
    wgslError,
    compileMs: view.compileMs,
  };
}
