/**
 * The main thread's side of the GPU thread (worker.ts): `call` posts a request and blocks on `Atomics.wait` until the
 * reply is there, so the runtime's calls stay synchronous as CUDA's are. The worker is unref'd: an idle GPU thread
 * never keeps the process alive.
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { Reply, Request } from './protocol';

/** How long one request may take before the GPU is declared hung (`TESSERA_WEBGPU_TIMEOUT_MS`, default 5 min). */
function timeoutMs(): number {
  const v = Number(process.env.TESSERA_WEBGPU_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 300_000;
}

export class GpuThread {
  private readonly ctl = new Int32Array(new SharedArrayBuffer(4));
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private dead: string | null = null;

  constructor() {
    // EGL reads EGL_PLATFORM from the C environment; a worker's process.env is a copy, so set it here.
    process.env.EGL_PLATFORM ??= 'surfaceless';
    const here = import.meta.url;
    const ts = here.endsWith('.ts');
    const url = new URL(ts ? './worker-source.mjs' : './worker.js', here);
    const execArgv = ts ? ['--conditions=@tessera/source'] : [];
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(url, {
      execArgv,
      workerData: { control: this.ctl.buffer, port: port2 },
      transferList: [port2],
    });
    this.worker.on('error', (e) => {
      this.dead = `the GPU thread failed: ${e.message}`;
      Atomics.store(this.ctl, 0, 2);
      Atomics.notify(this.ctl, 0);
    });
    this.worker.unref();
    this.port.unref();
  }

  /** Stops the GPU thread (after a failed open). */
  close(): void {
    this.dead = 'the GPU thread was closed';
    void this.worker.terminate();
  }

  /** Sends `req` and waits for its reply. */
  call(req: Request): Reply {
    if (this.dead) return { ok: false, error: this.dead, kind: 'gpu' };
    Atomics.store(this.ctl, 0, 0);
    this.port.postMessage(req);
    const deadline = Date.now() + timeoutMs();
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.dead = `a request to the GPU thread took longer than ${timeoutMs()} ms (a hung kernel?)`;
        void this.worker.terminate();
        return { ok: false, error: this.dead, kind: 'timeout' };
      }
      Atomics.wait(this.ctl, 0, 0, Math.min(left, 1000));
      const msg = receiveMessageOnPort(this.port);
      if (msg) return msg.message as Reply;
      if (this.dead) return { ok: false, error: this.dead, kind: 'gpu' };
    }
  }
}
