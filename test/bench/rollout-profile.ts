// Where a Berth rollout spends its time: while it runs, the task records (etcd watch) and the
// engine's container events are timestamped; afterwards every new task's path is split into
// phases and printed as median / p90 / max. Used by `npm run bench:rollout`.
import { readFileSync, readdirSync } from 'node:fs';
import type { Etcd3, Watcher } from 'etcd3';
import { etcdClient, type EtcdStoreOptions } from '../../controller/src/store/etcd-store.js';
import type Docker from 'dockerode';
import type { TaskRecord } from '../../proto/src/model.js';

interface Timeline {
  task?: TaskRecord;
  createdAtMs?: number;
  placedSeenMs?: number;
  /** Agent clock (same machine): first time each state was reported. */
  agentMs: Map<string, number>;
  /** Watch receive time of the first stored report of each state. */
  storedMs: Map<string, number>;
  shutdownSeenMs?: number;
  engineCreateMs?: number;
  engineStartMs?: number;
  engineDieMs?: number;
}

type EngineEvent = { Action: string; timeNano: number; id?: string; Actor: { ID?: string; Attributes: Record<string, string> } };

/** Streams the engine's container events with `label` to `onEvent` until stopped. */
export async function engineEvents(docker: Docker, label: string, onEvent: (e: EngineEvent) => void): Promise<{ stop(): void }> {
  const stream = (await docker.getEvents({ filters: { type: ['container'], label: [label] } })) as NodeJS.ReadableStream & {
    destroy(): void;
  };
  let buf = '';
  stream.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const line of lines.filter(Boolean)) onEvent(JSON.parse(line) as EngineEvent);
  });
  return { stop: () => stream.destroy() };
}

/** Engine create → start latency of every container with `label` created while it records (ms). */
export async function createToStart(docker: Docker, label: string): Promise<{ stop(): number[] }> {
  const created = new Map<string, number>();
  const lat: number[] = [];
  const rec = await engineEvents(docker, label, (e) => {
    const id = e.Actor.ID ?? e.id ?? '';
    if (e.Action === 'create') created.set(id, e.timeNano / 1e6);
    else if (e.Action === 'start' && created.has(id)) lat.push(Math.round(e.timeNano / 1e6 - created.get(id)!));
  });
  return {
    stop: () => {
      rec.stop();
      return lat;
    },
  };
}

/** "median 812 ms, p90 1534 ms (n=100)". */
export function summarize(l: readonly number[]): string {
  if (l.length === 0) return 'n=0';
  const q = (p: number): number => [...l].sort((a, b) => a - b)[Math.min(l.length - 1, Math.floor(p * l.length))]!;
  return `median ${q(0.5)} ms, p90 ${q(0.9)} ms (n=${l.length})`;
}

export class RolloutProfile {
  private byTask = new Map<string, Timeline>();
  private watcher: Watcher | undefined;
  private events: { stop(): void } | undefined;
  private readonly etcd: Etcd3;

  constructor(
    etcd: EtcdStoreOptions,
    private readonly docker: Docker,
  ) {
    this.etcd = etcdClient(etcd);
  }

  private tl(id: string): Timeline {
    let t = this.byTask.get(id);
    if (!t) this.byTask.set(id, (t = { agentMs: new Map(), storedMs: new Map() }));
    return t;
  }

  async start(): Promise<void> {
    this.watcher = await this.etcd.watch().prefix('/berth/v1/tasks/').create();
    this.watcher.on('put', (kv) => {
      const now = Date.now();
      const rec = JSON.parse(kv.value.toString()) as TaskRecord;
      const t = this.tl(rec.id);
      t.task = rec;
      t.createdAtMs ??= rec.createdAtMs;
      if (rec.nodeId && t.placedSeenMs === undefined) t.placedSeenMs = now;
      if (!t.agentMs.has(rec.status.state)) t.agentMs.set(rec.status.state, rec.status.timestampMs);
      if (!t.storedMs.has(rec.status.state)) t.storedMs.set(rec.status.state, now);
      if (rec.desiredState !== 'running' && t.shutdownSeenMs === undefined) t.shutdownSeenMs = now;
    });
    this.events = await engineEvents(this.docker, 'berth.managed=true', (e) => {
      const id = e.Actor.Attributes['berth.task'];
      if (!id) return;
      const t = this.tl(id);
      const ms = Math.round(e.timeNano / 1e6);
      if (e.Action === 'create') t.engineCreateMs ??= ms;
      else if (e.Action === 'start') t.engineStartMs ??= ms;
      else if (e.Action === 'die') t.engineDieMs ??= ms;
    });
  }

