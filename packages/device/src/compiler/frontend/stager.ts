/**
 * The front end: a partial evaluator over the kernel's JavaScript AST (Triton's code generator does the same over
 * Python's). It runs the kernel body once, at compile time: what is known then (constexprs, dtypes, shapes, closures,
 * plain objects) is computed as ordinary JavaScript, and what is known only when the kernel runs (program ids,
 * runtime scalars, tiles) becomes IR. Control flow on compile-time values is resolved away (an `if (p.HAS_BIAS)`
 * leaves one branch; a loop of four iterations unrolls); control flow on runtime values becomes `scf.if` /
 * `scf.for` / `scf.while`, with the variables each side writes merged as region results — found by staging the body
 * speculatively and undoing it (the undo trail), until the set of loop-carried variables stops growing.
 *
 * Early exits (`return`, `break`, `continue`) under runtime conditions set hidden flags; the statements after them
 * run under `if (!flag)`, and loops test the flag with their condition. What cannot be compiled is refused with an
 * error naming the kernel, the file line and the snippet.
 */
import { TesseraError } from '../../errors';
import { Builder, isPure } from '../builder';
import {
  BOOL,
  FLOAT,
  INT,
  isScalar,
  isTile,
  type Region,
  type SourceLoc,
  sameType,
  type Type,
  typeToString,
  Value,
  walk,
} from '../ir';
import { type DeviceFunctionInfo, deviceFunctionInfo } from './device-function';
import { GLOBALS } from './globals';
import {
  type AnyNode,
  type FunctionNode,
  lineOf,
  type ParsedSource,
  parseFunction,
  shortFile,
  snippetOf,
} from './source';
import { TileOps } from './tile-ops';
import {
  Binding,
  Builtin,
  bornAt,
  Closure,
  now,
  Partial,
  readTarget,
  Scope,
  stamp,
  type Target,
  TensorDescriptor,
  type TrailEntry,
  targetEpoch,
  targetKey,
  targetName,
} from './values';

/** Compile-time loops longer than this become runtime loops instead of unrolling. */
const UNROLL_LIMIT = 64;
/** Inlining deeper than this is taken as unbounded recursion. */
const MAX_CALL_DEPTH = 64;

type Completion = 'normal' | 'return' | 'break' | 'continue';

interface FnFrame {
  ret: Binding;
  rv: Binding;
  thisValue: unknown;
}

interface LoopFrame {
  label: string | null;
  brk: Binding;
  cont: Binding | null;
  fn: FnFrame;
}

interface Mark {
  trail: number;
  clock: number;
}

interface Write {
  target: Target;
  pre: unknown;
  post: unknown;
}

/** A language context (`t` or `k`): members resolve to builtins or values. */
export interface LangContext {
  member(name: string, node: AnyNode): unknown;
}

/** Members of IR values (tile methods, buffer properties, …), provided by the language. */
export interface ValueMembers {
  valueMember(v: Value, name: string | number | Value, node: AnyNode): unknown;
  assignIndex?(v: Value, index: unknown, value: unknown, node: AnyNode): void;
  yieldExpression?(node: AnyNode): unknown;
  /** A `return` of the kernel body itself (not of a function it calls), before its flags are set. */
  kernelReturn?(): void;
}

export class CompileError extends TesseraError {
  constructor(message: string, hint?: string, details: Record<string, unknown> = {}) {
    super('CompileError', message, { hint, ...details });
  }
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype', '__defineGetter__', '__defineSetter__']);

export class Stager {
  readonly b: Builder;
  readonly ops: TileOps;
  private readonly trail: TrailEntry[] = [];
  private readonly fns: FnFrame[] = [];
  private readonly loops: LoopFrame[] = [];
  private readonly srcs: ParsedSource[] = [];
  private node: AnyNode | null = null;
  private depth = 0;
  /** Nesting of runtime control flow: a `throw` inside it is a runtime trap, outside it a compile error. */
  private symbolicDepth = 0;
  members: ValueMembers | null = null;
  /** Objects created before this clock belong to code outside the runtime region being staged now. */
  private regionClock = Number.POSITIVE_INFINITY;

  constructor(
    readonly kernelName: string,
    root: Region,
  ) {
    this.b = new Builder(root);
    this.ops = new TileOps(this.b, (m, h) => this.fail(m, h));
  }

  // ------------------------------------------------------------------------------------------------- errors

  get src(): ParsedSource {
    return this.srcs[this.srcs.length - 1]!;
  }

  /** The current source location (file line when it can be found). */
  location(node: AnyNode | null = this.node): SourceLoc | undefined {
    if (!node || !this.srcs.length) return undefined;
    const snippet = snippetOf(this.src, node);
    const at = lineOf(this.src, node);
    return at ? { snippet, line: at.line, file: at.file } : { snippet };
  }

