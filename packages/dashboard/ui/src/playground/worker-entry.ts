/**
 * The playground worker's module: `new Worker(new URL('./playground/worker-entry.ts', import.meta.url),
 * { type: 'module' })`. It answers PlaygroundClient's requests (client.ts) off the page's thread.
 */
import { type PortLike, servePlayground } from './worker';

servePlayground(globalThis as unknown as PortLike);
