/**
 * Elementwise operators: add, mul (with a row-vector or scalar second operand), SiLU, GELU (exact and tanh), and
 * SwiGLU's silu_and_mul. Every kernel is persistent: a grid of `streamingGrid` programs walks the blocks grid-stride
 * (Ascend takes at most 65 535 programs per launch). Inputs are converted to f32, computed in f32, and stored in the
 * output's dtype; f32, f16 and bf16 operands may be mixed. Outputs may be exactly an input (in place).
 */
import {
  type Device,
  type DeviceBuffer,
  deviceFunction,
  type LaunchResult,
  type Tile,
  type TileContext,
  tileKernel,
} from '@tessera/device';
import { checkAliasing } from './alias';
import { check, checkBuffer, checkDims, FLOAT_DTYPES, nextPow2, type OpOptions } from './common';
import { maxVectorBlock, streamingGrid } from './config';
import { blockCount, blockOption, blockShape, checkChoice, forEachBlock } from './tiling';

/** How the second operand of a binary op is laid out. */
const SAME = 0; // (rows, cols), like a
const ROW = 1; // (cols,), broadcast over rows
const SCALAR = 2; // the scalar parameter `s`

/** `f` combines two f32 tiles (or a tile and the scalar) elementwise: a device function, inlined into the kernel. */
function binaryKernel(name: string, f: (x: Tile, y: Tile | number) => Tile) {
  return tileKernel(
    {
      name,
      uses: { SAME, SCALAR, forEachBlock, f },
      params: {
        a: 'ptr',
        b: 'ptr',
        out: 'ptr',
        rows: 'i64',
        cols: 'i64',
        s: 'f32',
        MODE: 'constexpr',
        BR: 'constexpr',
        BC: 'constexpr',
      },
    },
    (t, { a, b, out, rows, cols, s, MODE, BR, BC }) => {
      const A = t.tensor(a, [rows, cols]);
      const O = t.tensor(out, [rows, cols]);
      const B = MODE === SCALAR ? null : t.tensor(b, MODE === SAME ? [rows, cols] : [1, cols]);
      forEachBlock(t, rows, cols, BR, BC, (r, c) => {
        const x = t.loadBlock(A, [r, c], [BR, BC]).cast('f32'); // (BR, BC)
        const y =
          MODE === SCALAR
            ? s
            : MODE === SAME
              ? t.loadBlock(B!, [r, c], [BR, BC]).cast('f32') // (BR, BC)
              : t.loadBlock(B!, [0, c], [1, BC]).cast('f32'); // (1, BC), broadcast over the block's rows
        t.storeBlock(O, [r, c], f(x, y));
      });
    },
  );
}

export const addKernel = binaryKernel(
  'add',
  deviceFunction(function addTiles(x: Tile, y: Tile | number) {
    return x.add(y);
  }),
);
export const mulKernel = binaryKernel(
  'mul',
  deviceFunction(function mulTiles(x: Tile, y: Tile | number) {
    return x.mul(y);
  }),
);

/** SiLU (swish): x · σ(x). */
const siluTile = deviceFunction(function siluTile(x: Tile): Tile {
  return x.mul(x.sigmoid());
});

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * GELU. Exact (PyTorch `approximate='none'`): 0.5·x·(1 + erf(x/√2)). Tanh approximation (`approximate='tanh'`, used by
 * GPT-2 and Gemma): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
 */
const geluTile = deviceFunction(
  function geluTile(t: TileContext, x: Tile, approx: number): Tile {
    const inner = approx ? t.tanh(x.add(x.mul(x).mul(x).mul(0.044715)).mul(SQRT_2_OVER_PI)) : t.erf(x.mul(SQRT1_2));
    return x.mul(0.5).mul(inner.add(1));
  },
  { uses: { SQRT1_2, SQRT_2_OVER_PI } },
);

export const siluKernel = tileKernel(
  { name: 'silu', uses: { siluTile }, params: { x: 'ptr', out: 'ptr', n: 'i64', BLOCK: 'constexpr' } },
  (t, { x, out, n, BLOCK }) => {
    const X = t.tensor(x, [n]);
    const O = t.tensor(out, [n]);
    for (let i = t.programId(0); i * BLOCK < n; i += t.numPrograms(0)) {
      t.storeBlock(O, [i * BLOCK], siluTile(t.loadBlock(X, [i * BLOCK], [BLOCK]).cast('f32')));
    }
  },
);

