/**
 * WGSL for the tile ops that combine elements across a tile (tile.ts drives them): `tile.dot`, `tile.reduce`,
 * `tile.cumsum`, `tile.sort`. Each invocation computes the output elements it owns; operands are read through
 * `Emitter.at` (shared storage or lazy ops over it).
 *
 * - dot: per owned output element an f32 (i32) accumulator, k ascending, `c = c + a * b` (each product and sum
 *   rounded to f32: the CPU's order; a WGSL compiler may still contract it into a fused multiply-add, which WGSL
 *   neither forbids nor lets a shader prevent). The owned elements are unrolled (register accumulators; a B element
 *   shared by them is read once per k), and `acc = t.dot(a, b, acc)` in a loop accumulates in place.
 * - reduce: with fewer outputs than invocations, G invocations per output reduce interleaved slices and the owner
 *   combines the G partials in slice order; sums accumulate compensated (Knuth's two-sum: an f32 sum and its rounding
 *   error, the result rounded once at the end), close to the CPU's float64 accumulation; max / min / argmax / argmin
 *   are exact (NaN largest and sticky, the first extremum).
 * - cumsum: one invocation per line, or for few long lines G invocations per line over contiguous chunks (chunk
 *   sums, then each chunk rescanned from the sum of those before it); compensated as sums are. Two-sum error terms
 *   go through `tt_keep`, an identity the shader compiler cannot see through, so algebraic simplification (Mesa's
 *   NIR does it) cannot cancel them.
 * - sort: stable, NaN last; each element's rank is the number of elements ordered before it (value, then index).
 */
import type { TileDType } from '../../dtype/dtype';
import { sizeOf } from '../../kernel/shape';
import type { Op, Value } from '../ir';
import { type Emitter, Idx, idivC, imodC, type Storage, UNROLL } from './tile-emit';
import { ekind, elemType, finish } from './tile-expr';
import { shapeOf } from './tile-plan';

const dtypeOf = (v: Value) => (v.type as { dtype: TileDType }).dtype;

export function emitDot(em: Emitter, op: Op): void {
  const [a, b, acc] = op.operands as [Value, Value, Value | undefined];
  const [M, K] = shapeOf(a) as [number, number];
  const N = shapeOf(b)[1]!;
  const rd = dtypeOf(op.result);
  const T = elemType(rd);
  const size = M * N;
  const inPlace = inPlaceAccumulator(em, op);
  const out = inPlace ?? em.allocFor(op.result);
  if (inPlace) em.reps.set(op.result, inPlace);
  em.sync({ reads: acc ? [a, b, acc] : [a, b], writes: [out] });
  const W = em.W;
  const J = Math.ceil(size / W);
  const tf32 = op.attrs.precision === 'tf32' && dtypeOf(a) === 'f32';
  const rowsPerPass = W % N === 0 && size % W === 0 ? W / N : 0;
  const zero = T === 'f32' ? '0.0f' : '0i';
  em.block('', () => {
    // Per owned element: row, column, accumulator (unrolled over the owned elements).
    const slots: { m: string; n: string; c: string; e: string; j: string }[] = [];
    const loopJ = J > UNROLL;
    if (loopJ) {
      // Many elements per invocation: loop over them, k inside.
      const jv = em.id('j');
      em.block(`for (var ${jv} = 0i; ${jv} < ${J}i; ${jv}++) `, () => {
        const e = em.id('e');
        em.emit(`let ${e} = min(lid + ${jv} * ${W}i, ${size - 1}i);`);
        const m = em.bind(idivC(e, N), 'm');
        const n = em.bind(imodC(e, N), 'n');
        const c = em.id('c');
        em.emit(`var ${c}: ${T} = ${acc ? em.at(acc, new Idx([M, N], e), jv) : zero};`);
        dotK(em, a, b, K, [{ m, n, c }], tf32);
        em.block(`if (lid + ${jv} * ${W}i < ${size}i) `, () => em.writeAt(out, e, jv, c));
      });
      return;
    }
    for (let j = 0; j < J; j++) {
      const e = em.id('e');
      em.emit(`let ${e} = ${j * W + W > size ? `min(lid + ${j * W}i, ${size - 1}i)` : j ? `lid + ${j * W}i` : 'lid'};`);
      let m: string;
      let n: string;
      if (rowsPerPass) {
        m = em.bind(j ? `${idivC('lid', N)} + ${j * rowsPerPass}i` : idivC('lid', N), 'm');
        n = em.bind(imodC('lid', N), 'n');
      } else {
        m = em.bind(idivC(e, N), 'm');
        n = em.bind(imodC(e, N), 'n');
      }
      const c = em.id('c');
      em.emit(`var ${c}: ${T} = ${acc ? em.at(acc, new Idx([M, N], e), `${j}`) : zero};`);
      slots.push({ m, n, c, e, j: `${j}` });
    }
    dotK(em, a, b, K, slots, tf32);
    for (const s of slots) {
      const guarded = Number(s.j) * W + W > size;
      if (guarded) em.block(`if (lid + ${Number(s.j) * W}i < ${size}i) `, () => em.writeAt(out, s.e, s.j, s.c));
      else em.writeAt(out, s.e, s.j, s.c);
    }
  });
}

