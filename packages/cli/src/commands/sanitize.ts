/**
 * `tessera sanitize --tool memcheck -- node app.js`: runs a command with Tessera's sanitizer on, as
 * `compute-sanitizer --tool memcheck ./app` runs a CUDA program (`@tessera/device`'s docs/sanitizer.md). The child gets
 * `TESSERA_SANITIZE=<tool>`: every process in it that loads `@tessera/device` runs its functional launches
 * instrumented and prints each report on stderr as it is found; at exit each writes its counts to a directory this
 * command names (`TESSERA_SANITIZE_REPORT`), and this command prints the summary over all of them —
 * `========= ERROR SUMMARY: N errors` — and exits non-zero when there were errors.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatSanitizerSummary, parseSanitizerTools, type SanitizerSummary, TesseraError } from '@tessera/device';

export interface SanitizeOptions {
  /** memcheck (default), racecheck, initcheck, synccheck, a comma list, or all. */
  tool: string;
  /** Reports printed per process at most (`--print-limit`, default 100); later ones are counted. */
  printLimit?: number;
  /** Exit code when errors were found (`--error-exitcode`; default: the command's own if non-zero, else 1). */
  errorExitcode?: number;
  /** The command and its arguments. */
  command: readonly string[];
}

export interface SanitizeIo {
  out(text: string): void;
  err(text: string): void;
}

const P = '=========';

/** Relays a child's stream line by line. */
function relay(stream: NodeJS.ReadableStream | null, write: (line: string) => void): () => void {
  let pending = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const l of lines) write(l);
  });
  return () => {
    if (pending) write(pending);
    pending = '';
  };
}

/** Runs the command under the sanitizer; resolves to the exit code `tessera` should return. */
export async function sanitizeCommand(o: SanitizeOptions, io: SanitizeIo): Promise<number> {
  let tools: string[];
  try {
    tools = parseSanitizerTools(o.tool);
  } catch (e) {
    throw new TesseraError('InvalidValue', `--tool: ${(e as Error).message}.`);
  }
  if (!tools.length) throw new TesseraError('InvalidValue', '--tool: name at least one tool.');
  if (!o.command.length) {
    throw new TesseraError(
      'InvalidValue',
      'sanitize: give the command to run after --, e.g. tessera sanitize -- node app.js.',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'tessera-sanitize-'));
  io.err(`${P} TESSERA SANITIZER (${tools.join(', ')})`);
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TESSERA_SANITIZE: tools.join(','),
      TESSERA_SANITIZE_REPORT: dir,
    };
    if (o.printLimit !== undefined) env.TESSERA_SANITIZE_PRINT_LIMIT = String(o.printLimit);
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(o.command[0]!, o.command.slice(1), { env, stdio: ['inherit', 'pipe', 'pipe'] });
      const flushOut = relay(child.stdout, io.out);
      const flushErr = relay(child.stderr, io.err);
      child.on('error', (e) =>
        reject(new TesseraError('InvalidValue', `sanitize: cannot run '${o.command[0]}': ${e.message}.`)),
      );
      child.on('close', (status, signal) => {
        flushOut();
        flushErr();
        resolve(status ?? (signal ? 128 + signalNumber(signal) : 1));
      });
    });
    const total: SanitizerSummary = {
      tools: tools as SanitizerSummary['tools'],
      errors: 0,
      warnings: 0,
      launches: 0,
      dropped: 0,
    };
    let processes = 0;
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        const s = JSON.parse(readFileSync(join(dir, f), 'utf8')) as SanitizerSummary;
        total.errors += s.errors;
        total.warnings += s.warnings;
        total.launches += s.launches;
        processes++;
      } catch {
        // a process that died while writing: its reports were printed already
      }
    }
    if (processes === 0) {
      io.err(`${P} No process loaded @tessera/device under the sanitizer: nothing was checked.`);
    } else if (total.launches === 0) {
      io.err(`${P} No functional kernel launch ran: nothing was checked.`);
    }
    io.err(formatSanitizerSummary(total));
    if (total.errors > 0) return o.errorExitcode ?? (code !== 0 ? code : 1);
    return code;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  const n: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 };
  return n[signal] ?? 1;
}
