/**
 * The sanitizer's public types: tools, report kinds, and the report record (packages/device/docs/sanitizer.md).
 */

/** compute-sanitizer's tools (`--tool`). */
export type SanitizerTool = 'memcheck' | 'racecheck' | 'initcheck' | 'synccheck';

export const SANITIZER_TOOLS: readonly SanitizerTool[] = ['memcheck', 'racecheck', 'initcheck', 'synccheck'];

/**
 * What was found:
 * - memcheck: `out-of-bounds` (global or shared, incl. a `t.tensor` view past its buffer), `misaligned` (a shared view
 *   the device's alignment rule refuses), `use-after-free` (a freed buffer passed to a launch), `wrong-device` (a buffer
 *   of another device or runtime passed to a launch);
 * - racecheck: `raw`, `war`, `waw` hazards (shared memory between threads of a block with no barrier between the two
 *   accesses; global memory between programs of a tile launch, or threads of a SIMT launch, writing one element
 *   without atomics);
 * - initcheck: `uninitialized` (a read of device memory no host copy, memset, fill or kernel ever wrote; of shared
 *   memory no thread of the block wrote);
 * - synccheck: `divergent-barrier` (a barrier reached by only part of a block: the rest exited or took another path),
 *   `invalid-warp-sync` (a warp intrinsic whose mask names a lane that does not call it with that mask).
 */
export type SanitizerKind =
  | 'out-of-bounds'
  | 'misaligned'
  | 'use-after-free'
  | 'wrong-device'
  | 'raw'
  | 'war'
  | 'waw'
  | 'uninitialized'
  | 'divergent-barrier'
  | 'invalid-warp-sync';

export type MemoryAccess = 'read' | 'write' | 'atomic';

/** Where a kernel's op came from. */
export interface SourcePlace {
  file?: string;
  line?: number;
  /** The source text of the access. */
  snippet?: string;
}

/** Who made an access: a tile program, or a SIMT thread of a block. */
export interface Actor {
  program?: readonly [number, number, number];
  block?: readonly [number, number, number];
  thread?: readonly [number, number, number];
}

export interface SanitizerReport extends Actor, SourcePlace {
  tool: SanitizerTool;
  kind: SanitizerKind;
  /** Errors fail the run; warnings (a race whose write did not change the value) do not. */
  severity: 'error' | 'warning';
  kernel: string;
  /** The launching device's label (`h100:0`). */
  device: string;
  style: 'tile' | 'simt';
  space: 'global' | 'shared';
  access?: MemoryAccess;
  /** Bytes per access (the element size). */
  size?: number;
  /** A device virtual address the sanitizer gives each allocation (and the offset in the block's shared memory). */
  address?: number;
  /** The buffer (`buffer #7 (f32[64], h100:0)`) or shared array (`__shared__ partial (f32[256])`). */
  buffer?: string;
  /** The kernel parameter holding the buffer. */
  param?: string;
  /** Byte offset of the access in the buffer (or shared array). */
  offset?: number;
  /** Element index of the access in the buffer (or shared array). */
  index?: number;
  /** For races: the other access. For synccheck: a thread that did not reach the barrier. */
  other?: Actor & SourcePlace & { access?: MemoryAccess };
  /** Occurrences of the same finding in the launch (same op, same partner op): lanes, threads or programs. */
  count: number;
  /** One line: what is wrong. */
  message: string;
  /** The report as printed (compute-sanitizer's shape, lines prefixed `=========`). */
  text: string;
}

export interface SanitizerSummary {
  tools: SanitizerTool[];
  errors: number;
  warnings: number;
  /** Launches run instrumented. */
  launches: number;
  /** Reports not kept (past the storage limit) but counted. */
  dropped: number;
}
