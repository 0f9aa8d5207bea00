/**
 * One instrumented launch: the hooks the IR interpreters call on every global and shared access and at every barrier,
 * checking what the enabled tools check, with the per-launch shadow state (the last accesses of each shared byte of
 * the block being run; the launch's stamp on the global writer shadows). Findings are folded per launch — one report
 * per (kind, op, partner op, buffer), counting the lanes, threads or programs that repeat it — and handed to the
 * sanitizer's state when the launch ends.
 */

import { type LaunchArgs, fault as tileFault } from '../compiler/codegen/runtime';
import type { Where } from '../compiler/codegen/runtime-ops';
import type { Access, TileHooks } from '../compiler/interpret';
import type { SharedRef, SimtBlock, SimtHooks, SimtThread } from '../compiler/interpret-simt';
import type { Op } from '../compiler/ir';
import type { SimtRuntime } from '../compiler/simt/codegen';
import { bitsEncoder, DTYPE_INFO, type DType, type StorageArray } from '../dtype/dtype';
import type { BufferOwner, DeviceBuffer } from '../memory/buffer';
import { dims, hex, placeText, renderReport } from './format';
import { type SanitizerState, WRITER_PAGE, WRITER_PAGE_BITS, type WriterPage, type WriterShadow } from './state';
import type { Actor, SanitizerKind, SanitizerReport, SanitizerTool, SourcePlace } from './types';

/** What is being checked: a launch as it runs, or a launch the runtime refused (run on copies, to find the access). */
export type CheckMode =
  | { kind: 'run' }
  | { kind: 'refused'; bad: ReadonlyMap<number, 'use-after-free' | 'wrong-device'> }
  | { kind: 'misaligned'; views: ReadonlySet<SharedRef>; align: number; device: string }
  | { kind: 'sync' };

export interface CheckTarget {
  kernel: string;
  /** The launching device. */
  owner: BufferOwner;
  style: 'tile' | 'simt';
  grid: readonly [number, number, number];
  /** SIMT: threads per block. */
  threads: number;
  /** Buffer parameters in order, with the storage the run uses (the buffer's own, or a copy). */
  buffers: { name: string; buffer: DeviceBuffer; mem: StorageArray }[];
  /** Tile kernels: the launch's arguments (for fault messages). */
  L?: LaunchArgs;
  /** SIMT kernels: the runtime that makes the faults generated code would raise. */
  rt?: SimtRuntime;
  /** SIMT: bytes of the block's shared memory (static arrays, then the dynamic area). */
  sharedBytes?: number;
}

type Pending = Omit<SanitizerReport, 'text'>;

const ATOMIC_NAME: Record<string, string> = { add: 'atomicAdd', max: 'atomicMax', min: 'atomicMin', cas: 'atomicCAS' };

function placeOf(op: Op | null | undefined): SourcePlace {
  const loc = op?.loc;
  if (!loc) return {};
  return { file: loc.file, line: loc.line, snippet: loc.snippet };
}

const siteKeys = new WeakMap<Op, string>();

/**
 * Findings fold per source site: the copies of an op a compile-time loop unrolled are one access of the kernel's
 * source (its line and text).
 */
function siteKey(op: Op): string {
  let k = siteKeys.get(op);
  if (k === undefined) {
    k = op.loc
      ? `${op.loc.file ?? ''}:${op.loc.line ?? ''}:${op.loc.snippet}`
      : `#${op.results[0]?.id ?? Math.random()}`;
    siteKeys.set(op, k);
  }
  return k;
}

