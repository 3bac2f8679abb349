// The fault-injection harness: a cluster of three hosts (each agent in its own network
// namespace), two controllers, etcd and NATS; two services (replace and waitForNode); a sampler
// that records every Berth container on every engine every SAMPLE_MS, and the engines' own
// record of each container's runs (start/die events, State.StartedAt/FinishedAt); and the
// faults. The history is checked offline (invariants.ts); when a check fails, report() keeps it
// (each copy's runs, the controllers' and agents' log lines of its slot) in a file. Every wait is
// bounded in count and time.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthClient } from '../../cli/src/client.js';
import { startEtcd, startNats, startDockerd } from '../../cli/src/local/services.js';
import { LABEL_MANAGED, LABEL_SERVICE, LABEL_SLOT, LABEL_TASK } from '../../proto/src/labels.js';
import { ROOT, TestCluster, image } from '../harness/cluster.js';
import { seededRandom } from '../harness/random.js';
import { parseDuration } from '../../proto/src/spec/units.js';
import { jsonLines } from '../../proto/src/lines.js';
import {
  describeHandovers,
  describeViolations,
  summary,
  type ContainerRow,
  type EngineContainer,
  type EngineHistory,
  type FaultWindow,
  type Sample,
  type ServiceDesc,
  type Verdict,
} from './invariants.js';

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
/** CHAOS_TIMINGS.downAfter in ms: an agent away this long has its node declared down. */
const DOWN_AFTER_MS = Number(parseDuration(CHAOS_TIMINGS.downAfter));
/** CHAOS_TIMINGS.heartbeatPeriod and fenceAfter in ms. */
const HEARTBEAT_PERIOD_MS = Number(parseDuration(CHAOS_TIMINGS.heartbeatPeriod));
const FENCE_AFTER_MS = Number(parseDuration(CHAOS_TIMINGS.fenceAfter));
/** A killed agent that is restarted has its session back within this long, or the soak fails. */
const AGENT_BACK_TIMEOUT_MS = 60_000;
/** How often every engine is sampled. */
export const SAMPLE_MS = 300;
/** Bounds the invariants allow after a fault heals. */
export const BOUNDS = { recoveryMs: 25_000, duplicateMs: 12_000 };
/** Where report() writes (CHAOS_OUT overrides). */
export const REPORT_DIR = process.env['CHAOS_OUT'] ?? join(ROOT, '.chaos');
/**
 * Two engine times of one container within this long are the same run's (a start event comes
 * just after State.StartedAt); a restart in place waits at least its 1 s backoff.
 */
const SAME_RUN_MS = 500;
/** Log lines kept per slot in a report. */
const REPORT_LOG_LINES = 400;

/** What the engines said of one container, plus what the samples saw of it. */
interface EngineRecord extends EngineContainer {
  name: string;
  /** Listed running in the newest sample of its host. */
  runningNow: boolean;
  /** First sample that no longer listed it running (its end, if the engine never said). */
  goneMs?: number;
  lastState?: string;
}

/** Longest wait for the cluster to converge after a fault. */
export const CONVERGE_TIMEOUT_MS = 60_000;

export const SERVICES: ServiceDesc[] = [
  { name: 'web', replicas: 4, onNodeLoss: 'replace' },
  { name: 'solo', replicas: 3, onNodeLoss: 'waitForNode' },
];

export type FaultKind =
  'agent-kill' | 'link-cut' | 'leader-kill' | 'leader-pause' | 'etcd-restart' | 'dockerd-restart' | 'nats-kill' | 'majority-cut';
