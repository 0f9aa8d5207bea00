import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { expect, it } from 'vitest';
import { tour } from '../src/tour';

it('lists devices of both backends and runs vectorAdd correctly on each, with a modelled time', async () => {
  const lines: string[] = [];
  const backends = [createNvidiaSimBackend(), createAscendSimBackend()];
  await tour(backends, (l) => lines.push(l));
  const runs = lines.filter((l) => l.includes('µs modelled'));
  expect(runs.length).toBe(backends.reduce((n, b) => n + b.catalog().length, 0));
  for (const l of runs) expect(l).toMatch(/result correct/);
  // The same kernel, different modelled times: faster memory, faster kernel.
  const us = (id: string) => Number(/([\d.]+) µs modelled/.exec(runs.find((l) => l.includes(` ${id} `))!)![1]);
  expect(us('b200')).toBeLessThan(us('h100'));
  expect(us('h100')).toBeLessThan(us('a100'));
});
