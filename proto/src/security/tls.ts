// TLS for every gRPC listener and channel of Berth. A peer is authenticated by the cluster CA and
// named by its certificate's identity (identity.ts), never by a host name: addresses change
// (network namespaces, NAT), identities do not. Servers ask for a client certificate but do not
// require one at the handshake, so the one unauthenticated RPC (joining with a token) can reach
// them; every other RPC is refused by the authorization layer when the peer has no identity.
//
// Plaintext exists only behind --insecure-dev (insecureDev below), which logs a warning.
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import {
  createCertificateProviderChannelCredentials,
  createCertificateProviderServerCredentials,
  type CaCertificateUpdateListener,
  type CertificateProvider,
  type IdentityCertificateUpdateListener,
} from '@grpc/grpc-js/build/src/experimental.js';
import type { AuthContext } from '@grpc/grpc-js/build/src/auth-context.js';
import { certUris, type Credentials } from './pki.js';
import { describeIdentity, identityOf, type Identity } from './identity.js';

/**
 * The name a client sends as TLS server name: never an IP address (RFC 6066 forbids it and node
 * warns), and never checked, since checkServerIdentity checks the identity instead.
 */
export const TLS_SERVER_NAME = 'berth';

/**
 * DNS names every controller's and every agent's certificate also carries, for clients that check
 * a host name rather than a Berth identity: Prometheus scraping /metrics sets them as
 * `tls_config.server_name` (deploy/prometheus/prometheus.yml). Only the CA puts them in a
 * certificate, and only in a controller's or an agent's.
 */
export const CONTROLLER_TLS_NAME = 'controller.berth';
export const AGENT_TLS_NAME = 'agent.berth';

/** How a process speaks on the wire: mTLS with these credentials, or plaintext (--insecure-dev). */
export type Transport = { kind: 'tls'; source: CredentialSource } | { kind: 'insecure' };

/**
 * The credentials a process presents, replaceable while it runs (renewal): servers and channels
 * made from it pick up a new certificate for their next handshake.
 */
export class CredentialSource implements CertificateProvider {
  private caListeners = new Set<CaCertificateUpdateListener>();
  private idListeners = new Set<IdentityCertificateUpdateListener>();
  private updateListeners = new Set<(creds: Credentials) => void>();

  constructor(private creds: Credentials) {}

  /** Calls `fn` with every new set of credentials (not the current one); returns the unsubscribe. */
  onUpdate(fn: (creds: Credentials) => void): () => void {
    this.updateListeners.add(fn);
    return () => void this.updateListeners.delete(fn);
  }

  get current(): Credentials {
    return this.creds;
  }

  update(creds: Credentials): void {
    this.creds = creds;
    for (const l of this.caListeners) l({ caCertificate: Buffer.from(creds.caPem) });
    for (const l of this.idListeners) l(this.identityUpdate());
    for (const l of this.updateListeners) l(creds);
  }

  private identityUpdate(): { certificate: Buffer; privateKey: Buffer } {
    // The chain (certificate, then the CA): a joining agent reads the CA off it to check the digest.
    return { certificate: Buffer.from(this.creds.certPem + this.creds.caPem), privateKey: Buffer.from(this.creds.keyPem) };
  }

  addCaCertificateListener(l: CaCertificateUpdateListener): void {
    this.caListeners.add(l);
    // Delivered after the caller returns: grpc-js registers its own watcher only after adding the
    // provider's listeners, and would miss an update made during the call.
    queueMicrotask(() => this.caListeners.has(l) && l({ caCertificate: Buffer.from(this.creds.caPem) }));
  }
  removeCaCertificateListener(l: CaCertificateUpdateListener): void {
    this.caListeners.delete(l);
  }
  addIdentityCertificateListener(l: IdentityCertificateUpdateListener): void {
    this.idListeners.add(l);
    queueMicrotask(() => this.idListeners.has(l) && l(this.identityUpdate()));
  }
  removeIdentityCertificateListener(l: IdentityCertificateUpdateListener): void {
    this.idListeners.delete(l);
  }
}

export function serverCredentials(t: Transport): grpc.ServerCredentials {
  return t.kind === 'insecure'
    ? grpc.ServerCredentials.createInsecure()
    : createCertificateProviderServerCredentials(t.source, t.source, false);
}

/** What a client accepts as the server: a check of its identity that returns why not, or undefined. */
export type ServerCheck = (id: Identity | undefined) => string | undefined;

export const expectController: ServerCheck = (id) =>
  id?.kind === 'controller' ? undefined : `the server is ${describeIdentity(id)}, not a Berth controller`;

