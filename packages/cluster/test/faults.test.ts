/**
 * Cluster options and fault injection at the device API: a bad timeoutMs is refused up front (NaN or Infinity would
 * corrupt survivors' modelled clocks), and a failed rank's memory cannot be copied out.
 */
import { TesseraError } from '@tessera/device';
import { fuzzParameters, fuzzScale } from '@tessera/device/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCluster } from '../src/index';

async function rejection(p: Promise<unknown>): Promise<TesseraError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TesseraError) return e;
    throw new Error(`expected a TesseraError, got ${String(e)}`);
  }
  throw new Error('expected a TesseraError, but the cluster was created');
}

describe('createCluster options', () => {
  for (const timeoutMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '5', null]) {
    it(`refuses timeoutMs ${String(timeoutMs)} with InvalidValue naming it`, async () => {
      const err = await rejection(createCluster({ topology: 'dgx-h100', ranks: 2, timeoutMs: timeoutMs as never }));
      expect(err.code).toBe('InvalidValue');
      expect(err.message).toMatch(/createCluster: timeoutMs must be a finite number of milliseconds > 0/);
    });
  }

  it('refuses options that are not an object', async () => {
    expect((await rejection(createCluster(null as never))).message).toMatch(/options must be an object/);
  });

  const defaultRuns = 30;
  it(
    'property: any timeoutMs is either refused with InvalidValue or keeps every modelled clock finite after a timeout',
    async () => {
      const timeout = fc.oneof(
        fc.double({ noDefaultInfinity: false, noNaN: false }),
        fc.integer({ min: -10, max: 10 }),
        fc.constantFrom(undefined, null, '100', 1e-300, Number.MAX_VALUE, Number.MIN_VALUE),
      );
      await fc.assert(
        fc.asyncProperty(timeout, async (timeoutMs) => {
          let c: Awaited<ReturnType<typeof createCluster>>;
          try {
            c = await createCluster({ topology: 'dgx-h100', ranks: 2, mode: 'timing', timeoutMs: timeoutMs as never });
          } catch (e) {
            expect(e).toBeInstanceOf(TesseraError);
            expect((e as TesseraError).code).toBe('InvalidValue');
            expect(typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) && timeoutMs > 0).toBe(false);
            return;
          }
          expect(timeoutMs === undefined || (typeof timeoutMs === 'number' && timeoutMs > 0)).toBe(true);
          const bufs = c.devices.map((d) => d.alloc('f32', 4));
          c.failDevice(1);
          let err: unknown;
          try {
            c.world.allReduce(bufs, bufs);
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(TesseraError);
          expect((err as TesseraError).code).toBe('Timeout');
          const survivor = c.devices[0]!;
          expect(Number.isFinite(survivor.defaultStream.timeMs)).toBe(true);
          expect(Number.isFinite(survivor.readyTime(undefined, 'comm'))).toBe(true);
        }),
        fuzzParameters(defaultRuns),
      );
    },
    60_000 * fuzzScale(defaultRuns),
  );
});

describe('failDevice at the device API', () => {
  it('a later memcpyDtoD from or to the failed rank throws; the survivor keeps working; recovery empties it', async () => {
    const c = await createCluster({ topology: 'dgx-h100', ranks: 2 });
    const [d0, d1] = [c.devices[0]!, c.devices[1]!];
    const a = d0.alloc('f32', 8);
    const b = d1.alloc('f32', 8);
    d0.fill(a, 1);
    d1.fill(b, 2);
    d0.memcpyDtoD(a, b);
    expect(d0.download(a)[0]).toBe(2);
    d0.fill(a, 1);
    c.failDevice(1, 'xid 79');
    const from = (() => {
      try {
        d0.memcpyDtoD(a, b);
      } catch (e) {
        return e as TesseraError;
      }
    })();
    expect(from).toBeInstanceOf(TesseraError);
    expect(from?.code).toBe('LaunchFailure');
    expect(from?.message).toMatch(
      /memcpyDtoD: src: h100:1 is unusable after an earlier fault \(h100:1 has failed: xid 79/,
    );
    expect(() => d1.memcpyDtoD(b, a)).toThrow(/has failed: xid 79/);
    expect(() => c.memcpyPeer(a, b)).toThrow(/has failed/);
    expect(d0.failed).toBe(false);
    expect(Array.from(d0.download(a))).toEqual(new Array(8).fill(1));
    c.recoverDevice(1);
    expect(() => d0.memcpyDtoD(a, b)).toThrow(/reset\(\) released it/);
  });

  it('an unknown dtype on an 80 GB H100 does not disable the capacity check', async () => {
    const c = await createCluster({ topology: 'dgx-h100', ranks: 1, mode: 'timing' });
    const d = c.devices[0]!;
    const before = d.memGetInfo();
    expect(() => d.alloc('toString' as never, 4)).toThrow(/alloc: dtype 'toString' is not a dtype/);
    expect(d.memGetInfo()).toEqual(before);
    expect(() => d.alloc('u8', 1e11)).toThrow(/Out of memory on h100:0/);
  });
});