export const geluKernel = tileKernel(
  {
    name: 'gelu',
    uses: { geluTile },
    params: { x: 'ptr', out: 'ptr', n: 'i64', APPROX: 'constexpr', BLOCK: 'constexpr' },
  },
  (t, { x, out, n, APPROX, BLOCK }) => {
    const X = t.tensor(x, [n]);
    const O = t.tensor(out, [n]);
    for (let i = t.programId(0); i * BLOCK < n; i += t.numPrograms(0)) {
      t.storeBlock(O, [i * BLOCK], geluTile(t, t.loadBlock(X, [i * BLOCK], [BLOCK]).cast('f32'), APPROX));
    }
  },
);

/**
 * silu_and_mul (vLLM) / SwiGLU: x is (rows, 2·d) = [gate | up] along the last axis; out (rows, d) = silu(gate) · up.
 * x is viewed as (rows, 2, d) — half 0 the gate, half 1 up — so each block load clips at the end of its half.
 */
export const siluAndMulKernel = tileKernel(
  {
    name: 'silu_and_mul',
    uses: { forEachBlock, siluTile },
    params: { x: 'ptr', out: 'ptr', rows: 'i64', d: 'i64', BR: 'constexpr', BC: 'constexpr' },
  },
  (t, { x, out, rows, d, BR, BC }) => {
    const X = t.tensor(x, [rows, 2, d]);
    const O = t.tensor(out, [rows, d]);
    forEachBlock(t, rows, d, BR, BC, (r, c) => {
      const g = t.loadBlock(X, [r, 0, c], [BR, 1, BC]).reshape([BR, BC]).cast('f32');
      const u = t.loadBlock(X, [r, 1, c], [BR, 1, BC]).reshape([BR, BC]).cast('f32');
      t.storeBlock(O, [r, c], siluTile(g).mul(u));
    });
  },
);

export interface ElementwiseOptions extends OpOptions {
  /** Elements per block (default: the largest that keeps three f32 tiles on chip, see `maxVectorBlock`). */
  config?: { BLOCK?: number };
}

export interface BinaryArgs {
  /** (rows, cols). */
  a: DeviceBuffer;
  /**
   * (rows, cols) like a; or a (cols,) row vector broadcast over the rows — chosen when b holds fewer than rows·cols
   * elements; or a finite number.
   */
  b: DeviceBuffer | number;
  /** (rows, cols); may be a or b itself (not a broadcast b). */
  out: DeviceBuffer;
  rows: number;
  cols: number;
}

