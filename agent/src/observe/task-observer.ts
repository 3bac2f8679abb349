// What the agent observes of the tasks it runs: a resource sample of every running container
// each STATS_INTERVAL_MS (one-shot engine stats), restarts per replica slot, and the figures
// served as metrics (per slot) and to `berth top` (per task, with a CPU rate between samples).
import { sleep } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { TaskRecord, TaskStatus } from '../../../proto/src/model.js';
import { isTerminal } from '../../../proto/src/types.js';
import {
  RESTART_REASONS,
  type AgentMetrics,
  type ObservationSource,
  type RestartReason,
  type SlotObservation,
} from '../metrics/metrics.js';
import type { ContainerStats, ObserveRuntime } from '../runtime/observe.js';
import type { TaskUsage__Output } from '../../../proto/gen/berth/v1/TaskUsage.js';

/** Sampling period: `berth top` figures are at most this old; costs one engine call per container. */
export const STATS_INTERVAL_MS = 5_000;
/** Engine stats calls in flight at once: a node with many containers is sampled without a burst. */
const STATS_CONCURRENCY = 4;

export interface TaskView {
  task: TaskRecord;
  status: TaskStatus | undefined;
}

/** A task's usage as AgentAPI.Stats answers it (the controller adds the node). */
export type TaskUsage = Omit<TaskUsage__Output, 'node'>;

interface Sample {
  containerId: string;
  cur: ContainerStats;
  prev: ContainerStats | undefined;
}

const slotKey = (t: Pick<TaskRecord, 'namespace' | 'service' | 'slot'>): string => `${t.namespace}\u0000${t.service}\u0000${t.slot}`;

/** Why a status' in-place restart happened: it reports the end of the run before it. */
export function restartReason(s: TaskStatus): RestartReason {
  if (s.oomKilled) return 'oom_killed';
  if (s.health === 'unhealthy') return 'unhealthy';
  return 'exited';
}

/** CPUs used between two samples of one container. */
export function cpuRate(prev: ContainerStats | undefined, cur: ContainerStats): number {
  if (!prev) return 0;
  const dt = (cur.readAtMs - prev.readAtMs) / 1000;
  const used = cur.cpuSeconds - prev.cpuSeconds;
  return dt > 0 && used >= 0 ? used / dt : 0;
}

export class TaskObserver implements ObservationSource {
  private samples = new Map<string, Sample>();
  private restartSlots = new Map<string, [string, string, string]>();
  /** Per task: the restart count last seen in its reports; tasks whose replacement start was counted. */
  private restartsSeen = new Map<string, number>();
  private replacementsCounted = new Set<string>();

  constructor(
    private readonly deps: {
      tasks: () => TaskView[];
      runtime: ObserveRuntime;
      metrics?: AgentMetrics | undefined;
      log: Logger;
      intervalMs?: number;
    },
  ) {
    deps.metrics?.observe(this);
  }

