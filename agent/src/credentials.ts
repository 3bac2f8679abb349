// The agent's identity: a certificate of the cluster CA naming its node id, kept in the state
// directory (tls/ca.pem, cert.pem, key.pem; the key mode 600). The first start joins with a
// token: the agent reads the CA off a controller's TLS handshake, checks it against the digest
// the token carries before it sends anything, and exchanges the token and a certificate request
// (its key never leaves the host) for its certificate. From then on it speaks mTLS only, and
// renews the certificate at two thirds of its lifetime, over mTLS, for a new key.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, loadProto } from '../../proto/src/grpc.js';
import type { Logger } from '../../proto/src/log.js';
import type { ProtoGrpcType as SecurityProto } from '../../proto/gen/security.js';
import type { CertificateResponse__Output } from '../../proto/gen/berth/v1/CertificateResponse.js';
import { certInfo, checkPair, createCsr, type Credentials } from '../../proto/src/security/pki.js';
import { identityOf } from '../../proto/src/security/identity.js';
import { parseToken } from '../../proto/src/security/tokens.js';
import {
  channelCredentials,
  CredentialSource,
  expectController,
  fetchPinnedCa,
  TLS_CHANNEL_OPTIONS,
  type Transport,
} from '../../proto/src/security/tls.js';

const CALL_TIMEOUT_MS = 15_000;

export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
}

function dirOf(stateDir: string): string {
  return join(stateDir, 'tls');
}

