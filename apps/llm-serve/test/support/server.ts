/**
 * Starts a server for a test on 127.0.0.1, port 0, over the real engine on the embedded model.
 */
import type { AddressInfo } from 'node:net';
import type { Engine } from '@tessera/serve';
import { createEngine } from '@tessera/serve';
import { loadModel } from '../../src/load-model';
import { createServer, type ServerOptions } from '../../src/server/app';

export interface TestEngineOptions {
  maxModelLen?: number;
  maxNumSeqs?: number;
  /** Waiting-queue bound (the 429 test uses a tiny one). */
  maxWaiting?: number;
}

/** The engine the HTTP tests run against: the real one, on the embedded model, on a simulated H100. */
export async function createTestEngine(o: TestEngineOptions = {}): Promise<Engine> {
  const model = await loadModel('embedded');
  return createEngine({
    model,
    backend: 'nvidia-sim',
    device: 'h100',
    tp: 1,
    maxNumSeqs: o.maxNumSeqs ?? 16,
    maxNumBatchedTokens: 2048,
    maxModelLen: o.maxModelLen ?? 1024,
    blockSize: 16,
    enablePrefixCaching: true,
    maxWaiting: o.maxWaiting ?? 64,
    gpuMemoryUtilization: 0.9,
  });
}

export interface TestServer {
  baseUrl: string;
  engine: Engine;
  close(): Promise<void>;
}

export async function startTestServer(
  options: TestEngineOptions & Omit<ServerOptions, 'engine'> = {},
): Promise<TestServer> {
  const { maxModelLen, maxNumSeqs, maxWaiting, ...serverOptions } = options;
  const engine = await createTestEngine({ maxModelLen, maxNumSeqs, maxWaiting });
  const server = createServer({ engine, ...serverOptions });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    engine,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await engine.shutdown();
    },
  };
}

/** Polls until `check` holds (engine state changes asynchronously after a disconnect). */
export async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
