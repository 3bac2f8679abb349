// The fault-injection harness: a cluster of three hosts (each agent in its own network
// namespace), two controllers, etcd and NATS; two services (replace and waitForNode); a sampler
// that records every Berth container on every engine every SAMPLE_MS; and the faults. The
// history is checked offline (invariants.ts). Every wait is bounded in count and time.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthClient } from '../../cli/src/client.js';
import { startEtcd, startNats, startDockerd } from '../../cli/src/local/services.js';
import { LABEL_MANAGED, LABEL_SERVICE, LABEL_SLOT } from '../../proto/src/labels.js';
import { TestCluster, image } from '../harness/cluster.js';
import { seededRandom } from '../harness/random.js';
import type { ContainerRow, FaultWindow, Sample, ServiceDesc } from './invariants.js';

/** Test configuration of the cluster (docs/reliability.md explains each). */
export const CHAOS_TIMINGS = {
  heartbeatPeriod: '1s',
  heartbeatGrace: '3s',
  // Long enough that an agent restarted on a loaded machine (Node start-up takes seconds on two
  // busy cores) is back before its node is declared down.
  downAfter: '8s',
  fenceAfter: '10s',
  leaseTtl: '3',
};
/** How often every engine is sampled. */
export const SAMPLE_MS = 300;
/** Bounds the invariants allow after a fault heals. */
export const BOUNDS = { recoveryMs: 25_000, duplicateMs: 12_000 };
/** Longest wait for the cluster to converge after a fault. */
export const CONVERGE_TIMEOUT_MS = 60_000;

export const SERVICES: ServiceDesc[] = [
  { name: 'web', replicas: 4, onNodeLoss: 'replace' },
  { name: 'solo', replicas: 3, onNodeLoss: 'waitForNode' },
];

