// RolloutAPI server: gRPC adapter over RolloutApi and RegistryCredentialApi. Typed errors become
// gRPC status here (errors.ts), as in control.ts.
import type { Logger } from '../../../proto/src/log.js';
import { serviceToPb } from '../../../proto/src/convert.js';
import type { RolloutAPIHandlers } from '../../../proto/gen/berth/v1/RolloutAPI.js';
import type { RolloutRequest__Output } from '../../../proto/gen/berth/v1/RolloutRequest.js';
import type { RolloutStatus } from '../../../proto/gen/berth/v1/RolloutStatus.js';
import type { RolloutState } from '../../../proto/src/lifecycle-model.js';
import { progressDeadlineOf } from '../../../proto/src/spec/lifecycle.js';
import type { ClusterCache } from '../store/cluster.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import { unaryFactory } from './control.js';
import { toStatus } from './errors.js';
import type { RegistryCredentialApi } from './registry-credentials.js';
import type { RolloutApi, RolloutView } from './rollouts.js';
import { RunningSince, watchService } from './service-watch.js';
import type { StreamLimiter } from '../../../proto/src/limits/stream-limiter.js';
import { limitStream, type StreamCall } from '../../../proto/src/limits/grpc-limits.js';

/** A watch re-reads the state at least this often (a safety net for missed cache events). */
const WATCH_TICK_MS = 1_000;
const DONE: readonly RolloutState[] = ['completed', 'paused', 'rollback_paused', 'rollback_completed'];

export function statusOf(v: RolloutView): RolloutStatus {
  const r = v.record;
  return {
    namespace: v.service.meta.namespace,
    name: v.service.meta.name,
    revision: r.revision,
    previousRevision: r.previousRevision,
    state: r.state,
    paused: r.paused,
    message: r.message,
    replicas: v.progress.replicas,
    updated: v.progress.updated,
    ready: v.progress.ready,
    outdated: v.progress.outdated,
    failedSlots: r.failedSlots,
    rollbackOf: r.rollbackOf ?? 0,
    startedAtMs: r.startedAtMs,
    updatedAtMs: r.updatedAtMs,
    done: DONE.includes(r.state),
    stuck: v.stuck ?? '',
    progressAtMs: r.progressAtMs ?? r.startedAtMs,
    progressDeadlineMs: progressDeadlineOf(v.service.spec.update),
    deadlineExceeded: r.deadlineExceeded ?? false,
  };
}

export function rolloutHandlers(deps: {
  rollouts: RolloutApi;
  credentials: RegistryCredentialApi;
  cache: ClusterCache;
  log: Logger;
  metrics?: ControllerMetrics | undefined;
  /** Monotonic ms, for how long tasks have been seen running (WatchService); default performance.now. */
  monotonicNow?: () => number;
  /** Caps the watch streams, with the ObserveAPI's (controller/src/observe/server.ts); absent: no cap. */
  streams?: StreamLimiter | undefined;
}): RolloutAPIHandlers {
  const { rollouts, credentials, cache } = deps;
  const running = new RunningSince(cache.tasks, deps.monotonicNow ?? (() => performance.now()));
  const unary = unaryFactory(deps);
  const ns = (req: { namespace: string }): string => req.namespace || 'default';
  const limited = <C extends StreamCall>(method: string, handler: (call: C) => void): ((call: C) => void) =>
    deps.streams ? limitStream(deps.streams, handler, () => deps.metrics?.apiRequests.labels(method, 'RESOURCE_EXHAUSTED').inc()) : handler;
  const view = async (req: RolloutRequest__Output): Promise<RolloutStatus> => {
    await cache.synced;
    return statusOf(rollouts.view(ns(req), req.name));
  };

  return {
    GetRollout: unary('GetRollout', view),
    WatchRollout: limited('WatchRollout', (call) => {
      const req = call.request;
      let last = '';
      let closed = false;
      const offs: Array<() => void> = [];
      const close = (): void => {
        if (closed) return;
        closed = true;
        clearInterval(tick);
        for (const f of offs) f();
      };
      const send = (): void => {
        if (closed) return;
        let st: RolloutStatus;
        try {
          st = statusOf(rollouts.view(ns(req), req.name));
        } catch (err) {
          close();
          call.emit('error', toStatus(err));
          return;
        }
        const text = JSON.stringify({ ...st, updatedAtMs: 0 });
        if (text !== last) {
          last = text;
          call.write(st);
        }
        if (st.done) {
          close();
          call.end();
        }
      };
      const tick = setInterval(send, WATCH_TICK_MS);
      call.on('cancelled', close);
      call.on('close', close);
      const mine = (namespace: string, name: string): boolean => namespace === ns(req) && name === req.name;
      offs.push(
        cache.tasks.addHandler({
          onUpsert: (_k, t) => mine(t.value.namespace, t.value.service) && send(),
          onDelete: (_k, t) => mine(t.value.namespace, t.value.service) && send(),
        }),
      );
      offs.push(cache.rollouts.addHandler({ onUpsert: (_k, r) => mine(r.value.namespace, r.value.name) && send() }));
      offs.push(
        cache.services.addHandler({
          onUpsert: (_k, s) => mine(s.value.meta.namespace, s.value.meta.name) && send(),
          onDelete: (_k, s) => mine(s.value.meta.namespace, s.value.meta.name) && send(),
        }),
      );
      void cache.synced.then(send);
    }),
    WatchService: limited('WatchService', (call) =>
      watchService({ cache, running, rollout: (namespace, name) => statusOf(rollouts.view(namespace, name)) }, call),
    ),
    ListRevisions: unary('ListRevisions', async (req: RolloutRequest__Output) => {
      const revisions = await rollouts.history(ns(req), req.name);
      const svc = cache.service(ns(req), req.name)?.value;
      return {
        current: svc?.specRevision ?? 0,
        revisions: revisions.map((r) => ({
          namespace: r.namespace,
          name: r.name,
          specRevision: r.specRevision,
          specJson: JSON.stringify(r.spec),
          createdAtMs: r.createdAtMs,
          cause: r.cause,
        })),
      };
    }),
    UndoRollout: unary('UndoRollout', async (req) => {
      const r = await rollouts.undo(ns(req), req.name, req.toRevision || undefined);
      return { service: serviceToPb(r.service, 0), toRevision: r.toRevision, result: r.result };
    }),
    RestartRollout: unary('RestartRollout', async (req: RolloutRequest__Output) => {
      const svc = await rollouts.restart(ns(req), req.name);
      return { ...(await view(req)), revision: svc.specRevision };
    }),
    PauseRollout: unary('PauseRollout', async (req: RolloutRequest__Output) => {
      await rollouts.pause(ns(req), req.name);
      return view(req);
    }),
    ResumeRollout: unary('ResumeRollout', async (req: RolloutRequest__Output) => {
      await rollouts.resume(ns(req), req.name);
      return view(req);
    }),
    SetRegistryCredential: unary('SetRegistryCredential', async (req) =>
      credentials.set({ namespace: ns(req), name: req.name, server: req.server, username: req.username, password: req.password }),
    ),
    ListRegistryCredentials: unary('ListRegistryCredentials', async (req) => ({ credentials: await credentials.list(req.namespace) })),
    DeleteRegistryCredential: unary('DeleteRegistryCredential', async (req) => {
      await credentials.delete(ns(req), req.name);
      return {};
    }),
  };
}
