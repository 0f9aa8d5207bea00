/**
 * What the stager's JavaScript values can be. A kernel runs at compile time as a partial evaluator: values known when
 * the kernel is specialised (constexprs, dtypes, shapes, closures, plain objects) are ordinary JavaScript values, and
 * values known only when it runs (program ids, runtime scalars, tiles, buffers) are IR `Value`s. Everything here is
 * the bookkeeping that makes that work: variable bindings with an undo trail (so both sides of a runtime branch can
 * be staged from the same state and merged), closures, and callable builtins.
 */
import type { Value } from '../ir';
import type { AnyNode, FunctionNode, ParsedSource } from './source';

/** A monotonic clock: bindings and objects created after a mark are local to the region being staged. */
let clock = 0;
export function tick(): number {
  return ++clock;
}
export function now(): number {
  return clock;
}

const born = new WeakMap<object, number>();

/** Records when the stager created `obj` (objects it did not create count as old). */
export function stamp<T extends object>(obj: T): T {
  born.set(obj, tick());
  return obj;
}

export function bornAt(obj: object): number {
  return born.get(obj) ?? 0;
}

export type BindingKind = 'const' | 'let' | 'var' | 'param' | 'hidden';

export class Binding {
  readonly epoch = tick();
  constructor(
    readonly name: string,
    public value: unknown,
    readonly kind: BindingKind,
    /** `let`/`const` before their declaration has run (the temporal dead zone). */
    public initialized = true,
  ) {}
}

export class Scope {
  readonly vars = new Map<string, Binding>();
  constructor(readonly parent: Scope | null) {}

  lookup(name: string): Binding | undefined {
    for (let s: Scope | null = this; s; s = s.parent) {
      const b = s.vars.get(name);
      if (b) return b;
    }
    return undefined;
  }

  declare(name: string, value: unknown, kind: BindingKind, initialized = true): Binding {
    const b = new Binding(name, value, kind, initialized);
    this.vars.set(name, b);
    return b;
  }
}

/** A function literal of the kernel (an arrow or function expression), with the scope it closes over. */
export class Closure {
  constructor(
    readonly node: FunctionNode,
    readonly scope: Scope,
    readonly src: ParsedSource,
    readonly name: string,
    /** Free names of a device function resolve here (its `uses`). */
    readonly uses: Readonly<Record<string, unknown>>,
  ) {
    stamp(this);
  }
}

/** A builtin the kernel can call: a tile-language op, a tile method, `Math.max`, … */
export class Builtin {
  constructor(
    readonly name: string,
    readonly call: (args: unknown[], node: AnyNode) => unknown,
  ) {}
}

/**
 * A value that exists on some paths only (`let x; if (c) x = tile;`): reading it is an error, except for a
 * function's hidden return slot, whose fall-through paths return undefined.
 */
export class Partial {
  constructor(
    readonly value: Value,
    readonly name: string,
  ) {}
}

/** A compile-time record of a `t.tensor(...)` view: its buffer and scalar shape, strides and offset. */
export class TensorDescriptor {
  constructor(
    readonly buffer: Value,
    readonly shape: readonly Value[],
    readonly strides: readonly Value[],
    readonly offset: Value,
  ) {
    stamp(this);
  }

  get rank(): number {
    return this.shape.length;
  }
}

/** Where a write went, so that it can be undone and merged: a variable, or a property of a compile-time object. */
export type Target = { kind: 'binding'; binding: Binding } | { kind: 'prop'; obj: object; key: PropertyKey };

export interface TrailEntry {
  target: Target;
  /** Whether the property existed before the write (props only). */
  had: boolean;
  old: unknown;
}

let nextObjectId = 0;
const objectIds = new WeakMap<object, number>();

function idOf(o: object): number {
  let i = objectIds.get(o);
  if (i === undefined) {
    i = ++nextObjectId;
    objectIds.set(o, i);
  }
  return i;
}

/** A key that identifies the target of a write (the same variable or property gives the same key). */
export function targetKey(t: Target): string {
  return t.kind === 'binding' ? `b${idOf(t.binding)}` : `p${idOf(t.obj)}.${String(t.key)}`;
}

export function readTarget(t: Target): unknown {
  return t.kind === 'binding' ? t.binding.value : (t.obj as Record<PropertyKey, unknown>)[t.key];
}

export function targetName(t: Target): string {
  return t.kind === 'binding' ? `'${t.binding.name}'` : `property '${String(t.key)}'`;
}

/** The epoch of what a write targets: later than a mark means local to the region staged since. */
export function targetEpoch(t: Target): number {
  return t.kind === 'binding' ? t.binding.epoch : bornAt(t.obj);
}
