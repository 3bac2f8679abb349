// PURE task identity: the deterministic ids and container names of a service's tasks, their
// instance numbers, the service key, and the construction of a new task record. Every layer that
// names a task (orchestrators, scheduler, node loops, API) uses these, so a retried create is
// harmless (the same id, the same container name: Docker answers 409).
//
// A slot is named by its number (replicated services: slots 1..replicas) or by the node it is
// pinned to (global services: one slot per node). The instance counts the tasks a slot has had.
import type { ServiceRecord, TaskRecord } from '../../../proto/src/model.js';

/** `namespace/name`: the one key of a service in caches, indexes and plans. */
export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** The id of a replicated service's task: slot number and instance. */
export function taskId(serviceUid: string, slot: number, instance: number): string {
  return `${serviceUid}-${slot}-${instance}`;
}

/** The id of a global service's task: the node its slot is pinned to, and instance. */
export function globalTaskId(serviceUid: string, nodeId: string, instance: number): string {
  return `${serviceUid}-${nodeId}-${instance}`;
}

export function containerName(svc: ServiceRecord, slot: number, instance: number): string {
  return `berth-${svc.meta.namespace}-${svc.meta.name}-${slot}-${instance}-${svc.meta.uid}`;
}

export function globalContainerName(svc: ServiceRecord, nodeId: string, instance: number): string {
  return `berth-${svc.meta.namespace}-${svc.meta.name}-${nodeId}-${instance}-${svc.meta.uid}`;
}

/** The instance number of a task (the last part of its id, for both kinds of slot). */
export function instanceOf(task: Pick<TaskRecord, 'id'>): number {
  return Number(task.id.slice(task.id.lastIndexOf('-') + 1));
}

export interface NewTaskExtra {
  /** Failures in a row of the slot's earlier tasks (restart backoff carries over). */
  priorFailures?: number;
  /** Nodes the scheduler should prefer not to use (repeated failures there). */
  avoidNodes?: string[];
}

/** A new task for slot `slot` (a number: replicated) or pinned to node `slot` (a string: global). */
export function newTask(svc: ServiceRecord, slot: number | string, instance: number, nowMs: number, extra: NewTaskExtra = {}): TaskRecord {
  const pinned = typeof slot === 'string';
  return {
    ...(extra.priorFailures ? { priorFailures: extra.priorFailures } : {}),
    ...(extra.avoidNodes && extra.avoidNodes.length > 0 ? { avoidNodes: extra.avoidNodes } : {}),
    ...(svc.restartGeneration ? { restartGeneration: svc.restartGeneration } : {}),
    id: pinned ? globalTaskId(svc.meta.uid, slot, instance) : taskId(svc.meta.uid, slot, instance),
    namespace: svc.meta.namespace,
    service: svc.meta.name,
    serviceUid: svc.meta.uid,
    slot: pinned ? 0 : slot,
    nodeId: '',
    ...(pinned ? { targetNodeId: slot } : {}),
    specRevision: svc.specRevision,
    desiredState: 'running',
    spec: svc.spec,
    containerName: pinned ? globalContainerName(svc, slot, instance) : containerName(svc, slot, instance),
    createdAtMs: nowMs,
    status: { state: 'pending', message: pinned ? `waiting for placement on ${slot}` : 'waiting for placement', timestampMs: nowMs },
  };
}
