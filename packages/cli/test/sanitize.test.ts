/**
 * `tessera sanitize -- <command>` (`@tessera/device`'s docs/sanitizer.md): the child runs with TESSERA_SANITIZE, its
 * reports come through, the summary covers every process that loaded @tessera/device, and the exit code is non-zero
 * when errors were found.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run } from '../src/index';

const device = join(dirname(fileURLToPath(import.meta.url)), '../../device/src');
const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-sanitize-'));

/** A program launching one SIMT kernel over `threads` threads into a 16-element buffer (past it when > 16). */
function app(name: string, threads: number): string {
  const file = join(dir, `${name}.mts`);
  writeFileSync(
    file,
    `import { createRuntime, simtKernel } from ${JSON.stringify(join(device, 'index.ts'))};
import { createTestBackend } from ${JSON.stringify(join(device, 'testing/test-backend.ts'))};
const dev = (await createRuntime({ backend: createTestBackend(), devices: 'testchip' })).device(0);
const fill = simtKernel({ name: 'fill_ones', params: { a: 'ptr<f32>' } }, (k, { a }) => {
  a.set(k.threadIdx.x, 1);
});
try {
  dev.launch(fill, { grid: 1, block: ${threads} }, { a: dev.alloc('f32', 16) });
} catch {}
console.log('app finished');
`,
  );
  return file;
}

async function tessera(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const node = [process.execPath, '--conditions=@tessera/source', '--import', 'tsx'];

describe('tessera sanitize', () => {
  it('relays the reports of a buggy program, prints the summary and exits 1', async () => {
    const t = await tessera('sanitize', '--tool', 'memcheck', '--', ...node, app('bad', 32));
    expect(t.out).toContain('app finished');
    expect(t.err).toMatch(/^========= TESSERA SANITIZER \(memcheck\)$/m);
    expect(t.err).toMatch(/^========= Invalid __global__ write of size 4 bytes$/m);
    expect(t.err).toMatch(/^========= {5}at fill_ones in .*bad\.mts:\d+/m);
    expect(t.err).toMatch(/^========= {5}by thread \(16,0,0\) in block \(0,0,0\)$/m);
    expect(t.err).toMatch(/^========= ERROR SUMMARY: 1 error$/m);
    expect(t.code).toBe(1);
    const custom = await tessera('sanitize', '--error-exitcode', '7', '--', ...node, app('bad2', 32));
    expect(custom.code).toBe(7);
  });

  it('exits 0 with "0 errors" for a correct program, under every tool', async () => {
    const t = await tessera('sanitize', '--tool', 'all', '--', ...node, app('good', 16));
    expect(t.err).toMatch(/^========= TESSERA SANITIZER \(memcheck, racecheck, initcheck, synccheck\)$/m);
    expect(t.err).toMatch(/^========= ERROR SUMMARY: 0 errors$/m);
    expect(t.code).toBe(0);
  });

  it("relays the command's own exit code, and says when nothing was checked", async () => {
    const t = await tessera('sanitize', '--', process.execPath, '-e', 'process.exit(3)');
    expect(t.err).toContain('No process loaded @tessera/device under the sanitizer: nothing was checked.');
    expect(t.code).toBe(3);
  });

  it('refuses an unknown tool and a missing command', async () => {
    const bad = await tessera('sanitize', '--tool', 'leakcheck', '--', 'node', '-v');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--tool: unknown sanitizer tool 'leakcheck'/);
    const none = await tessera('sanitize', '--tool', 'memcheck');
    expect(none.code).not.toBe(0);
  });
});
