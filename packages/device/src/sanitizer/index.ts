/**
 * The sanitizer — Tessera's compute-sanitizer (packages/device/docs/sanitizer.md). `TESSERA_SANITIZE=memcheck` (or
 * racecheck, initcheck, synccheck, a comma list, or `all`) in any program or test, `tessera sanitize --tool memcheck
 * -- node app.js`, or `enableSanitizer('memcheck')`: every functional launch then runs through the IR interpreter with
 * the tools' checks on each access and barrier; findings are printed as compute-sanitizer prints them, collected
 * (`sanitizerReports()`), and make the process exit non-zero.
 */
import { executePlain, launchHooks } from '../kernel/execute';
import { memoryEvents } from '../runtime/memory-events';
import { diagnoseRefused, sanitizedExecute } from './execute';
import { type SanitizerOptions, SanitizerState } from './state';
import { SANITIZER_TOOLS, type SanitizerReport, type SanitizerSummary, type SanitizerTool } from './types';

export { formatSummary as formatSanitizerSummary } from './format';
export type { SanitizerOptions } from './state';
export {
  type Actor as SanitizerActor,
  type MemoryAccess,
  SANITIZER_TOOLS,
  type SanitizerKind,
  type SanitizerReport,
  type SanitizerSummary,
  type SanitizerTool,
} from './types';

let state: SanitizerState | null = null;

type Env = { TESSERA_SANITIZE?: string; TESSERA_SANITIZE_PRINT_LIMIT?: string; TESSERA_SANITIZE_REPORT?: string };
type Proc = {
  env: Env;
  pid: number;
  exitCode?: number | string;
  on(ev: 'exit', fn: () => void): void;
  stderr?: { write(s: string): void };
  getBuiltinModule?: (m: string) => unknown;
};
const proc = (): Proc | undefined => (globalThis as { process?: Proc }).process;

/** Parses a tool list: `memcheck`, `racecheck,initcheck`, `all` (every tool). Throws on an unknown name. */
export function parseSanitizerTools(text: string): SanitizerTool[] {
  const names = text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (names.includes('all')) return [...SANITIZER_TOOLS];
  for (const n of names) {
    if (!SANITIZER_TOOLS.includes(n as SanitizerTool)) {
      throw new Error(
        `unknown sanitizer tool '${n}': expected ${SANITIZER_TOOLS.join(', ')} or all (a comma list combines them)`,
      );
    }
  }
  return names as SanitizerTool[];
}

/**
 * Turns the sanitizer on with these tools (a list, or text as `TESSERA_SANITIZE` takes it), replacing an earlier
 * configuration and its reports. Allocations made before are treated as initialised (initcheck did not see them made).
 */
export function enableSanitizer(tools: string | readonly SanitizerTool[], options: SanitizerOptions = {}): void {
  const list = typeof tools === 'string' ? parseSanitizerTools(tools) : [...tools];
  if (!list.length) {
    disableSanitizer();
    return;
  }
  const s = new SanitizerState(list, options);
  state = s;
  launchHooks.execute = (o) => sanitizedExecute(s, o, executePlain);
  launchHooks.refused = (o) => diagnoseRefused(s, o);
  memoryEvents.current = {
    allocated: (a) => s.allocated(a),
    written: (a, start, n) => s.written(a, start, n),
    copied: (d, ds, src, ss, n) => s.copied(d, ds, src, ss, n),
  };
}

/** Turns the sanitizer off (launches run the generated code again); its reports stay readable until re-enabled. */
export function disableSanitizer(): void {
  launchHooks.execute = null;
  launchHooks.refused = null;
  memoryEvents.current = null;
  if (state) retired = state;
  state = null;
}

let retired: SanitizerState | null = null;

/** The tools on now (empty when the sanitizer is off). */
export function sanitizerTools(): SanitizerTool[] {
  return state ? [...state.tools] : [];
}

/** Every report since the sanitizer was enabled (or since `clearSanitizerReports`), in the order found. */
export function sanitizerReports(): readonly SanitizerReport[] {
  return (state ?? retired)?.reports ?? [];
}

/** Forgets the reports and counts so far (the shadow memory stays). */
export function clearSanitizerReports(): void {
  const s = state ?? retired;
  if (!s) return;
  s.reports.length = 0;
  s.errors = 0;
  s.warnings = 0;
  s.dropped = 0;
  s.printed = 0;
  s.launches = 0;
}

export function sanitizerSummary(): SanitizerSummary {
  return (state ?? retired)?.summary() ?? { tools: [], errors: 0, warnings: 0, launches: 0, dropped: 0 };
}

// --------------------------------------------------------------------------------- TESSERA_SANITIZE (process-wide)

/**
 * At exit: the summary (`========= ERROR SUMMARY: N errors`) on stderr and a non-zero exit code when errors were
 * found — or, under `tessera sanitize` (TESSERA_SANITIZE_REPORT names a directory), the counts and reports as JSON in
 * that directory for the command to sum up.
 */
function atExit(): void {
  const s = state;
  const p = proc();
  if (!s || !p) return;
  const dir = p.env.TESSERA_SANITIZE_REPORT;
  if (dir) {
    const fs = p.getBuiltinModule?.('fs') as { writeFileSync(f: string, d: string): void } | undefined;
    try {
      fs?.writeFileSync(
        `${dir}/${p.pid}.json`,
        JSON.stringify({ ...s.summary(), reports: s.reports.slice(0, 1000).map(({ text: _t, ...r }) => r) }),
      );
    } catch {
      // the directory went away: the command reports what it has
    }
    return;
  }
  p.stderr?.write(`${s.summaryText()}\n`);
  if (s.errors > 0 && (p.exitCode === undefined || p.exitCode === 0 || p.exitCode === '0')) p.exitCode = 1;
}

function fromEnv(): void {
  const p = proc();
  const v = p?.env?.TESSERA_SANITIZE;
  if (!p || !v || v === '0') return;
  const limit = Number(p.env.TESSERA_SANITIZE_PRINT_LIMIT ?? 100);
  try {
    enableSanitizer(v, { printLimit: Number.isFinite(limit) && limit >= 0 ? limit : 100 });
  } catch (e) {
    p.stderr?.write(`========= TESSERA_SANITIZE: ${(e as Error).message}\n`);
    return;
  }
  p.on('exit', atExit);
}

fromEnv();