/** The credentials kept in the state directory, checked (pair, CA, node id), or undefined when there are none. */
export async function loadCredentials(stateDir: string, nodeId: string): Promise<Credentials | undefined> {
  const dir = dirOf(stateDir);
  const files = ['ca.pem', 'cert.pem', 'key.pem'].map((f) => join(dir, f));
  if (!files.every((f) => existsSync(f))) return undefined;
  const keyMode = statSync(files[2]!).mode & 0o077;
  if (keyMode !== 0) throw new CredentialsError(`${files[2]}: readable by others (chmod 600 it)`);
  const [caPem, certPem, keyPem] = files.map((f) => readFileSync(f, 'utf8')) as [string, string, string];
  try {
    await checkPair({ certPem, keyPem }, caPem);
  } catch (err) {
    throw new CredentialsError(`${dir}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const id = identityOf(certInfo(certPem).uris);
  if (id?.kind !== 'agent' || id.nodeId !== nodeId)
    throw new CredentialsError(`${dir}: the certificate is not the one of node ${nodeId}; remove the folder and join again with a token`);
  return { caPem, certPem, keyPem };
}

/** Writes the credentials atomically (each file via a temp file renamed over it), the key mode 600. */
export function saveCredentials(stateDir: string, c: Credentials): void {
  const dir = dirOf(stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [name, text, mode] of [
    ['key.pem', c.keyPem, 0o600],
    ['cert.pem', c.certPem, 0o644],
    ['ca.pem', c.caPem, 0o644],
  ] as const) {
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    writeFileSync(tmp, text, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, join(dir, name));
  }
}

function certificateApi(address: string, creds: grpc.ChannelCredentials) {
  const sec = loadProto<SecurityProto>('security').berth.v1;
  return new sec.CertificateAPI(address, creds, { ...CHANNEL_OPTIONS, ...TLS_CHANNEL_OPTIONS });
}

function unary<Res>(fn: (o: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => void): Promise<Res> {
  return new Promise((resolve, reject) =>
    fn({ deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) => (err ? reject(err) : resolve(res!))),
  );
}

/** Joins the cluster at the first controller that takes the token; throws with every controller's answer otherwise. */
export async function joinCluster(token: string, nodeId: string, controllers: string[], log: Logger): Promise<Credentials> {
  let parsed;
  try {
    parsed = parseToken(token);
  } catch (err) {
    throw new CredentialsError(`--join: ${err instanceof Error ? err.message : String(err)}`);
  }
  const failures: string[] = [];
  for (const address of controllers) {
    try {
      const caPem = await fetchPinnedCa(address, parsed.caDigest);
      const { csrPem, keyPem } = await createCsr(nodeId);
      const client = certificateApi(address, channelCredentials({ kind: 'ca-only', caPem }, expectController));
      try {
        const res = await unary<CertificateResponse__Output>((o, cb) => client.Join({ token, csrPem, nodeId }, o, cb));
        log.info({ controller: address, notAfter: new Date(res.notAfterMs).toISOString() }, 'joined the cluster');
        return { caPem: res.caPem, certPem: res.certPem, keyPem };
      } finally {
        client.close();
      }
    } catch (err) {
      const e = err as grpc.ServiceError;
      // A refusal of the token is the cluster's answer: another controller would say the same.
      if (e.code === grpc.status.PERMISSION_DENIED || e.code === grpc.status.FAILED_PRECONDITION || e.code === grpc.status.INVALID_ARGUMENT)
        throw new CredentialsError(`joining at ${address} refused: ${e.details}`);
      failures.push(`${address}: ${e.details ?? e.message}`);
    }
  }
  throw new CredentialsError(`cannot join: no controller answered (${failures.join('; ')})`);
}

/**
 * The agent's transport: its stored credentials, else those a join with the token gives (then
 * stored), else an error that says what to do.
 */
export async function agentTransport(opts: {
  stateDir: string;
  nodeId: string;
  controllers: string[];
  token?: string | undefined;
  log: Logger;
}): Promise<Extract<Transport, { kind: 'tls' }>> {
  let creds = await loadCredentials(opts.stateDir, opts.nodeId);
  if (!creds) {
    if (!opts.token)
      throw new CredentialsError(
        `no credentials in ${dirOf(opts.stateDir)}: join the cluster once with --join TOKEN (berth token create --role agent), or run a development cluster with --insecure-dev`,
      );
    creds = await joinCluster(opts.token, opts.nodeId, opts.controllers, opts.log);
    saveCredentials(opts.stateDir, creds);
  }
  return { kind: 'tls', source: new CredentialSource(creds) };
}

/**
 * Renews the certificate at two thirds of its lifetime, at any controller, until the signal ends;
 * a failed renewal is retried (the current certificate stays valid until it expires).
 */
export function renewLoop(opts: {
  source: CredentialSource;
  stateDir: string;
  nodeId: string;
  controllers: string[];
  log: Logger;
  signal: AbortSignal;
}): void {
  const { source, log, signal } = opts;
  let attempt = 0;
  const schedule = (delayMs: number): void => {
    if (signal.aborted) return;
    const t = setTimeout(() => void renewOnce(), Math.max(0, delayMs));
    signal.addEventListener('abort', () => clearTimeout(t), { once: true });
  };
  const due = (): number => {
    const { notBefore, notAfter } = certInfo(source.current.certPem);
    return notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3 - Date.now();
  };
  const renewOnce = async (): Promise<void> => {
    const address = opts.controllers[attempt % opts.controllers.length]!;
    attempt++;
    const client = certificateApi(address, channelCredentials({ kind: 'tls', source }, expectController));
    try {
      const { csrPem, keyPem } = await createCsr(opts.nodeId);
      const res = await unary<CertificateResponse__Output>((o, cb) => client.Renew({ csrPem }, o, cb));
      const next = { caPem: res.caPem, certPem: res.certPem, keyPem };
      saveCredentials(opts.stateDir, next);
      source.update(next);
      attempt = 0;
      log.info({ notAfter: new Date(res.notAfterMs).toISOString() }, 'renewed the node certificate');
      schedule(due());
    } catch (err) {
      const e = err as grpc.ServiceError;
      log.warn({ controller: address, err: e.details ?? e.message }, 'certificate renewal failed; retrying');
      schedule(Math.min(30_000, Math.max(1_000, due() / 10)));
    } finally {
      client.close();
    }
  };
  schedule(due());
}
