/**
 * Warp intrinsics at run time. The generated code (codegen.ts) cuts a block's thread loops at every warp intrinsic:
 * the loop before it leaves each thread's operands in per-thread arrays, then one call here runs the intrinsic for the
 * whole block, warp by warp (lanes = linear thread index modulo the warp size, x fastest, as CUDA numbers them), and
 * writes each thread's result to a per-thread array the next loop reads. So every lane's value exists before any lane
 * reads, whatever order the threads run in.
 *
 * Which lanes take part. A lane *arrived* when it is on the path that reaches this call (the block-level predicate of
 * the generated code, `act`); a lane has *exited* when it returned from the kernel earlier (`ex`); lanes past the
 * block's last thread (a partial last warp) do not exist and count as exited, as CUDA treats them. CUDA requires every
 * non-exited lane a mask names to execute the same intrinsic with the same mask; anything else is undefined there
 * (a hang or garbage). Here it is a `LaunchFailure` naming the kernel, block, thread, lane, intrinsic and source line:
 *   - the calling lane is not in its own mask;
 *   - the mask names a lane that neither arrived nor exited (it took another branch, or left a loop);
 *   - two arrived lanes that name each other pass different masks.
 * Reading a lane that is not taking part (not in the mask, exited, or past the block) is undefined in CUDA without
 * being an error; a shuffle then returns the caller's own value, a ballot has a 0 bit, and reductions, `any` and
 * `all` cover the lanes that take part.
 *
 * Shuffles follow PTX's `shfl.sync` exactly (lane arithmetic on the low log2(warpSize) bits of `srcLane` / `delta` /
 * `laneMask`, sections of `width` lanes; `shflXor` may read an earlier section but not a later one).
 */

/** CUDA-style names of the warp intrinsics, by op kind, for the runtime's messages (as kernels write them). */
export const WARP_WHAT: Readonly<Record<string, string>> = {
  idx: 'k.shfl',
  up: 'k.shflUp',
  down: 'k.shflDown',
  bfly: 'k.shflXor',
  ballot: 'k.ballot',
  any: 'k.any',
  all: 'k.all',
  active: 'k.activeMask',
  add: 'k.reduceAdd',
  min: 'k.reduceMin',
  max: 'k.reduceMax',
  sync: 'k.syncwarp',
};

/** What the generated code knows about one call site (a constant it passes on every call). */
export interface WarpSite {
  /** The intrinsic as a kernel writes it (`k.shflDown`). */
  what: string;
  /** `file.ts:12 — in \`…\`` (for messages). */
  site: string;
  /** shfl: idx | up | down | bfly; vote: ballot | any | all | active; redux: add | min | max; syncwarp: sync. */
  kind: string;
  /** Shuffle section width (lanes). */
  width: number;
  /** redux: the `unsigned` overload. */
  unsigned: boolean;
  /** Threads per block, the warp size, and the block shape (for thread coordinates in messages). */
  threads: number;
  warpSize: number;
  block: readonly number[];
}

/** A per-thread array the generated code fills (values of threads that did not arrive are never read). */
type PerThread = unknown[];
type Operand = number | boolean | PerThread;

export interface WarpRuntime {
  shfl(
    site: WarpSite,
    act: Uint8Array | null,
    ex: Uint8Array | null,
    block: number[],
    mask: Operand,
    v: Operand,
    b: Operand,
    out: PerThread,
  ): void;
  vote(
    site: WarpSite,
    act: Uint8Array | null,
    ex: Uint8Array | null,
    block: number[],
    mask: Operand,
    pred: Operand,
    out: PerThread,
  ): void;
  redux(
    site: WarpSite,
    act: Uint8Array | null,
    ex: Uint8Array | null,
    block: number[],
    mask: Operand,
    v: Operand,
    out: PerThread,
  ): void;
  sync(site: WarpSite, act: Uint8Array | null, ex: Uint8Array | null, block: number[], mask: Operand): void;
}