  fail(message: string, hint?: string, node: AnyNode | null = this.node): never {
    const loc = this.location(node);
    const where = loc?.line ? `${shortFile(loc.file!)}:${loc.line}` : this.srcs.length ? `in ${this.src.name}` : '';
    const inFn = this.srcs.length > 1 ? ` (in ${this.src.name})` : '';
    throw new CompileError(
      `Kernel '${this.kernelName}'${inFn}${where ? ` at ${where}` : ''}: ${message}${loc ? ` — in \`${loc.snippet}\`` : ''}`,
      hint,
      { kernel: this.kernelName, line: loc?.line, file: loc?.file, snippet: loc?.snippet },
    );
  }

  // ---------------------------------------------------------------------------------------- the undo trail

  mark(): Mark {
    return { trail: this.trail.length, clock: now() };
  }

  write(target: Target, value: unknown): void {
    if (target.kind === 'binding') {
      this.trail.push({ target, had: true, old: target.binding.value });
      target.binding.value = value;
      target.binding.initialized = true;
    } else {
      const o = target.obj as Record<PropertyKey, unknown>;
      this.trail.push({ target, had: Object.hasOwn(o, target.key), old: o[target.key] });
      o[target.key] = value;
    }
  }

  undo(m: Mark): void {
    while (this.trail.length > m.trail) {
      const e = this.trail.pop()!;
      if (e.target.kind === 'binding') e.target.binding.value = e.old;
      else if (e.had) (e.target.obj as Record<PropertyKey, unknown>)[e.target.key] = e.old;
      else delete (e.target.obj as Record<PropertyKey, unknown>)[e.target.key];
    }
  }

  /** Writes since `m` to targets that existed before it, with their value at `m` and now. */
  collect(m: Mark): Map<string, Write> {
    const out = new Map<string, Write>();
    for (let i = m.trail; i < this.trail.length; i++) {
      const e = this.trail[i]!;
      if (targetEpoch(e.target) > m.clock) continue;
      const k = targetKey(e.target);
      if (!out.has(k)) out.set(k, { target: e.target, pre: e.old, post: undefined });
    }
    for (const w of out.values()) w.post = readTarget(w.target);
    return out;
  }

  // --------------------------------------------------------------------------------------------- values

  isValue(x: unknown): x is Value {
    return x instanceof Value;
  }

  /** The scalar type a compile-time value would have as an IR value, or null if it cannot be one. */
  private typeOfConst(x: unknown): Type | null {
    if (typeof x === 'number') return Number.isInteger(x) ? INT : FLOAT;
    if (typeof x === 'boolean') return BOOL;
    return null;
  }

  private typeOf(x: unknown): Type | null {
    if (x instanceof Value) return x.type;
    return this.typeOfConst(x);
  }

  /** Joins two types a merged value may have (int and float meet at float). */
  private join(a: Type, b: Type): Type | null {
    if (sameType(a, b)) return a;
    if (isScalar(a) && isScalar(b) && a.s !== 'bool' && b.s !== 'bool') return FLOAT;
    return null;
  }

  /** `x` as an IR value of `type` (constants materialise; a tile must already have the type). */
  toValue(x: unknown, type: Type, what: string): Value {
    if (x instanceof Partial) x = x.value;
    if (x instanceof Value) {
      if (sameType(x.type, type)) return x;
      if (isScalar(x.type) && isScalar(type) && type.s === 'float' && x.type.s !== 'bool') return x;
      this.fail(
        `${what} is ${typeToString(x.type)} here but ${typeToString(type)} on another path or iteration.`,
        'A value that changes at runtime must keep its tile shape and dtype; cast() or reshape() it to one type.',
      );
    }
    if (typeof x === 'number' || typeof x === 'boolean') {
      if (isScalar(type)) return this.b.constant(x);
      if (isTile(type)) {
        this.fail(
          `${what} is the number ${x} here but a ${typeToString(type)} tile on another path or iteration.`,
          `Make it a tile on every path, e.g. t.full(${JSON.stringify(type.shape)}, ${x}).`,
        );
      }
    }
    return this.fail(
      `${what} is ${describe(x)} here but ${typeToString(type)} on another path or iteration, and which one is only known when the kernel runs.`,
      'Give it a value of the same kind on every path (initialise it before the branch or loop).',
    );
  }

  /** A dummy value of `type` for paths where a hidden slot holds nothing. */
  private dummy(type: Type): Value {
    if (isScalar(type)) return this.b.constant(type.s === 'bool' ? false : 0);
    if (isTile(type)) return this.ops.full(type.shape, 0, type.dtype);
    return this.fail(`cannot merge a ${typeToString(type)} value across runtime control flow.`);
  }

  /** JavaScript truthiness of a scalar value, as a bool value. */
  truthy(v: Value): Value {
    if (isScalar(v.type) && v.type.s === 'bool') return v;
    if (!isScalar(v.type)) return this.b.constant(true);
    return this.b.unary('!', this.b.unary('!', v));
  }

  // ------------------------------------------------------------------------------------ runtime branches

  /**
   * Stages `thenFn` and `elseFn` as the two regions of an `scf.if` on `cond`, merging every variable and property
   * they write (and their results) into the op's results.
   */
  branch(cond: Value, thenFn: () => unknown, elseFn: (() => unknown) | null): unknown {
    const c = this.b.constantOf(cond);
    if (c !== undefined) return c ? thenFn() : elseFn?.();
    const branchNode = this.node;
    const m = this.mark();
    const regions = [this.b.newRegion([]), this.b.newRegion([])];
    const results: unknown[] = [];
    const writes: Map<string, Write>[] = [];
    this.symbolicDepth++;
    const savedClock = this.regionClock;
    this.regionClock = m.clock;
    try {
      for (const [i, fn] of [thenFn, elseFn].entries()) {
        results.push(this.b.inRegion(regions[i]!, () => (fn ? fn() : undefined)));
        writes.push(this.collect(m));
        this.undo(m);
      }
    } finally {
      this.symbolicDepth--;
      this.regionClock = savedClock;
    }
    const targets = new Map<string, { target: Target; pre: unknown }>();
    for (const w of writes)
      for (const [k, e] of w) if (!targets.has(k)) targets.set(k, { target: e.target, pre: e.pre });
    const slots: { target: Target | null; values: unknown[]; name: string }[] = [];
    for (const [k, { target, pre }] of targets) {
      const values = writes.map((w) => (w.has(k) ? w.get(k)!.post : pre));
      slots.push({ target, values, name: targetName(target) });
    }
    slots.push({ target: null, values: results, name: 'the expression' });
    // Decide each slot: the same on both sides (nothing to yield), or leaves yielded as region results (arrays and
    // plain objects of the same shape merge element by element).
    const leaves: Leaf[] = [];
    this.node = branchNode;
    const builds = slots.map((sl) => ({
      sl,
      build: this.mergePlan(sl.values[0], sl.values[1], sl.name, sl.target === null, leaves),
    }));
    const yieldIn = (i: number) =>
      this.b.inRegion(regions[i]!, () => {
        const vals = leaves.map((y) => {
          const v = y.values[i];
          if (v === undefined) return this.dummy(y.type);
          return this.toValue(v, y.type, y.name);
        });
        this.b.op('scf.yield', vals, []);
      });
    yieldIn(0);
    yieldIn(1);
    const op = this.b.op(
      'scf.if',
      [cond],
      leaves.map((y) => y.type),
      {},
      regions,
    );
    const merged = leaves.map((y, i) => {
      const r = op.results[i]!;
      const partial = y.values.some((v) => v === undefined || v instanceof Partial);
      return partial ? new Partial(r, y.name) : r;
    });
    let result: unknown;
    for (const { sl, build } of builds) {
      const v = build(merged);
      if (sl.target) this.write(sl.target, v);
      else result = v;
    }
    return result;
  }

  /**
   * How to merge `a` (then) and `b` (else): returns a function from the if's results to the merged value, having
   * appended the leaves it needs to `leaves`.
   */
  private mergePlan(
    a: unknown,
    b: unknown,
    name: string,
    isResult: boolean,
    leaves: Leaf[],
  ): (r: unknown[]) => unknown {
    if (Object.is(a, b)) return () => a;
    if (typeof a === 'number' && typeof b === 'number' && a === b) return () => a;
    if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && !(a instanceof Value)) {
      const parts = a.map((x, i) => this.mergePlan(x, b[i], `${name}[${i}]`, isResult, leaves));
      return (r) => stamp(parts.map((p) => p(r)));
    }
    if (isPlainObject(a) && isPlainObject(b)) {
      const ka = Object.keys(a as object);
      const kb = Object.keys(b as object);
      if (ka.length === kb.length && ka.every((k) => Object.hasOwn(b as object, k))) {
        const parts = ka.map(
          (k) =>
            [
              k,
              this.mergePlan(
                (a as Record<string, unknown>)[k],
                (b as Record<string, unknown>)[k],
                `${name}.${k}`,
                isResult,
                leaves,
              ),
            ] as const,
        );
        return (r) => {
          const o: Record<string, unknown> = stamp({});
          for (const [k, p] of parts) o[k] = p(r);
          return o;
        };
      }
    }
    const ta = this.typeOf(a instanceof Partial ? a.value : a);
    const tb = this.typeOf(b instanceof Partial ? b.value : b);
    const type: Type | null = ta && tb ? this.join(ta, tb) : (ta ?? tb);
    const undefinedSide = a === undefined || b === undefined || a instanceof Partial || b instanceof Partial;
    if (!type || ((ta === null || tb === null) && !undefinedSide)) {
      const msg = `${name} is ${describe(a)} on one side of a runtime branch and ${describe(b)} on the other.`;
      const hint = 'Give it the same kind of value on both paths, or decide the branch at compile time (constexpr).';
      // A statement's completion or an unused expression result: an error only if someone reads it.
      if (isResult) {
        const at = this.node;
        return () => new Unmergeable(msg, hint, at);
      }
      this.fail(msg, hint);
    }
    const index = leaves.length;
    leaves.push({ type: type!, values: [a, b], name });
    return (r) => r[index];
  }

  // ----------------------------------------------------------------------------------- kernel entry

  /** Stages `fn` (the kernel body) with its parameters bound to `args`. */
  stageBody(src: ParsedSource, rootScope: Scope, args: unknown[]): void {
    this.srcs.push(src);
    try {
      const scope = new Scope(rootScope);
      this.callFunctionNode(src.fn, scope, args, undefined);
    } finally {
      this.srcs.pop();
    }
  }

  private callFunctionNode(fn: FunctionNode, scope: Scope, args: unknown[], thisValue: unknown): unknown {
    if (fn.async) this.fail('async functions cannot be kernels or device functions.', undefined, fn);
    const frame: FnFrame = {
      ret: scope.declare('%ret', false, 'hidden'),
      rv: scope.declare('%rv', undefined, 'hidden'),
      thisValue,
    };
    fn.params.forEach((p: AnyNode, i: number) => {
      if (p.type === 'RestElement') this.bindPattern(p.argument, stamp(args.slice(i)), 'let', scope);
      else this.bindPattern(p, args[i], 'let', scope);
    });
    this.fns.push(frame);
    this.depth++;
    try {
      if (fn.body.type !== 'BlockStatement') return this.expr(fn.body, scope);
      this.hoist(fn.body.body, scope);
      this.stmts(fn.body.body, scope);
      const rv = frame.rv.value;
      return rv instanceof Partial ? rv.value : rv;
    } finally {
      this.depth--;
      this.fns.pop();
    }
  }

  /** Calls a closure (inlining it at the call site). */
  callClosure(c: Closure, args: unknown[], thisValue?: unknown): unknown {
    if (this.depth > MAX_CALL_DEPTH) this.fail(`calls nest deeper than ${MAX_CALL_DEPTH} (unbounded recursion?).`);
    const outerNode = this.node;
    const switched = c.src !== this.src;
    if (switched) this.srcs.push(c.src);
    try {
      const scope = new Scope(c.scope);
      const self = c.node.type === 'ArrowFunctionExpression' ? this.fns[this.fns.length - 1]?.thisValue : thisValue;
      return this.callFunctionNode(c.node, scope, args, self);
    } finally {
      if (switched) this.srcs.pop();
      this.node = outerNode;
    }
  }

  /** A device function (from `uses` or a global): parsed and inlined with its own `uses` as its outer scope. */
  // biome-ignore lint/complexity/noBannedTypes: any JavaScript function value (kernels, device functions, natives)
  private callDeviceFunction(f: Function, info: DeviceFunctionInfo, args: unknown[]): unknown {
    const src = parseFunction(f, info.name, info.site);
    const root = new Scope(null);
    for (const [k, v] of Object.entries(info.uses)) root.declare(k, v, 'const');
    // The function may call itself by name.
    if (!root.vars.has(info.name)) root.declare(info.name, f, 'const');
    const closure = new Closure(src.fn, root, src, info.name, info.uses);
    return this.callClosure(closure, args);
  }

  // ------------------------------------------------------------------------------------- statements

  private hoist(body: AnyNode[], scope: Scope): void {
    for (const s of body) {
      if (s.type === 'FunctionDeclaration') {
        scope.declare(s.id.name, new Closure(s as FunctionNode, scope, this.src, s.id.name, {}), 'let');
      }
    }
  }

  /** The flag bindings that can cut the current statement list short. */
  private pendingFlags(): Binding[] {
    const fn = this.fns[this.fns.length - 1]!;
    const loop = this.loops[this.loops.length - 1];
    const out = [fn.ret];
    if (loop && loop.fn === fn) {
      out.push(loop.brk);
      if (loop.cont) out.push(loop.cont);
    }
    return out;
  }

  /** The exit flags pending for the statements that follow: compile-time true, false, or a runtime value. */
  private pendingExit(): { flag: unknown; kind: Completion } {
    const fn = this.fns[this.fns.length - 1]!;
    const loop = this.loops[this.loops.length - 1];
    const inLoop = loop && loop.fn === fn;
    const flags: [unknown, Completion][] = [[fn.ret.value, 'return']];
    if (inLoop) {
      flags.push([loop.brk.value, 'break']);
      if (loop.cont) flags.push([loop.cont.value, 'continue']);
    }
    let any: unknown = false;
    for (const [f, kind] of flags) {
      const v = f instanceof Partial ? f.value : f;
      if (v === true) return { flag: true, kind };
      if (v instanceof Value) {
        const cv = this.b.constantOf(v);
        if (cv === true) return { flag: true, kind };
        if (cv === false) continue;
        any = any === false ? v : this.b.binary('||', any as Value, v);
      }
    }
    return { flag: any, kind: 'normal' };
  }

  stmts(list: AnyNode[], scope: Scope): Completion {
    for (let i = 0; i < list.length; i++) {
      const c = this.stmt(list[i]!, scope);
      if (c !== 'normal') return c;
      const p = this.pendingExit();
      if (p.flag === true) return p.kind;
      if (p.flag instanceof Value && i + 1 < list.length) {
        const rest = list.slice(i + 1);
        this.branch(
          this.b.unary('!', p.flag),
          () => {
            // Inside the guard every pending flag is false.
            for (const f of this.pendingFlags())
              if (f.value instanceof Value) this.write({ kind: 'binding', binding: f }, false);
            return this.stmts(rest, scope);
          },
          null,
        );
        return 'normal';
      }
    }
    return 'normal';
  }

  stmt(node: AnyNode, scope: Scope): Completion {
    this.node = node;
    switch (node.type) {
      case 'ExpressionStatement':
        this.expr(node.expression, scope);
        return 'normal';
      case 'VariableDeclaration':
        for (const d of node.declarations) {
          this.node = d;
          const v = d.init ? this.expr(d.init, scope) : undefined;
          this.bindPattern(d.id, v, node.kind, scope);
        }
        return 'normal';
      case 'BlockStatement': {
        const inner = new Scope(scope);
        this.hoist(node.body, inner);
        return this.stmts(node.body, inner);
      }
      case 'EmptyStatement':
      case 'DebuggerStatement':
      case 'FunctionDeclaration':
        return 'normal';
      case 'IfStatement':
        return this.ifStatement(node, scope);
      case 'ReturnStatement': {
        const fn = this.fns[this.fns.length - 1]!;
        const v = node.argument ? this.expr(node.argument, scope) : undefined;
        if (this.fns.length === 1 && this.symbolicDepth > 0) this.members?.kernelReturn?.();
        this.write({ kind: 'binding', binding: fn.rv }, v);
        this.write({ kind: 'binding', binding: fn.ret }, true);
        return 'return';
      }
      case 'BreakStatement':
      case 'ContinueStatement': {
        const label = node.label?.name ?? null;
        const fn = this.fns[this.fns.length - 1]!;
        const loop = [...this.loops].reverse().find((l) => l.fn === fn && (label === null || l.label === label));
        if (!loop)
          this.fail(`${node.type === 'BreakStatement' ? 'break' : 'continue'} outside a loop of this function.`);
        if (label !== null && loop !== this.loops[this.loops.length - 1]) {
          this.fail('labelled break/continue out of nested loops is not supported.', 'Use a flag variable.');
        }
        if (node.type === 'BreakStatement') {
          this.write({ kind: 'binding', binding: loop.brk }, true);
          return 'break';
        }
        if (!loop.cont) this.fail('continue is not supported here.');
        this.write({ kind: 'binding', binding: loop.cont }, true);
        return 'continue';
      }
      case 'ForStatement':
      case 'WhileStatement':
      case 'DoWhileStatement':
        return this.loop(node, scope, null);
      case 'ForOfStatement':
      case 'ForInStatement':
        return this.forOf(node, scope, null);
      case 'LabeledStatement': {
        const body = node.body;
        if (body.type === 'ForStatement' || body.type === 'WhileStatement' || body.type === 'DoWhileStatement') {
          return this.loop(body, scope, node.label.name);
        }
        if (body.type === 'ForOfStatement' || body.type === 'ForInStatement')
          return this.forOf(body, scope, node.label.name);
        return this.stmt(body, scope);
      }
      case 'SwitchStatement':
        return this.switchStatement(node, scope);
      case 'ThrowStatement': {
        const v = this.expr(node.argument, scope);
        const msg = v instanceof Error ? v.message : typeof v === 'string' ? v : describe(v);
        if (this.symbolicDepth === 0) this.fail(`the kernel throws while compiling: ${msg}`);
        this.b.op('trap', [], [], { message: msg, name: v instanceof Error ? v.name : 'Error' });
        const fn = this.fns[this.fns.length - 1]!;
        this.write({ kind: 'binding', binding: fn.ret }, true);
        return 'return';
      }
      case 'TryStatement':
        return this.fail('try/catch is not part of the kernel language.');
      case 'ClassDeclaration':
        return this.fail('classes cannot be declared inside a kernel.');
      default:
        return this.fail(`${node.type} is not supported in kernels.`);
    }
  }

  /** A tile in a condition: its values are not visible to the program's control flow. */
  private refuseTileCondition(x: unknown, node: AnyNode): void {
    if (x instanceof Value && x.type.kind === 'tile') {
      this.fail(
        'a tile cannot decide control flow: the values it holds are data, and a tile kernel branches on program ids and parameters only.',
        'Select per element with t.where(cond, a, b), or mask loads and stores. (To ask whether a variable holds a tile or null, compare: x !== null.)',
        node,
      );
    }
  }

  private ifStatement(node: AnyNode, scope: Scope): Completion {
    const test = this.expr(node.test, scope);
    this.refuseTileCondition(test, node.test);
    this.node = node;
    if (!(test instanceof Value) || !isScalar(test.type)) {
      const truthy = test instanceof Value ? true : Boolean(test);
      if (truthy) return this.stmt(node.consequent, scope);
      return node.alternate ? this.stmt(node.alternate, scope) : 'normal';
    }
    const cond = this.truthy(test);
    this.branch(
      cond,
      () => this.stmt(node.consequent, scope),
      node.alternate ? () => this.stmt(node.alternate, scope) : null,
    );
    return 'normal';
  }

  private switchStatement(node: AnyNode, scope: Scope): Completion {
    const d = this.expr(node.discriminant, scope);
    if (d instanceof Value) {
      this.fail('switch on a runtime value is not supported.', 'Use if/else, or switch on a constexpr.');
    }
    const inner = new Scope(scope);
    let matched = false;
    const cases = node.cases as AnyNode[];
    const defaultIndex = cases.findIndex((c) => c.test === null);
    const runFrom = (start: number): Completion => {
      for (let i = start; i < cases.length; i++) {
        const c = this.stmts(cases[i]!.consequent, inner);
        if (c === 'break') return 'normal';
        if (c !== 'normal') return c;
      }
      return 'normal';
    };
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      if (c.test === null) continue;
      const v = this.expr(c.test, inner);
      if (v instanceof Value) this.fail('switch case labels must be known at compile time.');
      if (v === d) {
        matched = true;
        return runFrom(i);
      }
    }
    if (!matched && defaultIndex >= 0) return runFrom(defaultIndex);
    return 'normal';
  }

  // ------------------------------------------------------------------------------------------ loops

  private forOf(node: AnyNode, scope: Scope, label: string | null): Completion {
    const right = this.expr(node.right, scope);
    if (right instanceof Value) this.fail('for…of / for…in over a runtime value is not supported.');
    const items: unknown[] =
      node.type === 'ForInStatement' ? Object.keys(right as object) : Array.from(right as Iterable<unknown>);
    const fn = this.fns[this.fns.length - 1]!;
    const frameScope = new Scope(scope);
    const frame: LoopFrame = { label, brk: frameScope.declare('%brk', false, 'hidden'), cont: null, fn };
    this.loops.push(frame);
    try {
      for (const item of items) {
        const iter = new Scope(frameScope);
        frame.cont = iter.declare('%cont', false, 'hidden');
        const left = node.left;
        if (left.type === 'VariableDeclaration') this.bindPattern(left.declarations[0].id, item, left.kind, iter);
        else this.assignPattern(left, item, iter);
        const c = this.stmt(node.body, iter);
        if (c === 'return') return c;
        if (c === 'break') break;
        const p = this.pendingExit();
        if (p.flag instanceof Value) {
          this.fail(
            'an early exit under a runtime condition inside for…of is not supported.',
            'Use a counted for loop.',
          );
        }
      }
      return 'normal';
    } finally {
      this.loops.pop();
    }
  }

  /** The loop's test combined with its pending exits: compile-time boolean or runtime bool value. */
  private loopTest(node: AnyNode, scope: Scope, frame: LoopFrame): unknown {
    let exit: unknown = false;
    const fnRet = frame.fn.ret.value instanceof Partial ? frame.fn.ret.value.value : frame.fn.ret.value;
    for (const f of [frame.brk.value, fnRet]) {
      if (f === true) return false;
      if (f instanceof Value) exit = exit === false ? f : this.b.binary('||', exit as Value, f);
    }
    const test = node.test ? this.expr(node.test, scope) : true;
    if (node.test) this.refuseTileCondition(test, node.test);
    this.node = node;
    let t: unknown = test instanceof Value ? (isScalar(test.type) ? test : true) : Boolean(test);
    if (t instanceof Value) t = this.truthy(t);
    if (exit === false) return t;
    if (t === false) return false;
    const notExit = this.b.unary('!', exit as Value);
    return t === true ? notExit : this.b.binary('&&', notExit, t as Value);
  }

  private loop(node: AnyNode, outer: Scope, label: string | null): Completion {
    const scope = new Scope(outer);
    this.node = node;
    if (node.type === 'ForStatement' && node.init) {
      if (node.init.type === 'VariableDeclaration') this.stmt(node.init, scope);
      else this.expr(node.init, scope);
    }
    const fn = this.fns[this.fns.length - 1]!;
    const frame: LoopFrame = { label, brk: scope.declare('%brk', false, 'hidden'), cont: null, fn };
    this.loops.push(frame);
    try {
      // Compile-time iterations, while the test is known.
      const start = this.mark();
      const snapshot = this.b.snapshot();
      let mayRoll = true;
      for (;;) {
        const r = this.unroll(node, scope, frame, start, snapshot, mayRoll);
        if (r !== 'retry') return r;
        // Rolling the loop failed (its body needs the counter at compile time): unroll it after all.
        this.undo(start);
        this.b.restore(snapshot);
        mayRoll = false;
      }
    } finally {
      this.loops.pop();
    }
  }

  /**
   * Runs a compile-time loop's iterations while its test is known. A loop whose iterations themselves contain runtime
   * loops is kept as a runtime loop instead (`mayRoll`): unrolling would copy those loops once per iteration.
   */
  private unroll(
    node: AnyNode,
    scope: Scope,
    frame: LoopFrame,
    start: Mark,
    snapshot: ReturnType<Builder['snapshot']>,
    mayRoll: boolean,
  ): Completion | 'retry' {
    let first = node.type === 'DoWhileStatement';
    for (let n = 0; ; n++) {
      if (!first) {
        const test = this.loopTest(node, scope, frame);
        if (test === false) return this.afterLoop();
        if (test instanceof Value) return this.runtimeLoop(node, scope, frame);
        if (n === 1 && mayRoll && this.emittedLoopSince(snapshot)) {
          this.undo(start);
          this.b.restore(snapshot);
          try {
            return this.runtimeLoop(node, scope, frame);
          } catch (e) {
            if (e instanceof CompileError) return 'retry';
            throw e;
          }
        }
      }
      first = false;
      if (n >= UNROLL_LIMIT) {
        // Too long to unroll: start again as a runtime loop.
        this.undo(start);
        this.b.restore(snapshot);
        return this.runtimeLoop(node, scope, frame);
      }
      const c = this.iteration(node, scope, frame);
      if (c === 'return') return 'return';
      if (c === 'break') return this.afterLoop();
    }
  }

  /** Whether ops emitted since `snapshot` include a runtime loop. */
  private emittedLoopSince(snapshot: ReturnType<Builder['snapshot']>): boolean {
    let found = false;
    for (const op of snapshot.region.ops.slice(snapshot.length)) {
      if (op.opcode === 'scf.for' || op.opcode === 'scf.while') return true;
      for (const r of op.regions)
        walk(r, (o) => {
          if (o.opcode === 'scf.for' || o.opcode === 'scf.while') found = true;
        });
      if (found) return true;
    }
    return false;
  }

  /** After a loop: a break consumed; what is left pending is a return. */
  private afterLoop(): Completion {
    return 'normal';
  }

  /** One iteration: the body (with a fresh `continue` flag), then the update unless a break is pending. */
  private iteration(node: AnyNode, scope: Scope, frame: LoopFrame): Completion {
    const iter = new Scope(scope);
    frame.cont = iter.declare('%cont', false, 'hidden');
    const c = this.stmt(node.body, iter);
    frame.cont = null;
    if (c === 'return' || c === 'break') return c;
    if (node.type === 'ForStatement' && node.update) {
      const brk = frame.brk.value;
      const ret = frame.fn.ret.value instanceof Partial ? frame.fn.ret.value.value : frame.fn.ret.value;
      let exit: unknown = false;
      for (const f of [brk, ret])
        if (f instanceof Value) exit = exit === false ? f : this.b.binary('||', exit as Value, f);
      if (brk === true || ret === true) return ret === true ? 'return' : 'break';
      if (exit instanceof Value) this.branch(this.b.unary('!', exit), () => this.expr(node.update, scope), null);
      else this.expr(node.update, scope);
    }
    return 'normal';
  }

  /** The loop as IR: finds the loop-carried state by staging speculatively, then emits scf.for or scf.while. */
  private runtimeLoop(node: AnyNode, scope: Scope, frame: LoopFrame): Completion {
    const carried = new Map<string, { target: Target; type: Type }>();
    // Seed with the variables the loop assigns by name (a closure it calls may assign more: speculation finds those),
    // so that usually one speculative pass settles the state instead of two.
    for (const name of assignedNames(node)) {
      const binding = scope.lookup(name);
      if (!binding || binding.kind === 'const' || binding.kind === 'hidden') continue;
      const v = binding.value instanceof Partial ? binding.value.value : binding.value;
      const type = this.typeOf(v);
      if (type) carried.set(targetKey({ kind: 'binding', binding }), { target: { kind: 'binding', binding }, type });
    }
    const firstValueId = new Value(INT).id;
    let canonical: { iv: Target; lo: unknown; hi: Value | number; step: Value | number; firstValueId: number } | null =
      null;
    this.symbolicDepth++;
    try {
      for (let pass = 0; ; pass++) {
        if (pass > 8) this.fail('the values this loop carries do not settle on fixed types.');
        const m = this.mark();
        const savedClock = this.regionClock;
        this.regionClock = m.clock;
        const scratch = this.b.newRegion([]);
        let ivAfterBody: unknown;
        let testValue: unknown;
        this.b.inRegion(scratch, () => {
          for (const c of carried.values()) this.write(c.target, new Value(c.type));
          testValue = this.loopTest(node, scope, frame);
          // The body runs when the test passes: state written before the body counts too.
          const iter = new Scope(scope);
          frame.cont = iter.declare('%cont', false, 'hidden');
          this.stmt(node.body, iter);
          frame.cont = null;
          const ivBinding = this.inductionBinding(node, scope);
          ivAfterBody = ivBinding ? ivBinding.value : undefined;
          if (node.type === 'ForStatement' && node.update) this.expr(node.update, scope);
        });
        this.regionClock = savedClock;
        const writes = this.collect(m);
        // Canonical counted loop: `for (let i = lo; i < hi; i += step)` with i written only by the update.
        canonical = null;
        const ivBinding = this.inductionBinding(node, scope);
        if (ivBinding) {
          const ivc = carried.get(targetKey({ kind: 'binding', binding: ivBinding }));
          const matched = ivc ? this.matchCounted(testValue, ivBinding, ivAfterBody, firstValueId, ivc.type) : null;
          canonical = matched ? { ...matched, firstValueId } : null;
        }
        this.undo(m);
        let changed = false;
        for (const [k, w] of writes) {
          const pre = w.pre instanceof Partial ? w.pre.value : w.pre;
          const post = w.post instanceof Partial ? w.post.value : w.post;
          if (Object.is(pre, post) && !carried.has(k)) continue;
          const tPre = this.typeOf(pre);
          const tPost = this.typeOf(post);
          if (!tPost) {
            if (carried.has(k)) continue;
            this.fail(
              `${targetName(w.target)} becomes ${describe(post)} inside a loop that runs at runtime.`,
              'Only numbers and tiles can change from one iteration to the next.',
              node,
            );
          }
          const type = tPre ? this.join(tPre, tPost) : tPost;
          if (!type) {
            this.fail(
              `${targetName(w.target)} is ${describe(pre)} before the loop and ${describe(post)} after an iteration.`,
              'A value carried by a loop must keep its type: initialise it with the type it will have (e.g. t.zeros([BM, BN]) for an accumulator).',
              node,
            );
          }
          const had = carried.get(k);
          if (!had) {
            carried.set(k, { target: w.target, type });
            changed = true;
          } else if (!sameType(had.type, type)) {
            const j = this.join(had.type, type);
            if (!j) {
              this.fail(
                `${targetName(w.target)} changes type inside the loop (${typeToString(had.type)} → ${typeToString(type)}).`,
                undefined,
                node,
              );
            }
            if (!sameType(j, had.type)) {
              had.type = j;
              changed = true;
            }
          }
        }
        if (!changed) break;
      }
      return canonical
        ? this.emitFor(node, scope, frame, carried, canonical)
        : this.emitWhile(node, scope, frame, carried);
    } finally {
      this.symbolicDepth--;
    }
  }

  /** The binding a `for (let i = …; …; i …)` loop counts with, or null. */
  private inductionBinding(node: AnyNode, scope: Scope): Binding | null {
    if (node.type !== 'ForStatement' || node.init?.type !== 'VariableDeclaration' || node.init.kind === 'var')
      return null;
    const decl = node.init.declarations;
    if (decl.length !== 1 || decl[0].id.type !== 'Identifier') return null;
    if (containsBreak(node.body)) return null;
    return scope.vars.get(decl[0].id.name) ?? null;
  }

  /** Recognises `iv < hi`, `iv <= hi`, `iv * C < hi` with `iv += step` and loop-invariant hi and step. */
  private matchCounted(
    test: unknown,
    iv: Binding,
    ivAfterBody: unknown,
    firstValueId: number,
    ivType: Type,
  ): { iv: Target; lo: unknown; hi: Value | number; step: Value | number } | null {
    if (!(test instanceof Value) || !test.def || test.def.opcode !== 's.binary') return null;
    if (!isScalar(ivType) || ivType.s !== 'int') return null;
    const arg = ivAfterBody;
    if (!(arg instanceof Value) || arg.def !== null) return null; // the body wrote the counter
    const post = iv.value;
    if (!(post instanceof Value) || post.def?.opcode !== 's.binary' || post.def.attrs.op !== '+') return null;
    if (post.def.operands[0] !== arg) return null;
    const step = post.def.operands[1]!;
    const invariant = (v: Value): boolean => this.invariant(v, firstValueId);
    if (!invariant(step) || (step.type as { s: string }).s !== 'int') return null;
    const cs = this.b.constantOf(step);
    if (cs !== undefined && !((cs as number) > 0)) return null;
    const op = test.def.attrs.op;
    const [l, r] = test.def.operands as [Value, Value];
    if (!invariant(r) || (r.type as { s: string }).s !== 'int') return null;
    if (l === arg && (op === '<' || op === '<=')) {
      return {
        iv: { kind: 'binding', binding: iv },
        lo: undefined,
        hi: op === '<' ? r : this.markHiPlusOne(r, firstValueId),
        step,
      };
    }
    if (l.def?.opcode === 's.binary' && l.def.attrs.op === '*' && l.def.operands[0] === arg && op === '<') {
      const c = this.b.constantOf(l.def.operands[1]!);
      if (typeof c === 'number' && Number.isInteger(c) && c > 0)
        return { iv: { kind: 'binding', binding: iv }, lo: undefined, hi: this.markCeilDiv(r, c, firstValueId), step };
    }
    return null;
  }

  /** True if `v` is computed from values defined before the loop by pure ops only (it can be hoisted). */
  private invariant(v: Value, firstValueId: number): boolean {
    if (v.id < firstValueId || this.b.constantOf(v) !== undefined) return true;
    const op = v.def;
    if (!op || op.regions.length || !isPure(op.opcode)) return false;
    return op.operands.every((o) => this.invariant(o, firstValueId));
  }

  /** Recomputes a loop-invariant value at the insertion point (its ops may live in a discarded scratch region). */
  private hoistValue(v: Value, firstValueId: number): Value {
    if (v.id < firstValueId || this.b.constantOf(v) !== undefined) return v;
    const op = v.def!;
    const operands = op.operands.map((o) => this.hoistValue(o, firstValueId));
    return this.b.op(
      op.opcode,
      operands,
      op.results.map((r) => r.type),
      op.attrs as Record<string, unknown>,
    ).results[op.results.indexOf(v)]!;
  }

  // Bounds derived from the test are computed again outside the loop when the loop is emitted.
  private readonly derivedBounds = new WeakMap<object, (b: Builder) => Value>();

  private markHiPlusOne(r: Value, firstValueId: number): Value {
    const token = new Value(INT);
    this.derivedBounds.set(token, (b) => b.binary('+', this.hoistValue(r, firstValueId), b.constant(1)));
    return token;
  }

  private markCeilDiv(r: Value, c: number, firstValueId: number): Value {
    const token = new Value(INT);
    this.derivedBounds.set(token, (b) =>
      b.unary('ceil', b.binary('/', this.hoistValue(r, firstValueId), b.constant(c))),
    );
    return token;
  }

  private emitFor(
    node: AnyNode,
    scope: Scope,
    frame: LoopFrame,
    carried: Map<string, { target: Target; type: Type }>,
    c: { iv: Target; hi: Value | number; step: Value | number; firstValueId: number },
  ): Completion {
    const ivKey = targetKey(c.iv);
    const iters = [...carried.entries()].filter(([k]) => k !== ivKey).map(([, v]) => v);
    const lo = this.toValue(readTarget(c.iv), INT, targetName(c.iv));
    const hiToken = c.hi as Value;
    const derived = this.derivedBounds.get(hiToken);
    const hi = derived ? derived(this.b) : this.hoistValue(hiToken, c.firstValueId);
    const step = this.hoistValue(c.step as Value, c.firstValueId);
    const inits = iters.map((it) => this.toValue(readTarget(it.target), it.type, targetName(it.target)));
    const body = this.b.newRegion(
      [INT, ...iters.map((i) => i.type)],
      [(c.iv as { binding: Binding }).binding.name, ...iters.map((i) => hintOf(i.target))],
    );
    const m = this.mark();
    this.symbolicDepth++;
    const savedClock = this.regionClock;
    this.regionClock = m.clock;
    try {
      this.b.inRegion(body, () => {
        this.write(c.iv, body.args[0]);
        iters.forEach((it, i) => {
          this.write(it.target, body.args[i + 1]);
        });
        const iter = new Scope(scope);
        frame.cont = iter.declare('%cont', false, 'hidden');
        this.stmt(node.body, iter);
        frame.cont = null;
        const out = iters.map((it) => this.toValue(readTarget(it.target), it.type, targetName(it.target)));
        this.b.op('scf.yield', out, []);
      });
    } finally {
      this.symbolicDepth--;
      this.regionClock = savedClock;
    }
    this.undo(m);
    const op = this.b.op(
      'scf.for',
      [lo, hi, step, ...inits],
      iters.map((i) => i.type),
      {},
      [body],
    );
    iters.forEach((it, i) => {
      this.write(it.target, op.results[i]);
    });
    return 'normal';
  }

  private emitWhile(
    node: AnyNode,
    scope: Scope,
    frame: LoopFrame,
    carried: Map<string, { target: Target; type: Type }>,
  ): Completion {
    const items = [...carried.values()];
    const types = items.map((i) => i.type);
    const hints = items.map((i) => hintOf(i.target));
    const inits = items.map((it) => this.toValue(readTarget(it.target), it.type, targetName(it.target)));
    const before = this.b.newRegion(types, hints);
    const after = this.b.newRegion(types, hints);
    const m = this.mark();
    this.symbolicDepth++;
    const savedClock = this.regionClock;
    this.regionClock = m.clock;
    try {
      this.b.inRegion(before, () => {
        items.forEach((it, i) => {
          this.write(it.target, before.args[i]);
        });
        const test = this.loopTest(node, scope, frame);
        const cond = test instanceof Value ? test : this.b.constant(Boolean(test));
        const out = items.map((it) => this.toValue(readTarget(it.target), it.type, targetName(it.target)));
        this.b.op('scf.condition', [cond, ...out], []);
      });
      this.undo(m);
      this.b.inRegion(after, () => {
        items.forEach((it, i) => {
          this.write(it.target, after.args[i]);
        });
        this.iteration(node, scope, frame);
        const out = items.map((it) => this.toValue(readTarget(it.target), it.type, targetName(it.target)));
        this.b.op('scf.yield', out, []);
      });
      this.undo(m);
    } finally {
      this.symbolicDepth--;
      this.regionClock = savedClock;
    }
    const op = this.b.op('scf.while', inits, types, {}, [before, after]);
    items.forEach((it, i) => {
      this.write(it.target, op.results[i]);
    });
    return 'normal';
  }

  // ------------------------------------------------------------------------------------------ patterns

  bindPattern(p: AnyNode, value: unknown, kind: string, scope: Scope): void {
    if (value instanceof Unmergeable && p.type !== 'Identifier') this.fail(value.message, value.hint, value.node ?? p);
    switch (p.type) {
      case 'Identifier':
        scope.declare(p.name, value, kind === 'const' ? 'const' : kind === 'var' ? 'var' : 'let');
        return;
      case 'AssignmentPattern':
        this.bindPattern(p.left, value === undefined ? this.expr(p.right, scope) : value, kind, scope);
        return;
      case 'ObjectPattern': {
        if (value === null || value === undefined || value instanceof Value) {
          this.fail(`cannot destructure ${describe(value)}.`, undefined, p);
        }
        const used = new Set<string>();
        for (const prop of p.properties) {
          if (prop.type === 'RestElement') {
            const rest: Record<string, unknown> = stamp({});
            for (const [k, v] of Object.entries(value as object)) if (!used.has(k)) rest[k] = v;
            this.bindPattern(prop.argument, rest, kind, scope);
            continue;
          }
          const key = prop.computed ? String(this.expr(prop.key, scope)) : (prop.key.name ?? String(prop.key.value));
          used.add(key);
          this.bindPattern(prop.value, this.getMember(value, key, p), kind, scope);
        }
        return;
      }
      case 'ArrayPattern': {
        if (!Array.isArray(value)) this.fail(`cannot destructure ${describe(value)} as an array.`, undefined, p);
        p.elements.forEach((el: AnyNode | null, i: number) => {
          if (!el) return;
          if (el.type === 'RestElement')
            this.bindPattern(el.argument, stamp((value as unknown[]).slice(i)), kind, scope);
          else this.bindPattern(el, (value as unknown[])[i], kind, scope);
        });
        return;
      }
      default:
        this.fail(`unsupported binding pattern ${p.type}.`, undefined, p);
    }
  }

  private assignPattern(p: AnyNode, value: unknown, scope: Scope): void {
    switch (p.type) {
      case 'Identifier':
        this.assignIdentifier(p.name, value, scope, p);
        return;
      case 'MemberExpression':
        this.assignMember(p, value, scope);
        return;
      case 'AssignmentPattern':
        this.assignPattern(p.left, value === undefined ? this.expr(p.right, scope) : value, scope);
        return;
      case 'ArrayPattern':
        if (!Array.isArray(value)) this.fail(`cannot destructure ${describe(value)} as an array.`, undefined, p);
        p.elements.forEach((el: AnyNode | null, i: number) => {
          if (el) this.assignPattern(el, (value as unknown[])[i], scope);
        });
        return;
      case 'ObjectPattern':
        for (const prop of p.properties) {
          const key = prop.computed ? String(this.expr(prop.key, scope)) : (prop.key.name ?? String(prop.key.value));
          this.assignPattern(prop.value, this.getMember(value, key, p), scope);
        }
        return;
      default:
        this.fail(`cannot assign to ${p.type}.`, undefined, p);
    }
  }

  private assignIdentifier(name: string, value: unknown, scope: Scope, node: AnyNode): void {
    const b = scope.lookup(name);
    if (!b) this.fail(`'${name}' is not declared.`, undefined, node);
    if (b.kind === 'const') this.fail(`'${name}' is a const.`, undefined, node);
    this.write({ kind: 'binding', binding: b }, value);
  }

  private assignMember(node: AnyNode, value: unknown, scope: Scope): void {
    const obj = this.expr(node.object, scope);
    const key = node.computed ? this.expr(node.property, scope) : node.property.name;
    if (obj instanceof Value) {
      if (!this.members?.assignIndex) this.fail(`cannot assign into a ${typeToString(obj.type)}.`, undefined, node);
      const members = this.members;
      this.atNode(node, () => members.assignIndex!(obj, key, value, node));
      return;
    }
    if (obj === null || typeof obj !== 'object')
      this.fail(`cannot set a property of ${describe(obj)}.`, undefined, node);
    if (key instanceof Value)
      this.fail('a compile-time object cannot be indexed with a runtime value.', undefined, node);
    const k = key as PropertyKey;
    if (typeof k === 'string' && FORBIDDEN_KEYS.has(k)) this.fail(`'${k}' cannot be set in a kernel.`, undefined, node);
    if (Object.isFrozen(obj)) this.fail(`${describe(obj)} is read-only in a kernel.`, undefined, node);
    // An object from outside the kernel (`uses`) changed at compile time changes once per specialisation (compiled
    // kernels are cached); inside runtime control flow the change could not be merged, so it is refused there.
    if (bornAt(obj as object) === 0 && this.symbolicDepth > 0) {
      this.fail(
        `${describe(obj)} comes from outside the kernel (uses) and cannot be changed under a runtime condition or loop.`,
        undefined,
        node,
      );
    }
    this.write({ kind: 'prop', obj: obj as object, key: k }, value);
  }

  // -------------------------------------------------------------------------------------- expressions

  expr(node: AnyNode, scope: Scope): unknown {
    this.node = node;
    this.b.loc = undefined;
    switch (node.type) {
      case 'Literal':
        if (node.regex) this.fail('regular expressions are not part of the kernel language.');
        return typeof node.value === 'bigint' ? this.fail('BigInt is not supported in kernels.') : node.value;
      case 'Identifier':
        return this.identifier(node.name, scope, node);
      case 'TemplateLiteral': {
        let s = node.quasis[0].value.cooked as string;
        node.expressions.forEach((e: AnyNode, i: number) => {
          const v = this.expr(e, scope);
          if (v instanceof Value) this.fail('a template string cannot hold a runtime value.', undefined, e);
          s += String(v) + node.quasis[i + 1].value.cooked;
        });
        return s;
      }
      case 'ArrayExpression': {
        const out: unknown[] = [];
        for (const el of node.elements) {
          if (el === null) out.push(undefined);
          else if (el.type === 'SpreadElement') out.push(...this.spread(el, scope));
          else out.push(this.expr(el, scope));
        }
        return stamp(out);
      }
      case 'ObjectExpression': {
        const o: Record<PropertyKey, unknown> = stamp({});
        for (const p of node.properties) {
          if (p.type === 'SpreadElement') {
            const v = this.expr(p.argument, scope);
            if (v instanceof Value) this.fail('cannot spread a runtime value into an object.', undefined, p);
            Object.assign(o, v);
            continue;
          }
          const key = p.computed ? this.expr(p.key, scope) : (p.key.name ?? p.key.value);
          if (key instanceof Value) this.fail('object keys must be known at compile time.', undefined, p);
          if (typeof key === 'string' && FORBIDDEN_KEYS.has(key))
            this.fail(`'${key}' cannot be used as a key.`, undefined, p);
          o[key as PropertyKey] = this.expr(p.value, scope);
        }
        return o;
      }
      case 'ArrowFunctionExpression':
      case 'FunctionExpression':
        return new Closure(node as FunctionNode, scope, this.src, node.id?.name ?? 'function', {});
      case 'UnaryExpression':
        return this.unary(node, scope);
      case 'UpdateExpression':
        return this.update(node, scope);
      case 'BinaryExpression':
        return this.binary(node.operator, this.expr(node.left, scope), this.expr(node.right, scope), node);
      case 'LogicalExpression':
        return this.logical(node, scope);
      case 'ConditionalExpression': {
        const test = this.expr(node.test, scope);
        this.refuseTileCondition(test, node.test);
        this.node = node;
        if (test instanceof Value && isScalar(test.type)) {
          return this.branch(
            this.truthy(test),
            () => this.expr(node.consequent, scope),
            () => this.expr(node.alternate, scope),
          );
        }
        return (test instanceof Value ? true : test)
          ? this.expr(node.consequent, scope)
          : this.expr(node.alternate, scope);
      }
      case 'AssignmentExpression':
        return this.assignment(node, scope);
      case 'SequenceExpression': {
        let v: unknown;
        for (const e of node.expressions) v = this.expr(e, scope);
        return v;
      }
      case 'MemberExpression': {
        // Vitest (vite-node) rewrites `forEachBlock` imported from another module into
        // `__vite_ssr_import_3__.forEachBlock`: read it as the plain name the author wrote.
        if (!node.computed && node.object.type === 'Identifier' && isModuleNamespace(node.object.name, scope)) {
          return this.identifier(node.property.name, scope, node);
        }
        const obj = this.expr(node.object, scope);
        if (node.optional && (obj === null || obj === undefined)) return OPTIONAL_SHORT;
        if (obj === OPTIONAL_SHORT) return OPTIONAL_SHORT;
        const key = node.computed ? this.expr(node.property, scope) : node.property.name;
        this.node = node;
        return this.getMember(obj, key, node);
      }
      case 'ChainExpression': {
        const v = this.expr(node.expression, scope);
        return v === OPTIONAL_SHORT ? undefined : v;
      }
      case 'CallExpression':
        return this.call(node, scope);
      case 'NewExpression': {
        const callee = this.expr(node.callee, scope);
        const args = this.args(node.arguments, scope);
        if (callee === Error || callee === TypeError || callee === RangeError)
          return new (callee as ErrorConstructor)(String(args[0]));
        if (callee === Array && args.every((a) => !(a instanceof Value))) return stamp([...(args as number[])]);
        if ((callee === Map || callee === Set) && args.length === 0) return stamp(new (callee as MapConstructor)());
        return this.fail('`new` is only supported for Error, Array, Map and Set at compile time.');
      }
      case 'YieldExpression':
        if (!this.members?.yieldExpression) this.fail('yield is only a barrier in SIMT kernels.');
        return this.atNode(node, () => this.members!.yieldExpression!(node));
      case 'ThisExpression':
        return this.fns[this.fns.length - 1]?.thisValue;
      case 'AwaitExpression':
        return this.fail('await is not part of the kernel language.');
      case 'TaggedTemplateExpression':
      case 'ClassExpression':
      case 'ImportExpression':
      case 'MetaProperty':
        return this.fail(`${node.type} is not supported in kernels.`);
      default:
        return this.fail(`${node.type} is not supported in kernels.`);
    }
  }

  private spread(el: AnyNode, scope: Scope): unknown[] {
    const v = this.expr(el.argument, scope);
    if (
      v instanceof Value ||
      v === null ||
      v === undefined ||
      typeof (v as Iterable<unknown>)[Symbol.iterator] !== 'function'
    ) {
      this.fail(`cannot spread ${describe(v)}.`, undefined, el);
    }
    return [...(v as Iterable<unknown>)];
  }

  private args(list: AnyNode[], scope: Scope): unknown[] {
    const out: unknown[] = [];
    for (const a of list) {
      if (a.type === 'SpreadElement') out.push(...this.spread(a, scope));
      else out.push(this.expr(a, scope));
    }
    return out;
  }

  private identifier(name: string, scope: Scope, node: AnyNode): unknown {
    const b = scope.lookup(name);
    if (b) {
      if (!b.initialized) this.fail(`'${name}' is used before it is initialised.`, undefined, node);
      if (b.value instanceof Unmergeable) this.fail(b.value.message, b.value.hint, b.value.node ?? node);
      if (b.value instanceof Partial) {
        this.fail(
          `'${name}' has a value on some paths only (it is unset where a runtime condition skipped the assignment).`,
          'Assign it on every path before using it.',
          node,
        );
      }
      return b.value;
    }
    if (Object.hasOwn(GLOBALS, name)) return GLOBALS[name];
    // esbuild with keepNames (tsx) wraps named functions: `__name(fn, "fn")`.
    if (name === '__name') return ESBUILD_NAME;
    // Bundlers rename a name that two bundled modules declare (esbuild: `SCALAR` → `SCALAR2`); the author's `uses`
    // keeps the original name.
    const renamed = /^(.*?[^\d])\d+$/.exec(name);
    if (renamed) {
      const base = scope.lookup(renamed[1]!);
      if (base?.kind === 'const' && base.initialized) return base.value;
    }
    return this.fail(
      `'${name}' is not a parameter, a local, or a kernel-language builtin.`,
      `Pass values and device functions from outside the kernel in its definition: uses: { ${name} } (kernels cannot see the variables around them).`,
      node,
    );
  }

  /** Reads `obj[key]` at compile time, or through the language's value members. */
  getMember(obj: unknown, key: unknown, node: AnyNode): unknown {
    if (obj instanceof Unmergeable) this.fail(obj.message, obj.hint, obj.node ?? node);
    if (obj instanceof Builtin || obj instanceof Closure) {
      // f.call(self, ...args) / f.apply(self, args)
      if (key === 'call') return new Builtin('call', (args, n) => this.invoke(obj, args.slice(1), args[0], n));
      if (key === 'apply')
        return new Builtin('apply', (args, n) => this.invoke(obj, [...((args[1] as unknown[]) ?? [])], args[0], n));
    }
    if (obj instanceof Value) {
      if (!this.members) this.fail(`a ${typeToString(obj.type)} has no members here.`, undefined, node);
      const members = this.members;
      return this.atNode(node, () => members.valueMember(obj, key as string | number | Value, node));
    }
    if (obj instanceof TensorDescriptor) {
      if (key === 'shape') return stamp([...obj.shape]);
      if (key === 'strides') return stamp([...obj.strides]);
      if (key === 'offset') return obj.offset;
      if (key === 'rank') return obj.rank;
      return this.fail(`a tensor descriptor has no '${String(key)}'.`, undefined, node);
    }
    if (obj && typeof (obj as LangContext).member === 'function' && LANGS.has(obj)) {
      return (obj as LangContext).member(String(key), node);
    }
    if (obj === null || obj === undefined)
      this.fail(`cannot read '${String(key)}' of ${String(obj)}.`, undefined, node);
    if (key instanceof Value) {
      if (Array.isArray(obj))
        this.fail(
          'a compile-time array cannot be indexed with a runtime value.',
          'Pass per-program data as an i32[]/f32[] parameter, or index with a compile-time value.',
          node,
        );
      this.fail('a compile-time object cannot be indexed with a runtime value.', undefined, node);
    }
    const k = key as PropertyKey;
    if (typeof k === 'string' && FORBIDDEN_KEYS.has(k))
      this.fail(`'${k}' is not accessible in kernels.`, undefined, node);
    if (obj instanceof Closure) {
      if (k === 'length') return obj.node.params.length;
      if (k === 'name') return obj.name;
      this.fail(`a function has no '${String(k)}' in kernels.`, undefined, node);
    }
    const v = (obj as Record<PropertyKey, unknown>)[k];
    if (typeof v === 'function' && !deviceFunctionInfo(v) && !Object.hasOwn(obj as object, k)) {
      if (typeof k === 'string' && MUTATORS.has(k) && typeof obj === 'object')
        this.checkMutable(obj as object, `.${k}()`, node);
      // A method of a compile-time value (array.map, string.startsWith): call it natively, bound to the value.
      return new Builtin(String(k), (args) =>
        (v as (...a: unknown[]) => unknown).apply(
          obj,
          args.map((a) => this.nativeArg(a, node)),
        ),
      );
    }
    return v;
  }

  /**
   * Native mutation (push, splice, set, …) of a compile-time object is not undone when a runtime branch or loop is
   * staged twice, so it is refused for objects from outside the runtime region being staged (and always for `uses`).
   */
  private checkMutable(obj: object, what: string, node: AnyNode): void {
    const born = bornAt(obj);
    if (this.symbolicDepth > 0 && born <= this.regionClock) {
      this.fail(
        `${what} changes ${describe(obj)} made outside this runtime branch or loop; the compiler cannot undo that.`,
        'Build a new array inside (e.g. with map or a spread), or make the branch or loop bound a compile-time value.',
        node,
      );
    }
  }

  /** A value handed to native JavaScript: closures become callable functions that call back into the stager. */
  nativeArg(a: unknown, node: AnyNode | null = this.node): unknown {
    if (a instanceof Closure) return (...xs: unknown[]) => this.callClosure(a, xs);
    if (a instanceof Builtin) return (...xs: unknown[]) => a.call(xs, node as AnyNode);
    return a;
  }

  private call(node: AnyNode, scope: Scope): unknown {
    let callee: unknown;
    let thisValue: unknown;
    const c = node.callee;
    const viteNamespace =
      c.type === 'MemberExpression' &&
      !c.computed &&
      c.object.type === 'Identifier' &&
      isModuleNamespace(c.object.name, scope);
    if (c.type === 'MemberExpression' && !viteNamespace) {
      thisValue = this.expr(c.object, scope);
      if (c.optional && (thisValue === null || thisValue === undefined)) return OPTIONAL_SHORT;
      if (thisValue === OPTIONAL_SHORT) return OPTIONAL_SHORT;
      const key = c.computed ? this.expr(c.property, scope) : c.property.name;
      this.node = c;
      callee = this.getMember(thisValue, key, c);
    } else {
      callee = this.expr(c, scope);
    }
    if (node.optional && (callee === null || callee === undefined)) return OPTIONAL_SHORT;
    const args = this.args(node.arguments, scope);
    this.node = node;
    return this.invoke(callee, args, thisValue, node);
  }

  invoke(callee: unknown, args: unknown[], thisValue: unknown, node: AnyNode): unknown {
    if (callee === ESBUILD_NAME) return args[0];
    if (callee instanceof Builtin) {
      const saved = this.b.loc;
      this.b.loc = this.lazyLoc(node);
      try {
        return callee.call(args, node);
      } finally {
        this.b.loc = saved;
      }
    }
    if (callee instanceof Closure) return this.callClosure(callee, args, thisValue);
    if (typeof callee === 'function') {
      const info = deviceFunctionInfo(callee);
      if (info) return this.callDeviceFunction(callee, info, args);
      if (args.some((a) => containsRuntime(a))) {
        // biome-ignore lint/complexity/noBannedTypes: any JavaScript function value (kernels, device functions, natives)
        const name = (callee as Function).name || 'this function';
        this.fail(
          `'${name}' is a plain JavaScript function: it can run at compile time on known values, not on runtime values or tiles.`,
          `Mark it as a device function to call it with runtime values: const ${name} = deviceFunction(${name}).`,
          node,
        );
      }
      return (callee as (...a: unknown[]) => unknown).apply(
        thisValue,
        args.map((a) => this.nativeArg(a, node)),
      );
    }
    return this.fail(`${describe(callee)} is not a function.`, undefined, node);
  }

  /** Runs `fn` with ops it makes located at `node` (shared-array accesses, barriers: the sanitizer reports their line). */
  private atNode<T>(node: AnyNode, fn: () => T): T {
    const saved = this.b.loc;
    this.b.loc = this.lazyLoc(node);
    try {
      return fn();
    } finally {
      this.b.loc = saved;
    }
  }

  /** A cheap location: the snippet now, the file line only if an op's location is printed. */
  private lazyLoc(node: AnyNode): SourceLoc {
    return new LazyLoc(this.src, node);
  }

  private unary(node: AnyNode, scope: Scope): unknown {
    if (
      node.operator === 'typeof' &&
      node.argument.type === 'Identifier' &&
      !scope.lookup(node.argument.name) &&
      !Object.hasOwn(GLOBALS, node.argument.name)
    ) {
      return 'undefined';
    }
    if (node.operator === 'delete') this.fail('delete is not supported in kernels.');
    const v = this.expr(node.argument, scope);
    this.node = node;
    if (node.operator === 'typeof') {
      if (v instanceof Value) return isScalar(v.type) ? (v.type.s === 'bool' ? 'boolean' : 'number') : 'object';
      if (v instanceof Closure || v instanceof Builtin) return 'function';
      return typeof v;
    }
    if (node.operator === 'void') return undefined;
    if (v instanceof Value) {
      if (!isScalar(v.type)) {
        if (node.operator === '!') return false;
        this.fail(
          `the operator ${node.operator} does not apply to a ${typeToString(v.type)}.`,
          v.type.kind === 'tile' ? 'Use tile methods: x.neg(), x.not().' : undefined,
        );
      }
      return this.b.unary(node.operator, v);
    }
    switch (node.operator) {
      case '-':
        return -(v as number);
      case '+':
        return +(v as number);
      case '!':
        return !v;
      case '~':
        return ~(v as number);
      default:
        return this.fail(`unsupported operator ${node.operator}.`);
    }
  }

  private update(node: AnyNode, scope: Scope): unknown {
    const old = this.expr(node.argument, scope);
    const next = this.binary(node.operator === '++' ? '+' : '-', old, 1, node);
    this.assignPattern(node.argument, next, scope);
    return node.prefix ? next : old;
  }

  binary(op: string, a: unknown, b: unknown, node: AnyNode): unknown {
    if (!(a instanceof Value) && !(b instanceof Value)) return jsBinary(op, a, b, (m) => this.fail(m, undefined, node));
    for (const x of [a, b]) {
      if (x instanceof Value && !isScalar(x.type)) {
        if (
          (op === '===' || op === '!==' || op === '==' || op === '!=') &&
          !(a instanceof Value && b instanceof Value && isScalar(a.type))
        ) {
          // Identity of a tile against a compile-time value (e.g. `tile !== null`).
          const same = a === b;
          return op === '===' || op === '==' ? same : !same;
        }
        this.fail(
          `the operator ${op} does not apply to a ${typeToString(x.type)}: JavaScript operators cannot be overloaded.`,
          x.type.kind === 'tile' ? 'Use tile methods: x.add(y), x.mul(2), x.lt(n).' : undefined,
          node,
        );
      }
      if (!(x instanceof Value) && typeof x !== 'number' && typeof x !== 'boolean') {
        if ((op === '===' || op === '!==') && (x === null || x === undefined || typeof x === 'string')) {
          // A runtime number is never null, undefined or a string.
          return op === '!==';
        }
        this.fail(`${describe(x)} cannot meet a runtime scalar in ${op}.`, undefined, node);
      }
    }
    const va = a instanceof Value ? a : this.b.constant(a as number | boolean);
    const vb = b instanceof Value ? b : this.b.constant(b as number | boolean);
    const map: Record<string, string> = { '==': '===', '!=': '!==' };
    const irOp = map[op] ?? op;
    if (irOp === 'in' || irOp === 'instanceof') this.fail(`${op} does not apply to runtime values.`, undefined, node);
    return this.b.binary(irOp, va, vb);
  }

  private logical(node: AnyNode, scope: Scope): unknown {
    const left = this.expr(node.left, scope);
    if (node.operator !== '??') this.refuseTileCondition(left, node.left);
    this.node = node;
    const op = node.operator;
    if (!(left instanceof Value) || !isScalar(left.type)) {
      if (op === '&&') return left instanceof Value || left ? this.expr(node.right, scope) : left;
      if (op === '||') return left instanceof Value || left ? left : this.expr(node.right, scope);
      return left === null || left === undefined ? this.expr(node.right, scope) : left;
    }
    if (op === '??') return left;
    const cond = this.truthy(left);
    return op === '&&'
      ? this.branch(
          cond,
          () => this.expr(node.right, scope),
          () => left,
        )
      : this.branch(
          cond,
          () => left,
          () => this.expr(node.right, scope),
        );
  }

  private assignment(node: AnyNode, scope: Scope): unknown {
    const op = node.operator;
    if (op === '=') {
      const v = this.expr(node.right, scope);
      this.assignPattern(node.left, v, scope);
      return v;
    }
    const current = this.expr(node.left, scope);
    if (op === '??=' || op === '||=' || op === '&&=') {
      const keep =
        op === '??='
          ? current !== null && current !== undefined
          : op === '||='
            ? !!current && !(current instanceof Value && isScalar(current.type))
            : !current;
      if (current instanceof Value && isScalar(current.type) && op !== '??=') {
        this.fail(`${op} on a runtime scalar is not supported.`, 'Write it with an if statement.');
      }
      if (keep) return current;
      const v = this.expr(node.right, scope);
      this.assignPattern(node.left, v, scope);
      return v;
    }
    const v = this.binary(op.slice(0, -1), current, this.expr(node.right, scope), node);
    this.assignPattern(node.left, v, scope);
    return v;
  }
}

/** An op's source location, resolved to a file line only when someone reads it (dumps, errors). */
class LazyLoc implements SourceLoc {
  private at: { file: string; line: number } | null | undefined;
  private snip: string | undefined;
  constructor(
    private readonly src: ParsedSource,
    private readonly node: AnyNode,
  ) {}
  get snippet(): string {
    this.snip ??= snippetOf(this.src, this.node);
    return this.snip;
  }
  get line(): number | undefined {
    if (this.at === undefined) this.at = lineOf(this.src, this.node);
    return this.at?.line;
  }
  get file(): string | undefined {
    if (this.at === undefined) this.at = lineOf(this.src, this.node);
    return this.at?.file;
  }
}

/** `__name`, esbuild's keepNames helper: `__name(fn, "fn")` is `fn`. */
const ESBUILD_NAME = Object.freeze({ esbuildName: true });

const MUTATORS = new Set([
  'push',
  'pop',
  'shift',
  'unshift',
  'splice',
  'sort',
  'reverse',
  'fill',
  'copyWithin',
  'set',
  'delete',
  'add',
  'clear',
]);

/**
 * An identifier that names another module's exports as a tool rewrote them: Vitest's `__vite_ssr_import_3__` or a
 * CommonJS build's `import_tiling` (when it is not a variable of the kernel). `ns.name` then reads as `name`.
 */
function isModuleNamespace(name: string, scope: Scope): boolean {
  if (/^__vite_ssr_(dynamic_)?import_\d*_*$/.test(name)) return true;
  return /^import_\w+$/.test(name) && !scope.lookup(name);
}

/** The language contexts (`t`, `k`) the stager recognises as such. */
export const LANGS = new WeakSet<object>();

interface Leaf {
  type: Type;
  values: unknown[];
  name: string;
}

/** The merged value of something that differs between two runtime paths and cannot be merged: an error to read. */
export class Unmergeable {
  constructor(
    readonly message: string,
    readonly hint: string,
    /** The branch (a conditional expression or statement) the value came out of. */
    readonly node: AnyNode | null,
  ) {}
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object' || Array.isArray(x) || x instanceof Value) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}
const OPTIONAL_SHORT = Symbol('optional chain short-circuit');

function hintOf(t: Target): string | undefined {
  return t.kind === 'binding' ? t.binding.name.replace(/^%/, '') : String(t.key);
}

function containsRuntime(x: unknown, seen = new Set<unknown>()): boolean {
  if (x instanceof Value || x instanceof Closure || x instanceof TensorDescriptor) return true;
  if (x === null || typeof x !== 'object' || seen.has(x)) return false;
  seen.add(x);
  return Object.values(x as object).some((v) => containsRuntime(v, seen));
}

/** Names a loop assigns directly (`x = …`, `x += …`, `x++`, destructuring), not inside nested functions. */
function assignedNames(node: AnyNode): Set<string> {
  const names = new Set<string>();
  const pattern = (p: AnyNode | null) => {
    if (!p) return;
    if (p.type === 'Identifier') names.add(p.name);
    else if (p.type === 'ArrayPattern') for (const e of p.elements) pattern(e);
    else if (p.type === 'ObjectPattern')
      for (const q of p.properties) pattern(q.type === 'RestElement' ? q.argument : q.value);
    else if (p.type === 'AssignmentPattern') pattern(p.left);
    else if (p.type === 'RestElement') pattern(p.argument);
  };
  const visit = (n: unknown) => {
    if (!n || typeof n !== 'object') return;
    if (Array.isArray(n)) {
      for (const c of n) visit(c);
      return;
    }
    const o = n as AnyNode;
    if (o.type === 'AssignmentExpression') pattern(o.left);
    if (o.type === 'UpdateExpression') pattern(o.argument);
    if (o.type?.endsWith('FunctionExpression') || o.type === 'FunctionDeclaration') return;
    for (const k of Object.keys(o)) if (k !== 'type' && k !== 'start' && k !== 'end') visit(o[k]);
  };
  visit(node.test);
  visit(node.update);
  visit(node.body);
  return names;
}

function containsBreak(node: AnyNode): boolean {
  let found = false;
  const visit = (n: unknown, inLoop: boolean) => {
    if (found || !n || typeof n !== 'object') return;
    if (Array.isArray(n)) {
      for (const c of n) visit(c, inLoop);
      return;
    }
    const o = n as AnyNode;
    if (o.type === 'BreakStatement' && !inLoop && !o.label) found = true;
    if (o.type === 'BreakStatement' && o.label) found = true;
    if (o.type === 'ReturnStatement') found = true;
    if (o.type?.endsWith('FunctionExpression') || o.type === 'FunctionDeclaration') return;
    const nested =
      inLoop ||
      o.type === 'ForStatement' ||
      o.type === 'WhileStatement' ||
      o.type === 'DoWhileStatement' ||
      o.type === 'ForOfStatement' ||
      o.type === 'SwitchStatement';
    for (const k of Object.keys(o)) if (k !== 'type' && k !== 'start' && k !== 'end') visit(o[k], nested);
  };
  visit(node, false);
  return found;
}

export function describe(x: unknown): string {
  if (x instanceof Value) return `a runtime ${typeToString(x.type)}`;
  if (x instanceof Partial) return `a value set on some paths only`;
  if (x instanceof Closure || x instanceof Builtin || typeof x === 'function') return 'a function';
  if (x instanceof TensorDescriptor) return 'a tensor descriptor';
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'object') return 'an object';
  if (typeof x === 'string') return `the string ${JSON.stringify(x)}`;
  return `the ${typeof x} ${String(x)}`;
}

function jsBinary(op: string, a: unknown, b: unknown, fail: (m: string) => never): unknown {
  const x = a as number;
  const y = b as number;
  switch (op) {
    case '+':
      return (a as string) + (b as string);
    case '-':
      return x - y;
    case '*':
      return x * y;
    case '/':
      return x / y;
    case '%':
      return x % y;
    case '**':
      return x ** y;
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    case '>=':
      return x >= y;
    case '==':
      // biome-ignore lint/suspicious/noDoubleEquals: JavaScript semantics at compile time.
      return a == b;
    case '!=':
      // biome-ignore lint/suspicious/noDoubleEquals: JavaScript semantics at compile time.
      return a != b;
    case '===':
      return a === b;
    case '!==':
      return a !== b;
    case '&':
      return x & y;
    case '|':
      return x | y;
    case '^':
      return x ^ y;
    case '<<':
      return x << y;
    case '>>':
      return x >> y;
    case '>>>':
      return x >>> y;
    case 'in':
      return (a as PropertyKey) in (b as object);
    case 'instanceof':
      return fail('instanceof is not supported in kernels.');
    default:
      return fail(`unsupported operator ${op}.`);
  }
}

export { Binding, Builtin, Closure, Scope, TensorDescriptor };
