import '../src/register-backends';
import { isTesseraError } from '@tessera/device';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { selectBackends, tour } from '../src/tour';

// turbo passes TESSERA_BACKEND through from the caller's shell; these tests set it themselves.
const savedBackendEnv = process.env.TESSERA_BACKEND;
beforeEach(() => {
  delete process.env.TESSERA_BACKEND;
});
afterEach(() => {
  if (savedBackendEnv === undefined) delete process.env.TESSERA_BACKEND;
  else process.env.TESSERA_BACKEND = savedBackendEnv;
});

it('lists devices of both backends and runs vectorAdd correctly on each, with a modelled time', async () => {
  const lines: string[] = [];
  const backends = await selectBackends();
  expect(backends.map((b) => b.name)).toEqual(['nvidia-sim', 'ascend-sim']);
  await tour(backends, (l) => lines.push(l));
  const runs = lines.filter((l) => l.includes('µs modelled'));
  expect(runs.length).toBe(backends.reduce((n, b) => n + b.catalog().length, 0));
  for (const l of runs) expect(l).toMatch(/result correct/);
  // The same kernel, different modelled times: faster memory, faster kernel.
  const us = (id: string) => Number(/([\d.]+) µs modelled/.exec(runs.find((l) => l.includes(` ${id} `))!)![1]);
  expect(us('b200')).toBeLessThan(us('h100'));
  expect(us('h100')).toBeLessThan(us('a100'));
});

it('visits only the backend TESSERA_BACKEND names, and names the registered ones when it is unknown', async () => {
  process.env.TESSERA_BACKEND = 'ascend-sim';
  expect((await selectBackends()).map((b) => b.name)).toEqual(['ascend-sim']);
  process.env.TESSERA_BACKEND = 'cuda';
  const e = await selectBackends().catch((x: unknown) => x);
  expect(isTesseraError(e, 'NoBackend')).toBe(true);
  expect((e as Error).message).toMatch(/TESSERA_BACKEND names 'cuda'.*Registered backends: nvidia-sim, ascend-sim/);
});
