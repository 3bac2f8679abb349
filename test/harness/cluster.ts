// Test harness: a real Berth cluster on one machine. etcd, nats-server (JetStream), several
// dockerd instances (own data root, exec root, socket, pidfile and bridge; published ports bind
// to a loopback address of their own, so each stands for one host), controllers and one agent
// per engine, all as processes of the built `berth` binary. stop() removes everything it
// started: processes by pid, containers by label, bridges, temp dirs.
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, existsSync, statSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type Docker from 'dockerode';
import { BerthClient } from '../../cli/src/client.js';
import { ensureBusyboxImage, LOCAL_IMAGE } from '../../cli/src/local/image.js';
import { freePort, spawnProc, tail, waitUntil, type Proc } from '../../cli/src/local/process.js';
import {
  startDockerd,
  startEtcd,
  startNats,
  type Dockerd,
  type DockerdOptions,
  type Etcd,
  type Nats,
} from '../../cli/src/local/services.js';
import { LABEL_MANAGED } from '../../proto/src/labels.js';
import { ensureKeyFile } from '../../controller/src/secrets/cipher.js';
import { createBridge, deleteBridge, hostAddress, randomRunBase, type Bridge } from './netns.js';
import { NetLab } from './netlab.js';
import { ensureBackendPki, ensureLocalPki, type BackendPki, type LocalPki } from '../../cli/src/local/pki.js';
import type { Credentials } from '../../proto/src/security/pki.js';
import { httpGet, scrapeText, type HttpAnswer } from './scrape.js';
import { controllerBackendFlags } from './backends.js';
import { CredentialSource } from '../../proto/src/security/tls.js';
import type { ClientTransport } from '../../cli/src/client.js';
import { TokenClient } from '../../cli/src/security-client.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BERTH_BIN = join(ROOT, 'dist/cli/src/main.js');
/** pids of every process a harness started in this vitest run; the global teardown kills leftovers. */
/** A process's start time (clock ticks since boot, /proc/PID/stat field 22), or undefined once it is gone. */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export const PID_REGISTRY = process.env['BERTH_PID_REGISTRY'] ?? `/tmp/berth-test-pids-${process.pid}`;

export interface HostSpec {
  name?: string;
  labels?: Record<string, string>;
  cpus?: number;
  memory?: string;
  /** The agent's --allow-host-path flags. */
  allowHostPaths?: string[];
}

export interface Host {
  index: number;
  nodeId: string;
  address: string;
  dockerd: Dockerd;
  docker: Docker;
  bridge: Bridge;
  agent: Proc | undefined;
  spec: HostSpec;
  dir: string;
  /** How its dockerd was started (to restart it the same way). */
  dockerdOptions: DockerdOptions;
}