function binary(
  op: 'add' | 'mul',
  dev: Device,
  a: BinaryArgs,
  options: ElementwiseOptions,
  kernel: typeof addKernel,
): LaunchResult {
  checkDims(op, { rows: a.rows, cols: a.cols });
  const n = a.rows * a.cols;
  const text = `(rows, cols) = (${a.rows}, ${a.cols})`;
  checkBuffer(op, 'a', a.a, { shape: [a.rows, a.cols], shapeText: text, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'out', a.out, { shape: [a.rows, a.cols], shapeText: text, dtypes: FLOAT_DTYPES });
  checkAliasing(op, ['out', a.out, n], ['a', a.a, n], true);
  let mode = SCALAR;
  let s = 0;
  if (typeof a.b === 'number') {
    check(Number.isFinite(a.b), op, `scalar b = ${a.b} must be a finite number.`);
    s = a.b;
  } else {
    checkBuffer(op, 'b', a.b, { dtypes: FLOAT_DTYPES });
    mode = a.b.length >= n ? SAME : ROW;
    check(
      mode === SAME || a.b.length >= a.cols,
      op,
      `'b' holds ${a.b.length} elements; it must be ${text} (${n} elements) or a (cols,) = (${a.cols},) row vector.`,
    );
    if (mode === SAME) checkAliasing(op, ['out', a.out, n], ['b', a.b, n], true);
    else checkAliasing(op, ['out', a.out, n], ['b (row vector)', a.b, a.cols], false);
  }
  const BLOCK = blockOption(op, options.config?.BLOCK, maxVectorBlock(dev.properties, 3));
  // Without a row broadcast, (rows, cols) is one flat row of rows·cols elements: no padding per row.
  const [rows, cols] = mode === ROW ? [a.rows, a.cols] : [1, n];
  const shape = mode === ROW ? blockShape(rows, cols, BLOCK) : { BR: 1, BC: Math.min(BLOCK, nextPow2(n)) };
  const b = typeof a.b === 'number' ? a.a : a.b;
  return dev.launch(
    kernel,
    { grid: streamingGrid(dev.properties, Math.max(1, blockCount(rows, cols, shape))), stream: options.stream },
    { a: a.a, b, out: a.out, rows, cols, s, MODE: mode, ...shape },
  );
}

/** out = a + b (b: same shape, a (cols,) row vector, or a scalar). */
export function add(dev: Device, args: BinaryArgs, options: ElementwiseOptions = {}): LaunchResult {
  return binary('add', dev, args, options, addKernel);
}

/** out = a · b (b: same shape, a (cols,) row vector, or a scalar). */
export function mul(dev: Device, args: BinaryArgs, options: ElementwiseOptions = {}): LaunchResult {
  return binary('mul', dev, args, options, mulKernel);
}

export interface UnaryArgs {
  /** n elements. */
  x: DeviceBuffer;
  /** n elements; may be x itself. */
  out: DeviceBuffer;
  n: number;
}

function unaryChecks(op: string, dev: Device, a: UnaryArgs, options: ElementwiseOptions) {
  checkDims(op, { n: a.n });
  const text = `(n,) = (${a.n},)`;
  checkBuffer(op, 'x', a.x, { shape: [a.n], shapeText: text, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'out', a.out, { shape: [a.n], shapeText: text, dtypes: FLOAT_DTYPES });
  checkAliasing(op, ['out', a.out, a.n], ['x', a.x, a.n], true);
  const BLOCK = Math.min(blockOption(op, options.config?.BLOCK, maxVectorBlock(dev.properties, 3)), nextPow2(a.n));
  return { BLOCK, grid: streamingGrid(dev.properties, Math.max(1, Math.ceil(a.n / BLOCK))) };
}

/** out = silu(x) = x · σ(x). */
export function silu(dev: Device, a: UnaryArgs, options: ElementwiseOptions = {}): LaunchResult {
  const { BLOCK, grid } = unaryChecks('silu', dev, a, options);
  return dev.launch(siluKernel, { grid, stream: options.stream }, { x: a.x, out: a.out, n: a.n, BLOCK });
}

export interface GeluArgs extends UnaryArgs {
  /** 'none' (default): exact erf form; 'tanh': the tanh approximation. As PyTorch's `gelu(approximate=…)`. */
  approximate?: 'none' | 'tanh';
}

/** out = gelu(x), exact or tanh-approximated. */
export function gelu(dev: Device, a: GeluArgs, options: ElementwiseOptions = {}): LaunchResult {
  const approximate = a.approximate ?? 'none';
  checkChoice('gelu', 'approximate', approximate, ['none', 'tanh']);
  const { BLOCK, grid } = unaryChecks('gelu', dev, a, options);
  const APPROX = approximate === 'tanh' ? 1 : 0;
  return dev.launch(geluKernel, { grid, stream: options.stream }, { x: a.x, out: a.out, n: a.n, APPROX, BLOCK });
}

export interface SiluAndMulArgs {
  /** (rows, 2·d): gate in the first d columns, up in the last d. */
  x: DeviceBuffer;
  /** (rows, d); must not overlap x. */
  out: DeviceBuffer;
  rows: number;
  d: number;
}

/** out = silu(x[:, :d]) · x[:, d:] (vLLM `silu_and_mul`, the SwiGLU MLP's activation). */
export function siluAndMul(dev: Device, a: SiluAndMulArgs, options: ElementwiseOptions = {}): LaunchResult {
  const op = 'siluAndMul';
  checkDims(op, { rows: a.rows, d: a.d });
  checkBuffer(op, 'x', a.x, {
    shape: [a.rows, 2 * a.d],
    shapeText: `(rows, 2·d) = (${a.rows}, ${2 * a.d})`,
    dtypes: FLOAT_DTYPES,
  });
  checkBuffer(op, 'out', a.out, {
    shape: [a.rows, a.d],
    shapeText: `(rows, d) = (${a.rows}, ${a.d})`,
    dtypes: FLOAT_DTYPES,
  });
  checkAliasing(op, ['out', a.out, a.rows * a.d], ['x', a.x, 2 * a.rows * a.d], false);
  const BLOCK = blockOption(op, options.config?.BLOCK, maxVectorBlock(dev.properties, 3));
  const shape = blockShape(a.rows, a.d, BLOCK);
  return dev.launch(
    siluAndMulKernel,
    { grid: streamingGrid(dev.properties, Math.max(1, blockCount(a.rows, a.d, shape))), stream: options.stream },
    { x: a.x, out: a.out, rows: a.rows, d: a.d, ...shape },
  );
}
