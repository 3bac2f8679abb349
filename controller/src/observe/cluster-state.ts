// Feeds the leader's cluster-state metrics from the caches: services (desired and running
// replicas), tasks by state, nodes by state, and the placement latency of every task placed.
import type { ServiceRecord, TaskRecord } from '../../../proto/src/model.js';
import { isReady } from '../../../proto/src/lifecycle-model.js';
import { summarizeService } from '../model/service-status.js';
import type { ClusterCache } from '../store/cluster.js';
import type { ClusterState, ControllerMetrics } from '../metrics/metrics.js';

/** The cluster as the caches hold it now. */
export function clusterState(cache: Pick<ClusterCache, 'services' | 'nodes' | 'rollouts' | 'tasksOfService'>): ClusterState {
  return {
    services: cache.services.list().map(({ value: s }) =>
      serviceState(
        s,
        cache.tasksOfService(s.meta.namespace, s.meta.name).map((t) => t.value),
      ),
    ),
    nodes: cache.nodes.list().map(({ value: n }) => ({ id: n.id, state: n.state, availability: n.availability })),
    rollouts: cache.rollouts
      .list()
      .map(({ value: r }) => ({ namespace: r.namespace, name: r.name, state: r.state, failedSlots: r.failedSlots.length })),
  };
}

export function serviceState(s: ServiceRecord, tasks: TaskRecord[]): ClusterState['services'][number] {
  const summary = summarizeService(s, tasks);
  const tasksByState = new Map<string, number>();
  let ready = 0;
  for (const t of tasks) {
    if (t.serviceUid !== s.meta.uid || t.desiredState !== 'running') continue;
    tasksByState.set(t.status.state, (tasksByState.get(t.status.state) ?? 0) + 1);
    if (isReady(t)) ready++;
  }
  return {
    namespace: s.meta.namespace,
    name: s.meta.name,
    revision: s.specRevision,
    desired: summary.desired,
    running: summary.running,
    ready,
    tasksByState,
  };
}

/**
 * Observes the time from creation to placement of each task the scheduler places (the leader
 * calls this while it leads). Returns the function that stops observing.
 */
export function observePlacements(cache: Pick<ClusterCache, 'tasks'>, metrics: Pick<ControllerMetrics, 'placementLatency'>): () => void {
  return cache.tasks.addHandler({
    onUpsert: (_k, t, old) => {
      if (!old || old.value.nodeId !== '' || t.value.nodeId === '') return;
      const ms = t.value.status.timestampMs - t.value.createdAtMs;
      if (ms >= 0) metrics.placementLatency.observe(ms / 1000);
    },
  });
}
