/**
 * The sanitizer (`@tessera/device`'s docs/sanitizer.md) on both simulator backends: the corpus of buggy kernels is
 * reported with the right kind and place on h100 and 910b2 (the misaligned shared view only where the device refuses
 * it: Ascend's 32-byte Unified Buffer), and every kernel this package exports reports nothing under every tool — one
 * workload (library-workload.ts, shared with cost-modes.test.ts) launches each of them, several variants each, on
 * data that is initialised and flows as it does in a model, and a coverage check fails by name for a kernel added
 * without a launch there.
 */
import { readFileSync } from 'node:fs';
import {
  createRuntime,
  disableSanitizer,
  enableSanitizer,
  type SanitizerReport,
  sanitizerReports,
  sanitizerSummary,
} from '@tessera/device';
import { SANITIZER_CORPUS } from '@tessera/device/testing';
import { afterEach, describe, expect, it } from 'vitest';
import * as ops from '../src/index';
import { kernelsIn, libraryWorkload } from './library-workload';
import { TARGETS } from './setup';

afterEach(() => disableSanitizer());

const text = (rs: readonly SanitizerReport[]) => rs.map((r) => r.text).join('\n');

const exported = kernelsIn(ops);

for (const target of TARGETS) {
  describe(`the sanitizer on ${target.device}`, () => {
    const open = async (count = 1) =>
      createRuntime({ backend: await target.create(), devices: Array(count).fill(target.device), profile: true });

    it('reports nothing for any exported kernel under every tool', async () => {
      enableSanitizer('all', { print: false });
      const rt = await open();
      libraryWorkload(ops, rt.device(0));
      expect(text(sanitizerReports())).toBe('');
      const launched = new Set(rt.profiler.records.filter((a) => a.kind === 'kernel').map((a) => a.name));
      expect(exported.size).toBeGreaterThan(20);
      const missing = [...exported]
        .filter(([name]) => !launched.has(name))
        .map(([name, path]) => `${path} ('${name}')`);
      expect(missing, 'exported kernels the workload never launches').toEqual([]);
      expect(sanitizerSummary().launches).toBeGreaterThan(60);
    });

    for (const c of SANITIZER_CORPUS) {
      // Ascend 910B refuses a view that is not 32-byte aligned (and has no warps); H100 has warps and no such rule.
      const applies = c.needs === undefined || (c.needs === 'warps') === (target.backend === 'nvidia-sim');
      it(`${c.name}: ${applies ? `${c.tool} reports ${c.kind} at its line` : 'nothing to report (the device has no such rule)'}`, async () => {
        enableSanitizer(c.tool, { print: false });
        const rt = await open(c.devices);
        c.run(Array.from({ length: c.devices }, (_, i) => rt.device(i)));
        const errors = sanitizerReports().filter((r) => r.severity === 'error');
        if (!applies) {
          expect(text(errors)).toBe('');
          return;
        }
        expect(
          errors.map((e) => e.kind),
          text(sanitizerReports()),
        ).toEqual([c.kind, ...(c.alsoKinds ?? [])]);
        const r = errors[0]!;
        expect([r.tool, r.kind, r.kernel, r.style, r.space]).toEqual([c.tool, c.kind, c.kernel, c.style, c.space]);
        expect(readFileSync(r.file!, 'utf8').split('\n')[r.line! - 1]).toContain(`// BUG: ${c.name}`);
        if (c.program) expect(r.program).toEqual(c.program);
        if (c.thread) expect({ block: r.block, thread: r.thread }).toEqual({ block: c.block, thread: c.thread });
      });
    }
  });
}
