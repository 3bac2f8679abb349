// How the controller reaches etcd and NATS: TLS material and credentials named by its flags,
// read and checked once at start. Every problem names its flag; a password or key never travels
// on the command line, only the path of a file holding it (mode 600).
import { readFileSync, statSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, nkeys } from 'nats';
import type { NatsConnect } from './events/nats-publisher.js';
import type { EtcdStoreOptions } from './store/etcd-store.js';

/** The controller's etcd flags (--etcd-cacert, --etcd-cert, --etcd-key, --etcd-user, --etcd-password-file). */
export interface EtcdConnectionFlags {
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  user?: string | undefined;
  passwordFile?: string | undefined;
}

/** The controller's NATS flags (--nats-cacert, --nats-cert, --nats-key, --nats-nkey-seed-file, --nats-creds). */
export interface NatsConnectionFlags {
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  nkeySeedFile?: string | undefined;
  credsFile?: string | undefined;
}

/** A file a flag names; a secret one (a key, a password) readable by others is refused, as ssh refuses such a key. */
export function readFlagFile(path: string, flag: string, secret: boolean): string {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new Error(`${flag} ${path}: cannot read: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!st.isFile()) throw new Error(`${flag} ${path}: not a file`);
  if (secret && (st.mode & 0o077) !== 0)
    throw new Error(`${flag} ${path}: readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${flag} ${path}: cannot read: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function pem(text: string, flag: string, path: string, what: 'CERTIFICATE' | 'PRIVATE KEY'): string {
  const re = what === 'CERTIFICATE' ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;
  if (!re.test(text)) throw new Error(`${flag} ${path}: not a PEM ${what === 'CERTIFICATE' ? 'certificate' : 'private key'}`);
  return text;
}

/** The TLS files of one backend: a CA alone (server authentication), or a CA and a client pair. */
function tlsFiles(
  prefix: '--etcd' | '--nats',
  f: { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined },
): { caPem: string; certPem?: string; keyPem?: string } | undefined {
  if ((f.certFile === undefined) !== (f.keyFile === undefined)) throw new Error(`${prefix}-cert and ${prefix}-key: give both or neither`);
  if (f.caFile === undefined) {
    if (f.certFile !== undefined)
      throw new Error(`${prefix}-cert: needs ${prefix}-cacert (the CA that signed the server's certificate) as well`);
    return undefined;
  }
  const caPem = pem(readFlagFile(f.caFile, `${prefix}-cacert`, false), `${prefix}-cacert`, f.caFile, 'CERTIFICATE');
  if (f.certFile === undefined || f.keyFile === undefined) return { caPem };
  return {
    caPem,
    certPem: pem(readFlagFile(f.certFile, `${prefix}-cert`, false), `${prefix}-cert`, f.certFile, 'CERTIFICATE'),
    keyPem: pem(readFlagFile(f.keyFile, `${prefix}-key`, true), `${prefix}-key`, f.keyFile, 'PRIVATE KEY'),
  };
}

/** TLS and credentials for the etcd client, from the flags (and the endpoints they must agree with). */
export function etcdConnection(endpoints: string[], flags: EtcdConnectionFlags): Pick<EtcdStoreOptions, 'tls' | 'auth'> {
  const tls = tlsFiles('--etcd', flags);
  if (tls) {
    const plain = endpoints.find((e) => !e.startsWith('https://'));
    if (plain !== undefined) throw new Error(`--etcd ${plain}: with --etcd-cacert every endpoint is https://`);
  }
  if ((flags.user === undefined) !== (flags.passwordFile === undefined))
    throw new Error('--etcd-user and --etcd-password-file: give both or neither');
  let auth: EtcdStoreOptions['auth'];
  if (flags.user !== undefined && flags.passwordFile !== undefined) {
    if (flags.user === '') throw new Error('--etcd-user: empty');
    // One line; its line break is not part of the password.
    const password = readFlagFile(flags.passwordFile, '--etcd-password-file', true).replace(/\r?\n$/, '');
    if (password === '') throw new Error(`--etcd-password-file ${flags.passwordFile}: empty`);
    if (password.includes('\n')) throw new Error(`--etcd-password-file ${flags.passwordFile}: more than one line`);
    auth = { username: flags.user, password };
  }
  return { ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) };
}

/** TLS and credentials for every NATS connection, from the flags. */
export function natsConnection(flags: NatsConnectionFlags): NatsConnect {
  const tls = tlsFiles('--nats', flags);
  if (flags.nkeySeedFile !== undefined && flags.credsFile !== undefined)
    throw new Error('--nats-nkey-seed-file and --nats-creds: give one (a creds file holds its own nkey seed)');
  const out: NatsConnect = {};
  if (tls) out.tls = { ca: tls.caPem, ...(tls.certPem !== undefined ? { cert: tls.certPem, key: tls.keyPem } : {}) };
  if (flags.nkeySeedFile !== undefined) {
    const seed = readFlagFile(flags.nkeySeedFile, '--nats-nkey-seed-file', true).trim();
    try {
      nkeys.fromSeed(new TextEncoder().encode(seed));
    } catch (err) {
      throw new Error(`--nats-nkey-seed-file ${flags.nkeySeedFile}: not an nkey seed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!seed.startsWith('SU')) throw new Error(`--nats-nkey-seed-file ${flags.nkeySeedFile}: not a user seed (those start with SU)`);
    out.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (flags.credsFile !== undefined) {
    const creds = readFlagFile(flags.credsFile, '--nats-creds', true);
    if (!/-----BEGIN NATS USER JWT-----/.test(creds) || !/-----BEGIN USER NKEY SEED-----/.test(creds))
      throw new Error(`--nats-creds ${flags.credsFile}: not a NATS creds file (a user JWT and its nkey seed, as nsc writes them)`);
    out.authenticator = credsAuthenticator(new TextEncoder().encode(creds));
  }
  return out;
}
