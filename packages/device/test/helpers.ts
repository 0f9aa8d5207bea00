import type { DType } from '../src/dtype/dtype';
import { createRuntime, type Device, type Runtime } from '../src/index';
import { deviceFunction, tileKernel } from '../src/kernel/kernel';
import type { TensorDesc, Tile, TileContext } from '../src/kernel/language';
import { createTestBackend } from '../src/testing/test-backend';

export async function testRuntime(mode: 'functional' | 'timing' = 'functional', count = 1): Promise<Runtime> {
  return createRuntime({ backend: createTestBackend(), mode, count, devices: 'testchip' });
}

export interface Input {
  dtype: DType;
  shape: number[];
  values: ArrayLike<number>;
}

/**
 * Runs `body` as a one-program tile kernel: each input is loaded whole as a tile; the returned tile is stored to an
 * output of `outDType` (poisoned with NaN / -1 first) and read back. `body` becomes a device function (it is called
 * with tiles); `uses` names what it needs from outside itself.
 */
export function runTile(
  dev: Device,
  inputs: Input[],
  body: (t: TileContext, tiles: Tile[], descs: TensorDesc[]) => Tile,
  outDType: DType = 'f32',
  uses: Record<string, unknown> = {},
): { values: number[]; shape: readonly number[]; dtype: string } {
  const bufs = inputs.map((i) => {
    const b = dev.alloc(i.dtype, i.shape);
    dev.upload(b, i.values);
    return b;
  });
  const out = dev.alloc(outDType, 4096);
  dev.fill(out, outDType.startsWith('i') || outDType === 'u8' ? -1 : Number.NaN);
  // A kernel sees only its parameters and `uses`: the inputs are parameters in0, in1, …, and the result's shape and
  // dtype (compile-time facts of the body) are recorded in `result` as the body runs.
  const shapes = inputs.map((i) => i.shape);
  const result: { shape: readonly number[]; dtype: string } = { shape: [], dtype: '' };
  const params: Record<string, 'ptr'> = { out: 'ptr' };
  for (let i = 0; i < inputs.length; i++) params[`in${i}`] = 'ptr';
  const fn = deviceFunction(body, { uses });
  const k = tileKernel({ name: 'test_body', params, uses: { shapes, fn, result } }, (t, args) => {
    const descs = shapes.map((s, i) => t.tensor(args[`in${i}`]!, s));
    const tiles = descs.map((d, i) =>
      t.loadBlock(
        d,
        shapes[i]!.map(() => 0),
        shapes[i]!,
      ),
    );
    const r = fn(t, tiles, descs);
    result.shape = r.shape;
    result.dtype = r.dtype;
    const flat = t.reshape(r, [r.size]);
    t.store(args.out!, t.arange(0, r.size), flat);
  });
  dev.launch(k, { grid: 1 }, { out, ...Object.fromEntries(bufs.map((b, i) => [`in${i}`, b])) });
  const { shape, dtype } = result;
  const size = shape.reduce((a, b) => a * b, 1);
  const values = Array.from(dev.download(out)).slice(0, size);
  for (const b of bufs) dev.free(b);
  dev.free(out);
  return { values, shape, dtype };
}

export function expectThrowCode(fn: () => unknown, code: string, text?: RegExp): void {
  try {
    fn();
  } catch (e) {
    const err = e as { code?: string; message: string };
    if (err.code !== code) throw new Error(`expected ${code}, got ${err.code}: ${err.message}`);
    if (text && !text.test(err.message)) throw new Error(`message "${err.message}" does not match ${text}`);
    return;
  }
  throw new Error(`expected a ${code} error, but nothing was thrown`);
}
