/**
 * The playground is browser code: bundled by Vite for the browser (as the dashboard's build bundles it, from the
 * workspace's TypeScript sources), it must import no Node built-in and run in a context with no `process` and no
 * `require` — parsing, modelling on both simulators (registered through register-backends.ts, which must survive the
 * package's `"sideEffects": false`) and running a template under the sanitizer.
 */
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { build } from 'vite';
import { expect, it } from 'vitest';

it('bundles for the browser and runs in a context without Node', async () => {
  const entry = fileURLToPath(new URL('../../ui/src/playground/index.ts', import.meta.url));
  const out = await build({
    configFile: false,
    logLevel: 'silent',
    resolve: { conditions: ['@tessera/source', 'browser', 'module', 'import', 'default'] },
    build: { write: false, minify: false, target: 'es2022', lib: { entry, formats: ['iife'], name: 'Playground' } },
  });
  const bundle = (Array.isArray(out) ? out[0] : out) as { output: { code?: string }[] };
  const code = bundle.output[0]!.code!;
  // Node built-ins appear only as text the device uses in Node (getBuiltinModule probes, its worker threads' source),
  // never as imports: a browser build would fail on those. Running without process and require below is the proof.
  expect(code).not.toMatch(/\bimport\s*\(?\s*['"]node:/);

  const sandbox: Record<string, unknown> = {
    console,
    WebAssembly: (globalThis as { WebAssembly?: unknown }).WebAssembly,
    SharedArrayBuffer,
    Atomics,
    performance,
    TextEncoder,
    TextDecoder,
    setTimeout,
    clearTimeout,
    queueMicrotask,
    structuredClone,
  };
  sandbox.globalThis = sandbox;
  sandbox.self = sandbox;
  vm.createContext(sandbox);
  vm.runInContext(code, sandbox);
  expect(vm.runInContext('typeof process + typeof require', sandbox)).toBe('undefinedundefined');
  const result = (await vm.runInContext(
    `(async () => {
      const P = Playground;
      const p = P.parsePlayground(P.SOFTMAX_TEMPLATE);
      const model = await P.modelAcrossDevices(p);
      const runs = [];
      for (const deviceId of ['h100', '910c']) runs.push(await P.runPlayground(p, { deviceId, sanitize: true }));
      let syntax = null;
      try { P.parsePlayground('const a = 1;\\nconst b = (;'); } catch (e) { syntax = e.issue; }
      return {
        devices: model.rows.map((r) => r.deviceId + ':' + (r.ms > 0)),
        runs: runs.map((r) => ({ ok: r.ok, relError: r.relError, reports: r.sanitizer.reports.length })),
        syntax,
        wgsl: P.inspectPlayground(p).wgsl !== null,
      };
    })()`,
    sandbox,
  )) as {
    devices: string[];
    runs: { ok: boolean; relError: number; reports: number }[];
    syntax: { kind: string; line: number } | null;
    wgsl: boolean;
  };
  expect(result.devices).toEqual(expect.arrayContaining(['h100:true', 'a100:true', '910c:true', '910b2:true']));
  for (const r of result.runs) {
    expect(r.ok).toBe(true);
    expect(r.relError).toBeLessThan(1e-5);
    expect(r.reports).toBe(0);
  }
  expect(result.syntax).toMatchObject({ kind: 'syntax', line: 2 });
  expect(result.wgsl).toBe(true);
});
