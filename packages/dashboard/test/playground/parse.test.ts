/**
 * The program format: templates parse into launches; the visitor's mistakes come back as PlaygroundErrors that say
 * what is wrong, where (line numbers in their source), and what to write instead.
 */
import { describe, expect, it } from 'vitest';
import {
  hostInputs,
  inspectPlayground,
  PLAYGROUND_TEMPLATES,
  parsePlayground,
  VECTOR_ADD_TEMPLATE,
} from '../../ui/src/playground/index';
import { edit, issueOf, lineOf } from './helpers';

const VECTOR_ADD_KERNEL = `const add = tileKernel(
  { name: 'add', params: { x: 'ptr<f32>', y: 'ptr<f32>', out: 'ptr<f32>', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    t.store(out, offs, t.load(x, offs, { mask: offs.lt(n) }).add(t.load(y, offs, { mask: offs.lt(n) })), { mask: offs.lt(n) });
  },
);
`;

/** A vector add program with `launch` as the returned object's body. */
const withLaunch = (launch: string) => `${VECTOR_ADD_KERNEL}return { ${launch} };\n`;
const FULL =
  "kernel: add, grid: 4, buffers: { x: { dtype: 'f32', length: 4096 }, y: { dtype: 'f32', length: 4096 }, out: { dtype: 'f32', length: 4096, init: 'poison' } }, scalars: { n: 4096, BLOCK: 1024 }";

describe('templates', () => {
  it('there are at least three good ones and one buggy one', () => {
    expect(PLAYGROUND_TEMPLATES.filter((t) => !t.buggy).length).toBeGreaterThanOrEqual(3);
    expect(PLAYGROUND_TEMPLATES.filter((t) => t.buggy).length).toBeGreaterThanOrEqual(1);
    expect(new Set(PLAYGROUND_TEMPLATES.map((t) => t.id)).size).toBe(PLAYGROUND_TEMPLATES.length);
  });

  it.each(PLAYGROUND_TEMPLATES.map((t) => [t.id, t] as const))('%s parses into a checked launch', (_id, t) => {
    const p = parsePlayground(t.source);
    expect(p.source).toBe(t.source);
    expect(p.check).not.toBeNull();
    expect(p.buffers[p.check!.output]!.init.kind).toBe('poison');
    expect(p.output).toBe(p.check!.output);
    if (p.style === 'simt') expect(p.block).not.toBeNull();
    else expect(p.block).toBeNull();
    // Every input is random and never all zeros; two inputs of one program differ.
    const inputs = hostInputs(p);
    const random = Object.values(p.buffers).filter((b) => b.init.kind === 'random');
    expect(random.length).toBeGreaterThan(0);
    for (const b of random) expect(inputs[b.name]!.some((v) => v !== 0)).toBe(true);
    if (random.length > 1) expect(inputs[random[0]!.name]).not.toEqual(inputs[random[1]!.name]);
    // Seeded: the same program gives the same inputs.
    const again = hostInputs(parsePlayground(t.source));
    for (const b of random) expect(again[b.name]!.every((v, i) => Object.is(v, inputs[b.name]![i]))).toBe(true);
  });

  it('say they are plain JavaScript and name what is in scope', () => {
    for (const t of PLAYGROUND_TEMPLATES) {
      expect(t.source).toMatch(/no TypeScript/);
      expect(t.source).toMatch(/tileKernel, simtKernel/);
    }
  });
});

