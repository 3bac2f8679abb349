// Writes task status reported by agents, in batches. The newest report per task wins; a report
// is dropped when the task is gone, belongs to another node, or would move its status backwards
// (statusOrder: task state, then restarts and container phase of a running task).
import type { Logger } from '../../../proto/src/log.js';
import type { TaskRecord, TaskStatus } from '../../../proto/src/model.js';
import { ConflictError } from '../../../proto/src/errors.js';
import { isTerminal, statusOrder } from '../../../proto/src/types.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import type { ClusterCache } from '../store/cluster.js';
import { taskCodec } from '../store/codecs.js';
import { MAX_OPS_PER_TXN, updateOp } from '../store/ops.js';
import type { WriteOp } from '../store/store.js';
import type { EventSink } from '../events/events.js';
import { runLimited } from '../reconcile/limited.js';

/** Reports gather this long before one write batch. */
export const STATUS_WRITE_DEBOUNCE_MS = 25;

/**
 * What a reported status is, next to the stored one:
 * - `newer`: it goes forward (a later state; for a running task a higher restart count, or the
 *   container up again after its restart), or says something new at the same point (health,
 *   message, ports): written.
 * - `unchanged`: the same status again (an agent re-sends everything after reconnecting).
 * - `final`: the stored state is terminal, which nothing changes (e.g. the controller marked the
 *   task orphaned while its node was away).
 * - `backwards`: it would move the status back, e.g. (running, restart 3) after (running,
 *   restart 4): refused, and logged as the bug it would be.
 */
export type StatusVerdict = 'newer' | 'unchanged' | 'final' | 'backwards';

export function judgeStatus(stored: TaskStatus, reported: TaskStatus): StatusVerdict {
  if (isTerminal(stored.state)) return 'final';
  const order = statusOrder(reported, stored);
  if (order < 0) return 'backwards';
  if (order > 0) return 'newer';
  return JSON.stringify(stored) !== JSON.stringify({ ...reported, timestampMs: stored.timestampMs }) ? 'newer' : 'unchanged';
}

/** Whether a reported status may replace the stored one. */
export function acceptStatus(stored: TaskStatus, reported: TaskStatus): boolean {
  return judgeStatus(stored, reported) === 'newer';
}

/** "running (restart 3, backoff)" — a status's place in statusOrder, for logs. */
function describe(s: TaskStatus): string {
  return s.state === 'running' ? `running (restart ${s.restarts ?? 0}, ${s.container ?? 'up'})` : s.state;
}

interface Pending {
  nodeId: string;
  status: TaskStatus;
  attempts: number;
}

export class StatusWriter {
  private pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(private readonly deps: { cache: ClusterCache; log: Logger; metrics?: ControllerMetrics | undefined; events: EventSink }) {}

  enqueue(nodeId: string, updates: Array<{ taskId: string; status: TaskStatus }>): void {
    for (const u of updates) this.pending.set(u.taskId, { nodeId, status: u.status, attempts: 0 });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.pending.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.flushing) {
        void this.flushing.then(() => this.schedule());
        return;
      }
      this.flushing = this.flush().finally(() => {
        this.flushing = undefined;
      });
    }, STATUS_WRITE_DEBOUNCE_MS);
  }

  /** Writes everything pending now (tests call it directly). */
  async flush(): Promise<void> {
    const { cache, metrics } = this.deps;
    const batch = [...this.pending.entries()];
    this.pending.clear();
    const writes: Array<{ taskId: string; p: Pending; op: WriteOp; prev: TaskRecord; next: TaskRecord }> = [];
    for (const [taskId, p] of batch) {
      const cur = cache.tasks.get(cache.keys.task(taskId));
      // Gone, or moved to another node: the report is about something that no longer is.
      const verdict = cur && cur.value.nodeId === p.nodeId ? judgeStatus(cur.value.status, p.status) : 'final';
      if (!cur || verdict !== 'newer') {
        metrics?.statusWrites.labels('stale').inc();
        if (cur && verdict === 'backwards') {
          this.deps.log.warn(
            { task: taskId, node: p.nodeId, stored: describe(cur.value.status), reported: describe(p.status) },
            'refused a task status that goes backwards',
          );
        }
        continue;
      }
      const next: TaskRecord = { ...cur.value, status: p.status };
      writes.push({ taskId, p, prev: cur.value, next, op: updateOp(cache.keys.task(taskId), taskCodec, next, cur.modRevision) });
    }
    const jobs: Array<() => Promise<void>> = [];
    for (let i = 0; i < writes.length; i += MAX_OPS_PER_TXN) {
      const chunk = writes.slice(i, i + MAX_OPS_PER_TXN);
      jobs.push(async () => {
        try {
          await cache.store.commit(chunk.map((w) => w.op));
          for (const w of chunk) this.written(w.prev, w.next);
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
          // One moved key fails the whole chunk: write one by one.
          for (const w of chunk) {
            try {
              await cache.store.commit([w.op]);
              this.written(w.prev, w.next);
            } catch (e) {
              if (!(e instanceof ConflictError)) throw e;
              metrics?.statusWrites.labels('conflict').inc();
              // Lost a race with the orchestrator or scheduler: try again once the cache has the
              // newer task (the next flush re-checks whether the report still applies).
              if (!this.pending.has(w.taskId)) this.pending.set(w.taskId, { ...w.p, attempts: w.p.attempts + 1 });
            }
          }
        }
      });
    }
    try {
      await runLimited(jobs, 8);
    } catch (err) {
      metrics?.statusWrites.labels('error').inc();
      this.deps.log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'status write failed; agents report again on reconnect',
      );
    }
    this.schedule();
  }

  private written(prev: TaskRecord, next: TaskRecord): void {
    this.deps.metrics?.statusWrites.labels('ok').inc();
    if (prev.status.state !== next.status.state) {
      this.deps.events.publish({
        type: 'task.state',
        namespace: next.namespace,
        service: next.service,
        node: next.nodeId,
        task: next.id,
        slot: next.slot,
        state: next.status.state,
        message: next.status.message,
      });
    }
  }
}