  async start(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.sample().catch((err: unknown) =>
        this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'stats sampling failed'),
      );
      await sleep(this.deps.intervalMs ?? STATS_INTERVAL_MS, signal);
    }
  }

  /** Takes one sample of every running container; forgets tasks that stopped running. */
  async sample(): Promise<void> {
    const end = this.deps.metrics?.statsDuration.startTimer();
    const views = this.deps.tasks();
    this.syncRestartSeries(views);
    const running = views.filter((v) => v.status?.state === 'running' && v.status.containerId);
    const keep = new Set(running.map((v) => v.task.id));
    for (const id of this.samples.keys()) if (!keep.has(id)) this.samples.delete(id);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < running.length) {
        const v = running[next++]!;
        const containerId = v.status!.containerId!;
        try {
          const s = await this.deps.runtime.stats(containerId);
          if (!s) {
            this.samples.delete(v.task.id);
            continue;
          }
          const old = this.samples.get(v.task.id);
          this.samples.set(v.task.id, { containerId, cur: s, prev: old && old.containerId === containerId ? old.cur : undefined });
        } catch (err) {
          this.deps.log.debug({ task: v.task.id, err: err instanceof Error ? err.message : String(err) }, 'no stats for container');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(STATS_CONCURRENCY, running.length) }, () => worker()));
    end?.();
  }

  /**
   * Every status the agent reports. A slot restarts on this node when its container is restarted
   * in place (the status' restart count goes up) or when a replacement task, created because an
   * earlier one of the slot failed (priorFailures > 0), starts here. Summed over the nodes, that
   * is every restart of the slot. The reason label says why (restartReason; `replaced` for a
   * replacement); restarts that one report counts together share its reason.
   */
  onStatus(task: TaskRecord | undefined, status: TaskStatus): void {
    if (!task) return;
    const restarts = status.restarts ?? 0;
    const before = this.restartsSeen.get(task.id) ?? task.status.restarts ?? 0;
    const n = Math.max(0, restarts - before);
    this.restartsSeen.set(task.id, Math.max(before, restarts));
    if (n > 0) this.deps.metrics?.restarts.labels(...this.restartLabels(task), restartReason(status)).inc(n);
    if (status.state === 'starting' && restarts === 0 && (task.priorFailures ?? 0) > 0 && !this.replacementsCounted.has(task.id)) {
      this.replacementsCounted.add(task.id);
      this.deps.metrics?.restarts.labels(...this.restartLabels(task), 'replaced').inc(1);
    }
  }

  private restartLabels(t: TaskRecord): [string, string, string] {
    const key = slotKey(t);
    let labels = this.restartSlots.get(key);
    if (!labels) {
      labels = [t.namespace, t.service, String(t.slot)];
      this.restartSlots.set(key, labels);
      // Start at zero so that the first restart shows in increase() and rate().
      for (const r of RESTART_REASONS) this.deps.metrics?.restarts.labels(...labels, r).inc(0);
    }
    return labels;
  }

  /** A restart series lives while this node holds any task (current or history) of its slot. */
  private syncRestartSeries(views: TaskView[]): void {
    const present = new Set<string>();
    const ids = new Set<string>();
    for (const v of views) {
      present.add(slotKey(v.task));
      ids.add(v.task.id);
      this.restartLabels(v.task);
    }
    for (const id of this.restartsSeen.keys()) if (!ids.has(id)) this.restartsSeen.delete(id);
    for (const id of this.replacementsCounted) if (!ids.has(id)) this.replacementsCounted.delete(id);
    for (const [key, labels] of this.restartSlots) {
      if (present.has(key)) continue;
      this.restartSlots.delete(key);
      for (const r of RESTART_REASONS) this.deps.metrics?.restarts.remove(...labels, r);
    }
  }

  /** Per slot: its newest running task on this node, with the latest sample. */
  slots(): SlotObservation[] {
    const newest = new Map<string, TaskView>();
    for (const v of this.deps.tasks()) {
      if (v.status?.state !== 'running') continue;
      const k = slotKey(v.task);
      const cur = newest.get(k);
      if (!cur || v.task.createdAtMs > cur.task.createdAtMs) newest.set(k, v);
    }
    return [...newest.values()].map((v) => ({
      namespace: v.task.namespace,
      service: v.task.service,
      slot: String(v.task.slot),
      stats: this.samples.get(v.task.id)?.cur,
      health: v.status?.health || 'none',
    }));
  }

  allocated(): { cpuMilli: number; memoryBytes: number } {
    let cpuMilli = 0;
    let memoryBytes = 0;
    for (const { task, status } of this.deps.tasks()) {
      if (status && isTerminal(status.state)) continue;
      cpuMilli += task.spec.resources.cpu;
      memoryBytes += task.spec.resources.memory;
    }
    return { cpuMilli, memoryBytes };
  }

  /** Usage of every running task that has been sampled (for `berth top`). */
  usage(): TaskUsage[] {
    const out: TaskUsage[] = [];
    for (const { task, status } of this.deps.tasks()) {
      const s = this.samples.get(task.id);
      if (!s || status?.state !== 'running') continue;
      out.push({
        taskId: task.id,
        namespace: task.namespace,
        service: task.service,
        slot: task.slot,
        cpuCores: cpuRate(s.prev, s.cur),
        memoryBytes: s.cur.memoryBytes,
        memoryLimitBytes: s.cur.memoryLimitBytes,
        sampledAtMs: s.cur.readAtMs,
      });
    }
    return out;
  }
}
