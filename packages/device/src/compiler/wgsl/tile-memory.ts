/**
 * Global memory ops of the tile → WGSL lowering (tile.ts): gathers, scatters and atomics over lanes (offsets, values
 * and masks broadcast together), `t.tensor` views and block loads / stores. Every active lane is bounds-checked
 * against `params.len_<name>`: out of bounds, the access is skipped (a load reads 0) and the first fault is recorded
 * with its site (abi.ts); masked-off lanes and block elements outside their view never touch memory.
 */
import type { TileDType } from '../../dtype/dtype';
import { sizeOf } from '../../kernel/shape';
import { type KernelIR, laneShape, type Op, type Value } from '../ir';
import { recordFault, type WgslBufferBinding, type WgslFaultSite } from './abi';
import { type Emitter, Idx } from './tile-emit';
import { elemType, storageLit, toBuffer } from './tile-expr';
import { shapeOf } from './tile-plan';

const dtypeOf = (v: Value) => (v.type as { dtype: TileDType }).dtype;

export class TileMemory {
  constructor(
    private readonly em: Emitter,
    private readonly ir: KernelIR,
    private readonly buffers: Map<Value, WgslBufferBinding>,
    private readonly site: (s: WgslFaultSite) => number,
  ) {}

  buf(v: Value): WgslBufferBinding {
    const b = this.buffers.get(v);
    if (!b) this.em.refuse('a memory access on something other than a buffer parameter');
    return b;
  }

  /** The WGSL i32 expression of an offset operand at lane `i` (a tile broadcast to the lanes, or a scalar). */
  private laneOperand(v: Value, lanes: readonly number[], i: Idx, j: string, d: TileDType): string {
    const { em } = this;
    if (v.type.kind !== 'tile') {
      if (d === 'i32' && em.kind(v) !== 'float') return em.scalar(v, 'int');
      return em.scalarElem(v, d);
    }
    const os = v.type.shape;
    return em.at(v, em.broadcastIdx(i, os), sizeOf(os) === sizeOf(lanes) ? j : null);
  }

  /** `body` if `off` is inside buffer `name`, else the fault at `site`. */
  private accessOp(name: string, off: string, site: number, body: string): void {
    this.em.emit(`if (u32(${off}) < u32(params.len_${name})) { ${body} } else { ${recordFault(site, off)} }`);
  }

  load(op: Op): void {
    const { em } = this;
    const [bv, offs] = op.operands as [Value, Value];
    const mask = op.attrs.masked ? op.operands[2]! : null;
    const b = this.buf(bv);
    const shape = shapeOf(op.result);
    const d = dtypeOf(op.result);
    const out = em.allocFor(op.result);
    const site = this.site({ kind: 'global', op: 'load', name: this.paramName(bv) });
    em.sync({ reads: mask ? [offs, mask] : [offs], writes: [out], globalRead: true });
    const other = storageLit((op.attrs.other as number | null) ?? 0, d);
    em.forEachOwned(sizeOf(shape), (e, j) => {
      const i = new Idx(shape, e);
      const r = em.id('ld');
      em.emit(`var ${r}: ${elemType(d)} = ${mask ? other : elemType(d) === 'f32' ? '0.0f' : '0i'};`);
      const access = () => {
        const off = em.bind(this.laneOperand(offs, shape, i, j, 'i32'), 'o');
        this.accessOp(b.name, off, site, `${r} = ld_${b.name}(${off});`);
      };
      if (mask) em.block(`if (${this.laneOperand(mask, shape, i, j, 'bool')} != 0i) `, access);
      else access();
      em.writeAt(out, e, j, r);
    });
  }

  private paramName(v: Value): string {
    return this.ir.params.find((p) => p.value === v)?.name ?? this.buf(v).name;
  }

  store(op: Op): void {
    const { em } = this;
    const [bv, offs, value] = op.operands as [Value, Value, Value];
    const mask = op.attrs.masked ? op.operands[3]! : null;
    const b = this.buf(bv);
    const lanes = laneShape(op);
    const site = this.site({ kind: 'global', op: 'store', name: this.paramName(bv) });
    em.sync({ reads: [offs, value, ...(mask ? [mask] : [])], globalWrite: true });
    em.forEachOwned(sizeOf(lanes), (e, j) => {
      const i = new Idx(lanes, e);
      const body = () => {
        const off = em.bind(this.laneOperand(offs, lanes, i, j, 'i32'), 'o');
        const val =
          value.type.kind === 'tile'
            ? toBuffer(this.laneOperand(value, lanes, i, j, dtypeOf(value)), dtypeOf(value), b.dtype)
            : em.scalarElem(value, b.dtype as TileDType);
        this.accessOp(b.name, off, site, `st_${b.name}(${off}, ${val});`);
      };
      if (mask) em.block(`if (${this.laneOperand(mask, lanes, i, j, 'bool')} != 0i) `, body);
      else body();
    });
  }

