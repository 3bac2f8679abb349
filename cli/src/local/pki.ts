// The TLS material of a local cluster (`berth up`, the test harness): a cluster CA, handed to the
// first controller with --ca-cert/--ca-key (it stores it sealed in etcd), an admin credential
// issued from it, in a folder the CLI reads (BERTH_CREDENTIALS) and a context can hold, and a
// monitor credential Prometheus scrapes /metrics and /sd with. Made once and reused: a restarted
// `berth up` keeps its CA, so agents' credentials stay valid.
//
// etcd and nats-server get a CA of their own (ensureBackendPki): they trust every certificate of
// the CA they are given, and the cluster CA signs one for every agent and operator, none of whom
// may reach etcd or NATS.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueCertificate, issueServiceCertificate, type Credentials } from '../../../proto/src/security/pki.js';
import type { Identity } from '../../../proto/src/security/identity.js';
import { CliError, EXIT_USAGE } from '../errors.js';

export interface LocalPki {
  caCertFile: string;
  caKeyFile: string;
  /** ca.pem, cert.pem, key.pem of the admin credential. */
  adminDir: string;
  admin: Credentials;
  /** ca.pem, cert.pem, key.pem of the monitor credential `prometheus` (tls_config of deploy/prometheus/prometheus.yml). */
  monitorDir: string;
}

/** The monitor a local cluster's Prometheus scrapes as. */
export const LOCAL_MONITOR = 'prometheus';

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
  const ca = (): { certPem: string; keyPem: string } => ({
    certPem: readFileSync(caCertFile, 'utf8'),
    keyPem: readFileSync(caKeyFile, 'utf8'),
  });
  await ensureIssued(adminDir, ca, { kind: 'operator', user: opts.adminUser ?? 'admin', role: 'admin', namespaces: ['*'] }, now);
  const monitorDir = join(dir, LOCAL_MONITOR);
  await ensureIssued(monitorDir, ca, { kind: 'monitor', name: LOCAL_MONITOR }, now);
  return { caCertFile, caKeyFile, adminDir, admin: readCredentialDir(adminDir), monitorDir };
}

/** A credential for `identity` in `dir` (ca.pem, cert.pem, key.pem), issued from the CA unless all three are there. */
async function ensureIssued(dir: string, ca: () => { certPem: string; keyPem: string }, identity: Identity, now: number): Promise<void> {
  if (['ca.pem', 'cert.pem', 'key.pem'].every((f) => existsSync(join(dir, f)))) return;
  const pair = ca();
  const issued = await issueCertificate({ ca: pair, identity, notBefore: new Date(now - 300_000), notAfter: new Date(now + YEAR_MS) });
  writeCredentialDir(dir, { caPem: pair.certPem, certPem: issued.certPem, keyPem: issued.keyPem! });
}

export function readCredentialDir(dir: string): Credentials {
  const [caPem, certPem, keyPem] = ['ca.pem', 'cert.pem', 'key.pem'].map((f) => readFileSync(join(dir, f), 'utf8')) as [
    string,
    string,
    string,
  ];
  return { caPem, certPem, keyPem };
}

/** Refuses a --out that exists and is not a folder (before anything is asked of the controller). */
export function checkOutDir(dir: string): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new CliError(`--out: ${dir} exists and is not a folder`, EXIT_USAGE);
}

/**
 * Writes a credential as ca.pem, cert.pem and key.pem in `dir` (made mode 700): the key mode 600,
 * the certificates 644. Prometheus reads such a folder (tls_config ca_file, cert_file, key_file).
 */
export function writeCredentialDir(dir: string, c: Credentials): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  write(join(dir, 'key.pem'), c.keyPem, 0o600);
  write(join(dir, 'cert.pem'), c.certPem, 0o644);
  write(join(dir, 'ca.pem'), c.caPem, 0o644);
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