/**
 * `acc = t.dot(a, b, acc)` in a loop: the private storage of the loop-carried accumulator, when the dot can write
 * its result there directly (each invocation reads its own accumulator elements before the k loop and writes them
 * after it) — the dot's only use is the loop's yield of that accumulator, and nothing after the dot reads the old
 * accumulator. Saves a register copy of the tile per iteration, and the registers of a second tile.
 */
function inPlaceAccumulator(em: Emitter, op: Op): Storage | null {
  const { plan } = em;
  const uses = plan.uses.get(op.result) ?? [];
  if (uses.length !== 1 || uses[0]!.op.opcode !== 'scf.yield') return null;
  const yieldOp = uses[0]!.op;
  const loop = plan.parentOp.get(yieldOp);
  const body = plan.regionOf.get(yieldOp);
  if (loop?.opcode !== 'scf.for' || !body || plan.regionOf.get(op) !== body) return null;
  const arg = body.args[uses[0]!.index + 1]!;
  const target = em.reps.get(arg);
  if (target?.kind !== 'priv') return null;
  const at = plan.position.get(op)!;
  // Every consumer of the old accumulator (through lazy ops) runs no later than the dot.
  const seen = new Set<Value>();
  const early = (v: Value): boolean => {
    if (seen.has(v)) return true;
    seen.add(v);
    for (const u of plan.uses.get(v) ?? []) {
      if (plan.lazy.has(u.op.results[0]!)) {
        if (!early(u.op.results[0]!)) return false;
        continue;
      }
      let o: Op | null = u.op;
      while (o && plan.regionOf.get(o) !== body) o = plan.parentOp.get(o) ?? null;
      if (!o || (o !== op && plan.position.get(o)! >= at)) return false;
    }
    return true;
  };
  return early(arg) ? target : null;
}

function dotK(
  em: Emitter,
  a: Value,
  b: Value,
  K: number,
  slots: { m: string; n: string; c: string }[],
  tf32: boolean,
): void {
  const k = em.id('k');
  const [M] = shapeOf(a) as [number];
  const N = shapeOf(b)[1]!;
  em.block(`for (var ${k} = 0i; ${k} < ${K}i; ${k}++) `, () => {
    for (const s of slots) {
      let x = em.at(a, new Idx([M, K], null, [s.m, k]), null);
      let y = em.at(b, new Idx([K, N], null, [k, s.n]), null);
      if (tf32) {
        x = em.bind(`tt_round_tf32(${x})`, 'a');
        y = em.bind(`tt_round_tf32(${y})`, 'b');
      }
      em.emit(`${s.c} = ${s.c} + ${x} * ${y};`);
    }
  });
}

/** Reads element `flat` of the (outer, n, inner)-viewed input. */
function reader(em: Emitter, x: Value): (flat: string) => string {
  const xs = shapeOf(x);
  return (flat) => em.at(x, new Idx(xs, flat), null);
}

type RKind = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