describe('syntax and runtime errors carry the line', () => {
  it('a syntax error: its line and column, and a hint about TypeScript', async () => {
    const src = `const n = 1 << 10;\nconst BLOCK = 256;\nconst bad = (;\nreturn {};\n`;
    const issue = await issueOf(() => parsePlayground(src));
    expect(issue.kind).toBe('syntax');
    expect(issue.message).toMatch(/^Syntax error: /);
    expect(issue.line).toBe(3);
    expect(issue.column).toBeGreaterThan(1);
    expect(issue.hint).toMatch(/TypeScript/);
  });

  it('TypeScript annotations are a syntax error on their line', async () => {
    const src = edit(VECTOR_ADD_TEMPLATE, 'const n = 1 << 18;', 'const n: number = 1 << 18;');
    const issue = await issueOf(() => parsePlayground(src));
    expect(issue.kind).toBe('syntax');
    expect(issue.line).toBe(lineOf(src, 'const n: number'));
  });

  it('an import statement is a syntax error on its line', async () => {
    const src = `const n = 4;\nimport { tileKernel } from '@tessera/device';\nreturn {};\n`;
    const issue = await issueOf(() => parsePlayground(src));
    expect(issue).toMatchObject({ kind: 'syntax', line: 2 });
  });

  it('a name that does not exist: ReferenceError at its line', async () => {
    const src = `const n = 1024;\n\nconst grid = cdiv(n, BLOKC);\nreturn {};\n`;
    const issue = await issueOf(() => parsePlayground(src));
    expect(issue).toMatchObject({ kind: 'program', line: 3 });
    expect(issue.message).toMatch(/ReferenceError: BLOKC is not defined/);
  });

  it('strict mode: assigning an undeclared name is an error, not a global', async () => {
    const src = `const n = 1024;\nBLOCK = 256;\nreturn {};\n`;
    const issue = await issueOf(() => parsePlayground(src));
    expect(issue).toMatchObject({ kind: 'program', line: 2 });
    expect((globalThis as { BLOCK?: unknown }).BLOCK).toBeUndefined();
  });

  it("a bad kernel definition: the device's message, at the line of the definition", async () => {
    const src = `const n = 1024;\nconst k = tileKernel({ name: 'k', params: { x: 'float*' } }, (t, { x }) => {});\nreturn {};\n`;
    const issue = await issueOf(() => parsePlayground(src));
    expect(issue).toMatchObject({ kind: 'program', line: 2, code: 'InvalidValue' });
    expect(issue.message).toMatch(/unknown spec 'float\*'/);
    expect(issue.hint).toMatch(/ptr<f32>/);
  });

  it("a kernel the compiler refuses: the compiler's message and the line of the offending code", async () => {
    const src = `function helper(v) { return v; }
const k = tileKernel(
  { name: 'uses_helper', params: { x: 'ptr<f32>', BLOCK: 'constexpr' } },
  (t, { x, BLOCK }) => {
    const offs = t.arange(0, BLOCK);
    t.store(x, offs, helper(t.load(x, offs)));
  },
);
return { kernel: k, grid: 1, buffers: { x: { dtype: 'f32', length: 64 } }, scalars: { BLOCK: 64 } };
`;
    const p = parsePlayground(src); // parses: kernels compile when first inspected or launched
    const issue = await issueOf(() => inspectPlayground(p));
    expect(issue).toMatchObject({ kind: 'compile', code: 'CompileError' });
    expect(issue.message).toMatch(/Kernel 'uses_helper'/);
    expect(issue.message).toMatch(/helper/);
    expect(issue.line).toBe(lineOf(src, 't.store(x, offs, helper('));
  });
});

