/**
 * `TESSERA_SHADOW=cost`: every launch's record (the analysis: pieces, summarised loops, merges) is compared with the
 * per-program reference (`analyzeCostByPrograms`: every program alone, loops iterated). A difference is reported in
 * one line (tagged BOUND when the launch has ops whose mask depends on loaded data).
 */
import type { CostRecord, ProgramCost } from '../../kernel/cost';
import type { ShadowCheck } from '../shadow';
import { analyzeCostByPrograms } from './analyze';

function costText(c: ProgramCost, withoutSimt: boolean): string {
  const j = c.toJSON();
  if (withoutSimt) delete j.simt;
  return JSON.stringify(j);
}

/** A short description of how `mine` differs from the reference `theirs`, or null. */
export function compareRecords(mine: CostRecord, theirs: CostRecord): string | null {
  const diffs: string[] = [];
  if (mine.programs !== theirs.programs) diffs.push(`programs ${mine.programs} vs ${theirs.programs}`);
  const t1 = mine.total.toJSON() as Record<string, unknown>;
  const t2 = theirs.total.toJSON() as Record<string, unknown>;
  // Sampled warp-level counters are estimates (record.simt.relStdErr): compared only when both are exact.
  const sampled = !mine.exact || !theirs.exact;
  if (sampled) {
    delete t1.simt;
    delete t2.simt;
  }
  for (const k of new Set([...Object.keys(t1), ...Object.keys(t2)])) {
    const a = JSON.stringify(t1[k]);
    const b = JSON.stringify(t2[k]);
    if (a !== b) diffs.push(`total.${k} ${a} vs ${b}`);
  }
  if (diffs.length === 0) {
    const sig = (r: CostRecord) => r.classes.map((c) => `${c.count}×${costText(c.cost, sampled)}`);
    const a = sig(mine);
    const b = sig(theirs);
    if (a.join() !== b.join()) {
      if ([...a].sort().join() === [...b].sort().join()) diffs.push('class order differs');
      else diffs.push(`classes ${a.length} [${a.slice(0, 3).join(' ')}] vs ${b.length} [${b.slice(0, 3).join(' ')}]`);
    }
  }
  for (const k of Object.keys(mine.resources) as (keyof CostRecord['resources'])[]) {
    if (mine.resources[k] !== theirs.resources[k])
      diffs.push(`resources.${k} ${mine.resources[k]} vs ${theirs.resources[k]}`);
  }
  const bt = (r: CostRecord) => r.buffers.map((b) => `${b.bytes}${b.read ? 'r' : ''}${b.written ? 'w' : ''}`);
  const b1 = bt(mine);
  const b2 = bt(theirs);
  if (b1.join() !== b2.join()) {
    diffs.push([...b1].sort().join() === [...b2].sort().join() ? 'buffer order differs' : `buffers [${b1}] vs [${b2}]`);
  }
  if (mine.dtypes.join() !== theirs.dtypes.join()) {
    diffs.push(
      [...mine.dtypes].sort().join() === [...theirs.dtypes].sort().join()
        ? `dtype order [${mine.dtypes}] vs [${theirs.dtypes}]`
        : `dtypes [${mine.dtypes}] vs [${theirs.dtypes}]`,
    );
  }
  if (!diffs.length) return null;
  const onlyBytes = diffs.every(
    (d) => /^total\.(bytesRead|bytesWritten|atomicOps) /.test(d) || d.startsWith('classes'),
  );
  const tag =
    mine.bounds?.length && onlyBytes ? `BOUND (${mine.bounds.map((b) => `${b.op} \`${b.snippet}\``).join('; ')}) ` : '';
  return `${tag}${diffs.join('; ')}`;
}

/** Compares the launch's record with the per-program reference (skipped above 4·10⁵ programs × threads). */
export const costShadow: ShadowCheck = {
  after(o, ir, record) {
    const threads = o.block ? o.block[0] * o.block[1] * o.block[2] : 1;
    if (record.programs * threads > 4e5) return null;
    const reference = analyzeCostByPrograms(ir, {
      grid: o.grid,
      block: o.block,
      args: o.args,
      dynamicSharedBytes: o.dynamicSharedBytes,
      kernelName: o.kernel.name,
      ownerLabel: o.owner.label,
      warpSize: o.warpSize,
    });
    const d = compareRecords(record, reference);
    return d ? `[${o.mode}] grid ${o.grid.join('x')} ${d}` : null;
  },
};