  async stop(): Promise<void> {
    this.events?.stop();
    await this.watcher?.cancel();
    this.etcd.close();
  }

  /** Each phase's durations (ms) for the tasks of `revision` (new tasks), and how long old tasks took to go. */
  phases(revision: number): Map<string, number[]> {
    const phases = new Map<string, number[]>();
    const add = (name: string, a: number | undefined, b: number | undefined): void => {
      if (a === undefined || b === undefined) return;
      let l = phases.get(name);
      if (!l) phases.set(name, (l = []));
      l.push(b - a);
    };
    const timelines = [...this.byTask.values()].filter((t) => t.task);
    const newest = timelines.filter((t) => t.task!.specRevision === revision);
    const old = timelines.filter((t) => t.task!.specRevision !== revision);
    for (const t of newest) {
      add('1 created → placed (scheduler, etcd)', t.createdAtMs, t.placedSeenMs);
      add('2 placed → engine create (dispatch, agent, image check)', t.placedSeenMs, t.engineCreateMs);
      add('3 engine create → start event', t.engineCreateMs, t.engineStartMs);
      add('4 start event → agent reports running', t.engineStartMs, t.agentMs.get('running'));
      add('5 agent running → stored (session, status writer, etcd)', t.agentMs.get('running'), t.storedMs.get('running'));
      add('= created → running stored', t.createdAtMs, t.storedMs.get('running'));
    }
    // The orchestrator's reaction: the old task of the slot is told to stop when its successor is ready.
    const bySlot = new Map<number, Timeline[]>();
    for (const t of timelines) bySlot.set(t.task!.slot, [...(bySlot.get(t.task!.slot) ?? []), t]);
    for (const list of bySlot.values()) {
      const fresh = list.find((t) => t.task!.specRevision === revision);
      const prev = list.find((t) => t.task!.specRevision !== revision);
      if (fresh && prev) add('6 successor running stored → old told to stop', fresh.storedMs.get('running'), prev.shutdownSeenMs);
    }
    for (const t of old) {
      add('7 old told to stop → engine die', t.shutdownSeenMs, t.engineDieMs);
    }
    return new Map([...phases].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Phases of the tasks of `revision` (new tasks), and how long old tasks took to go. */
  report(revision: number): string {
    const q = (l: number[], p: number): number => [...l].sort((a, b) => a - b)[Math.min(l.length - 1, Math.floor(p * l.length))]!;
    const rows = [...this.phases(revision).entries()].map(
      ([name, l]) =>
        `  ${name.padEnd(58)} n=${String(l.length).padEnd(4)} median ${String(q(l, 0.5)).padStart(6)} ms   p90 ${String(q(l, 0.9)).padStart(6)} ms   max ${String(Math.max(...l)).padStart(6)} ms`,
    );
    return rows.join('\n');
  }
}

/** CPU seconds and bytes written by a process and its children (dockerd: containerd; the shims are daemons of their own), from /proc. */
function usageOf(pid: number): { cpuS: number; writeBytes: number } {
  const ticks = 100; // USER_HZ on Linux
  let cpuS = 0;
  let writeBytes = 0;
  const seen = new Set<number>();
  const visit = (p: number): void => {
    if (seen.has(p)) return;
    seen.add(p);
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpuS += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / ticks; // utime stime cutime cstime
      const io = readFileSync(`/proc/${p}/io`, 'utf8');
      writeBytes += Number(/^write_bytes: (\d+)/m.exec(io)?.[1] ?? 0);
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' ').filter(Boolean)) visit(Number(c));
      }
    } catch {
      /* gone meanwhile */
    }
  };
  visit(pid);
  return { cpuS, writeBytes };
}

/** Resource use of named processes between start() and report(). */
export class ProcessUsage {
  private before = new Map<string, { cpuS: number; writeBytes: number }>();

  constructor(private readonly pids: Record<string, number>) {}

  start(): void {
    for (const [name, pid] of Object.entries(this.pids)) this.before.set(name, usageOf(pid));
  }

  /** CPU seconds each process used since start(). */
  cpu(): Map<string, number> {
    return new Map(Object.entries(this.pids).map(([name, pid]) => [name, usageOf(pid).cpuS - this.before.get(name)!.cpuS]));
  }

  report(): string {
    return Object.entries(this.pids)
      .map(([name, pid]) => {
        const a = this.before.get(name)!;
        const b = usageOf(pid);
        return `  ${name.padEnd(40)} cpu ${(b.cpuS - a.cpuS).toFixed(1).padStart(6)} s   written ${((b.writeBytes - a.writeBytes) / 2 ** 20).toFixed(1).padStart(7)} MiB`;
      })
      .join('\n');
  }
}