export interface ClusterOptions {
  hosts: number | HostSpec[];
  controllers?: number;
  heartbeatPeriod?: string;
  heartbeatGrace?: string;
  downAfter?: string;
  /** Start agents (default true). */
  agents?: boolean;
  /** Each agent in its own network namespace (links can be cut: cluster.net). */
  netns?: boolean;
  /** Controller flags --fence-after and --lease-ttl. */
  fenceAfter?: string;
  leaseTtl?: string;
  /** Controller flag --cert-ttl (agents' and controllers' certificates; renewed at 2/3). */
  certTtl?: string;
  /** Plaintext and no identities (controllers and agents run with --insecure-dev): for benchmarks that compare TLS with plaintext. */
  insecureDev?: boolean;
  /** More flags for every controller and every agent (e.g. --audit-max-records, the limits of docs/security.md). */
  controllerArgs?: string[];
  agentArgs?: string[];
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class TestCluster {
  etcd!: Etcd;
  nats!: Nats;
  hosts: Host[] = [];
  controllers: Array<{ proc: Proc; address: string; metrics: string; id: string }> = [];
  /** Network namespaces of the hosts (with `netns: true`). */
  net: NetLab | undefined;
  /** How etcd and NATS were started (to restart them the same way). */
  etcdOptions!: Parameters<typeof startEtcd>[0];
  natsOptions!: Parameters<typeof startNats>[0];
  readonly dir: string;
  private procs: Proc[] = [];
  private clients: BerthClient[] = [];
  private readonly runBase = randomRunBase();
  /** The cluster CA and the admin credential the harness talks with (TLS on every listener). */
  pki!: LocalPki;
  /** The backends' CA, etcd's and nats-server's certificates and the client certificate controllers present to them. */
  backends!: BackendPki;
  /** The admin's transport, for clients made in the test process. */
  transport!: ClientTransport;
  /** The agent join token (made once the first controller is up). */
  agentToken = '';

  private constructor(readonly opts: ClusterOptions) {
    this.dir = mkdtempSync('/tmp/bt-');
  }

  static async start(opts: ClusterOptions): Promise<TestCluster> {
    const c = new TestCluster(opts);
    try {
      await c.boot();
    } catch (err) {
      await c.stop().catch(() => undefined);
      throw err;
    }
    return c;
  }

  get api(): string {
    return this.controllers.map((c) => c.address).join(',');
  }

  /** Registers a process for cleanup (stop() and the global teardown). */
  track(p: Proc): Proc {
    this.procs.push(p);
    // With its start time: pids wrap (pid_max is often 32768), so the teardown kills a pid only
    // while it is still this process.
    appendFileSync(PID_REGISTRY, `${p.pid} ${procStartTime(p.pid) ?? ''}\n`);
    return p;
  }

  /** The scheme of the components' /metrics and /sd endpoints. */
  get httpScheme(): 'http' | 'https' {
    return this.opts.insecureDev ? 'http' : 'https';
  }

  /** GET `path` of a component's HTTP endpoint (host:port) as the harness's admin (mTLS). */
  httpGet(address: string, path: string, creds: Credentials = this.pki.admin, timeoutMs = 5_000): Promise<HttpAnswer> {
    return httpGet(`${this.httpScheme}://${address}${path}`, creds, timeoutMs);
  }

  /** The text of a component's /metrics (or another path), as the harness's admin; fails on any status but 200. */
  scrape(address: string, path = '/metrics', timeoutMs = 5_000): Promise<string> {
    return scrapeText(`${this.httpScheme}://${address}${path}`, this.pki.admin, timeoutMs);
  }

  /** Environment for the berth binary run against this cluster (controller and credential). */
  get env(): NodeJS.ProcessEnv {
    if (this.opts.insecureDev) return { BERTH_CONTROLLER: this.controllers[0]!.address, BERTH_INSECURE_DEV: '1' };
    return { BERTH_CONTROLLER: this.controllers[0]!.address, BERTH_CREDENTIALS: this.pki.adminDir };
  }

  private async boot(): Promise<void> {
    this.pki = await ensureLocalPki(join(this.dir, 'tls'), { adminUser: 'test-admin' });
    this.transport = this.opts.insecureDev ? { kind: 'insecure' } : { kind: 'tls', source: new CredentialSource(this.pki.admin) };
    const [etcdPort, peerPort, natsPort, natsMon] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const specs: HostSpec[] = typeof this.opts.hosts === 'number' ? Array.from({ length: this.opts.hosts }, () => ({})) : this.opts.hosts;
    if (this.opts.netns) this.net = NetLab.create(specs.length);
    this.backends = await ensureBackendPki(join(this.dir, 'tls', 'backends'));
    // etcd and NATS with TLS, taking only clients with a certificate of the backends CA.
    const etcdTls = { server: this.backends.etcd, client: this.backends.client };
    const natsTls = { server: this.backends.nats, client: this.backends.client };
    this.etcdOptions = { dir: join(this.dir, 'etcd'), clientPort: etcdPort, peerPort, logFile: join(this.dir, 'etcd.log'), tls: etcdTls };
    this.natsOptions = {
      dir: join(this.dir, 'nats'),
      port: natsPort,
      monitorPort: natsMon,
      logFile: join(this.dir, 'nats.log'),
      tls: natsTls,
    };
    const [etcd, nats, ...dockerds] = await Promise.all([
      startEtcd(this.etcdOptions),
      startNats(this.natsOptions),
      ...specs.map(async (spec, i) => {
        const dir = join(this.dir, `h${i + 1}`);
        const bridge = createBridge();
        try {
          const options: DockerdOptions = {
            dataRoot: join(dir, 'data'),
            execRoot: join(dir, 'x'),
            socket: join(dir, 'docker.sock'),
            pidFile: join(dir, 'docker.pid'),
            logFile: join(dir, 'dockerd.log'),
            bridge: bridge.name,
            ip: hostAddress(this.runBase, i),
            noIptables: true,
          };
          const d = await startDockerd(options);
          return { d, bridge, dir, spec, i, options };
        } catch (err) {
          deleteBridge(bridge.name);
          throw err;
        }
      }),
    ]);
    this.etcd = etcd;
    this.nats = nats;
    this.track(etcd.proc);
    this.track(nats.proc);
    for (const x of dockerds) {
      this.track(x.d.proc);
      this.hosts.push({
        index: x.i,
        nodeId: x.spec.name ?? `h${x.i + 1}`,
        address: hostAddress(this.runBase, x.i),
        dockerd: x.d,
        docker: x.d.docker,
        bridge: x.bridge,
        agent: undefined,
        spec: x.spec,
        dir: x.dir,
        dockerdOptions: x.options,
      });
    }
    await Promise.all(this.hosts.map((h) => ensureBusyboxImage(h.docker)));
    for (let i = 0; i < (this.opts.controllers ?? 1); i++) await this.startController(i);
    if (!this.opts.insecureDev) {
      const tokens = new TokenClient(this.controllers[0]!.address, this.transport);
      try {
        this.agentToken = (await tokens.create({ role: 'agent', ttlMs: 24 * 3600_000 })).secret;
      } finally {
        tokens.close();
      }
    }
    if (this.opts.agents !== false) {
      for (const h of this.hosts) await this.startAgent(h.index);
      await this.waitFor(
        async () => {
          const nodes = await this.client().listNodes();
          return this.hosts.every((h) => nodes.some((n) => n.id === h.nodeId && n.state === 'ready'));
        },
        'every node ready',
        30_000,
      );
    }
  }

  /** One key for every controller of the cluster (they must share it). */
  get secretKeyFile(): string {
    const path = join(this.dir, 'secret.key');
    ensureKeyFile(path);
    return path;
  }

  async startController(i: number): Promise<void> {
    const id = `c${i + 1}`;
    // A restarted controller comes back at its address, as it would on a real machine.
    const prev = this.controllers.find((c) => c.id === id);
    const port = prev ? Number(prev.address.slice(prev.address.lastIndexOf(':') + 1)) : await freePort();
    const metricsPort = prev ? Number(prev.metrics.slice(prev.metrics.lastIndexOf(':') + 1)) : await freePort();
    const address = `${this.net?.gateway ?? '127.0.0.1'}:${port}`;
    const proc = this.track(
      spawnProc(
        `controller-${id}`,
        process.execPath,
        [
          BERTH_BIN,
          'controller',
          '--listen',
          address,
          ...controllerBackendFlags(this.etcd, this.nats),
          '--metrics',
          `127.0.0.1:${metricsPort}`,
          '--id',
          id,
          '--heartbeat-period',
          this.opts.heartbeatPeriod ?? '1s',
          '--heartbeat-grace',
          this.opts.heartbeatGrace ?? '3s',
          '--down-after',
          this.opts.downAfter ?? '5s',
          ...(this.opts.fenceAfter ? ['--fence-after', this.opts.fenceAfter] : []),
          ...(this.opts.leaseTtl ? ['--lease-ttl', this.opts.leaseTtl] : []),
          '--secret-key-file',
          this.secretKeyFile,
          ...(this.opts.insecureDev
            ? ['--insecure-dev']
            : [
                '--ca-cert',
                this.pki.caCertFile,
                '--ca-key',
                this.pki.caKeyFile,
                ...(this.opts.certTtl ? ['--cert-ttl', this.opts.certTtl] : []),
              ]),
          ...(this.opts.controllerArgs ?? []),
        ],
        {
          logFile: join(this.dir, `controller-${id}.log`),
          env: { ...process.env, BERTH_LOG_LEVEL: process.env['BERTH_LOG_LEVEL'] ?? 'debug' },
        },
      ),
    );
    const existing = this.controllers.findIndex((c) => c.id === id);
    const entry = { proc, address, metrics: `127.0.0.1:${metricsPort}`, id };
    if (existing >= 0) this.controllers[existing] = entry;
    else this.controllers.push(entry);
    const client = new BerthClient(address, this.transport);
    try {
      await waitUntil(async () => (await client.listNodes(), true), `controller ${id} API`, { proc, timeoutMs: 30_000 });
    } finally {
      client.close();
    }
  }

  async startAgent(index: number): Promise<Proc> {
    const h = this.hosts[index]!;
    const args = [
      BERTH_BIN,
      'agent',
      '--controller',
      this.api,
      '--docker',
      `unix://${h.dockerd.socket}`,
      '--node-id',
      h.nodeId,
      '--address',
      h.address,
      '--hostname',
      h.nodeId,
      // Metrics and the AgentAPI on the host's own address, ports chosen by the system (advertised).
      '--metrics',
      `${h.address}:0`,
      '--state-dir',
      join(h.dir, 'agent-state'),
      ...(this.opts.insecureDev ? ['--insecure-dev'] : []),
      ...(this.opts.agentArgs ?? []),
    ];
    for (const [k, v] of Object.entries(h.spec.labels ?? {})) args.push('--label', `${k}=${v}`);
    if (h.spec.cpus !== undefined) args.push('--cpus', String(h.spec.cpus));
    if (h.spec.memory !== undefined) args.push('--memory', h.spec.memory);
    for (const p of h.spec.allowHostPaths ?? []) args.push('--allow-host-path', p);
    // In its namespace when there is one: `ip netns exec` execs the agent (same pid).
    const [cmd, ...argv] = this.net ? [...this.net.exec(index), process.execPath, ...args] : [process.execPath, ...args];
    h.agent = this.track(
      spawnProc(`agent-${h.nodeId}`, cmd!, argv, {
        logFile: join(this.dir, `agent-${h.nodeId}.log`),
        // The token is used on the first start only: later starts find their credentials in the state dir.
        env: { ...process.env, BERTH_LOG_LEVEL: process.env['BERTH_LOG_LEVEL'] ?? 'debug', BERTH_JOIN_TOKEN: this.agentToken },
      }),
    );
    return h.agent;
  }

  /** kill -9 the agent of a host. */
  async killAgent(index: number): Promise<void> {
    const a = this.hosts[index]!.agent;
    if (!a) return;
    a.signal('SIGKILL');
    await a.exited;
    this.hosts[index]!.agent = undefined;
  }

  client(): BerthClient {
    const c = new BerthClient(this.controllers[0]!.address, this.transport);
    this.clients.push(c);
    return c;
  }

  /** Runs the real berth binary against this cluster. */
  berth(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
    return new Promise((resolvePromise) => {
      const child = execFile(
        process.execPath,
        [BERTH_BIN, ...args],
        {
          env: { ...process.env, ...this.env, NO_COLOR: '1', ...opts.env },
          timeout: opts.timeoutMs ?? 120_000,
          maxBuffer: 64 * 1024 * 1024,
        },
        (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
          resolvePromise({ code, stdout, stderr });
        },
      );
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      else child.stdin?.end();
    });
  }

  /** Berth containers on a host's engine. */
  async containers(index: number, all = true): Promise<Docker.ContainerInfo[]> {
    return this.hosts[index]!.docker.listContainers({ all, filters: { label: [`${LABEL_MANAGED}=true`] } });
  }

  async running(index: number): Promise<Docker.ContainerInfo[]> {
    return (await this.containers(index, false)).filter((c) => c.State === 'running');
  }

  async waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
    try {
      await waitUntil(check, what, { timeoutMs, intervalMs: 100 });
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${this.logTails()}`);
    }
  }

  logTails(lines = 15): string {
    const files = readdirSync(this.dir).filter((f) => f.endsWith('.log') && (f.startsWith('controller') || f.startsWith('agent')));
    return files.map((f) => `--- ${f}\n${tail(join(this.dir, f), lines)}`).join('\n');
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.close();
    const order = [...this.procs].reverse();
    // Agents and controllers first, then engines (after their containers), then etcd and NATS.
    for (const p of order.filter((p) => p.name.startsWith('agent') || p.name.startsWith('controller'))) await p.stop(5_000);
    for (const h of this.hosts) {
      try {
        const cs = await h.docker.listContainers({ all: true, filters: { label: [`${LABEL_MANAGED}=true`] } });
        await Promise.all(
          cs.map((c) =>
            h.docker
              .getContainer(c.Id)
              .remove({ force: true })
              .catch(() => undefined),
          ),
        );
      } catch {
        /* engine already gone */
      }
    }
    for (const p of order.filter((p) => p.name === 'dockerd')) await p.stop(20_000);
    for (const h of this.hosts) deleteBridge(h.bridge.name);
    for (const p of order) await p.stop(5_000);
    this.net?.destroy();
    unmountUnder(this.dir);
    if (!process.env['BERTH_KEEP_TEST_DIR']) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Unmounts what a stopped dockerd left mounted under `dir` (a container in networkMode host
 * makes it bind-mount <exec-root>/netns/default; a killed engine leaves its data root and
 * overlays), so the directory can be removed.
 */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dir}/`));
  for (const m of mounts.sort().reverse()) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      /* already gone */
    }
  }
}

export function image(): string {
  return LOCAL_IMAGE;
}

/** Manifest text for a busybox httpd service. */
export function webManifest(opts: { name?: string; replicas?: number; extra?: string; port?: boolean } = {}): string {
  return `apiVersion: berth.dev/v1
kind: Service
metadata:
  name: ${opts.name ?? 'web'}
spec:
  image: ${LOCAL_IMAGE}
  replicas: ${opts.replicas ?? 2}
  command: [httpd, -f, -p, "8080", -h, /www]
${opts.port === false ? '' : '  ports:\n    - containerPort: 8080\n'}  stop: { gracePeriod: 2s }
${opts.extra ?? ''}`;
}

export function distIsFresh(): boolean {
  if (!existsSync(BERTH_BIN)) return false;
  const built = statSync(BERTH_BIN).mtimeMs;
  const newest = (dir: string): number => {
    let m = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      m = Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return m;
  };
  return ['proto/src', 'controller/src', 'agent/src', 'cli/src'].every((d) => newest(join(ROOT, d)) <= built);
}