/** Accumulator code for a reduction over elements of kind `k`. */
function accumulator(em: Emitter, kind: RKind, d: TileDType) {
  const float = ekind(d) === 'float';
  const T = elemType(d);
  const isMax = kind === 'max' || kind === 'argmax';
  const names = { s: em.id('s'), c: em.id('sc'), i: em.id('si') };
  return {
    names,
    /** Declares the state from the first element (`x` at index `i`) or, for sums, zero. */
    init(first: () => { x: string; i: string }): void {
      if (kind === 'sum') {
        em.emit(`var ${names.s}: ${float ? 'f32' : 'i32'} = ${float ? '0.0f' : '0i'};`);
        em.emit(`var ${names.c}: ${float ? 'f32' : 'i32'} = ${float ? '0.0f' : '0i'};`);
        return;
      }
      const f = first();
      em.emit(`var ${names.s}: ${T} = ${f.x};`);
      em.emit(`var ${names.i}: i32 = ${f.i};`);
    },
    /** Adds element `x` (index `i`, ascending). */
    add(x: string, i: string): void {
      const { s, c } = names;
      if (kind === 'sum') {
        if (!float) {
          em.emit(`${s} = ${s} + ${x};`);
          return;
        }
        const t = em.id('t');
        const bp = em.id('t');
        // tt_keep: an identity the shader compiler cannot see through, so algebraic rewriting (NIR's, or a
        // fast-math reassociation) cannot cancel the error term to zero.
        em.emit(`let ${t} = tt_keep(${s} + ${x});`);
        em.emit(`let ${bp} = tt_keep(${t} - ${s});`);
        em.emit(`${c} = ${c} + ((${s} - (${t} - ${bp})) + (${x} - ${bp}));`);
        em.emit(`${s} = ${t};`);
        return;
      }
      const better = float
        ? `!tt_isnan(${s}) && (tt_isnan(${x}) || ${x} ${isMax ? '>' : '<'} ${s})`
        : `${x} ${isMax ? '>' : '<'} ${s}`;
      em.emit(`if (${better}) { ${s} = ${x}; ${names.i} = ${i}; }`);
    },
    /** Folds in a partial (value `ps`, compensation or index `pc`) of a later slice. */
    combine(ps: string, pc: string): void {
      const { s, c } = names;
      if (kind === 'sum') {
        if (!float) {
          em.emit(`${s} = ${s} + ${ps};`);
          return;
        }
        this.add(ps, '0i');
        em.emit(`${c} = ${c} + ${pc};`);
        return;
      }
      const cmpOp = isMax ? '>' : '<';
      const better = float
        ? `(tt_isnan(${ps}) && (!tt_isnan(${s}) || ${pc} < ${names.i})) || (!tt_isnan(${ps}) && !tt_isnan(${s}) && (${ps} ${cmpOp} ${s} || (${ps} == ${s} && ${pc} < ${names.i})))`
        : `${ps} ${cmpOp} ${s} || (${ps} == ${s} && ${pc} < ${names.i})`;
      em.emit(`if (${better}) { ${s} = ${ps}; ${names.i} = ${pc}; }`);
    },
    /** The partial's two words (value, compensation / index) as u32 expressions. */
    words(): [string, string] {
      return kind === 'sum'
        ? [`bitcast<u32>(${names.s})`, `bitcast<u32>(${names.c})`]
        : [`bitcast<u32>(${names.s})`, `bitcast<u32>(${names.i})`];
    },
    /** The result element, in the result dtype's value type. */
    result(rd: TileDType): string {
      if (kind === 'sum')
        return float ? finish(`select(${names.s}, ${names.s} + ${names.c}, tt_isfinite(${names.s}))`, rd) : names.s;
      return kind === 'argmax' || kind === 'argmin' ? names.i : names.s;
    },
  };
}

