/**
 * The dashboard in a real browser (Chromium through playwright-core) against `tessera-serve` started as `pnpm start`
 * starts it (the command line, in-process): the banner's URL loads, a chat streams tokens and shows wall and modelled
 * latency, the engine view follows the steps, a projection draws its chart, a playground kernel compiles and shows
 * its modelled times; no console errors anywhere, and the page is interactive in under 2 s (the fastest of up to
 * three cold loads). Screenshots of each view go to test-results/screenshots (the README shows two of them).
 *
 * Skipped, with the reason, where Chromium is missing (tooling/setup/browser-deps.sh installs it as root).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dashboardBuilt } from '@tessera/dashboard';
import type { LLMEngine } from '@tessera/serve';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type ServingHandle } from '../../src/main';
import { chromiumPath, collectErrors, launchBrowser, screenshotDir } from './browser';

/** The browser globals the page-side callbacks use (this package type-checks without the DOM library). */
interface Page$ {
  document: { activeElement: { textContent: string | null } | null; documentElement: { scrollWidth: number } };
  location: { hash: string };
  innerWidth: number;
  navigator: object;
  PerformanceObserver: new (
    callback: (list: { getEntries(): { value: number }[] }) => void,
  ) => { observe(options: { type: string }): void };
  __shift?: number;
}

/**
 * Runs in the page: the visible HTML text whose colour against its effective background (the first opaque
 * background up the tree) is under WCAG AA — 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold). Returns
 * "text — ratio" for each. Disabled controls are exempt, as in WCAG.
 */
function lowContrastTexts(): string[] {
  type Rgba = [number, number, number, number];
  type El = {
    parentElement: El | null;
    textContent: string | null;
    childNodes: ArrayLike<{ nodeType: number; textContent: string | null }>;
    getClientRects(): ArrayLike<unknown>;
    closest(selector: string): unknown;
    matches(selector: string): boolean;
  };
  const g = globalThis as unknown as {
    document: { querySelectorAll(selector: string): ArrayLike<El> };
    getComputedStyle(el: El): {
      color: string;
      backgroundColor: string;
      fontSize: string;
      fontWeight: string;
      visibility: string;
    };
  };
  const parse = (c: string): Rgba => {
    const m = c.match(/[\d.]+/g)?.map(Number) ?? [0, 0, 0, 0];
    return [m[0] ?? 0, m[1] ?? 0, m[2] ?? 0, m[3] ?? 1];
  };
  const lum = ([r, g2, b]: Rgba) => {
    const f = (v: number) => {
      const x = v / 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * f(r) + 0.7152 * f(g2) + 0.0722 * f(b);
  };
  const background = (el: El | null): Rgba => {
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(g.getComputedStyle(e).backgroundColor);
      if (bg[3] >= 0.99) return bg;
    }
    return [255, 255, 255, 1];
  };
  const out: string[] = [];
  const all = g.document.querySelectorAll('body *');
  for (let i = 0; i < all.length; i++) {
    const el = all[i]!;
    if (el.closest('svg, canvas, .u-legend, [hidden], [aria-hidden="true"]') || el.matches(':disabled')) continue;
    let own = '';
    for (let j = 0; j < el.childNodes.length; j++) {
      const n = el.childNodes[j]!;
      if (n.nodeType === 3) own += n.textContent ?? '';
    }
    own = own.trim();
    if (!own || el.getClientRects().length === 0) continue;
    const style = g.getComputedStyle(el);
    if (style.visibility === 'hidden') continue;
    const fg = parse(style.color);
    const bg = background(el);
    // A translucent text colour blends with its background.
    const mix: Rgba = [0, 1, 2].map((k) => fg[k]! * fg[3] + bg[k]! * (1 - fg[3])) as unknown as Rgba;
    const [a, b] = [lum(mix), lum(bg)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = Number.parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`${own.slice(0, 40)} — ${ratio.toFixed(2)}`);
  }
  return out;
}

/** One cold load's timings, ms from navigation start. */
interface Interactive {
  interactiveMs: number;
  /** The HTML arrived. */
  documentMs: number;
  /** /api/info was asked for, and answered. */
  infoStartMs: number;
  infoEndMs: number;
}

