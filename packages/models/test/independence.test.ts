/** @tessera/models is pure description: no other Tessera package, no runtime dependency at all. */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../', import.meta.url));

it('has no dependencies and imports only itself and node: built-ins', () => {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
  expect(pkg.dependencies ?? {}).toEqual({});
  const files = readdirSync(`${root}src`).filter((f) => f.endsWith('.ts'));
  expect(files.length).toBeGreaterThan(5);
  for (const f of files) {
    const text = readFileSync(`${root}src/${f}`, 'utf8');
    for (const m of text.matchAll(/\bfrom\s*['"]([^'"]+)['"]/g)) {
      expect(m[1], `${f} imports ${m[1]}`).toMatch(/^(\.\/|node:)/);
    }
  }
});
