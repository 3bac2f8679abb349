// RolloutAPI.WatchService: a service, its tasks and its rollout, then each change, from this
// controller's caches — what `berth apply --wait` judges (cli/src/wait.ts). Informer events only
// say which task changed; the step sent re-reads the cache (level-triggered), and the changes of
// one etcd watch batch go out as one step.
//
// Running since: this controller notes, on its own monotonic clock, when it first saw each task's
// container up (running, not waiting for a restart; a new start of the container starts over).
// Each step says how long that was for the running tasks it carries, so the CLI can tell a
// container that just started (and may fail at once) from one that has run for long, without
// comparing clocks of different machines, and a service that converged long ago converges at once.
import type { ServerWritableStream } from '@grpc/grpc-js';
import { serviceToPb, taskToPb } from '../../../proto/src/convert.js';
import type { TaskRecord } from '../../../proto/src/model.js';
import type { ServiceWatchEvent } from '../../../proto/gen/berth/v1/ServiceWatchEvent.js';
import type { WatchServiceRequest__Output } from '../../../proto/gen/berth/v1/WatchServiceRequest.js';
import { NotFoundError } from '../../../proto/src/errors.js';
import type { ClusterCache } from '../store/cluster.js';
import type { Informer } from '../store/informer.js';
import { toStatus } from './errors.js';

/** A task's container is up: running and not waiting for its in-place restart. */
function isUp(t: TaskRecord): boolean {
  return t.status.state === 'running' && t.status.container !== 'backoff';
}

/** When this controller first saw each task's container up (task id → monotonic ms). */
export class RunningSince {
  private readonly since = new Map<string, { startedAtMs: number; sinceMs: number }>();

  constructor(
    tasks: Pick<Informer<TaskRecord>, 'list' | 'addHandler'>,
    private readonly now: () => number,
  ) {
    // Tasks already cached count from now (this controller has not seen them for longer).
    for (const t of tasks.list()) this.observe(t.value);
    tasks.addHandler({ onUpsert: (_k, t) => this.observe(t.value), onDelete: (_k, t) => void this.since.delete(t.value.id) });
  }

  private observe(t: TaskRecord): void {
    if (!isUp(t)) {
      this.since.delete(t.id);
      return;
    }
    const startedAtMs = t.status.startedAtMs ?? 0;
    const seen = this.since.get(t.id);
    if (!seen || seen.startedAtMs !== startedAtMs) this.since.set(t.id, { startedAtMs, sinceMs: this.now() });
  }

  /** How long the task's container has been seen up, or undefined when it is not up. */
  runningForMs(t: TaskRecord): number | undefined {
    if (!isUp(t)) return undefined;
    this.observe(t); // the handler may not have run yet for this version
    return Math.max(0, this.now() - this.since.get(t.id)!.sinceMs);
  }
}

export interface ServiceWatchDeps {
  cache: ClusterCache;
  running: RunningSince;
  /** The rollout status of the service, as GetRollout answers it (throws when there is none). */
  rollout: (namespace: string, name: string) => ServiceWatchEvent['rollout'];
}

export function watchService(deps: ServiceWatchDeps, call: ServerWritableStream<WatchServiceRequest__Output, ServiceWatchEvent>): void {
  const { cache, running } = deps;
  const ns = call.request.namespace || 'default';
  const name = call.request.name;
  const mine = (namespace: string, service: string): boolean => namespace === ns && service === name;
  const offs: Array<() => void> = [];
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    for (const f of offs) f();
  };
  call.on('cancelled', close);
  call.on('close', close);

  // What the client holds: task id → mod revision; the service's and rollout's last text.
  const sentTasks = new Map<string, number>();
  let sentService = -1;
  let sentRollout = '';
  /** The service's mod revision in etcd when the call came: the cache must reach it first. */
  let minServiceRevision = Number.POSITIVE_INFINITY;
  let flushQueued = false;

  const flush = (): void => {
    flushQueued = false;
    if (closed) return;
    const svc = cache.service(ns, name);
    if (!svc) {
      if (sentService < 0) return; // not in the cache yet: its upsert flushes again
      call.write({ deleted: true });
      close();
      call.end();
      return;
    }
    if (svc.modRevision < minServiceRevision) return; // the cache is behind etcd: wait for it
    const ev: ServiceWatchEvent = { tasks: [], removedTaskIds: [], runningForMs: {} };
    if (svc.modRevision !== sentService) {
      ev.service = serviceToPb(svc.value, svc.modRevision);
      sentService = svc.modRevision;
    }
    const now = new Set<string>();
    for (const t of cache.tasksOfService(ns, name)) {
      now.add(t.value.id);
      if (sentTasks.get(t.value.id) === t.modRevision) continue;
      sentTasks.set(t.value.id, t.modRevision);
      ev.tasks!.push(taskToPb(t.value, { modRevision: t.modRevision }));
      const ms = running.runningForMs(t.value);
      if (ms !== undefined) ev.runningForMs![t.value.id] = ms;
    }
    for (const id of [...sentTasks.keys()]) {
      if (now.has(id)) continue;
      sentTasks.delete(id);
      ev.removedTaskIds!.push(id);
    }
    try {
      const r = deps.rollout(ns, name);
      const text = JSON.stringify({ ...r, updatedAtMs: 0 });
      if (r && text !== sentRollout) {
        sentRollout = text;
        ev.rollout = r;
      }
    } catch {
      // No rollout to tell of: the tasks alone decide.
    }
    if (ev.service || ev.rollout || ev.tasks!.length > 0 || ev.removedTaskIds!.length > 0) call.write(ev);
  };
  // The events of one etcd watch batch arrive together: one step for all of them.
  const queue = (): void => {
    if (flushQueued || closed) return;
    flushQueued = true;
    setImmediate(flush);
  };

  offs.push(
    cache.tasks.addHandler({
      onUpsert: (_k, t) => mine(t.value.namespace, t.value.service) && queue(),
      onDelete: (_k, t) => mine(t.value.namespace, t.value.service) && queue(),
    }),
  );
  offs.push(cache.rollouts.addHandler({ onUpsert: (_k, r) => mine(r.value.namespace, r.value.name) && queue() }));
  offs.push(
    cache.services.addHandler({
      onUpsert: (_k, s) => mine(s.value.meta.namespace, s.value.meta.name) && queue(),
      onDelete: (_k, s) => mine(s.value.meta.namespace, s.value.meta.name) && queue(),
    }),
  );

  void (async () => {
    try {
      await cache.synced;
      // The service as etcd holds it now (the caller may have just written it): absent is
      // NOT_FOUND; present, the first step waits until the cache holds this version of it.
      const kv = await cache.store.get(cache.keys.service(ns, name));
      if (!kv) throw new NotFoundError(`service ${ns}/${name}`);
      minServiceRevision = kv.modRevision;
      queue();
    } catch (err) {
      if (closed) return;
      close();
      call.emit('error', toStatus(err));
    }
  })();
}
