/**
 * Server-sent events as OpenAI and vLLM send them: `data: <json>\n\n` per event, `data: [DONE]\n\n` at the end.
 * Writes respect backpressure, and stop waiting when the client is gone (the request is being aborted then).
 */
import type { ServerResponse } from 'node:http';
import { type ApiError, errorBody } from './errors';

/** The response headers of an event stream (this writer's, and the dashboard's engine events). */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
};

export class SseWriter {
  constructor(private readonly res: ServerResponse) {}

  get started(): boolean {
    return this.res.headersSent;
  }

  private get gone(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  start(): void {
    this.res.writeHead(200, { ...SSE_HEADERS });
    // Headers now, not with the first event, so the client sees the stream open.
    this.res.flushHeaders();
  }

  async send(event: unknown): Promise<void> {
    await this.write(`data: ${JSON.stringify(event)}\n\n`);
  }

  /** An error after the stream started: vLLM's convention is an error event, then [DONE]. */
  async fail(err: ApiError): Promise<void> {
    await this.send(errorBody(err));
    this.done();
  }

  done(): void {
    if (this.gone) return;
    this.res.end('data: [DONE]\n\n');
  }

  private write(text: string): Promise<void> {
    if (this.gone) return Promise.resolve();
    if (this.res.write(text)) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        this.res.off('drain', finish);
        this.res.off('close', finish);
        resolve();
      };
      this.res.on('drain', finish);
      this.res.on('close', finish);
    });
  }
}
