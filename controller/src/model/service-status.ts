// PURE status summary of a service from its tasks: desired, running and pending replicas, and
// why the pending ones wait. The API (get services) and the cluster-state metrics report it.
import type { ServiceRecord, TaskRecord } from '../../../proto/src/model.js';
import { modeOf } from '../../../proto/src/spec/placement.js';

export interface ServiceStatusSummary {
  desired: number;
  running: number;
  pending: number;
  message: string;
}

/** desired / running / pending of a service from its tasks. */
export function summarizeService(svc: ServiceRecord, tasks: readonly TaskRecord[]): ServiceStatusSummary {
  const live = tasks.filter((t) => t.serviceUid === svc.meta.uid && t.desiredState === 'running');
  const running = live.filter((t) => t.status.state === 'running' && t.status.container !== 'backoff').length;
  const pendingTasks = live.filter((t) => t.status.state === 'pending');
  const reason = pendingTasks.find((t) => t.status.message)?.status.message ?? '';
  // A global service wants one task per eligible node: as many as it has live.
  const desired = svc.deleting ? 0 : modeOf(svc.spec) === 'global' ? live.length : svc.spec.replicas;
  return { desired, running, pending: pendingTasks.length, message: svc.deleting ? 'deleting' : reason };
}
