/**
 * Kernel faults and what they leave behind: a body that throws is a sticky LaunchFailure; shared-array accesses out
 * of bounds are illegal-address faults; a faulted or failed device's memory cannot be read (not even by a peer's
 * copy) until reset; copies refuse other runtimes' buffers; pinned host memory counts against the host limit.
 */
import { describe, expect, it } from 'vitest';
import { createRuntime, type Device, simtKernel, TesseraError, tileKernel } from '../src/index';
import { createTestBackend } from '../src/testing/test-backend';
import { testRuntime } from './helpers';

function caught(fn: () => unknown): TesseraError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TesseraError) return e;
    throw new Error(`expected a TesseraError, got ${String(e)}`);
  }
  throw new Error('expected a TesseraError, but nothing was thrown');
}

/** Every program writes 7 at its index; program `bad` throws a RangeError instead. */
const throwsAt = tileKernel({ name: 'throws_at', params: { x: 'ptr<f32>', bad: 'i32' } }, (t, { x, bad }) => {
  const pid = t.programId(0);
  if (pid === bad) throw new RangeError('boom');
  t.store(x, t.arange(pid, pid + 1), t.full([1], 7));
});

/** Program `bad` misuses the tile language (a reshape that does not fit): a TesseraError from inside the body. */
const misusesAt = tileKernel({ name: 'misuses_at', params: { x: 'ptr<f32>', bad: 'i32' } }, (t, { x, bad }) => {
  const pid = t.programId(0);
  const v = pid === bad ? t.reshape(t.arange(0, 4), [3]) : t.full([1], 7);
  t.store(x, t.arange(pid, pid + 1), v);
});

/** The device refuses everything until reset, and reset releases the buffers the faulting launch wrote. */
function expectStickyUntilReset(dev: Device, code: TesseraError['code'], bufs: Parameters<Device['download']>[0][]) {
  expect(dev.failed).toBe(true);
  for (const b of bufs) expect(caught(() => dev.download(b)).code).toBe(code);
  expect(caught(() => dev.alloc('f32', 4)).message).toMatch(/unusable after an earlier fault/);
  expect(caught(() => dev.synchronize()).code).toBe(code);
  dev.reset();
  expect(dev.failed).toBe(false);
  for (const b of bufs) expect(caught(() => dev.download(b)).message).toMatch(/reset\(\) released it/);
  expect(dev.memGetInfo().free).toBe(dev.memGetInfo().total);
  const y = dev.alloc('f32', 4);
  dev.fill(y, 3);
  expect(Array.from(dev.download(y))).toEqual([3, 3, 3, 3]);
}