/** Loads the dashboard in a fresh context (empty cache) and times it to the rendered model card. */
async function coldLoad(browser: Browser, url: string): Promise<Interactive> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const page = await context.newPage();
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    await page.getByTestId('model-card').waitFor();
    const t = await page.evaluate(() => {
      const perf = performance as unknown as {
        now(): number;
        getEntriesByType(type: string): { name: string; startTime: number; responseEnd: number }[];
      };
      const now = perf.now();
      const doc = perf.getEntriesByType('navigation')[0];
      const info = perf.getEntriesByType('resource').find((e) => e.name.endsWith('/api/info'));
      return [now, doc?.responseEnd ?? -1, info?.startTime ?? -1, info?.responseEnd ?? -1];
    });
    const r = (x: number) => Math.round(x);
    return { interactiveMs: r(t[0]!), documentMs: r(t[1]!), infoStartMs: r(t[2]!), infoEndMs: r(t[3]!) };
  } finally {
    await context.close();
  }
}

const browserPath = chromiumPath();
if (!browserPath)
  console.warn('dashboard e2e skipped: no Chromium (run tooling/setup/browser-deps.sh or set CHROMIUM_PATH)');

describe.skipIf(!browserPath)('dashboard in Chromium', () => {
  let handle: ServingHandle;
  let url = '';
  let browser: Browser;
  let page: Page;
  let errors: string[];
  const banner: string[] = [];
  const shots = screenshotDir();

  beforeAll(async () => {
    expect(dashboardBuilt(), 'the dashboard is not built: run `pnpm build` (turbo builds it before these tests)').toBe(
      true,
    );
    const io = { out: (t: string) => banner.push(t), err: (t: string) => banner.push(t) };
    const status = await run(
      ['--port', '0', '--tp', '2', '--max-model-len', '512', '--max-num-seqs', '8', '--disable-log-requests'],
      io,
      { onListening: (h) => (handle = h) },
    );
    expect(status).toBe(0);
    url = /^Dashboard: (\S+)$/m.exec(banner.join('\n'))?.[1] ?? '';
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    errors = collectErrors(page);
  });

  afterAll(async () => {
    await page?.close();
    await browser?.close();
    await handle?.stop();
  });

  it('prints the dashboard URL in the banner and becomes interactive in under 2 s', async () => {
    expect(url).toBe(`${handle.url}/`);
    // Interactive = from navigation start to the model card (the app fetched /api/info and rendered the chat view),
    // each try in a fresh browser context: an empty cache, as Lighthouse loads a page. A loaded CI machine (other test
    // files share its two cores with Chromium and the server) can only add time, never take it away, so the page's
    // own cost is the fastest of up to three cold loads — the timing a benchmark would report. Each try's breakdown
    // goes into the failure message, to show where the time went.
    const tries: Interactive[] = [];
    for (let i = 0; i < 3 && !tries.some((t) => t.interactiveMs < 2000); i++) tries.push(await coldLoad(browser, url));
    const best = Math.min(...tries.map((t) => t.interactiveMs));
    if (tries.length > 1) console.warn(`dashboard interactive: ${tries.length} cold loads, ${JSON.stringify(tries)}`);
    expect(best, `cold loads: ${JSON.stringify(tries)}`).toBeLessThan(2000);
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    await expect(page.getByTestId('model-card').textContent()).resolves.toMatch(/untrained/);
    await expect(page.getByTestId('hardware').textContent()).resolves.toMatch(/H100.*TP 2|TP 2.*H100/);
  });

  it('streams a chat answer and shows wall and modelled latency', async () => {
    await page.getByLabel('max tokens').fill('16');
    await page.getByLabel('max tokens').dispatchEvent('change');
    await page.getByLabel('Message').fill('Hello from the browser test');
    await page.getByTestId('send').click();
    const answer = page.getByTestId('assistant-message').last();
    await answer.getByTestId('latencies').waitFor({ timeout: 60_000 });
    expect(Number(await answer.getAttribute('data-chunks'))).toBeGreaterThan(1);
    const wall = await answer.getByTestId('wall-ttft').textContent();
    const modelled = await answer.getByTestId('modelled-ttft').textContent();
    expect(wall).toMatch(/\d.*(ms|µs|s)$/);
    expect(modelled).toMatch(/\d.*(ms|µs|s)$/);
    await expect(answer.textContent()).resolves.toMatch(/on .*H100/);
    await page.screenshot({ path: join(shots, 'chat.png') });
  });

  it('does not shift the layout while tokens stream', async () => {
    await page.evaluate(() => {
      const w = globalThis as unknown as Page$;
      w.__shift = 0;
      new w.PerformanceObserver((list) => {
        // Every shift, input-driven or not: Lighthouse leaves out those within 0.5 s of a click, but a fast answer
        // streams entirely inside that window.
        for (const e of list.getEntries()) w.__shift! += e.value;
      }).observe({ type: 'layout-shift' });
    });
    await page.getByLabel('max tokens').fill('40');
    await page.getByLabel('max tokens').dispatchEvent('change');
    await page.getByLabel('Message').fill('A longer answer, please');
    await page.getByTestId('send').click();
    await page.getByTestId('assistant-message').nth(1).getByTestId('latencies').waitFor({ timeout: 60_000 });
    // Cumulative layout shift (Lighthouse: under 0.1 is "good"). Streaming must move nothing: with the fixed-height
    // log and one width for Send/Stop it measures 0 here; a log that grows with its text (the composer moving down a
    // line or two) measured ~1e-3, and Send ↔ Stop at their own widths ~1e-5.
    const shift = await page.evaluate(() => (globalThis as unknown as Page$).__shift);
    expect(shift).toBeLessThan(1e-4);
  });

  it('is keyboard-navigable and fits a narrow screen', async () => {
    await page.goto(url);
    await page.getByTestId('model-card').waitFor();
    // Tab from the top: the skip link, then the views; Enter on "Engine" opens it.
    await page.keyboard.press('Tab');
    await expect(
      page.evaluate(() => (globalThis as unknown as Page$).document.activeElement?.textContent),
    ).resolves.toBe('Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await expect(
      page.evaluate(() => (globalThis as unknown as Page$).document.activeElement?.textContent),
    ).resolves.toBe('Engine');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as Page$).location.hash)).toBe('#/engine');
    await page.setViewportSize({ width: 390, height: 844 });
    for (const view of ['chat', 'engine', 'cluster', 'projection', 'playground']) {
      await page.goto(`${url}#/${view}`);
      await page.waitForTimeout(300);
      const [scroll, inner] = await page.evaluate(() => {
        const w = globalThis as unknown as Page$;
        return [w.document.documentElement.scrollWidth, w.innerWidth];
      });
      expect(scroll, `#/${view} is wider than a 390 px screen`).toBeLessThanOrEqual(inner);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('shows the engine view updating as steps run', async () => {
    await page.goto(`${url}#/engine`);
    await expect.poll(() => page.getByTestId('feed-status').textContent()).toBe('live');
    const steps = async () => Number(await page.getByTestId('step-count').textContent());
    await expect.poll(steps).toBeGreaterThan(0);
    const before = await steps();
    // Another request while the view is open: the step counter and the timeline must move.
    const res = await fetch(`${handle.url}/v1/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: handle.engine.model.id, prompt: 'tick tock', max_tokens: 6, ignore_eos: true }),
    });
    expect(res.status).toBe(200);
    await expect.poll(steps, { timeout: 30_000 }).toBeGreaterThanOrEqual(before + 6);
    await expect.poll(() => page.locator('[data-testid=timeline] rect.op.kernel').count()).toBeGreaterThan(0);
    await expect.poll(() => page.locator('[data-testid=timeline] rect.op.collective').count()).toBeGreaterThan(0);
    await expect(page.getByTestId('download-trace').getAttribute('href')).resolves.toBe('/api/engine/trace');
    await page.screenshot({ path: join(shots, 'engine.png'), fullPage: true });
  });

  it('shows the serving cluster with the links its collectives used', async () => {
    await page.goto(`${url}#/cluster`);
    await page.getByTestId('live-window').waitFor();
    await expect.poll(() => page.locator('[data-testid=topology] .device').count()).toBe(8);
    const busy = page.locator('[data-testid=topology] path.edge:not([data-utilisation="0.0000"])');
    await expect.poll(() => busy.count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await page.screenshot({ path: join(shots, 'cluster.png'), fullPage: true });
  });

  it('runs a projection and draws NVIDIA and Ascend frontiers', async () => {
    await page.goto(`${url}#/projection`);
    await page.getByTestId('run-projection').waitFor();
    await expect.poll(() => page.getByTestId('project-model').inputValue()).toBe('llama-3.1-8b');
    await page.getByLabel('TTFT SLO (ms, optional)').fill('2000');
    await page.getByLabel('TTFT SLO (ms, optional)').dispatchEvent('change');
    await page.getByTestId('run-projection').click();
    const chart = page.getByTestId('frontier-chart');
    await chart.waitFor({ timeout: 90_000 });
    expect(await chart.getAttribute('data-series')).toBe('dgx-h100|atlas-800t-a2');
    const points = (await chart.getAttribute('data-points'))!.split(',').map(Number);
    expect(points.every((n) => n >= 2)).toBe(true);
    expect(await chart.locator('canvas').count()).toBeGreaterThan(0);
    await expect(page.getByTestId('best-bars').textContent()).resolves.toMatch(/dgx-h100.*atlas-800t-a2/s);
    // CSV export: one row per fitting configuration of each system.
    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
    const rows = (await readFile((await csv.path())!, 'utf8')).trim().split('\n');
    expect(rows[0]).toMatch(/^system,vendor,device,chips,tp,/);
    expect(rows.filter((r) => r.startsWith('dgx-h100,nvidia,')).length).toBeGreaterThan(1);
    expect(rows.filter((r) => r.startsWith('atlas-800t-a2,ascend,')).length).toBeGreaterThan(1);
    // With the TTFT SLO, every configuration carries its prefill time (column ttft_ms).
    const ttft = rows[0]!.split(',').indexOf('ttft_ms');
    expect(rows.slice(1).every((r) => Number(r.split(',')[ttft]) > 0)).toBe(true);
    await page.screenshot({ path: join(shots, 'projection.png'), fullPage: true });
  });

  it('compiles a playground kernel, models it on every device, and runs it on a simulator and on WebGPU', async () => {
    await page.goto(`${url}#/playground`);
    await page.getByTestId('compile').click();
    const table = page.getByTestId('device-times');
    await table.waitFor({ timeout: 60_000 });
    // H100 and 910C side by side, each with a modelled time.
    for (const id of ['h100', '910c']) {
      await expect(table.locator(`tr[data-device="${id}"] [data-testid=modelled-ms]`).textContent()).resolves.toMatch(
        /^\d[\d.]* (µs|ms|s)$/,
      );
    }
    await expect(page.getByTestId('compiler-output').textContent()).resolves.toMatch(/kernel @vector_add \(tile\)/);
    await page.getByTestId('show-wgsl').click();
    await expect(page.getByTestId('compiler-output').textContent()).resolves.toMatch(/@compute/);
    await page.getByTestId('run-sim').click();
    await expect(page.getByTestId('sim-result').textContent({ timeout: 60_000 })).resolves.toMatch(/: correct — /);
    // Chromium's WebGPU over SwiftShader (launch flags): the same IR as WGSL, measured beside modelled.
    expect(
      await page.evaluate(() => 'gpu' in (globalThis as unknown as Page$).navigator),
      'Chromium started without WebGPU (see WEBGPU_FLAGS)',
    ).toBe(true);
    await page.getByTestId('run-gpu').click();
    await expect(page.getByTestId('gpu-result').textContent({ timeout: 90_000 })).resolves.toMatch(
      /\(WebGPU\): correct — measured .* vs modelled/,
    );
    await page.getByTestId('show-cost').click();
    const cost = JSON.parse((await page.getByTestId('compiler-output').textContent())!) as {
      total: { bytesRead: number };
      devices: Record<string, { ms: number }>;
    };
    expect(cost.total.bytesRead).toBeGreaterThan(0);
    expect(cost.devices.h100!.ms).toBeGreaterThan(0);
    await page.screenshot({ path: join(shots, 'playground.png'), fullPage: true });
  });

  it("runs the playground's buggy kernel under the sanitizer and shows where it read out of bounds", async () => {
    await page.getByTestId('template-select').selectOption('off-by-one');
    await page.getByTestId('run-sim').click();
    const report = page.getByTestId('sanitizer-report');
    await report.waitFor({ timeout: 60_000 });
    const text = (await report.textContent())!;
    expect(text).toMatch(/Invalid __global__ read/);
    expect(text).toMatch(/ERROR SUMMARY: [1-9]/);
    await expect(page.getByTestId('sim-result').textContent()).resolves.toMatch(/failed/);
  });

  it('has readable contrast: every text on every view at least WCAG AA (4.5:1; 3:1 for large text)', async () => {
    for (const view of ['chat', 'engine', 'cluster', 'projection', 'playground']) {
      await page.goto(`${url}#/${view}`);
      await page.waitForTimeout(500);
      const low = await page.evaluate(lowContrastTexts);
      expect(low, `#/${view}`).toEqual([]);
    }
  });

  it('reported no console errors', () => {
    expect(errors).toEqual([]);
  });

  // Last: it ends the engine (and the browser logs the 503s of /health as console errors, by design).
  it('says at the top of the page when a device fault has ended the engine', async () => {
    await page.goto(`${url}#/engine`);
    await page.getByTestId('feed-status').waitFor();
    const engine = handle.engine as LLMEngine;
    engine.llama.options.cluster.failDevice(1, 'injected by the browser test');
    const res = await fetch(`${handle.url}/v1/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: engine.model.id, prompt: 'hi', max_tokens: 2 }),
    });
    await res.text();
    const banner = page.getByTestId('health');
    await banner.waitFor({ timeout: 30_000 });
    await expect(banner.textContent()).resolves.toMatch(/The engine has stopped serving: .*rank 1/);
  });
});
