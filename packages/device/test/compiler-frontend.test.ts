/**
 * The compiler's front end: what it refuses (each error names the kernel and the line in this file), the compile
 * cache (one compile per specialisation, whatever the runtime scalars and grid), and the IR it produces.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { printIR } from '../src/compiler/ir';
import { compileKernel, compileStats } from '../src/compiler/pipeline';
import { deviceFunction, isTesseraError, simtKernel, type Tile, tileKernel } from '../src/index';

const SOURCE = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
/** The line of this file holding `marker` (in a trailing comment). */
function lineOf(marker: string): number {
  const i = SOURCE.findIndex((l) => l.includes(`// ${marker}`) && !l.includes('lineOf('));
  if (i < 0) throw new Error(`marker ${marker} not found`);
  return i + 1;
}

const buf = (dtype: string) => ({ dtype }) as never;

function compileError(fn: () => unknown): { message: string; line?: number } {
  try {
    fn();
  } catch (e) {
    expect(isTesseraError(e, 'CompileError'), String(e)).toBe(true);
    const err = e as { message: string; details: { line?: number } };
    return { message: err.message, line: err.details.line };
  }
  throw new Error('expected a CompileError');
}

const outside = { scale: 2 };
function plainHelper(x: number): number {
  return x * 2;
}