describe('a kernel body that throws', () => {
  it('is a sticky LaunchFailure naming the kernel, program and original error; earlier writes are unreadable', async () => {
    const dev = (await testRuntime()).device(0);
    const x = dev.alloc('f32', 8);
    dev.launch(throwsAt, { grid: 4 }, { x, bad: 99 });
    expect(Array.from(dev.download(x)).slice(0, 5)).toEqual([7, 7, 7, 7, 0]);
    dev.fill(x, 0);
    const err = caught(() => dev.launch(throwsAt, { grid: 4 }, { x, bad: 2 }));
    expect(err.code).toBe('LaunchFailure');
    expect(err.sticky).toBe(true);
    expect(err.message).toMatch(/kernel 'throws_at' program \(2, 0, 0\) threw RangeError: boom/);
    expect(err.message).toMatch(/device.reset\(\)/);
    expect(err.details).toMatchObject({ kernel: 'throws_at', program: [2, 0, 0], device: dev.label });
    expect(err.details.cause).toBeInstanceOf(RangeError);
    expect(dev.getLastError()).toBe(err);
    // programs 0 and 1 wrote x before the fault; it can never be read back half-done
    expectStickyUntilReset(dev, 'LaunchFailure', [x]);
  });

  it('is sticky also when program 0 throws (before anything ran), and in timing-only mode', async () => {
    for (const mode of ['functional', 'timing'] as const) {
      const dev = (await testRuntime(mode)).device(0);
      const x = dev.alloc('f32', 8);
      const err = caught(() => dev.launch(throwsAt, { grid: 4 }, { x, bad: 0 }));
      expect(err.code).toBe('LaunchFailure');
      expect(err.message).toMatch(/program \(0, 0, 0\) threw RangeError: boom/);
      expect(dev.failed).toBe(true);
      dev.reset();
    }
  });

  it('a SIMT body that throws names the block and thread', async () => {
    const dev = (await testRuntime()).device(0);
    const x = dev.alloc('f32', 64);
    const k = simtKernel({ name: 'simt_throws', params: { x: 'ptr<f32>' } }, (kk, { x }) => {
      const i = kk.blockIdx.x * kk.blockDim.x + kk.threadIdx.x;
      if (i === 37) throw new TypeError('thread 37 has no element');
      x.set(i, 1);
    });
    const err = caught(() => dev.launch(k, { grid: 2, block: 32 }, { x }));
    expect(err.code).toBe('LaunchFailure');
    expect(err.message).toMatch(
      /kernel 'simt_throws' block \(1, 0, 0\) thread \(5, 0, 0\) threw TypeError: thread 37 has no element/,
    );
    expect(err.details.program).toEqual([1, 0, 0]);
    expect(err.details.cause).toBeInstanceOf(TypeError);
    expectStickyUntilReset(dev, 'LaunchFailure', [x]);
  });

  it('kernel-language misuse on any program is a CompileError naming the line: nothing runs, nothing is sticky', async () => {
    const dev = (await testRuntime()).device(0);
    const x = dev.alloc('f32', 8);
    dev.fill(x, 1);
    // Both sides of the runtime branch are compiled, so the misuse is found whichever program would reach it.
    for (const bad of [0, 2, 99]) {
      const err = caught(() => dev.launch(misusesAt, { grid: 4 }, { x, bad }));
      expect(err.code).toBe('CompileError');
      expect(err.sticky).toBe(false);
      expect(err.message).toMatch(/^Kernel 'misuses_at' at test\/faults\.test\.ts:\d+: .*reshape/);
      expect(dev.failed).toBe(false);
      expect(Array.from(dev.download(x))).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    }
  });

  it('GlobalArray.set and atomics refuse values that are not numbers at compile time, naming the line', async () => {
    const dev = (await testRuntime()).device(0);
    const y = dev.alloc('f32', 4);
    const setUndefined = simtKernel({ name: 'set_undefined', params: { y: 'ptr<f32>' } }, (kk, a) => {
      a.y.set(kk.threadIdx.x, undefined as never);
    });
    const addString = simtKernel({ name: 'add_string', params: { y: 'ptr<f32>' } }, (kk, a) => {
      a.y.atomicAdd(kk.threadIdx.x, 'abc' as never);
    });
    const mixed = simtKernel({ name: 'set_mixed', params: { y: 'ptr<f32>', mode: 'i32' } }, (kk, a) => {
      const v = a.mode === 1 ? 'abc' : 1; // which one is only known at run time
      a.y.set(kk.threadIdx.x, v as never);
    });
    const cases = [
      [
        () => dev.launch(setUndefined, { grid: 1, block: 4 }, { y }),
        /set_undefined.*y\.set value must be a number, got undefined/,
      ],
      [
        () => dev.launch(addString, { grid: 1, block: 4 }, { y }),
        /add_string.*atomicAdd value must be a number, got the string "abc"/,
      ],
      [
        () => dev.launch(mixed, { grid: 1, block: 4 }, { y, mode: 0 }),
        /set_mixed.*the string "abc" on one side of a runtime branch/,
      ],
    ] as const;
    for (const [launch, text] of cases) {
      const err = caught(launch);
      expect(err.code).toBe('CompileError');
      expect(err.message).toMatch(/at test\/faults\.test\.ts:\d+/);
      expect(err.message).toMatch(text);
      expect(dev.failed).toBe(false);
    }
  });
});

