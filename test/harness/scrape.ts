// GETs on the components' HTTP endpoints (/metrics, /sd, /healthz, /readyz) as a scraper: over
// mTLS with a credential of the cluster (the harness's admin unless told), plaintext only for
// clusters run with --insecure-dev. The server is accepted on the cluster CA alone (its name is
// not checked: agents' certificates carry no address).
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { Credentials } from '../../proto/src/security/pki.js';

export interface HttpAnswer {
  status: number;
  body: string;
}

/** GET `url` (http:// or https://); with https, `creds` is the client certificate (none: no client certificate). */
export function httpGet(url: string, creds?: Partial<Credentials> & { caPem: string }, timeoutMs = 5_000): Promise<HttpAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const done = (res: IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    };
    const req =
      u.protocol === 'https:'
        ? httpsRequest(
            url,
            {
              ca: creds?.caPem,
              cert: creds?.certPem,
              key: creds?.keyPem,
              agent: false,
              servername: 'berth',
              checkServerIdentity: () => undefined,
            },
            done,
          )
        : httpRequest(url, { agent: false }, done);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** The text of a 200 answer, else an error naming the status and body. */
export async function scrapeText(url: string, creds?: Partial<Credentials> & { caPem: string }, timeoutMs = 5_000): Promise<string> {
  const r = await httpGet(url, creds, timeoutMs);
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${r.body.trim()}`);
  return r.body;
}

/** The serial (hex, as certInfo gives it) of the certificate a TLS endpoint presents now. */
export function servedSerial(address: string, creds: Credentials): Promise<string> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const s = tlsConnect(
      {
        host: address.slice(0, i).replace(/^\[|\]$/g, ''),
        port: Number(address.slice(i + 1)),
        ca: creds.caPem,
        cert: creds.certPem,
        key: creds.keyPem,
        servername: 'berth',
        checkServerIdentity: () => undefined,
      },
      () => {
        const serial = s.getPeerCertificate().serialNumber;
        s.destroy();
        resolve(serial);
      },
    );
    s.on('error', reject);
  });
}
