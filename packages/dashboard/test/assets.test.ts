import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardBuilt, dashboardDir, resolveAssetPath, serveDashboardAsset } from '../src/assets';

describe('resolveAssetPath', () => {
  const root = `${sep}srv${sep}ui${sep}`;
  it('maps / to index.html and files inside the root', () => {
    expect(resolveAssetPath(root, '/')).toBe(join(root, 'index.html'));
    expect(resolveAssetPath(root, '/assets/index-abc.js')).toBe(join(root, 'assets', 'index-abc.js'));
  });
  it('refuses paths that leave the root, NUL bytes and bad escapes', () => {
    expect(resolveAssetPath(root, '/../secret')).toBeNull();
    expect(resolveAssetPath(root, '/assets/%2e%2e/%2e%2e/etc/passwd')).toBeNull();
    expect(resolveAssetPath(root, '/a%00b')).toBeNull();
    expect(resolveAssetPath(root, '/%E0%A4%A')).toBeNull();
    expect(resolveAssetPath(root, 'relative')).toBeNull();
  });
});

describe('serveDashboardAsset over HTTP', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer(async (req, res) => {
      if (!(await serveDashboardAsset(req, res))) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end('{"error":{"message":"not found"}}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('leaves unknown files, other methods and traversal to the caller', async () => {
    expect((await fetch(`${base}/no-such-file.js`)).status).toBe(404);
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${base}/..%2f..%2fpackage.json`)).status).toBe(404);
  });

  it('leaves a request target that is no URL path (`//`, which `new URL` rejects) to the caller', async () => {
    const { port } = new URL(base);
    const status = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write('GET // HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (d) => {
        text += d;
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(text.split('\r\n')[0]!));
    });
    expect(status).toBe('HTTP/1.1 404 Not Found');
  });

  it.skipIf(!dashboardBuilt())(
    'serves the built index with its security headers, and hashed assets cached',
    async () => {
      const res = await fetch(`${base}/`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
      // Cross-origin isolated, so the playground's runtime gets SharedArrayBuffer.
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
      const html = await res.text();
      const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
      expect(script, `no script tag in ${dashboardDir()}index.html`).toBeDefined();
      const js = await fetch(`${base}${script}`);
      expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(js.headers.get('cache-control')).toMatch(/immutable/);
      expect((await js.text()).length).toBeGreaterThan(1000);
      const head = await fetch(`${base}/favicon.svg`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
    },
  );
});
