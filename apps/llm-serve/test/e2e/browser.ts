/**
 * The browser for the dashboard's end-to-end tests: Debian's Chromium (tooling/setup/browser-deps.sh installs it;
 * CHROMIUM_PATH overrides), driven by playwright-core. WebGPU is switched on over SwiftShader, Chromium's own CPU
 * Vulkan, so the playground's "run on my GPU" path runs here too.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';

export function chromiumPath(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => !!p && existsSync(p)) ?? null;
}

export const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--use-angle=swiftshader',
];

export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('No Chromium: run tooling/setup/browser-deps.sh or set CHROMIUM_PATH.');
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath, args: ['--no-sandbox', ...WEBGPU_FLAGS] });
}

/** Where screenshots go: TESSERA_E2E_SCREENSHOTS, else apps/llm-serve/test-results/screenshots (git-ignored). */
export function screenshotDir(): string {
  const dir =
    process.env.TESSERA_E2E_SCREENSHOTS ??
    join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-results', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Everything the page reports as an error: console.error and uncaught exceptions. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}
