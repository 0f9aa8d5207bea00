/**
 * Embedding lookup: out[t, :] = table[ids[t], :] for a (vocab, dim) table and i32 token ids (tokens,).
 *
 * Each program walks blocks of BT tokens in a grid-stride loop: it loads the block's ids, turns them into row offsets
 * (id · dim), gathers BT × BD elements per column block with `t.load(table, offsets, { mask })` and stores them as a
 * block of `out`.
 *
 * Out-of-range ids. The host cannot see the ids without a device-to-host copy, and an unmasked gather outside the
 * table is an `IllegalAddress` fault that poisons the whole device. So ids outside [0, vocab) are masked: their rows
 * of `out` are written as zeros and nothing is read for them — what a robust serving stack does with a bad token
 * rather than crash the batch. Check for them upstream if they must be errors.
 *
 * Offsets are i32, so vocab · dim and tokens · dim must stay below 2³¹ (checked).
 */
import { cdiv, type Device, type DeviceBuffer, type LaunchResult, tileKernel } from '@tessera/device';
import { check, checkBuffer, checkDims, FLOAT_DTYPES, nextPow2, type OpOptions } from './common';
import { maxVectorBlock, streamingGrid } from './config';

const I32_MAX = 2 ** 31 - 1;

export const embeddingKernel = tileKernel(
  {
    name: 'embedding',
    params: {
      table: 'ptr',
      ids: 'ptr<i32>',
      out: 'ptr',
      tokens: 'i32',
      vocab: 'i32',
      dim: 'i32',
      BT: 'constexpr',
      BD: 'constexpr',
    },
  },
  (t, { table, ids, out, tokens, vocab, dim, BT, BD }) => {
    const IDS = t.tensor(ids, [tokens]);
    const OUT = t.tensor(out, [tokens, dim]);
    const blocks = Math.ceil(tokens / BT);
    const colLane = t.arange(0, BD); // (BD,)
    for (let b = t.programId(0); b < blocks; b += t.numPrograms(0)) {
      const id = t.loadBlock(IDS, [b * BT], [BT], { padding: -1 }); // (BT,) i32; −1 past the last token
      const ok = id.ge(0).and(id.lt(vocab)).expandDims(1); // (BT, 1): rows we may read
      const src = id.mul(dim).expandDims(1); // (BT, 1) row offsets (garbage where !ok, never used unmasked)
      for (let c = 0; c < dim; c += BD) {
        const col = colLane.add(c).expandDims(0); // (1, BD) column indices
        const v = t.load(table, src.add(col), { mask: ok.and(col.lt(dim)) }); // (BT, BD); zeros for bad ids
        t.storeBlock(OUT, [b * BT, c], v);
      }
    }
  },
);

export interface EmbeddingArgs {
  /** (vocab, dim) table, f32, f16 or bf16. */
  table: DeviceBuffer;
  /** (tokens,) i32 token ids; ids outside [0, vocab) give zero rows. */
  ids: DeviceBuffer;
  /** (tokens, dim) output, f32, f16 or bf16 (converted on store). */
  out: DeviceBuffer;
  tokens: number;
  vocab: number;
  dim: number;
}

export function embedding(
  dev: Device,
  a: EmbeddingArgs,
  options: OpOptions & { config?: { BT?: number; BD?: number } } = {},
): LaunchResult {
  const op = 'embedding';
  checkDims(op, { tokens: a.tokens, vocab: a.vocab, dim: a.dim });
  checkBuffer(op, 'table', a.table, {
    shape: [a.vocab, a.dim],
    shapeText: `(vocab, dim) = (${a.vocab}, ${a.dim})`,
    dtypes: FLOAT_DTYPES,
  });
  checkBuffer(op, 'ids', a.ids, { shape: [a.tokens], shapeText: `(tokens,) = (${a.tokens},)`, dtypes: ['i32'] });
  checkBuffer(op, 'out', a.out, {
    shape: [a.tokens, a.dim],
    shapeText: `(tokens, dim) = (${a.tokens}, ${a.dim})`,
    dtypes: FLOAT_DTYPES,
  });
  check(
    a.vocab * a.dim <= I32_MAX && a.tokens * a.dim <= I32_MAX,
    op,
    `vocab · dim = ${a.vocab * a.dim} and tokens · dim = ${a.tokens * a.dim} must stay below 2³¹ (i32 offsets).`,
    'Split the table or the batch.',
  );
  const budget = maxVectorBlock(dev.properties, 4);
  const BD = options.config?.BD ?? Math.min(nextPow2(a.dim), budget);
  const BT = options.config?.BT ?? Math.max(1, Math.min(nextPow2(a.tokens), Math.floor(budget / BD)));
  return dev.launch(
    embeddingKernel,
    { grid: streamingGrid(dev.properties, cdiv(Math.max(1, a.tokens), BT)), stream: options.stream },
    { table: a.table, ids: a.ids, out: a.out, tokens: a.tokens, vocab: a.vocab, dim: a.dim, BT, BD },
  );
}
