/**
 * The sanitizer's process-wide state: which tools are on, the reports so far, and the shadow memory that outlives a
 * launch — per allocation an "initialised" byte map (initcheck) fed by host copies, memsets, fills and kernel writes,
 * the last writer of each global element (racecheck across programs or threads of one launch), and a device virtual
 * address for each allocation (for reports). Shadows are kept in WeakMaps keyed by the allocation, so they go when it
 * does.
 */
import type { Allocation, BufferOwner } from '../memory/buffer';
import { formatSummary } from './format';
import type { SanitizerReport, SanitizerSummary, SanitizerTool } from './types';

export interface SanitizerOptions {
  /** Print each report to stderr (compute-sanitizer's output) as its launch ends. Default true. */
  print?: boolean;
  /** Print at most this many reports (later ones are still counted and kept). Default 100 (`--print-limit`). */
  printLimit?: number;
  /** Where printed text goes (default: stderr). */
  write?: (text: string) => void;
}

/** Reports kept in memory at most; later ones are counted. */
const KEEP_LIMIT = 10_000;

/** Base of the device virtual addresses given to allocations (one 1 TiB window per device ordinal). */
const VA_BASE = 0x7f00_0000_0000;
const VA_PER_DEVICE = 2 ** 40;

/** Elements per page of a writer shadow (pages are made when first written: a KV cache touched in a few places costs
 * a few pages, not its size). */
export const WRITER_PAGE_BITS = 14;
export const WRITER_PAGE = 1 << WRITER_PAGE_BITS;

/** The last plain or atomic write of each element of one page of an allocation, for one element size. */
export interface WriterPage {
  /** Launch sequence number of the last write (0: none). */
  launch: Int32Array;
  /** Writer + 1: the program's linear id (tile) or block · threads + thread (SIMT); negative for atomics. */
  who: Float64Array;
  /** SIMT: the block's barrier epoch at the write. */
  epoch: Int32Array;
  /** The writing op (an id from `opId`). */
  op: Int32Array;
}

/** One allocation's writer shadow for one element size: pages by index. */
export class WriterShadow {
  private readonly pages = new Map<number, WriterPage>();

  page(p: number): WriterPage {
    let pg = this.pages.get(p);
    if (!pg) {
      pg = {
        launch: new Int32Array(WRITER_PAGE),
        who: new Float64Array(WRITER_PAGE),
        epoch: new Int32Array(WRITER_PAGE),
        op: new Int32Array(WRITER_PAGE),
      };
      this.pages.set(p, pg);
    }
    return pg;
  }
}

const OP_ID = Symbol('sanitizer op id');

export class SanitizerState {
  readonly tools: ReadonlySet<SanitizerTool>;
  readonly reports: SanitizerReport[] = [];
  errors = 0;
  warnings = 0;
  dropped = 0;
  printed = 0;
  launches = 0;
  /** Sequence number of the current instrumented launch (stamps writer shadows). */
  launchSeq = 0;
  private readonly print: boolean;
  private readonly printLimit: number;
  private readonly write: (text: string) => void;
  private readonly init = new WeakMap<Allocation, Uint8Array>();
  private readonly writers = new WeakMap<Allocation, Map<number, WriterShadow>>();
  private readonly addresses = new WeakMap<Allocation, number>();
  private readonly nextAddress = new Map<number, number>();
  private readonly opList: object[] = [null as unknown as object];
  noted = new Set<string>();

  constructor(tools: Iterable<SanitizerTool>, o: SanitizerOptions = {}) {
    this.tools = new Set(tools);
    this.print = o.print ?? true;
    this.printLimit = o.printLimit ?? 100;
    this.write =
      o.write ??
      ((t) => {
        const proc = (globalThis as { process?: { stderr?: { write(s: string): void } } }).process;
        if (proc?.stderr) proc.stderr.write(`${t}\n`);
        else console.error(t);
      });
  }

  has(tool: SanitizerTool): boolean {
    return this.tools.has(tool);
  }

  add(r: SanitizerReport): void {
    if (r.severity === 'error') this.errors++;
    else this.warnings++;
    if (this.reports.length < KEEP_LIMIT) this.reports.push(r);
    else this.dropped++;
    if (this.print && this.printed < this.printLimit) {
      this.printed++;
      this.write(r.text);
    }
  }

  /** A one-time note on stderr (e.g. timing-only launches, which run nothing to check). */
  note(key: string, text: string): void {
    if (this.noted.has(key) || !this.print) return;
    this.noted.add(key);
    this.write(`========= ${text}`);
  }

  summary(): SanitizerSummary {
    return {
      tools: [...this.tools],
      errors: this.errors,
      warnings: this.warnings,
      launches: this.launches,
      dropped: this.dropped,
    };
  }

  summaryText(): string {
    return formatSummary(this.summary());
  }

  // ---------------------------------------------------------------------------------------------- addresses

  /** The allocation's device virtual address (assigned on first use, 256-byte aligned, per device). */
  addressOf(a: Allocation, owner: BufferOwner): number {
    let va = this.addresses.get(a);
    if (va === undefined) {
      const next = this.nextAddress.get(owner.ordinal) ?? VA_BASE + owner.ordinal * VA_PER_DEVICE + 0x200000;
      va = next;
      this.nextAddress.set(owner.ordinal, next + Math.ceil(Math.max(a.byteLength, 1) / 256) * 256 + 256);
      this.addresses.set(a, va);
    }
    return va;
  }

  /** A small integer for an op (stored on the op under a symbol: this runs on every racing-checked access). */
  opId(op: object): number {
    const o = op as { [OP_ID]?: number };
    let id = o[OP_ID];
    if (id === undefined || this.opList[id] !== op) {
      id = this.opList.length;
      this.opList.push(op);
      o[OP_ID] = id;
    }
    return id;
  }

  opOf(id: number): object | null {
    return this.opList[id] ?? null;
  }

  // ------------------------------------------------------------------------------------------------ initcheck

  /** A new allocation: nothing in it is initialised (cudaMalloc'd memory is not zeroed; Tessera's is). */
  allocated(a: Allocation): void {
    if (this.has('initcheck') && a.hasData) this.init.set(a, new Uint8Array(a.byteLength));
  }

  /** Bytes [start, start + n) of `a` now hold written values. */
  written(a: Allocation, start: number, n: number): void {
    const m = this.init.get(a);
    if (m) m.fill(1, start, start + n);
  }

  /** A device-to-device copy carries the source's initialised bytes along. */
  copied(dst: Allocation, dstStart: number, src: Allocation, srcStart: number, n: number): void {
    const d = this.init.get(dst);
    if (!d) return;
    const s = this.init.get(src);
    if (!s) d.fill(1, dstStart, dstStart + n);
    else d.set(s.subarray(srcStart, srcStart + n), dstStart);
  }

  /** The initialised-bytes map of an allocation; null if the sanitizer did not see it allocated (all counts as set). */
  initMap(a: Allocation): Uint8Array | null {
    return this.init.get(a) ?? null;
  }

  // ------------------------------------------------------------------------------------------------ racecheck

  /** The writer shadow of an allocation for accesses of `eb`-byte elements (made on first use). */
  writerShadow(a: Allocation, eb: number): WriterShadow {
    let m = this.writers.get(a);
    if (!m) this.writers.set(a, (m = new Map()));
    let s = m.get(eb);
    if (!s) m.set(eb, (s = new WriterShadow()));
    return s;
  }
}
