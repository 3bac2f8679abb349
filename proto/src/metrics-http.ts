// The /metrics, /healthz and /readyz endpoint of a component (controller or agent), and the
// controller's /sd (Prometheus HTTP service discovery) routes.
//
// Served over HTTPS with the component's own certificate (the CredentialSource its gRPC servers
// use, followed through renewal: each new certificate is the context of the next handshake), and
// only to clients that present a certificate of the cluster CA (requestCert + rejectUnauthorized:
// no certificate, another CA's or an expired one ends at the handshake). Each request is then
// decided by decideHttp (proto/src/security/authz.ts) on the identity the certificate names,
// after the revocation check, so a certificate revoked while its connection stays open is refused
// from its next request. Plain HTTP, with no check at all, only under --insecure-dev (no `tls`).
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Registry } from 'prom-client';
import type { Credentials } from './security/pki.js';
import { certUris } from './security/pki.js';
import { decideHttp, type Decision } from './security/authz.js';
import { identityOf, type Identity } from './security/identity.js';
import type { CredentialSource } from './security/tls.js';
import type { Revocations } from './security/guard.js';

export interface HttpEndpoint {
  server: Server;
  address: string;
  /** "https" (mTLS) or "http" (--insecure-dev): what a scraper's `scheme` is. */
  scheme: 'https' | 'http';
  close(): Promise<void>;
}

/** Extra routes: path → handler returning [status, content-type, body]. */
export type Routes = Record<string, () => Promise<[number, string, string]> | [number, string, string]>;

/** mTLS for the endpoint: the component's credentials and the certificates the cluster no longer honours. */
export interface HttpTls {
  source: CredentialSource;
  /** Absent: no revocation list reaches this component (see docs/security.md). */
  revocations?: Revocations | undefined;
  /** Called with every refusal after the handshake (logs). */
  onDenied?: ((path: string, who: Identity | undefined, d: Exclude<Decision, { ok: true }>) => void) | undefined;
}

/** What a TLS server context is made of: the certificate with its CA (the chain), the key, and the CA clients must come from. */
function secureContextOf(c: Credentials): { cert: string; key: string; ca: string } {
  return { cert: c.certPem + c.caPem, key: c.keyPem, ca: c.caPem };
}

/** The identity a verified client certificate names, parsed once per connection (a keep-alive scraper sends many requests). */
const socketIdentity = new WeakMap<object, { id: Identity | undefined; serial: string | undefined; notBeforeMs: number }>();

function peerOf(socket: TLSSocket): { id: Identity | undefined; serial: string | undefined; notBeforeMs: number } {
  let p = socketIdentity.get(socket);
  if (!p) {
    const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
    p = cert?.raw
      ? {
          id: identityOf(certUris(cert.raw)),
          serial: cert.serialNumber?.toLowerCase(),
          notBeforeMs: cert.valid_from ? Date.parse(cert.valid_from) : 0,
        }
      : { id: undefined, serial: undefined, notBeforeMs: 0 };
    socketIdentity.set(socket, p);
  }
  return p;
}

/** The decision for one request on a TLS endpoint: identity from the certificate, revocation, then the path's rule. */
function authorize(req: IncomingMessage, path: string, tls: HttpTls): Decision {
  const peer = peerOf(req.socket as TLSSocket);
  const revoked = peer.id && tls.revocations?.refused(peer.id, peer.serial, peer.notBeforeMs);
  if (revoked) return { ok: false, code: 'UNAUTHENTICATED', message: `${revoked}: this certificate is no longer honoured by the cluster` };
  const d = decideHttp(path, peer.id);
  if (!d.ok) tls.onDenied?.(path, peer.id, d);
  return d;
}

export async function serveMetrics(
  listen: string,
  registry: Registry,
  ready: () => boolean,
  routes: Routes = {},
  tls?: HttpTls,
): Promise<HttpEndpoint> {
  const [host, portText] = splitHostPort(listen);
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const reply = (code: number, type: string, body: string): void => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (tls) {
      const d = authorize(req, path, tls);
      if (!d.ok) return reply(d.code === 'UNAUTHENTICATED' ? 401 : 403, 'text/plain', d.message + '\n');
    }
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
  };
  let unsubscribe = (): void => {};
  let server: Server;
  if (tls) {
    const s = createHttpsServer(
      { ...secureContextOf(tls.source.current), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
      handler,
    );
    // Renewal: the next handshake uses the new certificate (and the CA it names); open connections keep theirs.
    unsubscribe = tls.source.onUpdate((c) => s.setSecureContext(secureContextOf(c)));
    server = s;
  } else server = createHttpServer(handler);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(portText), host, () => resolve());
    });
  } catch (err) {
    unsubscribe();
    throw err;
  }
  const a = server.address();
  const address = typeof a === 'object' && a ? `${host}:${a.port}` : listen;
  return {
    server,
    address,
    scheme: tls ? 'https' : 'http',
    close: () => {
      unsubscribe();
      return new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    },
  };
}

export function splitHostPort(s: string): [string, string] {
  const i = s.lastIndexOf(':');
  if (i < 0) throw new Error(`expected host:port, got ${JSON.stringify(s)}`);
  return [s.slice(0, i).replace(/^\[|\]$/g, ''), s.slice(i + 1)];
}