describe('refused constructs, each named with its kernel and line', () => {
  it('a name from outside the kernel that `uses` does not list', () => {
    const k = tileKernel({ name: 'free_var', params: { x: 'ptr<f32>', n: 'i32' } }, (t, { x, n }) => {
      const v = t.load(x, t.arange(0, 16)).mul(outside.scale); // free-var
      t.store(x, t.arange(0, 16), v, { mask: t.arange(0, 16).lt(n) });
    });
    const e = compileError(() => compileKernel(k, { x: buf('f32'), n: 4 }));
    expect(e.message).toMatch(/Kernel 'free_var' at .*compiler-frontend\.test\.ts:\d+: 'outside' is not a parameter/);
    expect(e.message).toMatch(/uses: \{ outside \}/);
    expect(e.line).toBe(lineOf('free-var'));
  });

  it('a plain function called with runtime values (device functions are marked)', () => {
    const k = tileKernel(
      { name: 'plain_call', params: { x: 'ptr<f32>', n: 'i32' }, uses: { plainHelper } },
      (t, { x, n }) => {
        const m = plainHelper(n); // plain-call
        t.store(x, t.arange(0, 16), 1, { mask: t.arange(0, 16).lt(m) });
      },
    );
    const e = compileError(() => compileKernel(k, { x: buf('f32'), n: 4 }));
    expect(e.message).toMatch(/'plainHelper' is a plain JavaScript function/);
    expect(e.message).toMatch(/deviceFunction\(plainHelper\)/);
    expect(e.line).toBe(lineOf('plain-call'));
    // The same helper is fine with compile-time arguments, and a device function is fine with runtime ones.
    const twice = deviceFunction((v: number) => v * 2);
    const ok = tileKernel(
      { name: 'device_call', params: { x: 'ptr<f32>', n: 'i32', B: 'constexpr' }, uses: { plainHelper, twice } },
      (t, { x, n, B }) => {
        const lanes = t.arange(0, plainHelper(B));
        t.store(x, lanes, 1, { mask: lanes.lt(twice(n)) });
      },
    );
    expect(() => compileKernel(ok, { x: buf('f32'), n: 4, B: 8 })).not.toThrow();
  });

  it('data-dependent control flow in a tile kernel', () => {
    const k = tileKernel({ name: 'data_branch', params: { x: 'ptr<f32>' } }, (t, { x }) => {
      const v = t.load(x, t.arange(0, 16));
      if (v.gt(0)) t.store(x, t.arange(0, 16), v); // data-branch
    });
    const e = compileError(() => compileKernel(k, { x: buf('f32') }));
    expect(e.message).toMatch(/a tile cannot decide control flow/);
    expect(e.line).toBe(lineOf('data-branch'));
  });

  it("reading a tile's values or a buffer's storage", () => {
    const raw = tileKernel({ name: 'raw', params: { x: 'ptr<f32>' } }, (t, { x }) => {
      const v = t.load(x, t.arange(0, 4)) as Tile & { raw: Float32Array };
      t.store(x, 0, v.raw[0]!); // raw
    });
    expect(compileError(() => compileKernel(raw, { x: buf('f32') })).message).toMatch(
      /tile\.raw is not part of the kernel language/,
    );
    const storage = tileKernel({ name: 'storage', params: { x: 'ptr<f32>' } }, (t, { x }) => {
      const s = x.storage(); // storage
      t.store(x, 0, s[0]!);
    });
    const e = compileError(() => compileKernel(storage, { x: buf('f32') }));
    expect(e.message).toMatch(/cannot reach a buffer's storage/);
    expect(e.line).toBe(lineOf('storage'));
  });

  it('a value that is a tile on one runtime path and null on the other', () => {
    const k = tileKernel({ name: 'tile_or_null', params: { x: 'ptr<f32>', n: 'i32' } }, (t, { x, n }) => {
      const m = n > 4 ? t.arange(0, 8).lt(n) : null; // tile-or-null
      t.store(x, t.arange(0, 8), 1, m !== null ? { mask: m } : {});
    });
    const e = compileError(() => compileKernel(k, { x: buf('f32'), n: 4 }));
    expect(e.message).toMatch(/runtime bool\[8\] on one side of a runtime branch and null on the other/);
    expect(e.line).toBe(lineOf('tile-or-null'));
  });

  it('a loop-carried value that changes type', () => {
    const k = tileKernel({ name: 'carried_type', params: { x: 'ptr<f32>', n: 'i32' } }, (t, { x, n }) => {
      let acc = t.zeros([8], 'i32');
      for (let i = 0; i < n; i++) acc = acc.add(t.load(x, t.arange(0, 8))); // carried-type
      t.store(x, t.arange(0, 8), acc);
    });
    expect(compileError(() => compileKernel(k, { x: buf('f32'), n: 4 })).message).toMatch(
      /'acc' is a runtime i32\[8\] before the loop and a runtime f32\[8\] after an iteration/,
    );
  });

  it('a tile size that is only known at run time', () => {
    const k = tileKernel({ name: 'runtime_size', params: { x: 'ptr<f32>', n: 'i32' } }, (t, { x, n }) => {
      t.store(x, t.arange(0, n), 0); // runtime-size
    });
    const e = compileError(() => compileKernel(k, { x: buf('f32'), n: 4 }));
    expect(e.message).toMatch(/end − start must be known at compile time/);
    expect(e.line).toBe(lineOf('runtime-size'));
  });

  it('changing a compile-time array inside a runtime loop', () => {
    const k = tileKernel({ name: 'push_in_loop', params: { x: 'ptr<f32>', n: 'i32' } }, (t, { x, n }) => {
      const offsets: number[] = [];
      for (let c = 0; c < n; c++) offsets.push(c); // push
      t.store(x, 0, offsets.length);
    });
    const e = compileError(() => compileKernel(k, { x: buf('f32'), n: 4 }));
    expect(e.message).toMatch(/\.push\(\) changes an array made outside this runtime branch or loop/);
    expect(e.line).toBe(lineOf('push'));
  });

  it('JavaScript the kernel language has no meaning for', () => {
    const k = tileKernel({ name: 'try_catch', params: { x: 'ptr<f32>' } }, (t, { x }) => {
      try {
        t.store(x, 0, 1);
      } catch {
        // nothing
      }
    });
    expect(compileError(() => compileKernel(k, { x: buf('f32') })).message).toMatch(
      /try\/catch is not part of the kernel language/,
    );
    const thrower = tileKernel({ name: 'asserts', params: { x: 'ptr<f32>', B: 'constexpr' } }, (t, { x, B }) => {
      if (B > 64) throw new Error(`BLOCK ${B} is too large`);
      t.store(x, 0, 1);
    });
    expect(compileError(() => compileKernel(thrower, { x: buf('f32'), B: 128 })).message).toMatch(
      /throws while compiling: BLOCK 128 is too large/,
    );
  });

  it('a SIMT barrier under a thread-dependent condition', () => {
    const k = simtKernel({ name: 'divergent_barrier', params: { x: 'ptr<f32>' } }, function* (k, { x }) {
      if (k.threadIdx.x % 2 === 0) {
        x.set(k.threadIdx.x, 0);
        yield; // divergent
      }
    });
    expect(compileError(() => compileKernel(k, { x: buf('f32') }, [32, 1, 1], 0)).message).toMatch(
      /Kernel 'divergent_barrier'.*a barrier \(yield\) is reached under a condition that differs between the threads/,
    );
  });
});

describe('the compile cache', () => {
  it('compiles a specialisation once, whatever the runtime scalars and grid; a new constexpr compiles again', () => {
    const k = tileKernel(
      { name: 'cached', params: { x: 'ptr<f32>', n: 'i32', s: 'f32', B: 'constexpr' } },
      (t, { x, n, s, B }) => {
        const lanes = t.arange(0, B).add(t.programId(0) * B);
        t.store(x, lanes, t.load(x, lanes, { mask: lanes.lt(n) }).mul(s), { mask: lanes.lt(n) });
      },
    );
    const before = compileStats.compiles;
    const first = compileKernel(k, { x: buf('f32'), n: 1000, s: 0.5, B: 64 });
    for (let i = 0; i < 20; i++) {
      // n % 16 stays 8 (the divisibility hint is part of the key): the same specialisation every time.
      expect(compileKernel(k, { x: buf('f32'), n: 1000 + 16 * i, s: i, B: 64 })).toBe(first);
    }
    expect(compileStats.compiles - before).toBe(1);
    expect(compileKernel(k, { x: buf('f32'), n: 1000, s: 0.5, B: 128 })).not.toBe(first);
    expect(compileKernel(k, { x: buf('bf16'), n: 1000, s: 0.5, B: 64 })).not.toBe(first);
    expect(compileKernel(k, { x: buf('f32'), n: 1024, s: 0.5, B: 64 })).not.toBe(first); // n % 16 === 0 now
    expect(compileStats.compiles - before).toBe(4);
  });
});

describe('the IR', () => {
  it('keeps runtime-bounded loops as loops and folds constexpr branches', () => {
    const k = tileKernel(
      { name: 'ir_shape', params: { x: 'ptr<f32>', K: 'i32', BK: 'constexpr', TWICE: 'constexpr' } },
      (t, { x, K, BK, TWICE }) => {
        let acc = t.zeros([BK]);
        for (let k0 = 0; k0 < K; k0 += BK) acc = acc.add(t.load(x, t.arange(0, BK).add(k0)));
        if (TWICE) acc = acc.mul(2);
        t.store(x, t.arange(0, BK), acc);
      },
    );
    const once = printIR(compileKernel(k, { x: buf('f32'), K: 256, BK: 32, TWICE: 0 }).ir);
    expect(once).toMatch(/scf\.for\(/);
    expect(once).not.toMatch(/op = "mul"/);
    const twice = printIR(compileKernel(k, { x: buf('f32'), K: 256, BK: 32, TWICE: 1 }).ir);
    expect(twice).toMatch(/op = "mul"/);
    expect(twice).not.toMatch(/scf\.if/);
  });
});

describe('TESSERA_DUMP_IR', () => {
  it('prints the IR after every pass (1), the final IR, the generated JavaScript and each cost record', async () => {
    const { dumpSink } = await import('../src/compiler/pipeline');
    const { testRuntime } = await import('./helpers');
    const k = tileKernel({ name: 'dump_me', params: { x: 'ptr', n: 'i32', B: 'constexpr' } }, (t, { x, n, B }) => {
      const o = t.arange(0, B).add(t.programId(0) * B);
      t.store(x, o, t.load(x, o, { mask: o.lt(n) }).mul(2), { mask: o.lt(n) });
    });
    const lines: string[] = [];
    const write = dumpSink.write;
    const saved = process.env.TESSERA_DUMP_IR;
    dumpSink.write = (text) => lines.push(text);
    try {
      const dev = (await testRuntime()).device(0);
      const x = dev.alloc('f32', 100);
      process.env.TESSERA_DUMP_IR = '1';
      dev.launch(k, { grid: 4 }, { x, n: 100, B: 32 });
      expect(lines.map((l) => l.split('\n')[0])).toEqual([
        '// ----- dump_me {x:f32, B=32}: after stage',
        '// ----- dump_me {x:f32, B=32}: after canonicalize',
        '// ----- dump_me {x:f32, B=32}: after verify',
      ]);
      lines.length = 0;
      process.env.TESSERA_DUMP_IR = 'ir,js,cost';
      dev.launch(k, { grid: 4 }, { x, n: 100, B: 16 }); // a new constexpr: a new specialisation
      dev.launch(k, { grid: 7 }, { x, n: 100, B: 16 }); // cached: only its cost is printed
      const heads = lines.map((l) => l.split('\n')[0]);
      expect(heads).toEqual([
        '// ----- dump_me {x:f32, B=16}: after passes',
        '// ----- dump_me {x:f32, B=16}: generated JavaScript',
        expect.stringMatching(/^\/\/ ----- dump_me \{x:f32, B=16\}: cost \{"grid":\[4,1,1\]/),
        expect.stringMatching(/^\/\/ ----- dump_me \{x:f32, B=16\}: cost \{"grid":\[7,1,1\]/),
      ]);
      expect(lines[0]).toMatch(/mem\.store\(%x\.\d+/);
      expect(lines[1]).toMatch(/return function dump_me\(L, pidStart, pidEnd\)/);
      // 7 programs of 16 lanes over 100 elements: 100 loads and stores of 4 bytes.
      expect(JSON.parse(lines[3]!.slice(lines[3]!.indexOf(': cost ') + 7)).total).toMatchObject({
        bytesRead: 400,
        bytesWritten: 400,
      });
    } finally {
      dumpSink.write = write;
      if (saved === undefined) delete process.env.TESSERA_DUMP_IR;
      else process.env.TESSERA_DUMP_IR = saved;
    }
  });
});