describe('SIMT shared arrays are bounds-checked', () => {
  const oob = simtKernel(
    {
      name: 'shared_oob',
      params: { out: 'ptr<f32>', read: 'f32', write: 'f32' },
      shared: { tile: ['f32', 32] },
    },
    function* (k, { out, read, write }) {
      const s = k.shared.tile!;
      const t = k.threadIdx.x;
      const w = t === 31 ? write : t;
      s[w] = t + 0.5;
      yield k.syncthreads();
      const r = t !== 31 ? t : read === -1e9 ? Number.NaN : read; // (launch arguments are finite: -1e9 stands for NaN)
      out.set(k.blockIdx.x * 32 + t, s[r]!);
    },
  );

  it('an in-range kernel runs as before: values convert to the dtype, methods work', async () => {
    const dev = (await testRuntime()).device(0);
    const out = dev.alloc('f32', 64);
    dev.launch(oob, { grid: 2, block: 32 }, { out, read: 31, write: 31 });
    expect(Array.from(dev.download(out)).slice(29, 34)).toEqual([29.5, 30.5, 31.5, 0.5, 1.5]);
    const methods = simtKernel(
      { name: 'shared_methods', params: { out: 'ptr<i32>' }, shared: { s: ['i8', 8] } },
      (k, { out }) => {
        const s = k.shared.s!;
        s.fill(3);
        s[1] = 300; // converts as an Int8Array does
        const sub = s.subarray(4, 6);
        sub[0] = -2;
        let sum = 0;
        for (let i = 0; i < s.length; i++) sum += s[i]!;
        out.set(0, s.length);
        out.set(1, sum);
        out.set(2, s[1]!);
        if (k.threadIdx.x === 0) sub[2] = 1; // past the subarray's end: a fault too
      },
    );
    const o = dev.alloc('i32', 3);
    const err = caught(() => dev.launch(methods, { grid: 1, block: 1 }, { out: o }));
    expect(err.code).toBe('IllegalAddress');
    expect(err.message).toMatch(/write of shared array 's.subarray\(4, 6\)' \(i8\[2\]\) at index 2/);
  });

  for (const [what, read, write, op, index] of [
    ['a read past the end', 32, 31, 'read', '32'],
    ['a write past the end', 31, 32, 'write', '32'],
    ['a negative write', 31, -1, 'write', '-1'],
    ['a fractional read', 1.5, 31, 'read', '1.5'],
    ['a NaN read', -1e9, 31, 'read', 'NaN'],
  ] as const) {
    it(`${what} is a sticky illegal-address fault naming kernel, block, thread, array, index and length`, async () => {
      const dev = (await testRuntime()).device(0);
      const out = dev.alloc('f32', 64);
      const err = caught(() => dev.launch(oob, { grid: 2, block: 32 }, { out, read, write } as never));
      expect(err.code).toBe('IllegalAddress');
      expect(err.sticky).toBe(true);
      expect(err.message).toContain(
        `kernel 'shared_oob' block (0, 0, 0) thread (31, 0, 0): ${op} of shared array 'tile' (f32[32]) at index ${index} is out of bounds (valid 0..31)`,
      );
      expect(err.details).toMatchObject({ kernel: 'shared_oob', array: 'tile', length: 32 });
      expectStickyUntilReset(dev, 'IllegalAddress', [out]);
    });
  }

  it('dynamic shared memory is checked too', async () => {
    const dev = (await testRuntime()).device(0);
    const out = dev.alloc('f32', 4);
    const k = simtKernel({ name: 'dyn_oob', params: { out: 'ptr<f32>', n: 'i32' } }, (kk, { out, n }) => {
      const s = kk.dynamicShared('f32', 0, 4);
      s[kk.threadIdx.x] = 1;
      out.set(kk.threadIdx.x, s[kk.threadIdx.x + n]!);
    });
    dev.launch(k, { grid: 1, block: 4, sharedMemBytes: 16 }, { out, n: 0 });
    expect(Array.from(dev.download(out))).toEqual([1, 1, 1, 1]);
    const err = caught(() => dev.launch(k, { grid: 1, block: 4, sharedMemBytes: 16 }, { out, n: 1 }));
    expect(err.code).toBe('IllegalAddress');
    expect(err.message).toMatch(
      /thread \(3, 0, 0\): read of shared array 'dynamicShared\(f32, 0\)' \(f32\[4\]\) at index 4 is out of bounds/,
    );
    dev.reset();
    const k2 = simtKernel({ name: 'dyn_bad', params: { out: 'ptr<f32>' } }, (kk) => {
      kk.dynamicShared('f64' as never);
    });
    expect(
      caught(() => dev.launch(k2, { grid: 1, block: 1, sharedMemBytes: 16 }, { out: dev.alloc('f32', 1) })).message,
    ).toMatch(/dynamicShared: dtype the string "f64" is not a shared-memory dtype; expected one of f32/);
  });
});