export type FaultKind = 'agent-kill' | 'link-cut' | 'leader-kill' | 'leader-pause' | 'etcd-restart' | 'dockerd-restart' | 'nats-kill' | 'majority-cut';
export const FAULT_KINDS: FaultKind[] = ['agent-kill', 'link-cut', 'leader-kill', 'leader-pause', 'etcd-restart', 'dockerd-restart', 'nats-kill', 'majority-cut'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/** The soak's random draws, reproducible from its seed. */
export const rng = seededRandom;

export class Chaos {
  readonly samples: Sample[] = [];
  readonly faults: FaultWindow[] = [];
  private sampling: Promise<void> | undefined;
  private stopSampling = false;

  private constructor(readonly cluster: TestCluster) {}

  static async start(): Promise<Chaos> {
    const cluster = await TestCluster.start({ hosts: 3, controllers: 2, netns: true, ...CHAOS_TIMINGS });
    const chaos = new Chaos(cluster);
    try {
      for (const s of SERVICES) {
        const f = join(cluster.dir, `${s.name}.yaml`);
        writeFileSync(f, manifest(s));
        const res = await cluster.berth(['apply', '-f', f]);
        if (res.code !== 0) throw new Error(`apply ${s.name}: ${res.stderr}`);
      }
      await chaos.converged('initial placement');
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return chaos;
  }

  /** A client of a controller that is alive (not stopped, not paused). */
  async withClient<T>(fn: (c: BerthClient) => Promise<T>): Promise<T> {
    let last: unknown;
    for (const ctl of this.cluster.controllers) {
      if (!ctl.proc.isAlive() || this.paused.has(ctl.id)) continue;
      const c = new BerthClient(ctl.address);
      try {
        return await fn(c);
      } catch (err) {
        last = err;
      } finally {
        c.close();
      }
    }
    throw last instanceof Error ? last : new Error('no controller answers');
  }

  private paused = new Set<string>();

  /** Id of the controller that reports itself leader, if exactly one does. */
  async leader(): Promise<string | undefined> {
    const out: string[] = [];
    for (const c of this.cluster.controllers) {
      if (!c.proc.isAlive() || this.paused.has(c.id)) continue;
      try {
        const text = await (await fetch(`http://${c.metrics}/metrics`, { signal: AbortSignal.timeout(1_000) })).text();
        if (/^berth_controller_is_leader 1$/m.test(text)) out.push(c.id);
      } catch {
        /* not answering */
      }
    }
    return out.length === 1 ? out[0] : undefined;
  }

  // ---- sampling ----

  startSampling(): void {
    this.stopSampling = false;
    this.sampling = (async () => {
      while (!this.stopSampling) {
        const t = Date.now();
        const hosts = await Promise.all(this.cluster.hosts.map(async (h): Promise<ContainerRow[] | null> => {
          try {
            const cs = await withTimeout(h.docker.listContainers({ all: true, filters: { label: [`${LABEL_MANAGED}=true`] } }), 2_000);
            return cs.map((c) => ({ id: c.Id, service: c.Labels[LABEL_SERVICE] ?? '', slot: Number(c.Labels[LABEL_SLOT]), state: c.State }));
          } catch {
            return null;
          }
        }));
        this.samples.push({ t, hosts });
        await sleep(Math.max(0, SAMPLE_MS - (Date.now() - t)));
      }
    })();
  }

  async endSampling(): Promise<void> {
    this.stopSampling = true;
    await this.sampling;
  }

  // ---- convergence ----

  /**
   * Every watched slot runs exactly one container and no other runs, every node is ready. (Exited
   * containers of failed tasks stay as history, as the slot model keeps them.)
   */
  async isConverged(): Promise<boolean> {
    const watched = new Set(SERVICES.map((s) => s.name));
    const rows = (await Promise.all(this.cluster.hosts.map((h) => h.docker.listContainers({ filters: { label: [`${LABEL_MANAGED}=true`] } }))))
      .flat()
      .filter((r) => watched.has(r.Labels[LABEL_SERVICE] ?? '') && r.State === 'running');
    const want = SERVICES.reduce((n, s) => n + s.replicas, 0);
    if (rows.length !== want) return false;
    for (const s of SERVICES) {
      for (let slot = 1; slot <= s.replicas; slot++) {
        const n = rows.filter((r) => r.Labels[LABEL_SERVICE] === s.name && Number(r.Labels[LABEL_SLOT]) === slot && r.State === 'running').length;
        if (n !== 1) return false;
      }
    }
    const nodes = await this.withClient((c) => c.listNodes());
    if (nodes.length !== this.cluster.hosts.length || !nodes.every((n) => n.state === 'ready')) return false;
    // Every agent has a session with the current leader (a node stays `ready` in the store for a
    // while after its session broke: without this, the next fault could start before it is back).
    return (await this.leaderSessions()) === this.cluster.hosts.length;
  }

  /** Agent sessions open on the leader (its metric), or -1 when there is no single leader. */
  async leaderSessions(): Promise<number> {
    const id = await this.leader();
    const ctl = this.cluster.controllers.find((c) => c.id === id);
    if (!ctl) return -1;
    const text = await (await fetch(`http://${ctl.metrics}/metrics`, { signal: AbortSignal.timeout(1_000) })).text();
    const m = /^berth_controller_agent_sessions (\d+)$/m.exec(text);
    return m ? Number(m[1]) : -1;
  }

  async converged(what: string, timeoutMs = CONVERGE_TIMEOUT_MS): Promise<number> {
    const t0 = Date.now();
    try {
      await this.cluster.waitFor(() => this.isConverged().catch(() => false), `convergence after ${what}`, timeoutMs);
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- state\n${await this.describe()}`);
    }
    return Date.now() - t0;
  }

  /** What the engines hold and the controller says (for a failed convergence). */
  async describe(): Promise<string> {
    const lines: string[] = [];
    for (const [i, h] of this.cluster.hosts.entries()) {
      try {
        const cs = await h.docker.listContainers({ all: true, filters: { label: [`${LABEL_MANAGED}=true`] } });
        lines.push(`host ${i} (${h.nodeId}): ${cs.map((c) => `${c.Labels[LABEL_SERVICE]}/${c.Labels[LABEL_SLOT]} ${c.State} ${c.Names[0]}`).join(', ') || 'none'}`);
      } catch (err) {
        lines.push(`host ${i}: engine error ${String(err)}`);
      }
    }
    try {
      const nodes = await this.withClient((c) => c.listNodes());
      lines.push(`nodes: ${nodes.map((n) => `${n.id}=${n.state}`).join(' ')}`);
      const tasks = await this.withClient((c) => c.listTasks({ all: true }));
      for (const t of tasks) lines.push(`task ${t.id} ${t.service}/${t.slot} node=${t.nodeId} desired=${t.desiredState} state=${t.status?.state} ${t.status?.message ?? ''}`);
    } catch (err) {
      lines.push(`controller: ${String(err)}`);
    }
    return lines.join('\n');
  }

  // ---- faults ----

  /** Injects one fault, waits its duration, heals it and records its window. */
  async inject(kind: FaultKind, random: () => number = Math.random, during?: () => Promise<void>, onHost?: number): Promise<FaultWindow> {
    const c = this.cluster;
    const drawn = Math.floor(random() * c.hosts.length);
    const host = onHost ?? drawn;
    const startMs = Date.now();
    let target = '';
    let touchedHosts: number[] = [];
    let duplicatesAllowed = false;
    switch (kind) {
      case 'agent-kill': {
        target = c.hosts[host]!.nodeId;
        await c.killAgent(host);
        await during?.();
        await sleep(1_000 + random() * 1_000);
        await c.startAgent(host);
        break;
      }
      case 'link-cut': {
        // Long enough to see the node down, replace-mode slots replaced and waitForNode ones
        // fenced and replaced; short cuts only make the node unknown.
        const ms = random() < 0.3 ? 1_500 + random() * 1_500 : 15_000 + random() * 3_000;
        target = `${c.hosts[host]!.nodeId} for ${Math.round(ms)} ms`;
        touchedHosts = [host];
        duplicatesAllowed = true;
        c.net!.cutLink(host);
        const t = Date.now();
        await during?.();
        await sleep(Math.max(0, ms - (Date.now() - t)));
        c.net!.healLink(host);
        break;
      }
      case 'majority-cut': {
        // Two of three hosts cut past the down time but within the fencing time: replacement is
        // suspended, so nothing may change anywhere.
        const hosts = [host, (host + 1) % c.hosts.length];
        target = hosts.map((i) => c.hosts[i]!.nodeId).join('+');
        for (const i of hosts) c.net!.cutLink(i);
        const t = Date.now();
        await during?.();
        await sleep(Math.max(0, 8_000 - (Date.now() - t)));
        for (const i of hosts) c.net!.healLink(i);
        break;
      }
      case 'leader-kill': {
        const id = await this.waitLeader();
        const idx = c.controllers.findIndex((x) => x.id === id);
        target = id;
        const proc = c.controllers[idx]!.proc;
        proc.signal('SIGKILL');
        await proc.exited;
        await during?.();
        await sleep(2_000);
        await c.startController(idx);
        break;
      }
      case 'leader-pause': {
        const id = await this.waitLeader();
        const ctl = c.controllers.find((x) => x.id === id)!;
        target = id;
        this.paused.add(id);
        ctl.proc.signal('SIGSTOP');
        const t = Date.now();
        await during?.();
        await sleep(Math.max(0, 6_000 - (Date.now() - t))); // twice the lease TTL: another controller leads meanwhile
        ctl.proc.signal('SIGCONT');
        this.paused.delete(id);
        break;
      }
      case 'etcd-restart': {
        target = 'etcd';
        c.etcd.proc.signal('SIGKILL');
        await c.etcd.proc.exited;
        await during?.();
        await sleep(1_000 + random() * 2_000);
        c.etcd = await startEtcd(c.etcdOptions);
        c.track(c.etcd.proc);
        break;
      }
      case 'dockerd-restart': {
        const h = c.hosts[host]!;
        target = h.nodeId;
        touchedHosts = [host];
        await h.dockerd.proc.stop(20_000);
        await during?.();
        h.dockerd = await startDockerd(h.dockerdOptions);
        h.docker = h.dockerd.docker;
        c.track(h.dockerd.proc);
        break;
      }
      case 'nats-kill': {
        target = 'nats';
        c.nats.proc.signal('SIGKILL');
        await c.nats.proc.exited;
        await during?.();
        await sleep(3_000);
        c.nats = await startNats(c.natsOptions);
        c.track(c.nats.proc);
        break;
      }
    }
    const f: FaultWindow = { kind, target, startMs, healedMs: Date.now(), touchedHosts, duplicatesAllowed };
    this.faults.push(f);
    return f;
  }

  /** The host running the most containers of the watched services. */
  async busiestHost(): Promise<number> {
    const watched = new Set(SERVICES.map((s) => s.name));
    const counts = await Promise.all(this.cluster.hosts.map(async (h) => (await h.docker.listContainers({ filters: { label: [`${LABEL_MANAGED}=true`] } })).filter((r) => watched.has(r.Labels[LABEL_SERVICE] ?? '')).length));
    return counts.indexOf(Math.max(...counts));
  }

  private async waitLeader(): Promise<string> {
    let id: string | undefined;
    await this.cluster.waitFor(async () => (id = await this.leader()) !== undefined, 'one leader', 30_000);
    return id!;
  }

  async stop(): Promise<void> {
    await this.endSampling();
    for (const id of this.paused) this.cluster.controllers.find((x) => x.id === id)?.proc.signal('SIGCONT');
    await this.cluster.stop();
  }
}

function manifest(s: ServiceDesc): string {
  return `apiVersion: berth.dev/v1
kind: Service
metadata:
  name: ${s.name}
spec:
  image: ${image()}
  replicas: ${s.replicas}
  command: [httpd, -f, -p, "8080", -h, /www]
  stop: { gracePeriod: 1s }
  onNodeLoss: ${s.onNodeLoss}
`;
}