function sameBits(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

export class LaunchCheck {
  private readonly found = new Map<string, Pending>();
  /** The fault the plain run would have raised (the first out-of-bounds access in program order). */
  fault: Error | null = null;
  private readonly memcheck: boolean;
  private readonly racecheck: boolean;
  private readonly initcheck: boolean;
  private readonly synccheck: boolean;
  private readonly device: string;
  private readonly ebs: number[];
  private readonly enc: (((x: number) => number) | null)[];
  // Shared-memory shadow of the block being run, by byte address (SIMT).
  private sW: Int32Array | null = null;
  private sWE!: Int32Array;
  private sWOp!: Int32Array;
  private sWSame!: Uint8Array;
  private sWAtomic!: Uint8Array;
  private sWW!: Int32Array;
  private sR1W!: Int32Array;
  private sR2W!: Int32Array;
  private sR1!: Int32Array;
  private sR1E!: Int32Array;
  private sR1Op!: Int32Array;
  private sR2!: Int32Array;
  private sR2E!: Int32Array;
  private sR2Op!: Int32Array;
  private sInit: Uint8Array | null = null;

  constructor(
    readonly san: SanitizerState,
    readonly t: CheckTarget,
    readonly mode: CheckMode,
  ) {
    const on = (tool: SanitizerTool) => san.has(tool) && mode.kind === 'run';
    this.memcheck = san.has('memcheck');
    this.racecheck = on('racecheck');
    this.initcheck = on('initcheck');
    this.synccheck = san.has('synccheck') && (mode.kind === 'run' || mode.kind === 'sync');
    this.device = t.owner.label;
    this.ebs = t.buffers.map((b) => DTYPE_INFO[b.buffer.dtype].bytes);
    this.enc = t.buffers.map((b) => bitsEncoder(b.buffer.dtype as DType));
    const n = t.sharedBytes ?? 0;
    if (t.style === 'simt' && n > 0 && (this.racecheck || this.initcheck)) {
      if (this.racecheck) {
        this.sW = new Int32Array(n);
        this.sWE = new Int32Array(n);
        this.sWOp = new Int32Array(n);
        this.sWSame = new Uint8Array(n);
        this.sWAtomic = new Uint8Array(n);
        this.sWW = new Int32Array(n);
        this.sR1W = new Int32Array(n);
        this.sR2W = new Int32Array(n);
        this.sR1 = new Int32Array(n);
        this.sR1E = new Int32Array(n);
        this.sR1Op = new Int32Array(n);
        this.sR2 = new Int32Array(n);
        this.sR2E = new Int32Array(n);
        this.sR2Op = new Int32Array(n);
      }
      if (this.initcheck) this.sInit = new Uint8Array(n);
    }
  }

  // ------------------------------------------------------------------------------------------------ reporting

  private report(key: string, make: () => Omit<Pending, 'count' | 'kernel' | 'device' | 'style'>): void {
    const f = this.found.get(key);
    if (f) {
      f.count++;
      return;
    }
    this.found.set(key, { ...make(), kernel: this.t.kernel, device: this.device, style: this.t.style, count: 1 });
  }

  /** Hands the launch's reports to the sanitizer (in the order they were first found). */
  finish(): void {
    for (const r of this.found.values()) this.san.add({ ...r, text: renderReport(r) });
    this.found.clear();
  }

  private bufferText(k: number): string {
    const b = this.t.buffers[k]!;
    return `'${b.name}' = ${b.buffer.describe()}`;
  }

  private address(k: number, index: number): number {
    const b = this.t.buffers[k]!.buffer;
    return this.san.addressOf(b.allocation, b.owner) + b.byteOffset + index * this.ebs[k]!;
  }

  private tileActor(w: Where): Actor {
    return { program: [w.x, w.y, w.z] };
  }

  private simtActor(th: SimtThread, b: SimtBlock): Actor {
    return { thread: [th.tx, th.ty, th.tz], block: [b.bx, b.by, b.bz] };
  }

  /** A memcheck finding on a global access. */
  private globalMem(kind: SanitizerKind, op: Op, access: Access, k: number, index: unknown, who: Actor): void {
    this.report(`mem|${kind}|${siteKey(op)}|${k}`, () => {
      const b = this.t.buffers[k]!.buffer;
      const eb = this.ebs[k]!;
      const i = typeof index === 'number' ? index : Number.NaN;
      const integral = Number.isInteger(i);
      let message: string;
      if (kind === 'out-of-bounds') {
        const where = !integral
          ? `index ${String(index)} is not an integer`
          : i < 0
            ? `${-i * eb} bytes before its start`
            : `${(i - b.length) * eb} bytes after its end`;
        message = `${this.bufferText(k)}: element ${String(index)} (valid 0..${b.length - 1}, ${b.byteLength} bytes); the access is ${where}`;
      } else if (kind === 'use-after-free') {
        const how = b.allocation.freedBy === 'reset' ? 'device.reset() released it' : 'device.free() freed it';
        message = `${this.bufferText(k)}, offset ${i * eb} bytes (element ${i}): ${how} before this launch`;
      } else {
        message = `${this.bufferText(k)}, offset ${i * eb} bytes (element ${i}) belongs to ${b.owner.label}; the kernel runs on ${this.device}`;
      }
      return {
        tool: 'memcheck',
        kind,
        severity: 'error',
        space: 'global',
        access,
        size: eb,
        ...placeOf(op),
        ...who,
        address: integral ? this.address(k, i) : undefined,
        buffer: b.describe(),
        param: this.t.buffers[k]!.name,
        offset: integral ? i * eb : undefined,
        index: integral ? i : undefined,
        message,
      };
    });
  }

  private sharedMem(kind: SanitizerKind, op: Op, access: Access, s: SharedRef, index: unknown, who: Actor, extra = '') {
    // A misaligned view is one finding (reported at its first access), whatever accesses go through it.
    const key = kind === 'misaligned' ? `smem|misaligned|${s.name}` : `smem|${kind}|${siteKey(op)}|${s.name}`;
    this.report(key, () => {
      const i = typeof index === 'number' ? index : Number.NaN;
      const integral = Number.isInteger(i);
      let message: string;
      if (kind === 'out-of-bounds') {
        const where = !integral
          ? `index ${String(index)} is not an integer`
          : i < 0
            ? `${-i * s.eb} bytes before its start`
            : `${(i - s.length) * s.eb} bytes after its end`;
        message = `__shared__ ${s.name} (${s.dtype}[${s.length}]) at ${hex(s.base)}, ${s.length * s.eb} bytes: index ${String(index)}; the access is ${where}`;
      } else message = extra;
      return {
        tool: 'memcheck',
        kind,
        severity: 'error',
        space: 'shared',
        access,
        size: s.eb,
        ...placeOf(op),
        ...who,
        address: integral ? s.base + i * s.eb : undefined,
        buffer: `__shared__ ${s.name} (${s.dtype}[${s.length}])`,
        offset: integral ? i * s.eb : undefined,
        index: integral ? i : undefined,
        message,
      };
    });
  }

  private uninit(op: Op, access: Access, who: Actor, k: number, index: number): void {
    this.report(`init|${siteKey(op)}|${k}`, () => {
      const b = this.t.buffers[k]!.buffer;
      const eb = this.ebs[k]!;
      return {
        tool: 'initcheck',
        kind: 'uninitialized',
        severity: 'error',
        space: 'global',
        access,
        size: eb,
        ...placeOf(op),
        ...who,
        address: this.address(k, index),
        buffer: b.describe(),
        param: this.t.buffers[k]!.name,
        offset: index * eb,
        index,
        message: `${this.bufferText(k)}, offset ${index * eb} bytes (element ${index}) was never written (no upload, copy, memset, fill or kernel store reached it)`,
      };
    });
  }

  private race(
    kind: 'raw' | 'war' | 'waw',
    space: 'global' | 'shared',
    severity: 'error' | 'warning',
    op: Op,
    access: Access,
    who: Actor,
    otherOp: Op | null,
    otherAccess: Access,
    other: Actor,
    where: { address: number; buffer: string; param?: string; offset: number; index: number; size: number },
    values: string,
  ): void {
    const key = `race|${kind}|${space}|${severity}|${siteKey(op)}|${otherOp ? siteKey(otherOp) : 0}|${where.buffer}`;
    this.report(key, () => ({
      tool: 'racecheck',
      kind,
      severity,
      space,
      access,
      ...placeOf(op),
      ...who,
      other: { ...other, ...placeOf(otherOp), access: otherAccess },
      ...where,
      message:
        `${where.param ? `'${where.param}' = ` : ''}${where.buffer}, offset ${where.offset} bytes (element ${where.index}): ` +
        `${kind === 'waw' ? 'two writes' : kind === 'raw' ? 'a read of a write' : 'a write over a read'} with no ` +
        `${space === 'shared' ? 'barrier' : 'ordering (an atomic, or a separate launch)'} between them${values}`,
    }));
  }

  // ----------------------------------------------------------------------------------------------- tile hooks

  tileHooks(): TileHooks {
    return {
      access: (op, access, k, off, mask, w, values) => this.tileAccess(op, access, k, off, mask, w, values),
      view: (op, k, w, error) => {
        if (this.mode.kind !== 'run' || !this.memcheck) {
          if (this.mode.kind === 'run') throw error;
          return;
        }
        this.fault ??= error;
        this.report(`view|${siteKey(op)}|${k}`, () => {
          const b = this.t.buffers[k]!.buffer;
          return {
            tool: 'memcheck',
            kind: 'out-of-bounds',
            severity: 'error',
            space: 'global',
            access: 'read',
            size: this.ebs[k]!,
            ...placeOf(op),
            ...this.tileActor(w),
            address: this.san.addressOf(b.allocation, b.owner) + b.byteOffset,
            buffer: b.describe(),
            param: this.t.buffers[k]!.name,
            message: `t.tensor view of ${this.bufferText(k)} ${error.message.replace(/^.*?: tensor: /, '').split('. ')[0]}`,
          };
        });
      },
    };
  }

  private tileAccess(
    op: Op,
    access: Access,
    k: number,
    off: ArrayLike<number>,
    mask: ArrayLike<number> | null,
    w: Where,
    values: ArrayLike<number> | null,
  ): ArrayLike<number> | null {
    const n = off.length;
    const mem = this.t.buffers[k]!.mem;
    const len = mem.length;
    let out: Uint8Array | null = null;
    const refuse = (i: number) => {
      if (!out) {
        out = new Uint8Array(n);
        for (let j = 0; j < n; j++) out[j] = mask ? (mask[j] ? 1 : 0) : 1;
      }
      out[i] = 0;
    };
    const mode = this.mode;
    if (mode.kind === 'refused') {
      const bad = mode.bad.get(k);
      for (let i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        if (bad) this.globalMem(bad, op, access, k, off[i], this.tileActor(w));
        if (bad || off[i]! < 0 || off[i]! >= len) refuse(i);
      }
      return out ?? mask;
    }
    // Bounds first (memcheck; without it the first bad lane faults, as the plain run does).
    for (let i = 0; i < n; i++) {
      if (mask && !mask[i]) continue;
      const o = off[i]!;
      if (o >= 0 && o < len) continue;
      if (mode.kind !== 'run') {
        refuse(i);
        continue;
      }
      const what =
        op.opcode === 'mem.atomic'
          ? (ATOMIC_NAME[op.attrs.kind as string] ?? 'atomic')
          : access === 'read'
            ? 'load'
            : 'store';
      const e = tileFault(this.t.L!, what, k, o, w.x, w.y, w.z);
      if (!this.memcheck) throw e;
      this.fault ??= e;
      this.globalMem('out-of-bounds', op, access, k, o, this.tileActor(w));
      refuse(i);
    }
    const m: ArrayLike<number> | null = out ?? mask;
    if (mode.kind !== 'run' || (!this.initcheck && !this.racecheck)) return m;
    const b = this.t.buffers[k]!.buffer;
    const eb = this.ebs[k]!;
    const a = b.allocation;
    const base = b.byteOffset;
    if (this.initcheck) {
      const init = this.san.initMap(a);
      if (init) {
        for (let i = 0; i < n; i++) {
          if (m && !m[i]) continue;
          const at = base + off[i]! * eb;
          if (access !== 'write') {
            let ok = true;
            for (let j = 0; j < eb; j++) if (!init[at + j]) ok = false;
            if (!ok) this.uninit(op, access, this.tileActor(w), k, off[i]!);
          }
        }
        if (access !== 'read') {
          for (let i = 0; i < n; i++) {
            if (m && !m[i]) continue;
            const at = base + off[i]! * eb;
            init.fill(1, at, at + eb);
          }
        }
      }
    }
    if (this.racecheck && access !== 'read') {
      const [gx, gy] = this.t.grid;
      const me = w.x + gx * (w.y + gy * w.z) + 1;
      this.globalWrites(op, access, k, off, m, me, 0, values, (who) => {
        const p = Math.abs(who) - 1;
        return { program: [p % gx, Math.floor(p / gx) % gy, Math.floor(p / (gx * gy))] };
      });
    }
    return m;
  }

  /**
   * Racecheck of global writes: another writer (program, or thread of another block or of this block before no
   * barrier) of the same element in this launch, neither access an atomic pair.
   */
  private globalWrites(
    op: Op,
    access: Access,
    k: number,
    off: ArrayLike<number>,
    m: ArrayLike<number> | null,
    me: number,
    epoch: number,
    values: ArrayLike<number> | null,
    actor: (who: number) => Actor,
    self?: Actor,
    orderedWith?: (who: number, epoch: number) => boolean,
  ): void {
    const b = this.t.buffers[k]!.buffer;
    const eb = this.ebs[k]!;
    const sh = this.san.writerShadow(b.allocation, eb);
    const seq = this.san.launchSeq;
    const first = b.byteOffset / eb;
    const atomic = access === 'atomic';
    const opId = this.san.opId(op);
    const mem = this.t.buffers[k]!.mem;
    const enc = this.enc[k];
    let pageNo = -1;
    let pg: WriterPage | null = null;
    for (let i = 0; i < off.length; i++) {
      if (m && !m[i]) continue;
      const el = first + off[i]!;
      if (el >> WRITER_PAGE_BITS !== pageNo) {
        pageNo = el >> WRITER_PAGE_BITS;
        pg = sh.page(pageNo);
      }
      const p = pg!;
      const idx = el & (WRITER_PAGE - 1);
      if (p.launch[idx] === seq) {
        const prev = p.who[idx]!;
        const prevAtomic = prev < 0;
        if (Math.abs(prev) !== me && !(atomic && prevAtomic) && !orderedWith?.(Math.abs(prev), p.epoch[idx]!)) {
          let unchanged = false;
          if (!atomic && !prevAtomic && values) {
            const v = values[i]!;
            unchanged = sameBits(mem[off[i]!]!, enc ? enc(v) : v);
          }
          const otherOp = this.san.opOf(p.op[idx]!) as Op | null;
          this.race(
            'waw',
            'global',
            unchanged ? 'warning' : 'error',
            op,
            access,
            self ?? actor(me),
            otherOp,
            prevAtomic ? 'atomic' : 'write',
            actor(Math.abs(prev)),
            {
              address: this.address(k, off[i]!),
              buffer: b.describe(),
              param: this.t.buffers[k]!.name,
              offset: off[i]! * eb,
              index: off[i]!,
              size: eb,
            },
            unchanged ? ' (both wrote the same value)' : '',
          );
        }
      }
      p.launch[idx] = seq;
      p.who[idx] = atomic ? -me : me;
      p.epoch[idx] = epoch;
      p.op[idx] = opId;
    }
  }

  // ----------------------------------------------------------------------------------------------- SIMT hooks

  simtHooks(): SimtHooks {
    const h: SimtHooks = {};
    const mode = this.mode;
    if (mode.kind === 'run' && this.memcheck) {
      h.globalOutOfBounds = (op, access, k, index, th, b) => {
        if (!this.fault) {
          try {
            this.t.rt!.globalFault(
              access === 'atomic' ? (ATOMIC_NAME[op.attrs.kind as string] ?? 'atomic') : access,
              k,
              index as number,
              [b.bx, b.by, b.bz],
              [th.tx, th.ty, th.tz],
            );
          } catch (e) {
            this.fault = e as Error;
          }
        }
        this.globalMem('out-of-bounds', op, access, k, index, this.simtActor(th, b));
      };
      h.sharedOutOfBounds = (op, access, s, index, th, b) => {
        if (!this.fault) {
          try {
            this.t.rt!.sharedFault(
              access === 'read' ? 'read' : 'write',
              s.name,
              s.dtype,
              s.length,
              index,
              [b.bx, b.by, b.bz],
              [th.tx, th.ty, th.tz],
            );
          } catch (e) {
            this.fault = e as Error;
          }
        }
        this.sharedMem('out-of-bounds', op, access, s, index, this.simtActor(th, b));
      };
    } else if (mode.kind !== 'run') {
      // Diagnostic runs (on copies): out-of-bounds accesses are skipped quietly; they are not what is diagnosed.
      h.globalOutOfBounds = () => {};
      h.sharedOutOfBounds = () => {};
    }
    if (mode.kind === 'refused') {
      h.global = (op, access, k, index, th, b) => {
        const bad = mode.bad.get(k);
        if (bad) this.globalMem(bad, op, access, k, index, this.simtActor(th, b));
      };
    }
    if (mode.kind === 'misaligned') {
      h.shared = (op, access, s, index, th, b) => {
        if (!mode.views.has(s)) return;
        const off = s.op ? (s.op.attrs.offset as number) : 0;
        this.sharedMem(
          'misaligned',
          op,
          access,
          s,
          index,
          this.simtActor(th, b),
          `${s.name} starts at byte ${off} of the dynamic shared memory; ${mode.device} needs shared-memory views aligned to ${mode.align} bytes (at ${placeText(this.t.kernel, placeOf(s.op))})`,
        );
      };
    }
    if (mode.kind === 'run' && (this.initcheck || this.racecheck)) {
      h.global = (op, access, k, index, th, b, value) => this.simtGlobal(op, access, k, index, th, b, value);
      if (this.sW || this.sInit) {
        h.shared = (op, access, s, index, th, b, value) => this.simtShared(op, access, s, index, th, b, value);
        h.beginBlock = () => this.resetShared();
      }
    }
    if (this.synccheck) {
      h.barrier = (b, op, arrived) => this.barrier(b, op, arrived);
      h.warpFault = (b, op, e) => this.warpFault(b, op, e);
    }
    return h;
  }

  private simtGlobal(
    op: Op,
    access: Access,
    k: number,
    index: number,
    th: SimtThread,
    b: SimtBlock,
    value: number,
  ): void {
    const eb = this.ebs[k]!;
    if (this.initcheck) {
      const init = this.initMapOf(k);
      if (init) {
        const at = this.byteOffsets[k]! + index * eb;
        if (access !== 'write') {
          for (let j = 0; j < eb; j++) {
            if (!init[at + j]) {
              this.uninit(op, access, this.simtActor(th, b), k, index);
              break;
            }
          }
        }
        if (access !== 'read') {
          if (eb === 4) init[at] = init[at + 1] = init[at + 2] = init[at + 3] = 1;
          else for (let j = 0; j < eb; j++) init[at + j] = 1;
        }
      }
    }
    if (!this.racecheck || access === 'read') return;
    // Racecheck of one global write (the tile path's `globalWrites`, for one element, without allocations).
    const T = this.t.threads;
    const me = b.index * T + th.t + 1;
    const atomic = access === 'atomic';
    const el = this.firstElement[k]! + index;
    const p = this.writerPage(k, el >> WRITER_PAGE_BITS);
    const idx = el & (WRITER_PAGE - 1);
    const seq = this.san.launchSeq;
    if (p.launch[idx] === seq) {
      const prev = p.who[idx]!;
      const who = prev < 0 ? -prev : prev;
      // Another thread's write, unless both are atomics or a barrier of this block came between them.
      const ordered = Math.floor((who - 1) / T) === b.index && p.epoch[idx]! < b.epoch;
      if (who !== me && !(atomic && prev < 0) && !ordered) {
        const enc = this.enc[k];
        const unchanged = !atomic && prev > 0 && sameBits(this.t.buffers[k]!.mem[index]!, enc ? enc(value) : value);
        const [gx, gy] = this.t.grid;
        const blk = Math.floor((who - 1) / T);
        const thr = b.threads[(who - 1) % T]!;
        const buf = this.t.buffers[k]!.buffer;
        this.race(
          'waw',
          'global',
          unchanged ? 'warning' : 'error',
          op,
          access,
          this.simtActor(th, b),
          this.san.opOf(p.op[idx]!) as Op | null,
          prev < 0 ? 'atomic' : 'write',
          {
            block: [blk % gx, Math.floor(blk / gx) % gy, Math.floor(blk / (gx * gy))],
            thread: [thr.tx, thr.ty, thr.tz],
          },
          {
            address: this.address(k, index),
            buffer: buf.describe(),
            param: this.t.buffers[k]!.name,
            offset: index * eb,
            index,
            size: eb,
          },
          unchanged ? ' (both wrote the same value)' : '',
        );
      }
    }
    p.launch[idx] = seq;
    p.who[idx] = atomic ? -me : me;
    p.epoch[idx] = b.epoch;
    p.op[idx] = this.san.opId(op);
  }

  // Per-buffer caches for the hot paths (a launch's buffers do not change while it runs).
  private readonly initMaps: (Uint8Array | null | undefined)[] = [];
  private readonly shadows: (WriterShadow | undefined)[] = [];
  private readonly lastPage: ({ no: number; page: WriterPage } | undefined)[] = [];
  private get byteOffsets(): number[] {
    return (this._byteOffsets ??= this.t.buffers.map((b) => b.buffer.byteOffset));
  }
  private get firstElement(): number[] {
    return (this._firstElement ??= this.t.buffers.map((b, k) => b.buffer.byteOffset / this.ebs[k]!));
  }
  private _byteOffsets: number[] | undefined;
  private _firstElement: number[] | undefined;

  private initMapOf(k: number): Uint8Array | null {
    let m = this.initMaps[k];
    if (m === undefined) m = this.initMaps[k] = this.san.initMap(this.t.buffers[k]!.buffer.allocation);
    return m;
  }

  private writerPage(k: number, no: number): WriterPage {
    const last = this.lastPage[k];
    if (last && last.no === no) return last.page;
    let sh = this.shadows[k];
    if (!sh) sh = this.shadows[k] = this.san.writerShadow(this.t.buffers[k]!.buffer.allocation, this.ebs[k]!);
    const page = sh.page(no);
    this.lastPage[k] = { no, page };
    return page;
  }

  private resetShared(): void {
    if (this.sW) {
      this.sW.fill(0);
      this.sR1.fill(0);
      this.sR2.fill(0);
    }
    this.sInit?.fill(0);
  }

  private sharedWhere(s: SharedRef, index: number) {
    return {
      address: s.base + index * s.eb,
      buffer: `__shared__ ${s.name} (${s.dtype}[${s.length}])`,
      offset: index * s.eb,
      index,
      size: s.eb,
    };
  }

  private simtShared(
    op: Op,
    access: Access,
    s: SharedRef,
    index: number,
    th: SimtThread,
    b: SimtBlock,
    value: number,
  ): void {
    const a = s.base + index * s.eb;
    if (this.sInit) {
      if (access !== 'write') {
        let ok = true;
        for (let j = 0; j < s.eb; j++) if (!this.sInit[a + j]) ok = false;
        if (!ok) {
          this.report(`sinit|${siteKey(op)}|${s.name}`, () => ({
            tool: 'initcheck',
            kind: 'uninitialized',
            severity: 'error',
            space: 'shared',
            access,
            ...placeOf(op),
            ...this.simtActor(th, b),
            ...this.sharedWhere(s, index),
            message: `__shared__ ${s.name} (${s.dtype}[${s.length}]) index ${index} was never written by a thread of this block`,
          }));
        }
      }
      if (access !== 'read') this.sInit.fill(1, a, a + s.eb);
    }
    const W = this.sW;
    if (!W) return;
    const me = th.t + 1;
    const e = b.epoch;
    const ws = b.warpSize;
    const myWarp = (th.t / ws) | 0;
    const wsync = b.warpSyncs[myWarp]!;
    const atomic = access === 'atomic';
    const opId = this.san.opId(op);
    if (access !== 'write') {
      // RAW: the element was written in this epoch by another thread (atomics with atomics excepted).
      const w = W[a]!;
      if (
        w !== 0 &&
        w !== me &&
        this.sWE[a] === e &&
        !(atomic && this.sWAtomic[a]) &&
        !((((w - 1) / ws) | 0) === myWarp && wsync > this.sWW[a]!)
      ) {
        const same = this.sWSame[a] === 1;
        this.race(
          'raw',
          'shared',
          same ? 'warning' : 'error',
          op,
          access,
          this.simtActor(th, b),
          this.san.opOf(this.sWOp[a]!) as Op | null,
          this.sWAtomic[a] ? 'atomic' : 'write',
          this.threadActor(b, w),
          this.sharedWhere(s, index),
          same ? ' (the write did not change the value)' : '',
        );
      }
      // Remember up to two distinct readers of this epoch (atomics are not remembered as reads).
      if (!atomic) {
        if (this.sR1[a] === 0 || this.sR1E[a] !== e) {
          this.sR1[a] = me;
          this.sR1E[a] = e;
          this.sR1W[a] = wsync;
          this.sR1Op[a] = opId;
          this.sR2[a] = 0;
        } else if (this.sR1[a] === me) {
          this.sR1W[a] = wsync;
          this.sR1Op[a] = opId;
        } else if (this.sR2[a] === 0 || this.sR2E[a] !== e || this.sR2[a] === me) {
          this.sR2[a] = me;
          this.sR2E[a] = e;
          this.sR2W[a] = wsync;
          this.sR2Op[a] = opId;
        }
      }
    }
    if (access !== 'read') {
      const unchanged = !atomic && sameBits(s.view[index]!, convertShared(s.dtype, value));
      const w = W[a]!;
      if (
        w !== 0 &&
        w !== me &&
        this.sWE[a] === e &&
        !(atomic && this.sWAtomic[a]) &&
        !((((w - 1) / ws) | 0) === myWarp && wsync > this.sWW[a]!)
      ) {
        this.race(
          'waw',
          'shared',
          unchanged && !this.sWAtomic[a] ? 'warning' : 'error',
          op,
          access,
          this.simtActor(th, b),
          this.san.opOf(this.sWOp[a]!) as Op | null,
          this.sWAtomic[a] ? 'atomic' : 'write',
          this.threadActor(b, w),
          this.sharedWhere(s, index),
          unchanged ? ' (both wrote the same value)' : '',
        );
      }
      // WAR: another thread read the element in this epoch, unordered with this write.
      let r = 0;
      let rOp = 0;
      const r1 = this.sR1[a]!;
      const r2 = this.sR2[a]!;
      if (r1 !== 0 && r1 !== me && this.sR1E[a] === e && !((((r1 - 1) / ws) | 0) === myWarp && wsync > this.sR1W[a]!))
        [r, rOp] = [r1, this.sR1Op[a]!];
      else if (
        r2 !== 0 &&
        r2 !== me &&
        this.sR2E[a] === e &&
        !((((r2 - 1) / ws) | 0) === myWarp && wsync > this.sR2W[a]!)
      )
        [r, rOp] = [r2, this.sR2Op[a]!];
      if (r) {
        this.race(
          'war',
          'shared',
          unchanged ? 'warning' : 'error',
          op,
          access,
          this.simtActor(th, b),
          this.san.opOf(rOp) as Op | null,
          'read',
          this.threadActor(b, r),
          this.sharedWhere(s, index),
          unchanged ? ' (the write did not change the value)' : '',
        );
      }
      W[a] = me;
      this.sWE[a] = e;
      this.sWW[a] = wsync;
      this.sWOp[a] = opId;
      this.sWSame[a] = unchanged ? 1 : 0;
      this.sWAtomic[a] = atomic ? 1 : 0;
    }
  }

  /** Thread `t1 - 1` of the block, as an actor. */
  private threadActor(b: SimtBlock, t1: number): Actor {
    const o = b.threads[t1 - 1]!;
    return { thread: [o.tx, o.ty, o.tz], block: [b.bx, b.by, b.bz] };
  }

  /** synccheck: a barrier must be reached by every thread of the block (CUDA: undefined otherwise). */
  private barrier(b: SimtBlock, op: Op, arrived: readonly number[]): void {
    const T = b.threads.length;
    if (arrived.length === T) return;
    const here = new Uint8Array(T);
    for (const t of arrived) here[t] = 1;
    const exited: number[] = [];
    const elsewhere: number[] = [];
    for (let t = 0; t < T; t++) if (!here[t]) (b.exited[t] ? exited : elsewhere).push(t);
    const missing = elsewhere.length ? elsewhere : exited;
    const thr = (t: number) => [b.threads[t]!.tx, b.threads[t]!.ty, b.threads[t]!.tz] as const;
    const range = (l: number[]) =>
      l.length === 1
        ? `thread ${dims(thr(l[0]!))}`
        : `${l.length} threads, ${dims(thr(l[0]!))}…${dims(thr(l[l.length - 1]!))},`;
    const key = `sync|${siteKey(op)}|${exited.length ? 'x' : ''}${elsewhere.length ? 'e' : ''}`;
    this.report(key, () => {
      const parts = [`${arrived.length} of ${T} threads reach this barrier`];
      if (elsewhere.length)
        parts.push(
          `${range(elsewhere)} ${elsewhere.length === 1 ? 'does' : 'do'} not (a branch, loop or early return that differs between threads)`,
        );
      if (exited.length) parts.push(`${range(exited)} ${exited.length === 1 ? 'has' : 'have'} exited`);
      return {
        tool: 'synccheck',
        kind: 'divergent-barrier',
        severity: 'error',
        space: 'shared',
        ...placeOf(op),
        thread: thr(missing[0]!),
        block: [b.bx, b.by, b.bz],
        other: { thread: thr(arrived[0] ?? 0), block: [b.bx, b.by, b.bz] },
        message: `${parts.join('; ')}`,
      };
    });
  }

  /** synccheck: a warp intrinsic whose mask names lanes that do not take part (the run then fails as without it). */
  private warpFault(b: SimtBlock, op: Op, e: Error): void {
    const d = (e as { details?: { thread?: number[] } }).details;
    const thread = (d?.thread ?? [0, 0, 0]) as [number, number, number];
    this.report(`warp|${siteKey(op)}`, () => ({
      tool: 'synccheck',
      kind: 'invalid-warp-sync',
      severity: 'error',
      space: 'shared',
      ...placeOf(op),
      thread,
      block: [b.bx, b.by, b.bz],
      // "(warp 0, lane 3): k.shflDown at file:line — in `…`: the mask …" → "warp 0, lane 3: the mask …"
      message: e.message
        .replace(/^kernel '.*?' block \(.*?\) thread \(.*?\) /, '')
        .replace(/^\((warp \d+, lane \d+)\): .*?: (?=the mask|lane \d+ calls)/, '$1: ')
        .split(' Every lane')[0]!,
    }));
  }
}

const SCRATCH: Record<string, { [i: number]: number }> = {
  f32: new Float32Array(1),
  i32: new Int32Array(1),
  u32: new Uint32Array(1),
  i16: new Int16Array(1),
  i8: new Int8Array(1),
  u8: new Uint8Array(1),
};

const F16 = bitsEncoder('f16')!;
const BF16 = bitsEncoder('bf16')!;

/** The stored element (bits for f16 / bf16) a shared-array store of `v` leaves (typed-array conversion). */
function convertShared(dtype: string, v: number): number {
  if (dtype === 'f16') return F16(v);
  if (dtype === 'bf16') return BF16(v);
  const s = SCRATCH[dtype];
  if (!s) return v;
  s[0] = v;
  return s[0]!;
}