/** Raises the misuse of a warp intrinsic by one thread (a sticky `LaunchFailure` in the launch runtime). */
export type WarpFault = (
  site: WarpSite,
  message: string,
  block: number[],
  thread: number[],
  lane: number,
  warp: number,
) => never;

const at = (x: Operand, t: number): unknown => (typeof x === 'object' ? x[t] : x);

function hex(m: number): string {
  return `0x${(m >>> 0).toString(16).padStart(8, '0')}`;
}

function lowestLane(bits: number): number {
  return 31 - Math.clz32(bits & -bits);
}

export function warpRuntime(fault: WarpFault): WarpRuntime {
  const threadOf = (site: WarpSite, t: number): number[] => {
    const [bx, by] = site.block as [number, number, number];
    return [t % bx, Math.floor(t / bx) % by, Math.floor(t / (bx * by))];
  };
  const fail = (site: WarpSite, block: number[], t: number, message: string): never =>
    fault(site, message, block, threadOf(site, t), t % site.warpSize, Math.floor(t / site.warpSize));

  /** Lanes of the warp at `w0` (n of them exist) that arrived at the call: a bitmask (0 if none). */
  const arrivedBits = (act: Uint8Array | null, w0: number, n: number): number => {
    if (act === null) return n >= 32 ? -1 : (1 << n) - 1;
    let bits = 0;
    for (let l = 0; l < n; l++) if (act[w0 + l]) bits |= 1 << l;
    return bits;
  };

  /** Lanes that may be named without arriving: exited ones and those past the block's end. */
  const goneBits = (ex: Uint8Array | null, w0: number, n: number, arrived: number): number => {
    let bits = n >= 32 ? 0 : ~((1 << n) - 1);
    if (ex !== null) for (let l = 0; l < n; l++) if (!((arrived >>> l) & 1) && ex[w0 + l]) bits |= 1 << l;
    return bits;
  };

  /** The mask of every arrived lane, checked (CUDA's rules, see the file's comment); -1 entries are unused. */
  const masks = new Int32Array(32);
  const checkMasks = (
    site: WarpSite,
    block: number[],
    mask: Operand,
    w0: number,
    n: number,
    arrived: number,
    gone: number,
  ): boolean => {
    let uniform = true;
    let first = 0;
    let seen = false;
    for (let l = 0; l < n; l++) {
      if (!((arrived >>> l) & 1)) continue;
      const m = Number(at(mask, w0 + l)) >>> 0;
      masks[l] = m | 0;
      if (!seen) {
        first = m;
        seen = true;
      } else if (m !== first) uniform = false;
      if (!((m >>> l) & 1)) {
        fail(
          site,
          block,
          w0 + l,
          `lane ${l} calls ${site.what} with the mask ${hex(m)}, which does not include it (CUDA: undefined)`,
        );
      }
      const missing = m & ~arrived & ~gone;
      if (missing) {
        const j = lowestLane(missing);
        fail(
          site,
          block,
          w0 + l,
          `the mask ${hex(m)} of ${site.what} names lane ${j} (thread ${threadOf(site, w0 + j).join(', ')}), which is active but does not reach this call with it: it took another branch or left a loop (CUDA: undefined)`,
        );
      }
    }
    if (!uniform) {
      for (let l = 0; l < n; l++) {
        if (!((arrived >>> l) & 1)) continue;
        const named = masks[l]! & arrived;
        for (let j = 0; j < n; j++) {
          if ((named >>> j) & 1 && masks[j] !== masks[l]) {
            fail(
              site,
              block,
              w0 + l,
              `lane ${l} calls ${site.what} with the mask ${hex(masks[l]!)} and lane ${j}, which it names, with ${hex(masks[j]!)}: every lane a mask names must pass the same mask (CUDA: undefined)`,
            );
          }
        }
      }
    }
    return uniform;
  };

  return {
    shfl(site, act, ex, block, mask, v, b, out) {
      const { threads: T, warpSize: ws, width } = site;
      const bitsMask = ws - 1;
      const mode = site.kind;
      for (let w0 = 0; w0 < T; w0 += ws) {
        const n = Math.min(ws, T - w0);
        const arrived = arrivedBits(act, w0, n);
        if (!arrived) continue;
        checkMasks(site, block, mask, w0, n, arrived, goneBits(ex, w0, n, arrived));
        for (let l = 0; l < n; l++) {
          if (!((arrived >>> l) & 1)) continue;
          const t = w0 + l;
          const m = masks[l]!;
          const bval = Number(at(b, t)) & bitsMask;
          const base = l & ~(width - 1);
          let j: number;
          let ok: boolean;
          if (mode === 'idx') {
            j = base | (bval & (width - 1));
            ok = true;
          } else if (mode === 'up') {
            j = l - bval;
            ok = j >= base;
          } else if (mode === 'down') {
            j = l + bval;
            ok = j <= base + width - 1;
          } else {
            j = l ^ bval;
            ok = j <= base + width - 1;
          }
          // The source must take part (be in the mask and have arrived); otherwise CUDA's value is undefined.
          const src = ok && (m >>> j) & 1 && (arrived >>> j) & 1 ? j : l;
          out[t] = at(v, w0 + src);
        }
      }
    },

    vote(site, act, ex, block, mask, pred, out) {
      const { threads: T, warpSize: ws, kind } = site;
      for (let w0 = 0; w0 < T; w0 += ws) {
        const n = Math.min(ws, T - w0);
        const arrived = arrivedBits(act, w0, n);
        if (!arrived) continue;
        if (kind === 'active') {
          for (let l = 0; l < n; l++) if ((arrived >>> l) & 1) out[w0 + l] = arrived >>> 0;
          continue;
        }
        checkMasks(site, block, mask, w0, n, arrived, goneBits(ex, w0, n, arrived));
        let yes = 0;
        for (let l = 0; l < n; l++) if ((arrived >>> l) & 1 && at(pred, w0 + l)) yes |= 1 << l;
        for (let l = 0; l < n; l++) {
          if (!((arrived >>> l) & 1)) continue;
          const part = masks[l]! & arrived;
          const r = kind === 'ballot' ? (yes & part) >>> 0 : kind === 'any' ? (yes & part) !== 0 : (part & ~yes) === 0;
          out[w0 + l] = r;
        }
      }
    },

    redux(site, act, ex, block, mask, v, out) {
      const { threads: T, warpSize: ws, kind, unsigned } = site;
      for (let w0 = 0; w0 < T; w0 += ws) {
        const n = Math.min(ws, T - w0);
        const arrived = arrivedBits(act, w0, n);
        if (!arrived) continue;
        checkMasks(site, block, mask, w0, n, arrived, goneBits(ex, w0, n, arrived));
        let lastPart = 0;
        let last = 0;
        for (let l = 0; l < n; l++) {
          if (!((arrived >>> l) & 1)) continue;
          const part = masks[l]! & arrived;
          if (part !== lastPart || l === lowestLane(arrived)) {
            let acc = kind === 'add' ? 0 : Number.NaN;
            for (let j = 0; j < n; j++) {
              if (!((part >>> j) & 1)) continue;
              const x = unsigned ? Number(at(v, w0 + j)) >>> 0 : Number(at(v, w0 + j)) | 0;
              if (kind === 'add') acc = unsigned ? (acc + x) >>> 0 : (acc + x) | 0;
              else if (Number.isNaN(acc)) acc = x;
              else acc = kind === 'min' ? Math.min(acc, x) : Math.max(acc, x);
            }
            lastPart = part;
            last = acc;
          }
          out[w0 + l] = last;
        }
      }
    },

    sync(site, act, ex, block, mask) {
      const { threads: T, warpSize: ws } = site;
      for (let w0 = 0; w0 < T; w0 += ws) {
        const n = Math.min(ws, T - w0);
        const arrived = arrivedBits(act, w0, n);
        if (arrived) checkMasks(site, block, mask, w0, n, arrived, goneBits(ex, w0, n, arrived));
      }
    },
  };
}