export function expectAgent(nodeId: string): ServerCheck {
  return (id) =>
    id?.kind === 'agent' && id.nodeId === nodeId ? undefined : `the server is ${describeIdentity(id)}, not the agent of ${nodeId}`;
}

function checkServer(check: ServerCheck): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const why = check(identityOf(certUris(cert.raw)));
    return why ? new Error(why) : undefined;
  };
}

/** Channel options every TLS channel adds (the server name sent; see TLS_SERVER_NAME). */
export const TLS_CHANNEL_OPTIONS: grpc.ChannelOptions = { 'grpc.ssl_target_name_override': TLS_SERVER_NAME };

/**
 * Credentials of a channel to a server that must pass `check`: with this process's certificate
 * (mTLS), or, for a party that has none yet (joining), with only the CA it pinned.
 */
export function channelCredentials(t: Transport | { kind: 'ca-only'; caPem: string }, check: ServerCheck): grpc.ChannelCredentials {
  switch (t.kind) {
    case 'insecure':
      return grpc.credentials.createInsecure();
    case 'ca-only':
      return grpc.credentials.createSsl(Buffer.from(t.caPem), null, null, { checkServerIdentity: checkServer(check) });
    case 'tls': {
      let bySource = sharedCredentials.get(t.source);
      if (!bySource) sharedCredentials.set(t.source, (bySource = new WeakMap()));
      let creds = bySource.get(check);
      if (!creds) {
        creds = createCertificateProviderChannelCredentials(t.source, t.source, { checkServerIdentity: checkServer(check) });
        bySource.set(check, creds);
      }
      return creds;
    }
  }
}

/**
 * One ChannelCredentials per credential source and server check. grpc-js lets the channels of a
 * process to one address share a connection only when their credentials are equal, and it
 * compares checkServerIdentity by identity: with a fresh function per channel, every stub of a
 * client (ControlAPI, RolloutAPI, SecretAPI of one `berth apply --wait`) opened a TLS connection
 * and handshake of its own, where plaintext shares one.
 */
const sharedCredentials = new WeakMap<CredentialSource, WeakMap<ServerCheck, grpc.ChannelCredentials>>();

const identityCache = new Map<string, Identity | null>();
const IDENTITY_CACHE_MAX = 4096;

/**
 * The identity of the caller of a server call: from a certificate the cluster CA verified at the
 * handshake (grpc-js gives none otherwise), else undefined.
 */
export function peerIdentity(call: { getAuthContext(): AuthContext }): Identity | undefined {
  const cert = call.getAuthContext().sslPeerCertificate;
  if (!cert?.raw) return undefined;
  const key = cert.fingerprint256;
  let id = identityCache.get(key);
  if (id === undefined) {
    id = identityOf(certUris(cert.raw)) ?? null;
    if (identityCache.size >= IDENTITY_CACHE_MAX) identityCache.clear();
    identityCache.set(key, id);
  }
  return id ?? undefined;
}

/** The serial of the caller's certificate (hex, as pki.certInfo gives it), for revocation checks. */
export function peerSerial(call: { getAuthContext(): AuthContext }): string | undefined {
  return call.getAuthContext().sslPeerCertificate?.serialNumber?.toLowerCase();
}

/**
 * Reads the certificate chain a server presents, trusting nothing, and returns its CA (the
 * self-signed root of the chain) if the CA's digest is `digest`. The first step of joining: the
 * joiner learns the CA from the server and checks it against the token before it sends anything.
 */
export function fetchPinnedCa(address: string, digest: string, timeoutMs = 10_000): Promise<string> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, servername: TLS_SERVER_NAME, rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
      let c: PeerCertificate | undefined = socket.getPeerCertificate(true);
      const seen = new Set<string>();
      let found: string | undefined;
      while (c?.raw && !seen.has(c.fingerprint256)) {
        seen.add(c.fingerprint256);
        if (createHash('sha256').update(c.raw).digest('hex') === digest) {
          found =
            `-----BEGIN CERTIFICATE-----\n${c.raw.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`.replace(
              /\n\n/g,
              '\n',
            );
          break;
        }
        c = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate;
      }
      socket.destroy();
      if (found) resolve(found);
      else
        reject(
          new Error(
            `the server at ${address} does not present the CA the token names (digest ${digest.slice(0, 12)}…): refusing to join it`,
          ),
        );
    });
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`the server at ${address} did not complete a TLS handshake within ${timeoutMs / 1000}s`)),
    );
    socket.on('error', (err) => reject(new Error(`cannot reach ${address} over TLS: ${err.message}`)));
  });
}
