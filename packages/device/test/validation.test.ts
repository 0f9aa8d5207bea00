/**
 * Bad arguments at every public entry point: each throws TesseraError (never a TypeError or RangeError) naming the
 * parameter, and changes nothing — capacity accounting, other buffers and the device's usability stay as they were.
 */
import { describe, expect, it } from 'vitest';
import {
  createRuntime,
  type Device,
  type DeviceBuffer,
  findDeviceModel,
  getBackend,
  registerBackend,
  removeBackend,
  simtKernel,
  TesseraError,
  tileKernel,
} from '../src/index';
import { createTestBackend } from '../src/testing/test-backend';
import { testRuntime } from './helpers';

const scale = tileKernel({ name: 'scale', params: { x: 'ptr<f32>', n: 'i32' } }, (t, { x, n }) => {
  const o = t.arange(0, 16);
  t.store(x, o, t.load(x, o, { mask: o.lt(n) }).mul(2), { mask: o.lt(n) });
});

/** Runs `fn`, which must throw a TesseraError with `code` whose message matches `text`; returns the error. */
function rejects(fn: () => unknown, code: TesseraError['code'], text: RegExp): TesseraError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof TesseraError)) {
    throw new Error(
      `expected TesseraError ${code} matching ${text}, got ${caught === undefined ? 'no error' : String(caught)}`,
    );
  }
  expect(caught.code, caught.message).toBe(code);
  expect(caught.message).toMatch(text);
  return caught;
}

async function setup() {
  const rt = await testRuntime('functional', 2);
  const dev = rt.device(0);
  const canary = dev.alloc('f32', 16);
  dev.upload(
    canary,
    Array.from({ length: 16 }, (_, i) => i * 1.5 - 3),
  );
  return { rt, dev, canary, before: Array.from(dev.download(canary)), info: dev.memGetInfo() };
}

/** Nothing changed: accounting, the canary's contents, and the device still allocates, launches and copies. */
function expectIntact(dev: Device, canary: DeviceBuffer, before: number[], info: { free: number; total: number }) {
  expect(dev.memGetInfo()).toEqual(info);
  expect(Number.isFinite(dev.memGetInfo().free)).toBe(true);
  expect(Array.from(dev.download(canary))).toEqual(before);
  expect(dev.failed).toBe(false);
  const y = dev.alloc('f32', 16);
  dev.upload(y, new Float32Array(16).fill(1));
  dev.launch(scale, { grid: 1 }, { x: y, n: 16 });
  expect(dev.download(y)[15]).toBe(2);
  dev.free(y);
}

describe('dtype names are own keys of the dtype table', () => {
  for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 'f64', '']) {
    it(`alloc('${name}', 4) is InvalidValue and leaves capacity accounting finite and working`, async () => {
      const { dev, canary, before, info } = await setup();
      rejects(() => dev.alloc(name as never, 4), 'InvalidValue', /alloc: dtype .* is not a dtype; expected one of f32/);
      expect(dev.memGetInfo().free).toBe(info.free);
      // the capacity check still holds: more than the device has is refused
      rejects(() => dev.alloc('u8', info.total + 1), 'OutOfMemory', /Out of memory/);
      rejects(() => dev.alloc('u8', 1e11), 'OutOfMemory', /Out of memory/);
      expectIntact(dev, canary, before, info);
    });
  }

  it('buf.as and hostAlloc check dtypes the same way', async () => {
    const { rt, dev, canary, before, info } = await setup();
    rejects(() => canary.as('f64' as never), 'InvalidValue', /as: dtype 'f64' is not a dtype/);
    rejects(() => canary.as('toString' as never), 'InvalidValue', /as: dtype 'toString'/);
    rejects(() => rt.hostAlloc('constructor' as never, 4), 'InvalidValue', /hostAlloc: dtype 'constructor'/);
    expect(rt.hostBytesInUse).toBe(64); // the canary's bytes only
    expectIntact(dev, canary, before, info);
  });
});