  atomic(op: Op): void {
    const { em } = this;
    const [bv, offs, value] = op.operands as [Value, Value, Value];
    const mask = op.attrs.masked ? op.operands[3]! : null;
    const b = this.buf(bv);
    const kind = op.attrs.kind as 'add' | 'max' | 'min';
    const lanes = shapeOf(op.result);
    const used = (em.plan.uses.get(op.result)?.length ?? 0) > 0;
    const out = used ? em.allocFor(op.result) : null;
    const what = `atomic${kind[0]!.toUpperCase()}${kind.slice(1)}`;
    const site = this.site({ kind: 'global', op: what, name: this.paramName(bv) });
    em.sync({
      reads: [offs, value, ...(mask ? [mask] : [])],
      writes: [out],
      globalRead: true,
      globalWrite: true,
    });
    const T = elemType(b.dtype as TileDType);
    em.forEachOwned(sizeOf(lanes), (e, j) => {
      const i = new Idx(lanes, e);
      const r = em.id('old');
      em.emit(`var ${r}: ${T} = ${T === 'f32' ? '0.0f' : '0i'};`);
      const body = () => {
        const off = em.bind(this.laneOperand(offs, lanes, i, j, 'i32'), 'o');
        const val =
          value.type.kind === 'tile'
            ? toBuffer(this.laneOperand(value, lanes, i, j, dtypeOf(value)), dtypeOf(value), b.dtype)
            : em.scalarElem(value, b.dtype as TileDType);
        this.accessOp(b.name, off, site, `${r} = atomic_${kind}_${b.name}(${off}, ${val});`);
      };
      if (mask) em.block(`if (${this.laneOperand(mask, lanes, i, j, 'bool')} != 0i) `, body);
      else body();
      if (out) em.writeAt(out, e, j, r);
    });
  }

  /** `mem.view`'s check: the last element of a non-empty view lies inside the buffer. */
  view(op: Op): void {
    const { em } = this;
    const b = this.buf(op.operands[0]!);
    const r = op.attrs.rank as number;
    const nums = op.operands.slice(1).map((v) => em.scalar(v, 'int'));
    const [offset, shape, strides] = [nums[0]!, nums.slice(1, 1 + r), nums.slice(1 + r, 1 + 2 * r)];
    const site = this.site({ kind: 'global', op: 'tensor', name: this.paramName(op.operands[0]!) });
    const last = [offset, ...shape.map((s, d) => `(${s} - 1i) * ${strides[d]}`)].join(' + ');
    const nonEmpty = shape.map((s) => `${s} > 0i`).join(' && ') || 'true';
    em.block('if (lid == 0i) ', () => {
      em.emit(`let vl = ${last};`);
      em.emit(`if (${nonEmpty} && vl >= params.len_${b.name}) { ${recordFault(site, 'vl')} }`);
    });
  }

  /** Lanes of a block access: element offset and whether it lies in the view (interpret.ts `blockLanes`). */
  private blockLane(op: Op, i: Idx): { off: string; inside: string } {
    const { em } = this;
    const r = op.attrs.rank as number;
    const nums = op.operands.slice(1, 2 + 3 * r).map((v) => em.scalar(v, 'int'));
    const [offset, shape, strides, at] = [
      nums[0]!,
      nums.slice(1, 1 + r),
      nums.slice(1 + r, 1 + 2 * r),
      nums.slice(1 + 2 * r, 1 + 3 * r),
    ];
    const c = em.coords(i);
    const g = c.map((x, d) => em.bind(x === '0i' ? at[d]! : `${at[d]} + ${x}`, 'g'));
    const inside = g.map((x, d) => `u32(${x}) < u32(${shape[d]})`).join(' && ') || 'true';
    const off = em.bind([offset, ...g.map((x, d) => `${x} * ${strides[d]}`)].join(' + '), 'o');
    return { off, inside };
  }

  loadBlock(op: Op): void {
    const { em } = this;
    const bv = op.operands[0]!;
    const b = this.buf(bv);
    const block = op.attrs.block as number[];
    const d = dtypeOf(op.result);
    const out = em.allocFor(op.result);
    const site = this.site({ kind: 'global', op: 'loadBlock', name: this.paramName(bv) });
    const pad = storageLit((op.attrs.padding as number | null) ?? 0, d);
    em.sync({ writes: [out], globalRead: true });
    em.forEachOwned(sizeOf(block), (e, j) => {
      const { off, inside } = this.blockLane(op, new Idx(block, e));
      const r = em.id('ld');
      em.emit(`var ${r}: ${elemType(d)} = ${pad};`);
      em.block(`if (${inside}) `, () => this.accessOp(b.name, off, site, `${r} = ld_${b.name}(${off});`));
      em.writeAt(out, e, j, r);
    });
  }

  storeBlock(op: Op): void {
    const { em } = this;
    const bv = op.operands[0]!;
    const b = this.buf(bv);
    const r = op.attrs.rank as number;
    const value = op.operands[2 + 3 * r]!;
    const block = shapeOf(value);
    const site = this.site({ kind: 'global', op: 'storeBlock', name: this.paramName(bv) });
    em.sync({ reads: [value], globalWrite: true });
    em.forEachOwned(sizeOf(block), (e, j) => {
      const i = new Idx(block, e);
      const { off, inside } = this.blockLane(op, i);
      em.block(`if (${inside}) `, () => {
        const val = toBuffer(em.at(value, i, j), dtypeOf(value), b.dtype);
        this.accessOp(b.name, off, site, `st_${b.name}(${off}, ${val});`);
      });
    });
  }
}