export function emitReduce(em: Emitter, op: Op): void {
  const x = op.operands[0]!;
  const xs = shapeOf(x);
  const kind = op.attrs.kind as RKind;
  const axis = op.attrs.axis as number | null;
  const [outer, n, inner] =
    axis === null ? [1, sizeOf(xs), 1] : [sizeOf(xs.slice(0, axis)), xs[axis]!, sizeOf(xs.slice(axis + 1))];
  const O = outer * inner;
  const d = dtypeOf(x);
  const rd = dtypeOf(op.result);
  const out = em.allocFor(op.result);
  const read = reader(em, x);
  const W = em.W;
  const base = (o: string) => {
    const ob = outer > 1 ? (inner > 1 ? `${idivC(o, inner)} * ${n * inner}i` : `${o} * ${n}i`) : '';
    const ib = inner > 1 ? imodC(o, inner) : '';
    return em.bind([ob, ib].filter(Boolean).join(' + ') || '0i', 'rb');
  };
  const elem = (b: string, i: string) => read(inner > 1 ? `${b} + ${i} * ${inner}i` : b === '0i' ? i : `${b} + ${i}`);
  let G = 1;
  while (O * G * 2 <= W && G * 16 <= n && G < 64) G *= 2;
  if (G === 1) {
    em.sync({ reads: [x], writes: [out] });
    em.forEachOwned(O, (e, j) => {
      const b = base(e);
      const acc = accumulator(em, kind, d);
      acc.init(() => ({ x: elem(b, '0i'), i: '0i' }));
      const i = em.id('i');
      em.block(`for (var ${i} = ${kind === 'sum' ? 0 : 1}i; ${i} < ${n}i; ${i}++) `, () => acc.add(elem(b, i), i));
      em.writeAt(out, e, j, acc.result(rd));
    });
    return;
  }
  // Partials: invocation lid < O·G reduces slice g = lid % G of output o = lid / G (elements g, g+G, …).
  const tmp = em.alloc(O * G * 2, 'i32', true) as Storage & { kind: 'shared' };
  em.sync({ reads: [x], writes: [tmp] });
  em.block(`if (lid < ${O * G}i) `, () => {
    const o = em.bind(idivC('lid', G), 'o');
    const g = em.bind(imodC('lid', G), 'g');
    const b = base(o);
    const acc = accumulator(em, kind, d);
    acc.init(() => ({ x: elem(b, g), i: g }));
    const i = em.id('i');
    em.block(`for (var ${i} = ${kind === 'sum' ? g : `${g} + ${G}i`}; ${i} < ${n}i; ${i} += ${G}i) `, () =>
      acc.add(elem(b, i), i),
    );
    const [w0, w1] = acc.words();
    em.writeAt(tmp, 'lid * 2i', '', `bitcast<i32>(${w0})`);
    em.writeAt(tmp, 'lid * 2i + 1i', '', `bitcast<i32>(${w1})`);
  });
  em.sync({ readsStorage: [tmp], writes: [out] });
  const T = elemType(d);
  em.forEachOwned(O, (e, j) => {
    const acc = accumulator(em, kind, d);
    const w = (g: number, k: number) => em.sharedRead(tmp, `${e} * ${2 * G}i + ${2 * g + k}i`);
    const accT = kind === 'sum' ? (ekind(d) === 'float' ? 'f32' : 'i32') : T;
    if (kind === 'sum') {
      em.emit(`var ${acc.names.s}: ${accT} = bitcast<${accT}>(${w(0, 0)});`);
      em.emit(`var ${acc.names.c}: ${accT} = bitcast<${accT}>(${w(0, 1)});`);
    } else {
      em.emit(`var ${acc.names.s}: ${T} = bitcast<${T}>(${w(0, 0)});`);
      em.emit(`var ${acc.names.i}: i32 = bitcast<i32>(${w(0, 1)});`);
    }
    const gv = em.id('g');
    em.block(`for (var ${gv} = 1i; ${gv} < ${G}i; ${gv}++) `, () => {
      const ps = em.bind(`bitcast<${accT}>(${em.sharedRead(tmp, `${e} * ${2 * G}i + ${gv} * 2i`)})`, 'ps');
      const pc = em.bind(
        `bitcast<${kind === 'sum' ? accT : 'i32'}>(${em.sharedRead(tmp, `${e} * ${2 * G}i + ${gv} * 2i + 1i`)})`,
        'pc',
      );
      acc.combine(ps, pc);
    });
    em.writeAt(out, e, j, acc.result(rd));
  });
  em.free(tmp);
}

