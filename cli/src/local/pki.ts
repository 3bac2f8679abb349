// The TLS material of a local cluster (`berth up`, the test harness): a cluster CA, handed to the
// first controller with --ca-cert/--ca-key (it stores it sealed in etcd), and an admin credential
// issued from it, in a folder the CLI reads (BERTH_CREDENTIALS) and a context can hold. Made once
// and reused: a restarted `berth up` keeps its CA, so agents' credentials stay valid.
//
// etcd and nats-server get a CA of their own (ensureBackendPki): they trust every certificate of
// the CA they are given, and the cluster CA signs one for every agent and operator, none of whom
// may reach etcd or NATS.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueCertificate, issueServiceCertificate, type Credentials } from '../../../proto/src/security/pki.js';

export interface LocalPki {
  caCertFile: string;
  caKeyFile: string;
  /** ca.pem, cert.pem, key.pem of the admin credential. */
  adminDir: string;
  admin: Credentials;
}

const YEAR_MS = 365 * 24 * 3600_000;

function write(path: string, text: string, mode: number): void {
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
}

export async function ensureLocalPki(dir: string, opts: { adminUser?: string; now?: number } = {}): Promise<LocalPki> {
  const now = opts.now ?? Date.now();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caCertFile = join(dir, 'ca.pem');
  const caKeyFile = join(dir, 'ca-key.pem');
  if (!existsSync(caCertFile) || !existsSync(caKeyFile)) {
    const ca = await createCa({ commonName: 'berth local CA', notBefore: new Date(now - 300_000), notAfter: new Date(now + 10 * YEAR_MS) });
    write(caKeyFile, ca.keyPem, 0o600);
    write(caCertFile, ca.certPem, 0o644);
  }
  const adminDir = join(dir, 'admin');
  const files = ['ca.pem', 'cert.pem', 'key.pem'].map((f) => join(adminDir, f));
  if (!files.every((f) => existsSync(f))) {
    mkdirSync(adminDir, { recursive: true, mode: 0o700 });
    const ca = { certPem: readFileSync(caCertFile, 'utf8'), keyPem: readFileSync(caKeyFile, 'utf8') };
    const issued = await issueCertificate({
      ca,
      identity: { kind: 'operator', user: opts.adminUser ?? 'admin', role: 'admin', namespaces: ['*'] },
      notBefore: new Date(now - 300_000),
      notAfter: new Date(now + YEAR_MS),
    });
    write(files[2]!, issued.keyPem!, 0o600);
    write(files[1]!, issued.certPem, 0o644);
    write(files[0]!, ca.certPem, 0o644);
  }
  const [caPem, certPem, keyPem] = files.map((f) => readFileSync(f, 'utf8')) as [string, string, string];
  return { caCertFile, caKeyFile, adminDir, admin: { caPem, certPem, keyPem } };
}

/** The files of one party's TLS: the CA it trusts, its certificate and its key (mode 600). */
export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** The backends' CA and what it issued: etcd's and nats-server's server certificates, the controllers' client certificate. */
export interface BackendPki {
  caFile: string;
  etcd: TlsFiles;
  nats: TlsFiles;
  /** What controllers (and the tests' own clients) present to etcd and NATS. */
  client: TlsFiles;
}

/** The backends' CA in `dir` (made once, then reused) and the certificates it issues for loopback. */
export async function ensureBackendPki(dir: string, opts: { now?: number } = {}): Promise<BackendPki> {
  const now = opts.now ?? Date.now();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.pem');
  const caKeyFile = join(dir, 'ca-key.pem');
  // A new CA invalidates whatever the folder still holds from an old one.
  const newCa = !existsSync(caFile) || !existsSync(caKeyFile);
  if (newCa) {
    const ca = await createCa({
      commonName: 'berth local etcd and NATS CA',
      notBefore: new Date(now - 300_000),
      notAfter: new Date(now + 10 * YEAR_MS),
    });
    write(caKeyFile, ca.keyPem, 0o600);
    write(caFile, ca.certPem, 0o644);
  }
  const ca = { certPem: readFileSync(caFile, 'utf8'), keyPem: readFileSync(caKeyFile, 'utf8') };
  const issue = async (name: string, commonName: string, server: boolean): Promise<TlsFiles> => {
    const files = { caFile, certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}-key.pem`) };
    if (!newCa && existsSync(files.certFile) && existsSync(files.keyFile)) return files;
    const issued = await issueServiceCertificate({
      ca,
      commonName,
      notBefore: new Date(now - 300_000),
      notAfter: new Date(now + YEAR_MS),
      ...(server ? { dnsNames: ['localhost'], ips: ['127.0.0.1', '::1'] } : {}),
    });
    write(files.keyFile, issued.keyPem, 0o600);
    write(files.certFile, issued.certPem, 0o644);
    return files;
  };
  const [etcd, nats, client] = await Promise.all([
    issue('etcd', 'etcd', true),
    issue('nats', 'nats-server', true),
    issue('client', 'berth-controller', false),
  ]);
  return { caFile, etcd, nats, client };
}
