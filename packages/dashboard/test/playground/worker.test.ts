/**
 * The worker protocol (worker.ts) and the page's client (client.ts): requests answered as plain data that survives
 * postMessage, the visitor's errors as PlaygroundErrors, and a deadline that terminates a worker that does not answer.
 */
import { describe, expect, it } from 'vitest';
import {
  OFF_BY_ONE_TEMPLATE,
  PlaygroundClient,
  type PortLike,
  SOFTMAX_TEMPLATE,
  servePlayground,
  VECTOR_ADD_TEMPLATE,
  type WorkerLike,
} from '../../ui/src/playground/index';
import { issueOf } from './helpers';

/** A worker in this thread: messages cross through structuredClone, as postMessage copies them. */
function inProcessWorker(): WorkerLike & { terminated: boolean } {
  const w: WorkerLike & { terminated: boolean } = {
    onmessage: null,
    onerror: null,
    terminated: false,
    postMessage: (m) => {
      if (!w.terminated) queueMicrotask(() => port.onmessage?.({ data: structuredClone(m) }));
    },
    terminate: () => {
      w.terminated = true;
    },
  };
  const port: PortLike = {
    onmessage: null,
    postMessage: (m) => {
      if (!w.terminated) queueMicrotask(() => w.onmessage?.({ data: structuredClone(m) }));
    },
  };
  servePlayground(port);
  return w;
}

/** A worker that never answers (a kernel stuck in a loop). */
function stuckWorker(): WorkerLike & { terminated: boolean } {
  const w = { onmessage: null, onerror: null, terminated: false, postMessage: () => {}, terminate: () => {} };
  w.terminate = () => {
    w.terminated = true;
  };
  return w;
}

describe('PlaygroundClient over the worker protocol', () => {
  const client = new PlaygroundClient(inProcessWorker);

  it('lists the devices, parses, inspects, models and runs', async () => {
    const devices = await client.request({ op: 'devices' });
    expect(devices.find((d) => d.deviceId === 'h100')).toMatchObject({ vendor: 'nvidia', backend: 'nvidia-sim' });
    expect(devices.find((d) => d.deviceId === '910c')).toMatchObject({ vendor: 'ascend', backend: 'ascend-sim' });
    const summary = await client.request({ op: 'parse', source: VECTOR_ADD_TEMPLATE });
    expect(summary).toMatchObject({ kernel: 'vector_add', style: 'tile', output: 'out', checked: true });
    expect(summary.buffers.map((b) => `${b.name}:${b.init}`)).toEqual(['x:random', 'y:random', 'out:poison']);
    const view = await client.request({ op: 'inspect', source: SOFTMAX_TEMPLATE });
    expect(view.ir).toContain('kernel @softmax');
    const model = await client.request({ op: 'model', source: SOFTMAX_TEMPLATE });
    expect(model.rows.length).toBe(devices.length);
    const run = await client.request({ op: 'run', source: SOFTMAX_TEMPLATE, deviceId: '910b2' });
    expect(run.ok).toBe(true);
    expect(run.outputValues).toBeInstanceOf(Float32Array);
    expect(run.relError!).toBeLessThan(1e-5);
  });

  it('sanitizer reports cross the port', async () => {
    const run = await client.request({ op: 'run', source: OFF_BY_ONE_TEMPLATE, deviceId: 'h100', sanitize: true });
    expect(run.ok).toBe(false);
    expect(run.sanitizer.reports.some((r) => r.param === 'x' && r.kind === 'out-of-bounds')).toBe(true);
  });

  it("the visitor's errors come back as PlaygroundErrors with their line", async () => {
    const issue = await issueOf(() => client.request({ op: 'model', source: 'const a = 1;\nconst b = a +;\n' }));
    expect(issue).toMatchObject({ kind: 'syntax', line: 2 });
  });
});