export function emitCumsum(em: Emitter, op: Op): void {
  const x = op.operands[0]!;
  const xs = shapeOf(x);
  const axis = op.attrs.axis as number;
  const [outer, n, inner] = [sizeOf(xs.slice(0, axis)), xs[axis]!, sizeOf(xs.slice(axis + 1))];
  const L = outer * inner;
  const d = dtypeOf(x);
  const rd = dtypeOf(op.result);
  const float = ekind(d) === 'float';
  const out = em.allocFor(op.result);
  if (out.kind !== 'shared') em.internal('cumsum into private storage');
  const read = reader(em, x);
  const lineBase = (l: string) =>
    em.bind(inner > 1 ? `${idivC(l, inner)} * ${n * inner}i + ${imodC(l, inner)}` : `${l} * ${n}i`, 'rb');
  const at = (b: string, i: string) => em.bind(inner > 1 ? `${b} + ${i} * ${inner}i` : `${b} + ${i}`, 'x');
  /** Scans elements [lo, hi) of line base `b` from the running sum already in `acc`, writing each prefix. */
  const scan = (acc: ReturnType<typeof accumulator>, b: string, lo: string, hi: string) => {
    const i = em.id('i');
    em.block(`for (var ${i} = ${lo}; ${i} < ${hi}; ${i}++) `, () => {
      const k = at(b, i);
      acc.add(read(k), i);
      em.writeAt(out, k, '', acc.result(rd));
    });
  };
  // Few lines: G invocations per line, each a contiguous chunk — chunk sums, then each chunk rescanned from the
  // (compensated) sum of the chunks before it. Otherwise one invocation per line.
  let G = 1;
  while (L * G * 2 <= em.W && G * 32 <= n && G < 64) G *= 2;
  if (G === 1) {
    em.sync({ reads: [x], writes: [out] });
    em.forEachOwned(L, (e) => {
      const acc = accumulator(em, 'sum', d);
      acc.init(() => ({ x: '', i: '' }));
      scan(acc, lineBase(e), '0i', `${n}i`);
    });
    return;
  }
  const C = Math.ceil(n / G);
  const tmp = em.alloc(L * G * 2, 'i32', true) as Storage & { kind: 'shared' };
  em.sync({ reads: [x], writes: [tmp] });
  const chunk = (body: (b: string, lo: string, hi: string, g: string) => void) =>
    em.block(`if (lid < ${L * G}i) `, () => {
      const b = lineBase(em.bind(idivC('lid', G), 'l'));
      const g = em.bind(imodC('lid', G), 'g');
      const lo = em.bind(`${g} * ${C}i`, 'lo');
      body(b, lo, em.bind(`min(${lo} + ${C}i, ${n}i)`, 'hi'), g);
    });
  chunk((b, lo, hi) => {
    const acc = accumulator(em, 'sum', d);
    acc.init(() => ({ x: '', i: '' }));
    const i = em.id('i');
    em.block(`for (var ${i} = ${lo}; ${i} < ${hi}; ${i}++) `, () => acc.add(read(at(b, i)), i));
    const [w0, w1] = acc.words();
    em.writeAt(tmp, 'lid * 2i', '', `bitcast<i32>(${w0})`);
    em.writeAt(tmp, 'lid * 2i + 1i', '', `bitcast<i32>(${w1})`);
  });
  em.sync({ readsStorage: [tmp], reads: [x], writes: [out] });
  const T = float ? 'f32' : 'i32';
  chunk((b, lo, hi, g) => {
    const acc = accumulator(em, 'sum', d);
    acc.init(() => ({ x: '', i: '' }));
    const p = em.id('p');
    em.block(`for (var ${p} = lid - ${g}; ${p} < lid; ${p}++) `, () => {
      const ps = em.bind(`bitcast<${T}>(${em.sharedRead(tmp, `${p} * 2i`)})`, 'ps');
      const pc = em.bind(`bitcast<${T}>(${em.sharedRead(tmp, `${p} * 2i + 1i`)})`, 'pc');
      acc.combine(ps, pc);
    });
    scan(acc, b, lo, hi);
  });
  em.free(tmp);
}

export function emitSort(em: Emitter, op: Op): void {
  const x = op.operands[0]!;
  const xs = shapeOf(x);
  const axis = op.attrs.axis as number;
  const [, n, inner] = [sizeOf(xs.slice(0, axis)), xs[axis]!, sizeOf(xs.slice(axis + 1))];
  const desc = op.attrs.descending as boolean;
  const indices = op.attrs.indices as boolean;
  const d = dtypeOf(x);
  const out = em.allocFor(op.result);
  if (out.kind !== 'shared') em.internal('sort into private storage');
  const read = reader(em, x);
  const float = ekind(d) === 'float';
  em.sync({ reads: [x], writes: [out] });
  em.forEachOwned(sizeOf(xs), (e) => {
    // e = (o·n + i)·inner + q
    const q = inner > 1 ? em.bind(imodC(e, inner), 'q') : '0i';
    const oi = inner > 1 ? em.bind(idivC(e, inner), 'oi') : e;
    const i = em.bind(imodC(oi, n), 'i');
    const lineBase = em.bind(inner > 1 ? `(${oi} - ${i}) * ${inner}i + ${q}` : `${oi} - ${i}`, 'lb');
    const v = read(e);
    const rank = em.id('rank');
    em.emit(`var ${rank} = 0i;`);
    const i2 = em.id('i');
    em.block(`for (var ${i2} = 0i; ${i2} < ${n}i; ${i2}++) `, () => {
      const y = read(em.bind(inner > 1 ? `${lineBase} + ${i2} * ${inner}i` : `${lineBase} + ${i2}`, 'x'));
      const lt = desc ? '>' : '<';
      const before = float
        ? `select(!tt_isnan(${y}) && (${y} ${lt} ${v} || (${y} == ${v} && ${i2} < ${i})), !tt_isnan(${y}) || ${i2} < ${i}, tt_isnan(${v}))`
        : `${y} ${lt} ${v} || (${y} == ${v} && ${i2} < ${i})`;
      em.emit(`if (${before}) { ${rank}++; }`);
    });
    const dest = inner > 1 ? `${lineBase} + ${rank} * ${inner}i` : `${lineBase} + ${rank}`;
    em.writeAt(out, dest, '', indices ? i : v);
  });
}
