/**
 * Reports as compute-sanitizer prints them: blocks of lines prefixed `=========`, a line for what happened, one for
 * where in the kernel's source, one for who (thread and block, or program), then the address and what it belongs to;
 * and `ERROR SUMMARY: N errors` at the end of a run.
 */
import type { Actor, SanitizerReport, SanitizerSummary, SourcePlace } from './types';

const P = '=========';

export function hex(n: number): string {
  return `0x${n.toString(16).padStart(n >= 2 ** 32 ? 12 : 8, '0')}`;
}

function relFile(file: string): string {
  const proc = (globalThis as { process?: { cwd?(): string } }).process;
  const cwd = proc?.cwd?.();
  let f = file.replace(/^file:\/\//, '');
  if (cwd && f.startsWith(`${cwd}/`)) f = f.slice(cwd.length + 1);
  return f;
}

/** `kernel in file.ts:12 \`x.set(i, v)\`` */
export function placeText(kernel: string, p: SourcePlace): string {
  const where = p.line ? ` in ${p.file ? relFile(p.file) : '?'}:${p.line}` : '';
  const snippet = p.snippet ? `  \`${p.snippet.length > 80 ? `${p.snippet.slice(0, 77)}...` : p.snippet}\`` : '';
  return `${kernel}${where}${snippet}`;
}

export function dims(d: readonly number[]): string {
  return `(${d.join(',')})`;
}

/** `thread (31,0,0) in block (3,0,0)` or `program (3,0,0)`. */
export function actorText(a: Actor): string {
  if (a.program) return `program ${dims(a.program)}`;
  return `thread ${dims(a.thread ?? [0, 0, 0])} in block ${dims(a.block ?? [0, 0, 0])}`;
}

const SPACE = { global: '__global__', shared: '__shared__' } as const;

/** The printed text of a report (everything but `text` filled in). */
export function renderReport(r: Omit<SanitizerReport, 'text'>): string {
  const lines: string[] = [];
  const more = r.count > 1 ? `${P}     (and ${r.count - 1} more of the same in this launch)` : null;
  const at = `${P}     at ${placeText(r.kernel, r)}`;
  const by = `${P}     by ${actorText(r)}`;
  const what = r.access === 'atomic' ? 'atomic' : r.access;
  switch (r.tool) {
    case 'memcheck': {
      lines.push(`${P} Invalid ${SPACE[r.space]} ${what} of size ${r.size} bytes`, at, by);
      const addr = r.address !== undefined ? `Address ${hex(r.address)} ` : '';
      const reason: Record<string, string> = {
        'out-of-bounds': 'is out of bounds',
        misaligned: 'is misaligned',
        'use-after-free': 'is in freed memory',
        'wrong-device': "is not in the launching device's memory",
      };
      lines.push(`${P}     ${addr}${reason[r.kind] ?? r.kind}`);
      lines.push(`${P}     ${r.message}`);
      break;
    }
    case 'initcheck':
      lines.push(`${P} Uninitialized ${SPACE[r.space]} memory ${what} of size ${r.size} bytes`, at, by);
      lines.push(`${P}     ${r.address !== undefined ? `Address ${hex(r.address)}: ` : ''}${r.message}`);
      break;
    case 'racecheck': {
      const sev = r.severity === 'error' ? 'Error' : 'Warning';
      const o = r.other ?? {};
      const name = (a: string | undefined) => (a === 'read' ? 'Read' : a === 'atomic' ? 'Atomic' : 'Write');
      const who = (a: Actor) => (a.program ? `Program ${dims(a.program)}` : `Thread ${dims(a.thread ?? [0, 0, 0])}`);
      const addr = r.address !== undefined ? ` ${hex(r.address)}` : '';
      const inBlock = r.space === 'shared' && r.block ? ` in block ${dims(r.block)}` : '';
      lines.push(
        `${P} ${sev}: Potential ${r.kind.toUpperCase()} hazard detected at ${SPACE[r.space]}${addr}${inBlock} :`,
      );
      const otherBlock = !o.program && r.space === 'global' && o.block ? ` in block ${dims(o.block)}` : '';
      const selfBlock = !r.program && r.space === 'global' && r.block ? ` in block ${dims(r.block)}` : '';
      lines.push(`${P}     ${name(o.access)} ${who(o)}${otherBlock} at ${placeText(r.kernel, o)}`);
      lines.push(`${P}     ${name(r.access)} ${who(r)}${selfBlock} at ${placeText(r.kernel, r)}`);
      lines.push(`${P}     ${r.message}`);
      break;
    }
    case 'synccheck':
      lines.push(
        `${P} Barrier error detected. ${r.kind === 'invalid-warp-sync' ? 'Invalid arguments (divergent thread(s) in warp)' : 'Divergent thread(s) in block'}`,
        at,
        by,
      );
      lines.push(`${P}     ${r.message}`);
      break;
  }
  if (more) lines.push(more);
  lines.push(P);
  return lines.join('\n');
}

export function formatSummary(s: SanitizerSummary): string {
  const lines: string[] = [];
  if (s.tools.includes('racecheck') && s.warnings > 0) {
    const n = s.errors + s.warnings;
    lines.push(
      `${P} RACECHECK SUMMARY: ${n} hazard${n === 1 ? '' : 's'} displayed (${s.errors} error${s.errors === 1 ? '' : 's'}, ${s.warnings} warning${s.warnings === 1 ? '' : 's'})`,
    );
  }
  lines.push(`${P} ERROR SUMMARY: ${s.errors} error${s.errors === 1 ? '' : 's'}`);
  return lines.join('\n');
}
