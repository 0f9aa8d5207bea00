/**
 * Layering rules of docs/architecture.md, checked over the `src/` (and a browser app's `ui/src/`) of every package,
 * app and example in the repository (a text scan, like a lint rule):
 *
 * - production code never imports `@tessera/device/testing` (it pulls in vitest through the conformance suite) nor
 *   vitest itself; only `packages/device/src/testing` may. Seeded random helpers live in `@tessera/device/random`.
 * - backends are reached through the registry, never imported by name above the backend floor: outside the backend
 *   packages a `src/` file may import a backend package only for its side effect (`import '@tessera/backend-…'`,
 *   which registers it — a registration entry point), never bind its exports.
 *
 * packages/device/turbo.json lists these directories as inputs of this package's `test`, so turbo re-runs the scan
 * when any of them changes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WORKSPACES = ['packages', 'apps', 'examples'];
const SOURCE = /\.(?:[cm]?[jt]s|tsx)$/;

/** Every source file under `<workspace>/<package>/src`, as paths relative to the repository root with `/`. */
function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === 'dist') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && SOURCE.test(e.name)) out.push(relative(ROOT, p).split(sep).join('/'));
    }
  };
  for (const ws of WORKSPACES) {
    for (const pkg of readdirSync(join(ROOT, ws), { withFileTypes: true })) {
      if (!pkg.isDirectory()) continue;
      // `ui/src`: a browser app's source (packages/dashboard) is production code too.
      for (const src of [join(ROOT, ws, pkg.name, 'src'), join(ROOT, ws, pkg.name, 'ui', 'src')]) {
        try {
          walk(src);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
    }
  }
  return out.sort();
}

/** Removes block comments and whole-line `//` comments (examples in doc comments are not imports). */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

interface ImportRef {
  specifier: string;
  /** `import 'x'` with nothing bound: the module runs for its side effects only. */
  sideEffectOnly: boolean;
}

/** Static imports, re-exports, dynamic `import()` and `require()` of a file. */
function importsOf(text: string): ImportRef[] {
  const code = stripComments(text);
  const refs: ImportRef[] = [];
  for (const m of code.matchAll(/(?:^|[;\s])import\s*(['"])([^'"]+)\1/g))
    refs.push({ specifier: m[2]!, sideEffectOnly: true });
  for (const m of code.matchAll(/\b(?:import|export)\b[^'";]*?\bfrom\s*(['"])([^'"]+)\1/g))
    refs.push({ specifier: m[2]!, sideEffectOnly: false });
  for (const m of code.matchAll(/\b(?:import|require)\s*\(\s*(['"])([^'"]+)\1/g))
    refs.push({ specifier: m[2]!, sideEffectOnly: false });
  return refs;
}

/** Where `file`'s relative import `spec` points, relative to the repository root. */
function resolveRelative(file: string, spec: string): string {
  const parts = file.split('/').slice(0, -1);
  for (const seg of spec.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg !== '.') parts.push(seg);
  }
  return parts.join('/');
}

const DEVICE_TESTING = 'packages/device/src/testing';
const inside = (file: string, dir: string) => file === dir || file.startsWith(`${dir}/`);

/** The rule violations of one file, as `file: what`. */
function violations(file: string, text: string): string[] {
  const out: string[] = [];
  const testingCode = inside(file, DEVICE_TESTING);
  const backendCode = /^packages\/backend-[^/]+\/src\//.test(file);
  for (const { specifier, sideEffectOnly } of importsOf(text)) {
    if (!testingCode) {
      if (specifier === '@tessera/device/testing' || specifier.startsWith('@tessera/device/testing/'))
        out.push(`${file}: imports ${specifier} (test support; seeded random helpers are in @tessera/device/random)`);
      if (specifier === 'vitest' || specifier.startsWith('vitest/')) out.push(`${file}: imports ${specifier}`);
      if (specifier.startsWith('.') && inside(resolveRelative(file, specifier), DEVICE_TESTING))
        out.push(`${file}: imports ${specifier} (test support)`);
    }
    if (!backendCode && specifier.startsWith('@tessera/backend-') && !sideEffectOnly)
      out.push(
        `${file}: binds exports of ${specifier} (reach backends through the registry; import the package only to register it)`,
      );
  }
  if (!backendCode && /\bcreate(?:NvidiaSim|AscendSim|WebGpu)Backend\b/.test(stripComments(text)))
    out.push(`${file}: constructs a backend by name (use getBackend / createRuntime({ backend: name }))`);
  return out;
}

describe('layering', () => {
  const files = sourceFiles();

  it('finds the source trees', () => {
    // A wrong root would find nothing and pass vacuously.
    expect(files.length).toBeGreaterThan(100);
    for (const f of ['packages/cli/src/main.ts', 'packages/cluster/src/cluster.ts', 'apps/tour/src/main.ts'])
      expect(files).toContain(f);
  });

  it('recognises each kind of import', () => {
    const bad = [
      "import { rng } from '@tessera/device/testing';",
      "export { rng } from '@tessera/device/testing';",
      "const t = await import('@tessera/device/testing');",
      "import { expect } from 'vitest';",
      "import type { Backend } from '@tessera/backend-nvidia-sim';",
      "import * as nv from '@tessera/backend-nvidia-sim';",
      'const b = createAscendSimBackend();',
      'const b = await createWebGpuBackend();',
      "import { webgpuAvailability } from '@tessera/backend-webgpu';",
    ];
    for (const line of bad) expect(violations('apps/x/src/a.ts', line), line).toHaveLength(1);
    expect(violations('packages/device/src/runtime/x.ts', "import { rng } from '../testing/reference';")).toHaveLength(
      1,
    );
    const fine = [
      "import '@tessera/backend-nvidia-sim';",
      "import '@tessera/backend-webgpu';",
      "import { rng } from '@tessera/device/random';",
      "// import { rng } from '@tessera/device/testing';",
      "/** import { runConformanceSuite } from '@tessera/device/testing'; */",
      "import { getBackend } from '@tessera/device';",
    ];
    for (const line of fine) expect(violations('apps/x/src/a.ts', line), line).toEqual([]);
    expect(violations(`${DEVICE_TESTING}/conformance.ts`, "import { describe } from 'vitest';")).toEqual([]);
    expect(
      violations('packages/backend-nvidia-sim/src/index.ts', "import { createNvidiaSimBackend } from './backend';"),
    ).toEqual([]);
  });

  it('production code imports neither @tessera/device/testing nor vitest, and reaches backends through the registry', () => {
    const found = files.flatMap((f) => violations(f, readFileSync(join(ROOT, f), 'utf8')));
    expect(found).toEqual([]);
  });
});