describe('every entry point validates its arguments', () => {
  // The cases of the issue, one test each: today's main throws TypeError / RangeError or nothing at all.
  const cases: [string, (c: Awaited<ReturnType<typeof setup>>) => unknown, TesseraError['code'], RegExp][] = [
    [
      'launch(k, undefined, args)',
      ({ dev, canary }) => dev.launch(scale, undefined as never, { x: canary, n: 16 }),
      'InvalidValue',
      /launch of 'scale' on .*: config must be an object/,
    ],
    [
      'launch with grid: null',
      ({ dev, canary }) => dev.launch(scale, { grid: null as never }, { x: canary, n: 16 }),
      'InvalidConfiguration',
      /grid must be 1 to 3 integers ≥ 1, got null/,
    ],
    [
      "alloc('f32', null)",
      ({ dev }) => dev.alloc('f32', null as never),
      'InvalidValue',
      /alloc: shape must be a count or an array of counts, got null/,
    ],
    [
      'event.record(null)',
      ({ dev }) => dev.createEvent().record(null as never),
      'InvalidValue',
      /event.record: stream must be a Stream/,
    ],
    [
      "buf.as('f64')",
      ({ canary }) => canary.as('f64' as never),
      'InvalidValue',
      /as: dtype 'f64' is not a dtype; expected one of/,
    ],
    [
      "hostAlloc('f32', 2**53 + 2)",
      ({ rt }) => rt.hostAlloc('f32', 2 ** 53 + 2),
      'InvalidValue',
      /hostAlloc: count = .* is beyond 2⁵³/,
    ],
    [
      "upload(buf, ['a', 'b'])",
      ({ dev, canary }) => dev.upload(canary, ['a', 'b'] as never),
      'InvalidValue',
      /upload: values\[0\] is string 'a', not a number; nothing was copied/,
    ],
  ];
  for (const [name, fn, code, text] of cases) {
    it(`${name} is a TesseraError ${code} and changes nothing`, async () => {
      const c = await setup();
      rejects(() => fn(c), code, text);
      expectIntact(c.dev, c.canary, c.before, c.info);
    });
  }

  it('runtime: createRuntime options, device ordinals, hostAlloc / hostFree', async () => {
    const backend = createTestBackend();
    await expect(createRuntime(null as never)).rejects.toThrow(/createRuntime: options must be an object/);
    await expect(createRuntime({ backend: 7 as never })).rejects.toThrow(/backend must be a backend name/);
    await expect(createRuntime({ backend, devices: [3] as never })).rejects.toThrow(/devices must be a device id/);
    await expect(createRuntime({ backend, count: Number.NaN })).rejects.toThrow(/count must be an integer ≥ 1/);
    await expect(createRuntime({ backend, hostMemoryLimit: Number.NaN })).rejects.toThrow(/hostMemoryLimit must be/);
    await expect(createRuntime({ backend, hostMemoryLimit: -1 })).rejects.toThrow(/hostMemoryLimit must be/);
    await expect(createRuntime({ backend, profile: 'yes' as never })).rejects.toThrow(/profile must be true, false/);
    expect(() => registerBackend(null as never, () => backend)).toThrow(
      /registerBackend: name must be a non-empty string/,
    );
    expect(() => registerBackend('x', null as never)).toThrow(/registerBackend: factory must be a function/);
    expect(() => registerBackend('x', () => backend, { priority: Number.NaN })).toThrow(/options.priority/);
    expect(() => removeBackend(3 as never)).toThrow(/removeBackend: name/);
    await expect(getBackend(3 as never)).rejects.toThrow(/getBackend: name must be a non-empty string/);
    expect(() => findDeviceModel(backend, null as never)).toThrow(/findDeviceModel: id must be a device id/);
    const { rt, dev, canary, before, info } = await setup();
    for (const i of [Number.NaN, -1, 1.5, '0', null, 2])
      rejects(() => rt.device(i as never), 'InvalidDevice', /No device/);
    for (const n of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, null, '4', 2 ** 53]) {
      rejects(() => rt.hostAlloc('f32', n as never), 'InvalidValue', /hostAlloc: count/);
    }
    rejects(() => rt.hostFree(new Float32Array(4)), 'InvalidValue', /hostFree: array .* is not pinned memory/);
    rejects(() => rt.hostFree(null as never), 'InvalidValue', /hostFree: array null/);
    expectIntact(dev, canary, before, info);
  });

  it('device: alloc, malloc, free and memGetInfo', async () => {
    const { rt, dev, canary, before, info } = await setup();
    for (const shape of [
      -1,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      undefined,
      '4',
      [2, -1],
      [2, null],
      [2 ** 30, 2 ** 30],
    ]) {
      rejects(() => dev.alloc('f32', shape as never), 'InvalidValue', /alloc: shape/);
    }
    for (const b of [-1, 0.5, Number.NaN, null, '8', 2 ** 53 + 2])
      rejects(() => dev.malloc(b as never), 'InvalidValue', /malloc: bytes/);
    for (const b of [null, undefined, {}, new Float32Array(4)])
      rejects(() => dev.free(b as never), 'InvalidValue', /free: buffer must be a device buffer/);
    const other = await testRuntime();
    const foreign = other.device(0).alloc('f32', 4);
    rejects(() => dev.free(foreign), 'InvalidValue', /belongs to another runtime/);
    rejects(() => dev.free(rt.device(1).alloc('f32', 4)), 'InvalidValue', /belongs to another device/);
    rejects(() => dev.free(canary.view(0, 4)), 'InvalidValue', /is a view/);
    expectIntact(dev, canary, before, info);
  });

  it('device: copies, memset, fill, upload, download', async () => {
    const { rt, dev, canary, before, info } = await setup();
    const small = dev.alloc('f32', 4);
    const info2 = dev.memGetInfo();
    const bad = [null, 'x', 5, []];
    for (const o of bad) {
      rejects(
        () => dev.memcpyHtoD(small, new Float32Array(4), o as never),
        'InvalidValue',
        /memcpyHtoD: options must be an object/,
      );
      rejects(
        () => dev.memcpyDtoH(new Float32Array(4), small, o as never),
        'InvalidValue',
        /memcpyDtoH: options must be/,
      );
      rejects(() => dev.memcpyDtoD(small, canary, o as never), 'InvalidValue', /memcpyDtoD: options must be/);
      rejects(() => dev.memset(canary, 0, o as never), 'InvalidValue', /memset: options must be/);
      rejects(() => dev.fill(canary, 0, o as never), 'InvalidValue', /fill: options must be/);
      rejects(() => dev.upload(canary, [1], o as never), 'InvalidValue', /upload: options must be/);
      rejects(() => dev.download(canary, o as never), 'InvalidValue', /download: options must be/);
    }
    for (const s of [null, 0, {}, 'default']) {
      rejects(() => dev.memset(canary, 0, { stream: s as never }), 'InvalidValue', /memset: stream must be a Stream/);
      rejects(() => dev.memcpyHtoDAsync(canary, new Float32Array(4), s as never), 'InvalidValue', /stream must be/);
    }
    rejects(
      () => dev.memset(canary, 0, { stream: rt.device(1).createStream() }),
      'InvalidResourceHandle',
      /belongs to/,
    );
    rejects(
      () => dev.memcpyHtoD(canary, [1, 2] as never),
      'InvalidValue',
      /host side must be a typed array, got an array/,
    );
    rejects(
      () => dev.memcpyHtoD(canary, new DataView(new ArrayBuffer(4)) as never),
      'InvalidValue',
      /DataView does not match/,
    );
    rejects(
      () => dev.memcpyHtoD(canary, new Float32Array(4), { async: 'yes' as never }),
      'InvalidValue',
      /options.async/,
    );
    rejects(() => dev.memcpyDtoH(null as never, canary), 'InvalidValue', /host side must be a typed array, got null/);
    for (const bytes of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '4', null]) {
      rejects(
        () => dev.memcpyDtoD(canary, small, { bytes: bytes as never }),
        'InvalidValue',
        /memcpyDtoD: options.bytes must be an integer/,
      );
    }
    rejects(() => dev.memcpyDtoD(canary, null as never), 'InvalidValue', /memcpyDtoD: src must be a device buffer/);
    rejects(() => dev.memcpyDtoD(null as never, canary), 'InvalidValue', /memcpyDtoD: dst must be a device buffer/);
    for (const v of [-1, 256, 1.5, Number.NaN, null, '0'])
      rejects(() => dev.memset(canary, v as never), 'InvalidValue', /memset: value/);
    for (const v of [null, undefined, '1', [1]])
      rejects(() => dev.fill(canary, v as never), 'InvalidValue', /fill: value must be a number/);
    const data = [
      ['a', 'b'],
      [1, undefined],
      [1, null],
      // biome-ignore lint/suspicious/noSparseArray: a hole reads as undefined
      [1, , 3],
      'abc',
      null,
      undefined,
      7,
      { length: Number.NaN },
      { length: -1 },
      { length: 2 ** 60 },
      new DataView(new ArrayBuffer(8)),
    ];
    for (const d of data) rejects(() => dev.upload(canary, d as never), 'InvalidValue', /upload: values/);
    for (const offset of [-1, 1.5, Number.NaN, '1', null]) {
      rejects(() => dev.upload(canary, [1], { offset: offset as never }), 'InvalidValue', /upload: options.offset/);
    }
    rejects(() => dev.upload(canary, [1, 2], { offset: 15 }), 'InvalidValue', /run past the end/);
    expect(dev.memGetInfo()).toEqual(info2);
    dev.free(small);
    expectIntact(dev, canary, before, info);
  });

  it('device: streams, events, synchronisation and runtime-extension hooks', async () => {
    const { dev, canary, before, info } = await setup();
    for (const o of [null, 'x', 3])
      rejects(() => dev.createEvent(o as never), 'InvalidValue', /createEvent: options must be/);
    rejects(() => dev.createEvent({ timing: 'no' as never }), 'InvalidValue', /createEvent: options.timing/);
    const ev = dev.createEvent();
    for (const s of [null, 0, {}, dev])
      rejects(() => ev.record(s as never), 'InvalidValue', /event.record: stream must be a Stream/);
    ev.record(); // the default stream
    expect(ev.recorded).toBe(true);
    const s = dev.createStream();
    for (const e of [null, undefined, {}, s])
      rejects(() => s.waitEvent(e as never), 'InvalidValue', /stream.waitEvent: event must be an Event/);
    for (const e of [null, undefined, {}])
      rejects(() => ev.elapsedTime(e as never), 'InvalidValue', /elapsedTime: end must be an Event/);
    const other = (await testRuntime()).device(0).createEvent();
    other.record();
    rejects(() => s.waitEvent(other), 'InvalidResourceHandle', /another runtime/);
    rejects(() => ev.elapsedTime(other), 'InvalidResourceHandle', /different runtimes/);
    for (const ms of [Number.NaN, Number.POSITIVE_INFINITY, -1, '1']) {
      rejects(
        () => dev.occupy(undefined, 'comm', 0, ms as never, { kind: 'collective', name: 'x' }),
        'InvalidValue',
        /ms must be a finite number/,
      );
      rejects(
        () => dev.occupy(undefined, 'comm', ms as never, 1, { kind: 'collective', name: 'x' }),
        'InvalidValue',
        /startMs must be/,
      );
    }
    rejects(() => dev.readyTime(undefined, null as never), 'InvalidValue', /engine must be a non-empty string/);
    rejects(() => dev.fail(undefined as never), 'InvalidValue', /device.fail: reason/);
    expect(Number.isFinite(dev.readyTime(undefined, 'comm'))).toBe(true);
    expectIntact(dev, canary, before, info);
  });

  it('buffers: view and as', async () => {
    const { dev, canary, before, info } = await setup();
    for (const off of [-1, 1.5, Number.NaN, null, '1'])
      rejects(() => canary.view(off as never, 2), 'InvalidValue', /view: offset/);
    for (const len of [-1, 1.5, Number.NaN, null, '1'])
      rejects(() => canary.view(0, len as never), 'InvalidValue', /view: length/);
    rejects(() => canary.view(17), 'InvalidValue', /runs past the end/);
    rejects(() => canary.view(0, 4, 'x' as never), 'InvalidValue', /view: shape/);
    rejects(() => canary.view(0, 4, [2, 3]), 'InvalidValue', /does not hold 4 elements/);
    for (const d of [null, undefined, 4, 'float64']) rejects(() => canary.as(d as never), 'InvalidValue', /as: dtype/);
    rejects(() => canary.as('u8').view(1, 4).as('f32'), 'InvalidValue', /multiples of 4/);
    expectIntact(dev, canary, before, info);
  });

  it('launch: kernel, configuration and arguments', async () => {
    const { dev, canary, before, info } = await setup();
    for (const k of [null, undefined, {}, { style: 'tile' }, scale.body]) {
      rejects(
        () => dev.launch(k as never, { grid: 1 }, { x: canary, n: 16 }),
        'InvalidValue',
        /launch: kernel is not a kernel/,
      );
    }
    for (const c of [null, undefined, 1, [1]])
      rejects(() => dev.launch(scale, c as never, { x: canary, n: 16 }), 'InvalidValue', /config must be an object/);
    for (const grid of [null, undefined, 0, -1, 1.5, Number.NaN, '1', [1, 1, 1, 1], [], [1, null], { x: 1 }]) {
      rejects(
        () => dev.launch(scale, { grid: grid as never }, { x: canary, n: 16 }),
        'InvalidConfiguration',
        /grid must be 1 to 3 integers/,
      );
    }
    rejects(
      () => dev.launch(scale, { grid: 1, exact: 1 as never }, { x: canary, n: 16 }),
      'InvalidValue',
      /config.exact/,
    );
    rejects(
      () => dev.launch(scale, { grid: 1, stream: null as never }, { x: canary, n: 16 }),
      'InvalidValue',
      /stream must be a Stream/,
    );
    for (const args of [null, undefined, 3])
      rejects(() => dev.launch(scale, { grid: 1 }, args as never), 'InvalidValue', /arguments must be an object/);
    rejects(
      () => dev.launch(scale, { grid: 1 }, { x: canary, n: Number.NaN }),
      'InvalidValue',
      /'n' must be a finite number/,
    );
    const simt = simtKernel({ name: 'noop', params: { x: 'ptr' } }, () => {});
    for (const block of [null, 0, 1.5, [1, 1, 1, 1]]) {
      rejects(
        () => dev.launch(simt, { grid: 1, block: block as never }, { x: canary }),
        'InvalidConfiguration',
        /block must be 1 to 3 integers/,
      );
    }
    for (const smem of [-1, 1.5, Number.NaN, null, '4']) {
      rejects(
        () => dev.launch(simt, { grid: 1, sharedMemBytes: smem as never }, { x: canary }),
        'InvalidConfiguration',
        /sharedMemBytes/,
      );
    }
    expectIntact(dev, canary, before, info);
  });

  it('kernel definitions', () => {
    rejects(() => tileKernel(null as never, () => {}), 'InvalidValue', /tileKernel: definition must be an object/);
    rejects(
      () => tileKernel({ name: 'k', params: null as never }, () => {}),
      'InvalidValue',
      /'k': params must be an object/,
    );
    rejects(() => tileKernel({ name: 'k', params: {} }, null as never), 'InvalidValue', /'k': body must be a function/);
    rejects(
      () => tileKernel({ name: 'k', params: { x: 3 as never } }, () => {}),
      'InvalidValue',
      /parameter 'x' has a spec of number 3/,
    );
    rejects(
      () => simtKernel({ name: 'k', params: {}, shared: { s: null as never } }, () => {}),
      'InvalidValue',
      /shared array 's'/,
    );
    rejects(
      () => simtKernel({ name: 'k', params: {}, flopsPerThread: Number.NaN }, () => {}),
      'InvalidValue',
      /flopsPerThread/,
    );
    rejects(
      () => simtKernel({ name: 'k', params: {} }, () => {}).setMaxDynamicSharedMemory(-1),
      'InvalidValue',
      /bytes must be an integer/,
    );
  });
});
