// The real components the local cluster and the tests run: etcd, nats-server (JetStream) and
// dockerd, each from Debian's packages, started with their data in a folder of ours.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';

/** dockerode, loaded on first use: berth commands that never start an engine do not pay for it. */
async function dockerode(): Promise<typeof Docker> {
  return (await import('dockerode')).default;
}
import { httpOk, httpsOk, spawnProc, waitUntil, type Proc } from './process.js';
import type { TlsFiles } from './pki.js';

/** TLS of a backend: its own certificate, and the client credential it is checked with (a health probe). */
export interface BackendTls {
  server: TlsFiles;
  client: TlsFiles;
}

export interface Etcd {
  proc: Proc;
  endpoint: string;
  /** With TLS: what a client presents (client certificate authentication is on). */
  tls?: TlsFiles | undefined;
}

export async function startEtcd(opts: {
  dir: string;
  clientPort: number;
  peerPort: number;
  logFile: string;
  name?: string;
  detached?: boolean;
  /**
   * https on the client port, and only clients with a certificate of the CA (--client-cert-auth).
   * The peer port stays plain http on loopback: a cluster of one has no peers.
   */
  tls?: BackendTls | undefined;
}): Promise<Etcd> {
  mkdirSync(opts.dir, { recursive: true });
  const name = opts.name ?? 'berth';
  const client = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${opts.clientPort}`;
  const peer = `http://127.0.0.1:${opts.peerPort}`;
  const proc = spawnProc(
    'etcd',
    'etcd',
    [
      '--name',
      name,
      '--data-dir',
      opts.dir,
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `${name}=${peer}`,
      '--initial-cluster-state',
      'new',
      // Keep an hour of history for watches; older revisions are compacted away.
      '--auto-compaction-mode',
      'periodic',
      '--auto-compaction-retention',
      '1h',
      ...(opts.tls
        ? [
            '--cert-file',
            opts.tls.server.certFile,
            '--key-file',
            opts.tls.server.keyFile,
            '--trusted-ca-file',
            opts.tls.server.caFile,
            '--client-cert-auth',
          ]
        : []),
    ],
    { logFile: opts.logFile, detached: !!opts.detached },
  );
  const probe = opts.tls ? pemsOf(opts.tls.client) : undefined;
  await waitUntil(() => (probe ? httpsOk(`${client}/health`, probe, 'true') : httpOk(`${client}/health`, 'true')), 'etcd to be healthy', {
    proc,
    timeoutMs: 30_000,
  });
  return { proc, endpoint: client, tls: opts.tls?.client };
}

function pemsOf(f: TlsFiles): { ca: string; cert: string; key: string } {
  return { ca: readFileSync(f.caFile, 'utf8'), cert: readFileSync(f.certFile, 'utf8'), key: readFileSync(f.keyFile, 'utf8') };
}

export interface Nats {
  proc: Proc;
  url: string;
  /** Plain http on loopback: health and server statistics, no message content. */
  monitor: string;
  /** With TLS: what a client presents (client certificates are verified). */
  tls?: TlsFiles | undefined;
}

export async function startNats(opts: {
  dir: string;
  port: number;
  monitorPort: number;
  logFile: string;
  detached?: boolean;
  /** TLS on the client port, and only clients with a certificate of the CA (--tlsverify). */
  tls?: BackendTls | undefined;
  /** A nats-server configuration file (authorization, accounts); the flags here win over it. */
  configFile?: string | undefined;
}): Promise<Nats> {
  mkdirSync(opts.dir, { recursive: true });
  const args = ['-js', '-a', '127.0.0.1', '-p', String(opts.port), '-m', String(opts.monitorPort), '-sd', opts.dir];
  if (opts.configFile) args.unshift('-c', opts.configFile);
  if (opts.tls)
    args.push(
      '--tlsverify',
      '--tlscert',
      opts.tls.server.certFile,
      '--tlskey',
      opts.tls.server.keyFile,
      '--tlscacert',
      opts.tls.server.caFile,
    );
  const proc = spawnProc('nats-server', 'nats-server', args, { logFile: opts.logFile, detached: !!opts.detached });
  const monitor = `http://127.0.0.1:${opts.monitorPort}`;
  await waitUntil(() => httpOk(`${monitor}/healthz?js-enabled-only=true`), 'nats-server to be ready', { proc, timeoutMs: 30_000 });
  return { proc, url: `${opts.tls ? 'tls' : 'nats'}://127.0.0.1:${opts.port}`, monitor, tls: opts.tls?.client };
}

export interface Dockerd {
  proc: Proc;
  socket: string;
  docker: Docker;
}

export interface DockerdOptions {
  dataRoot: string;
  execRoot: string;
  socket: string;
  pidFile: string;
  logFile: string;
  /** An existing bridge device of ours; without it, dockerd's default docker0. */
  bridge?: string;
  /** Default host address published ports bind to (one loopback address per simulated host). */
  ip?: string;
  /** Leave iptables alone (several engines on one machine). */
  noIptables?: boolean;
  /** In a process group of its own (see SpawnOptions.detached). */
  detached?: boolean;
}

export async function startDockerd(opts: DockerdOptions): Promise<Dockerd> {
  for (const d of [opts.dataRoot, opts.execRoot]) mkdirSync(d, { recursive: true });
  const args = [
    '--data-root',
    opts.dataRoot,
    '--exec-root',
    opts.execRoot,
    '--pidfile',
    opts.pidFile,
    '-H',
    `unix://${opts.socket}`,
    '--storage-driver',
    'overlay2',
  ];
  if (opts.bridge) args.push('--bridge', opts.bridge);
  if (opts.ip) args.push('--ip', opts.ip);
  if (opts.noIptables) args.push('--iptables=false', '--ip-masq=false');
  const proc = spawnProc('dockerd', 'dockerd', args, { logFile: opts.logFile, detached: !!opts.detached });
  const docker = new (await dockerode())({ socketPath: opts.socket });
  await waitUntil(async () => (await docker.ping()).toString() === 'OK', `dockerd on ${opts.socket}`, { proc, timeoutMs: 60_000 });
  return { proc, socket: opts.socket, docker };
}

export async function dockerAnswers(socket: string): Promise<boolean> {
  try {
    const d = new (await dockerode())({ socketPath: socket, timeout: 3_000 });
    return (await d.ping()).toString() === 'OK';
  } catch {
    return false;
  }
}

export function ensureDir(...parts: string[]): string {
  const p = join(...parts);
  mkdirSync(p, { recursive: true });
  return p;
}