describe('deadlines', () => {
  it('a worker that does not answer is terminated, and the next request gets a fresh one', async () => {
    const made: (WorkerLike & { terminated: boolean })[] = [];
    const client = new PlaygroundClient(() => {
      const w = made.length === 0 ? stuckWorker() : inProcessWorker();
      made.push(w);
      return w;
    });
    const issue = await issueOf(() => client.request({ op: 'model', source: VECTOR_ADD_TEMPLATE }, 50));
    expect(issue.kind).toBe('limit');
    expect(issue.message).toMatch(/Stopped after 50 ms: the model request did not finish in time/);
    expect(made[0]!.terminated).toBe(true);
    const summary = await client.request({ op: 'parse', source: VECTOR_ADD_TEMPLATE });
    expect(summary.kernel).toBe('vector_add');
    expect(made.length).toBe(2);
    expect(made[1]!.terminated).toBe(false);
  });

  it('times a request from when it is sent, not while it waits behind a slow one', async () => {
    // The model's answer comes 1 s late; the parse queued behind it has 500 ms, counted from when it is sent.
    const made: { terminated: boolean }[] = [];
    const client = new PlaygroundClient(() => {
      const inner = inProcessWorker();
      const w: WorkerLike & { terminated: boolean } = {
        onmessage: null,
        onerror: null,
        terminated: false,
        postMessage: (m) => inner.postMessage(m),
        terminate: () => {
          w.terminated = true;
          inner.terminate();
        },
      };
      // Replies in order, the first a second late: the worker is busy with the model that long.
      let replies = 0;
      let inOrder = Promise.resolve();
      inner.onmessage = (ev) => {
        const wait = replies++ === 0 ? 1000 : 0;
        inOrder = inOrder
          .then(() => new Promise((resolve) => setTimeout(resolve, wait)))
          .then(() => {
            if (!w.terminated) w.onmessage?.(ev);
          });
      };
      made.push(w);
      return w;
    });
    const [model, summary] = await Promise.all([
      client.request({ op: 'model', source: VECTOR_ADD_TEMPLATE }, 10_000),
      client.request({ op: 'parse', source: VECTOR_ADD_TEMPLATE }, 500),
    ]);
    expect(model.rows.length).toBeGreaterThan(0);
    expect(summary.kernel).toBe('vector_add');
    expect(made.map((w) => w.terminated)).toEqual([false]);
  });

  it('a request that runs out of time fails alone: the ones queued behind it go on to a fresh worker', async () => {
    const made: (WorkerLike & { terminated: boolean })[] = [];
    const client = new PlaygroundClient(() => {
      const w = made.length === 0 ? stuckWorker() : inProcessWorker();
      made.push(w);
      return w;
    });
    const stuck = issueOf(() => client.request({ op: 'run', source: VECTOR_ADD_TEMPLATE, deviceId: 'h100' }, 30));
    const queued = client.request({ op: 'parse', source: VECTOR_ADD_TEMPLATE }, 30);
    expect((await stuck).kind).toBe('limit');
    expect((await queued).kernel).toBe('vector_add');
    expect(made.map((w) => w.terminated)).toEqual([true, false]);
  });

  it('a request the worker cannot be sent fails at once, and the next one is served', async () => {
    let first = true;
    const client = new PlaygroundClient(() => {
      if (first) {
        first = false;
        throw new Error('no worker');
      }
      return inProcessWorker();
    });
    const issue = await issueOf(() => client.request({ op: 'devices' }));
    expect(issue).toMatchObject({ kind: 'environment' });
    expect(issue.message).toMatch(/devices request could not be sent to the playground worker: no worker/);
    expect((await client.request({ op: 'parse', source: VECTOR_ADD_TEMPLATE })).kernel).toBe('vector_add');
  });

  it('cancel stops the worker and fails what it held', async () => {
    const w = stuckWorker();
    const client = new PlaygroundClient(() => w);
    const pending = issueOf(() => client.request({ op: 'run', source: VECTOR_ADD_TEMPLATE, deviceId: 'h100' }));
    client.cancel();
    expect((await pending).message).toBe('Cancelled.');
    expect(w.terminated).toBe(true);
  });
});