export const FAULT_KINDS: FaultKind[] = [
  'agent-kill',
  'link-cut',
  'leader-kill',
  'leader-pause',
  'etcd-restart',
  'dockerd-restart',
  'nats-kill',
  'majority-cut',
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** The soak's random draws, reproducible from its seed. */
export const rng = seededRandom;

export class Chaos {
  readonly samples: Sample[] = [];
  readonly faults: FaultWindow[] = [];
  /** Engine record of every watched container, by id. */
  readonly containers = new Map<string, EngineRecord>();
  private sampling: Promise<void> | undefined;
  private stopSampling = false;
  private readonly seenEvents = new Set<string>();
  private readonly inflight = new Set<Promise<void>>();
  private watchers: Array<Promise<void>> = [];
  private readonly watchAbort = new Set<AbortController>();

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
      const c = new BerthClient(ctl.address, this.cluster.transport);
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
        const text = await this.cluster.scrape(c.metrics, '/metrics', 1_000);
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
    this.watchers = this.cluster.hosts.map((_, i) => this.watchEvents(i));
    this.sampling = (async () => {
      while (!this.stopSampling) {
        const t = Date.now();
        const hosts = await Promise.all(
          this.cluster.hosts.map(async (h): Promise<Array<ContainerRow & { task: string; name: string }> | null> => {
            try {
              const cs = await withTimeout(h.docker.listContainers({ all: true, filters: { label: [`${LABEL_MANAGED}=true`] } }), 2_000);
              return cs.map((c) => ({
                id: c.Id,
                service: c.Labels[LABEL_SERVICE] ?? '',
                slot: Number(c.Labels[LABEL_SLOT]),
                state: c.State,
                task: c.Labels[LABEL_TASK] ?? '',
                name: c.Names[0] ?? '',
              }));
            } catch {
              return null;
            }
          }),
        );
        this.samples.push({
          t,
          hosts: hosts.map((rows) => rows && rows.map(({ id, service, slot, state }) => ({ id, service, slot, state }))),
        });
        hosts.forEach((rows, i) => rows && this.noteListing(i, t, rows));
        await sleep(Math.max(0, SAMPLE_MS - (Date.now() - t)));
      }
    })();
  }

  async endSampling(): Promise<void> {
    this.stopSampling = true;
    await this.sampling;
    for (const a of this.watchAbort) a.abort();
    await Promise.all(this.watchers);
    await Promise.all([...this.inflight]);
  }

  // ---- the engines' record of each container ----

  private record(host: number, id: string, labels: Record<string, string>, name: string): EngineRecord | undefined {
    const service = labels[LABEL_SERVICE] ?? '';
    if (!SERVICES.some((x) => x.name === service)) return undefined;
    let r = this.containers.get(id);
    if (!r) {
      r = { id, host, service, slot: Number(labels[LABEL_SLOT]), task: labels[LABEL_TASK] ?? '', name, runs: [], runningNow: false };
      this.containers.set(id, r);
    }
    return r;
  }

  private static addStart(r: EngineRecord, t: number): void {
    if (!Number.isFinite(t) || t <= 0 || r.runs.some((x) => Math.abs(x.startMs - t) <= SAME_RUN_MS)) return;
    r.runs.push({ startMs: t });
    r.runs.sort((a, b) => a.startMs - b.startMs);
  }

  private static addEnd(r: EngineRecord, t: number): void {
    if (!Number.isFinite(t) || t <= 0) return;
    const run = [...r.runs].reverse().find((x) => x.startMs <= t + SAME_RUN_MS);
    if (!run) return;
    if (run.endMs !== undefined && !run.endApprox) return; // the engine said already
    run.endMs = Math.max(t, run.startMs);
    delete run.endApprox;
  }

  /** One host's listing in a sample: new or changed containers are inspected for their times. */
  private noteListing(host: number, t: number, rows: ReadonlyArray<ContainerRow & { task: string; name: string }>): void {
    const here = new Set<string>();
    for (const row of rows) {
      here.add(row.id);
      const r = this.record(
        host,
        row.id,
        { [LABEL_SERVICE]: row.service, [LABEL_SLOT]: String(row.slot), [LABEL_TASK]: row.task },
        row.name,
      );
      if (!r) continue;
      const running = row.state === 'running';
      if (running) delete r.goneMs;
      else if (r.runningNow || r.goneMs === undefined) r.goneMs ??= t;
      r.runningNow = running;
      if (r.lastState !== row.state) {
        r.lastState = row.state;
        this.inspectLater(host, row.id);
      }
    }
    for (const r of this.containers.values()) {
      if (r.host !== host || here.has(r.id)) continue;
      if (r.runningNow || r.goneMs === undefined) r.goneMs ??= t;
      r.runningNow = false;
      r.lastState = 'removed';
    }
  }

  private inspectLater(host: number, id: string): void {
    const p = (async () => {
      try {
        const info = await withTimeout(this.cluster.hosts[host]!.docker.getContainer(id).inspect(), 5_000);
        const r = this.containers.get(id);
        if (!r) return;
        Chaos.addStart(r, Date.parse(info.State.StartedAt));
        if (!info.State.Running) Chaos.addEnd(r, Date.parse(info.State.FinishedAt));
      } catch {
        /* gone already: its events or the samples tell */
      }
    })();
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Follows one engine's start/die events; after a break, from the last event seen (deduplicated). */
  private async watchEvents(host: number): Promise<void> {
    let sinceS = Math.floor(Date.now() / 1000) - 1;
    while (!this.stopSampling) {
      const abort = new AbortController();
      this.watchAbort.add(abort);
      try {
        const stream = await this.cluster.hosts[host]!.docker.getEvents({
          since: sinceS,
          filters: { type: ['container'], event: ['start', 'die'], label: [`${LABEL_MANAGED}=true`] },
          abortSignal: abort.signal,
        } as Parameters<TestCluster['hosts'][number]['docker']['getEvents']>[0]);
        await new Promise<void>((resolve) => {
          type EngineEvent = {
            Action?: string;
            time?: number;
            timeNano?: number;
            Actor?: { ID?: string; Attributes?: Record<string, string> };
          };
          stream.on(
            'data',
            jsonLines<EngineEvent>((ev) => {
              const id = ev.Actor?.ID ?? '';
              const key = `${id}|${ev.Action}|${ev.timeNano}`;
              if (!id || this.seenEvents.has(key)) return;
              this.seenEvents.add(key);
              if (ev.time) sinceS = ev.time;
              const r = this.record(host, id, ev.Actor?.Attributes ?? {}, ev.Actor?.Attributes?.['name'] ?? '');
              const t = (ev.timeNano ?? 0) / 1e6;
              if (r && ev.Action === 'start') Chaos.addStart(r, t);
              else if (r && ev.Action === 'die') Chaos.addEnd(r, t);
            }),
          );
          stream.on('end', () => resolve());
          stream.on('close', () => resolve());
          stream.on('error', () => resolve());
        });
      } catch {
        /* engine away (a dockerd restart): try again */
      } finally {
        this.watchAbort.delete(abort);
        abort.abort();
      }
      if (!this.stopSampling) await sleep(500);
    }
  }

  /** The engines' history for the checker: open runs of containers no longer seen end when last seen. */
  engineHistory(): EngineHistory {
    const endMs = this.samples[this.samples.length - 1]?.t ?? Date.now();
    const containers: EngineContainer[] = [];
    for (const r of this.containers.values()) {
      if (r.runs.length === 0) continue; // no engine time known: the samples judge it
      const runs = r.runs.map((x) => ({ ...x }));
      const last = runs[runs.length - 1]!;
      if (last.endMs === undefined && !r.runningNow && r.goneMs !== undefined) {
        last.endMs = Math.max(r.goneMs, last.startMs);
        last.endApprox = true;
      }
      containers.push({ id: r.id, host: r.host, service: r.service, slot: r.slot, task: r.task, runs });
    }
    return { containers, endMs };
  }

  /**
   * Keeps the history of a check: the verdict, the faults, every container's runs, every copy of
   * each slot concerned by a violation or handover (container id, host, task, runs in engine times) and the controllers' and
   * agents' log lines that name its tasks or containers. Returns the file's path.
   */
  report(v: Verdict, what: string): string {
    mkdirSync(REPORT_DIR, { recursive: true });
    const file = join(REPORT_DIR, `${what}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    const logs = readdirSync(this.cluster.dir)
      .filter((f) => f.endsWith('.log') && (f.startsWith('controller') || f.startsWith('agent')))
      .map((f) => ({ file: f, lines: readFileSync(join(this.cluster.dir, f), 'utf8').split('\n') }));
    const slots = new Map<string, { service: string; slot: number }>();
    for (const x of [...v.lost, ...v.duplicated, ...v.handovers]) {
      const m = /^(\S+) slot (\d+)/.exec(x.what);
      if (m) slots.set(`${m[1]}/${m[2]}`, { service: m[1]!, slot: Number(m[2]) });
    }
    for (const x of v.restarts) {
      const m = /container (\w+)/.exec(x.what);
      const r = m ? [...this.containers.values()].find((c) => c.id.startsWith(m[1]!)) : undefined;
      if (r) slots.set(`${r.service}/${r.slot}`, { service: r.service, slot: r.slot });
    }
    const iso = (t: number | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString());
    const detail = [...slots.values()].map(({ service, slot }) => {
      const copies = [...this.containers.values()].filter((c) => c.service === service && c.slot === slot);
      const needles = [...new Set(copies.flatMap((c) => [c.id.slice(0, 12), c.task]).filter((x) => x))];
      const lines = logs.flatMap(({ file, lines }) => lines.filter((l) => needles.some((n) => l.includes(n))).map((l) => `${file}: ${l}`));
      return {
        slot: `${service}/${slot}`,
        copies: copies.map((c) => ({
          id: c.id,
          name: c.name,
          host: c.host,
          node: this.cluster.hosts[c.host]?.nodeId,
          task: c.task,
          runs: c.runs.map((x) => ({ started: iso(x.startMs), stopped: iso(x.endMs), ...(x.endApprox ? { stoppedFrom: 'samples' } : {}) })),
        })),
        logLines: lines.slice(-REPORT_LOG_LINES),
      };
    });
    const text = [summary(this.faults.length, v), describeViolations(v), describeHandovers(v)].filter((x) => x).join('\n');
    const engine = this.engineHistory().containers.map((c) => ({
      id: c.id,
      host: c.host,
      slot: `${c.service}/${c.slot}`,
      task: c.task,
      runs: c.runs.map(
        (x) => `${iso(x.startMs)} .. ${x.endMs === undefined ? 'running' : iso(x.endMs)}${x.endApprox ? ' (stop from samples)' : ''}`,
      ),
    }));
    const faults = this.faults.map((f) => ({ ...f, start: iso(f.startMs), healed: iso(f.healedMs) }));
    writeFileSync(file, `${JSON.stringify({ summary: text, verdict: v, faults, slots: detail, engine }, null, 2)}\n`);
    return file;
  }

  // ---- convergence ----

  /**
   * Every watched slot runs exactly one container and no other runs, every node is ready. (Exited
   * containers of failed tasks stay as history, as the slot model keeps them.)
   */
  async isConverged(): Promise<boolean> {
    const watched = new Set(SERVICES.map((s) => s.name));
    const rows = (
      await Promise.all(this.cluster.hosts.map((h) => h.docker.listContainers({ filters: { label: [`${LABEL_MANAGED}=true`] } })))
    )
      .flat()
      .filter((r) => watched.has(r.Labels[LABEL_SERVICE] ?? '') && r.State === 'running');
    const want = SERVICES.reduce((n, s) => n + s.replicas, 0);
    if (rows.length !== want) return false;
    for (const s of SERVICES) {
      for (let slot = 1; slot <= s.replicas; slot++) {
        const n = rows.filter(
          (r) => r.Labels[LABEL_SERVICE] === s.name && Number(r.Labels[LABEL_SLOT]) === slot && r.State === 'running',
        ).length;
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
    const text = await this.cluster.scrape(ctl.metrics, '/metrics', 1_000);
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
        lines.push(
          `host ${i} (${h.nodeId}): ${cs.map((c) => `${c.Labels[LABEL_SERVICE]}/${c.Labels[LABEL_SLOT]} ${c.State} ${c.Names[0]}`).join(', ') || 'none'}`,
        );
      } catch (err) {
        lines.push(`host ${i}: engine error ${String(err)}`);
      }
    }
    try {
      const nodes = await this.withClient((c) => c.listNodes());
      lines.push(`nodes: ${nodes.map((n) => `${n.id}=${n.state}`).join(' ')}`);
      const tasks = await this.withClient((c) => c.listTasks({ all: true }));
      for (const t of tasks)
        lines.push(
          `task ${t.id} ${t.service}/${t.slot} node=${t.nodeId} desired=${t.desiredState} state=${t.status?.state} ${t.status?.message ?? ''}`,
        );
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
        // Healed when the agent's session is back (its node ready), not when its process started:
        // on a loaded machine Node's start-up alone can take seconds. An agent away longer than
        // down-after had its node declared down, and then at-least-once replacement is the
        // promise (docs/reliability.md): replace-mode slots may run two copies, and the returning
        // agent stops the given-up ones. waitForNode slots still may never run two.
        await this.waitNodeReady(target, AGENT_BACK_TIMEOUT_MS);
        const awayMs = Date.now() - startMs;
        if (awayMs >= DOWN_AFTER_MS) {
          touchedHosts = [host];
          duplicatesAllowed = true;
          target += ` (back after ${(awayMs / 1000).toFixed(1)} s, past down-after)`;
        }
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
        // Two of three hosts cut long enough to be unknown (mass loss: replacement suspended),
        // and short enough that their agents' silence stays within the fencing time: nothing may
        // change anywhere. 6 s leaves the reconnect after the heal about 3 s before fence-after
        // (10 s from the last answer, up to a heartbeat period before the cut); an 8 s cut left
        // 1 s, and a soak under a fresh-clone npm test saw the agents fence 1.1 s after the heal.
        const hosts = [host, (host + 1) % c.hosts.length];
        target = hosts.map((i) => c.hosts[i]!.nodeId).join('+');
        for (const i of hosts) c.net!.cutLink(i);
        const t = Date.now();
        await during?.();
        await sleep(Math.max(0, 6_000 - (Date.now() - t)));
        for (const i of hosts) c.net!.healLink(i);
        // Healed when both nodes are ready again. If that took so long that an agent's silence
        // (from its last answer, up to a heartbeat period before the cut) may have reached
        // fence-after, its agent stopped its waitForNode containers, as promised
        // (docs/reliability.md): those hosts count as touched.
        await Promise.all(hosts.map((i) => this.waitNodeReady(c.hosts[i]!.nodeId, AGENT_BACK_TIMEOUT_MS)));
        const silentMs = Date.now() - t + HEARTBEAT_PERIOD_MS;
        if (silentMs >= FENCE_AFTER_MS) {
          touchedHosts = hosts;
          target += ` (back after ${(silentMs / 1000).toFixed(1)} s of silence, past fence-after)`;
        }
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

  /** Waits (bounded) until the node is ready: its agent has a session with the leader again. */
  private async waitNodeReady(nodeId: string, timeoutMs: number): Promise<void> {
    await this.cluster.waitFor(
      async () => (await this.withClient((c) => c.listNodes())).some((n) => n.id === nodeId && n.state === 'ready'),
      `node ${nodeId} ready again`,
      timeoutMs,
    );
  }

  /** The host running the most containers of the watched services. */
  async busiestHost(): Promise<number> {
    const watched = new Set(SERVICES.map((s) => s.name));
    const counts = await Promise.all(
      this.cluster.hosts.map(
        async (h) =>
          (await h.docker.listContainers({ filters: { label: [`${LABEL_MANAGED}=true`] } })).filter((r) =>
            watched.has(r.Labels[LABEL_SERVICE] ?? ''),
          ).length,
      ),
    );
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
