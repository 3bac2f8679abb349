// The /metrics, /healthz and /readyz endpoint of a component (controller or agent).
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface HttpEndpoint {
  server: Server;
  address: string;
  close(): Promise<void>;
}

/** Extra routes: path → handler returning [status, content-type, body]. */
export type Routes = Record<string, () => Promise<[number, string, string]> | [number, string, string]>;

export async function serveMetrics(listen: string, registry: Registry, ready: () => boolean, routes: Routes = {}): Promise<HttpEndpoint> {
  const [host, portText] = splitHostPort(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const reply = (code: number, type: string, body: string): void => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (path === '/metrics') {
      registry.metrics().then(
        (m) => reply(200, registry.contentType, m),
        (err: unknown) => reply(500, 'text/plain', String(err)),
      );
    } else if (path === '/healthz') reply(200, 'text/plain', 'ok\n');
    else if (path === '/readyz') {
      const ok = ready();
      reply(ok ? 200 : 503, 'text/plain', ok ? 'ready\n' : 'not ready\n');
    } else if (routes[path]) {
      Promise.resolve(routes[path]()).then(
        ([c, t, b]) => reply(c, t, b),
        (err: unknown) => reply(500, 'text/plain', String(err)),
      );
    } else reply(404, 'text/plain', 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(portText), host, () => resolve());
  });
  const a = server.address();
  const address = typeof a === 'object' && a ? `${host}:${a.port}` : listen;
  return { server, address, close: () => new Promise((r) => server.close(() => r())) };
}

export function splitHostPort(s: string): [string, string] {
  const i = s.lastIndexOf(':');
  if (i < 0) throw new Error(`expected host:port, got ${JSON.stringify(s)}`);
  return [s.slice(0, i).replace(/^\[|\]$/g, ''), s.slice(i + 1)];
}