describe('launch fields: which one is wrong, and an example', () => {
  it('a complete launch parses', () => {
    const p = parsePlayground(withLaunch(FULL));
    expect(p.grid).toEqual([4, 1, 1]);
    expect(Object.keys(p.buffers)).toEqual(['x', 'y', 'out']);
    expect(p.buffers.x!.init).toEqual({ kind: 'random', lo: -1, hi: 1 });
    expect(p.scalars).toEqual({ n: 4096, BLOCK: 1024 });
    expect(p.output).toBe('out');
  });

  it('nothing returned', async () => {
    const issue = await issueOf(() => parsePlayground(VECTOR_ADD_KERNEL));
    expect(issue.message).toMatch(/returned nothing/);
    expect(issue.hint).toMatch(/return \{ kernel/);
  });

  it('missing kernel, grid, buffers and scalars', async () => {
    const drop = (field: RegExp) => FULL.replace(field, '');
    let issue = await issueOf(() => parsePlayground(withLaunch(drop(/kernel: add, /))));
    expect(issue.message).toMatch(/missing 'kernel'/);
    expect(issue.hint).toMatch(/tileKernel/);
    issue = await issueOf(() => parsePlayground(withLaunch(drop(/grid: 4, /))));
    expect(issue.message).toMatch(/missing 'grid'/);
    expect(issue.hint).toMatch(/grid: cdiv\(n, BLOCK\)/);
    issue = await issueOf(() => parsePlayground(withLaunch(drop(/y: \{ dtype: 'f32', length: 4096 \}, /))));
    expect(issue.message).toMatch(/buffers\.y is missing: kernel 'add' takes buffer 'y' \(ptr<f32>\)/);
    expect(issue.hint).toMatch(/y: \{ dtype: 'f32', length: n, init: 'random' \}/);
    issue = await issueOf(() => parsePlayground(withLaunch(drop(/n: 4096, /))));
    expect(issue.message).toMatch(/scalars\.n is missing: kernel 'add' takes 'n' \(i32\)/);
    expect(issue.hint).toMatch(/n: 1024/);
  });

  it('a SIMT launch without block, and a tile launch with one', async () => {
    const simt = `const k = simtKernel({ name: 's', params: { x: 'ptr<f32>' } }, (k, { x }) => { x.set(k.threadIdx.x, 1); });
return { kernel: k, grid: 1, buffers: { x: { dtype: 'f32', length: 32 } } };`;
    let issue = await issueOf(() => parsePlayground(simt));
    expect(issue.message).toMatch(/missing 'block'/);
    expect(issue.hint).toMatch(/block: 256/);
    issue = await issueOf(() => parsePlayground(withLaunch(`${FULL}, block: 256`)));
    expect(issue.message).toMatch(/tile kernel: it takes only a grid, not block/);
  });

  it('typos and wrong types are named', async () => {
    let issue = await issueOf(() => parsePlayground(withLaunch(FULL.replace('scalars:', 'scalar:'))));
    expect(issue.message).toMatch(/unknown field 'scalar'/);
    expect(issue.hint).toMatch(/scalars/);
    issue = await issueOf(() => parsePlayground(withLaunch(FULL.replace("x: { dtype: 'f32'", "x: { dtype: 'f16'"))));
    expect(issue.message).toMatch(/buffers\.x\.dtype is 'f16', but parameter 'x' is 'ptr<f32>'/);
    issue = await issueOf(() => parsePlayground(withLaunch(FULL.replace('grid: 4', 'grid: 4.5'))));
    expect(issue.message).toMatch(/'grid' must be an integer ≥ 1, got 4.5/);
    issue = await issueOf(() => parsePlayground(withLaunch(FULL.replace('n: 4096', 'n: 40.5'))));
    expect(issue.message).toMatch(/scalars\.n must be an integer \(i32\)/);
    issue = await issueOf(() => parsePlayground(withLaunch(FULL.replace('n: 4096', 'n: 4096, out: 1'))));
    expect(issue.message).toMatch(/'out' is a buffer: put it under buffers/);
    issue = await issueOf(() => parsePlayground(withLaunch(FULL.replace("init: 'poison'", 'init: [1, 2, 3]'))));
    expect(issue.message).toMatch(/buffers\.out\.init has 3 values; the buffer has 4096 elements/);
    issue = await issueOf(() => parsePlayground(withLaunch(`${FULL}, check: { output: 'z', reference: () => [] }`)));
    expect(issue.message).toMatch(/check\.output 'z' is not one of the buffers/);
    expect(issue.hint).toMatch(/x, y, out/);
  });

  it('init forms: zeros, a constant, values, a range', () => {
    const p = parsePlayground(
      withLaunch(
        FULL.replace(
          "x: { dtype: 'f32', length: 4096 }",
          "x: { dtype: 'f32', length: 4096, init: 'random', range: [2, 3] }",
        )
          .replace("y: { dtype: 'f32', length: 4096 }", "y: { dtype: 'f32', length: 4096, init: 0.1 }")
          .replace("init: 'poison'", "init: 'zeros'"),
      ),
    );
    const inputs = hostInputs(p);
    expect(inputs.x!.every((v) => v >= 2 && v < 3)).toBe(true);
    expect(inputs.y!.every((v) => v === Math.fround(0.1))).toBe(true); // rounded to f32, as the device holds it
    expect(inputs.out!.every((v) => v === 0)).toBe(true);
  });
});