describe('copies and failed devices', () => {
  for (const how of ['device.fail', 'a kernel fault'] as const) {
    it(`memcpyDtoD refuses a peer's buffer after ${how}, and the copying device keeps working`, async () => {
      const rt = await testRuntime('functional', 2);
      const [d0, d1] = [rt.device(0), rt.device(1)];
      const src = d1.alloc('f32', 8);
      d1.fill(src, 5);
      const dst = d0.alloc('f32', 8);
      d0.fill(dst, 1);
      d0.memcpyDtoD(dst, src); // fine while d1 is healthy
      expect(d0.download(dst)[0]).toBe(5);
      d0.fill(dst, 1);
      if (how === 'device.fail') d1.fail('injected');
      else caught(() => d1.launch(throwsAt, { grid: 1 }, { x: src, bad: 0 }));
      const err = caught(() => d0.memcpyDtoD(dst, src));
      expect(err.code).toBe('LaunchFailure');
      expect(err.message).toMatch(new RegExp(`memcpyDtoD: src: ${d1.label} is unusable after an earlier fault`));
      expect(d0.failed).toBe(false); // the peer's fault is not d0's
      expect(Array.from(d0.download(dst))).toEqual(new Array(8).fill(1));
      expect(caught(() => d1.memcpyDtoD(src, dst)).code).toBe('LaunchFailure');
      d1.reset();
      expect(caught(() => d0.memcpyDtoD(dst, src)).message).toMatch(/reset\(\) released it/);
      d0.memcpyDtoD(dst, d0.alloc('f32', 8));
      expect(d0.download(dst)[0]).toBe(0);
    });
  }

  it('copies refuse buffers of another runtime', async () => {
    const rt = await testRuntime();
    const other = await testRuntime();
    const dev = rt.device(0);
    const mine = dev.alloc('f32', 8);
    dev.fill(mine, 2);
    const theirs = other.device(0).alloc('f32', 8);
    other.device(0).fill(theirs, 9);
    expect(theirs.owner.label).toBe(dev.label); // same label, other runtime
    expect(caught(() => dev.memcpyDtoD(mine, theirs)).message).toMatch(/memcpyDtoD: src is buffer .* another runtime/);
    expect(caught(() => dev.memcpyDtoD(theirs, mine)).message).toMatch(/memcpyDtoD: dst is buffer .* another runtime/);
    expect(caught(() => dev.upload(theirs, [1])).message).toMatch(/another runtime/);
    expect(caught(() => dev.download(theirs)).message).toMatch(/another runtime/);
    expect(Array.from(dev.download(mine))).toEqual(new Array(8).fill(2));
    expect(Array.from(other.device(0).download(theirs))).toEqual(new Array(8).fill(9));
  });
});

describe('host memory', () => {
  it('pinned host allocations count against hostMemoryLimit until hostFree', async () => {
    const rt = await createRuntime({ backend: createTestBackend(), hostMemoryLimit: 1 << 20 });
    const dev = rt.device(0);
    const a = rt.hostAlloc('f32', 200_000);
    expect(rt.hostBytesInUse).toBe(800_000);
    const err = caught(() => rt.hostAlloc('f32', 100_000));
    expect(err.code).toBe('OutOfMemory');
    expect(err.message).toMatch(/hostAlloc: .* over its hostMemoryLimit of 1.00 MiB/);
    expect(caught(() => dev.alloc('f32', 100_000)).code).toBe('OutOfMemory'); // device data shares the host limit
    expect(rt.isPinned(a)).toBe(true);
    rt.hostFree(a);
    expect(rt.isPinned(a)).toBe(false);
    expect(rt.hostBytesInUse).toBe(0);
    expect(caught(() => rt.hostFree(a)).message).toMatch(/not pinned memory of this runtime/);
    rt.hostFree(rt.hostAlloc('f32', 100_000));
    dev.alloc('f32', 100_000);
    // timing-only runtimes hold no device data, but pinned arrays are real host memory
    const trt = await createRuntime({ backend: createTestBackend(), mode: 'timing', hostMemoryLimit: 1 << 20 });
    trt.device(0).alloc('f32', 1e8);
    expect(caught(() => trt.hostAlloc('u8', 2 << 20)).code).toBe('OutOfMemory');
  });
});
