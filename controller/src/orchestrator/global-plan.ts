// PURE planner of a global service (`mode: global`): one task on every eligible node. No I/O, no
// clock (now is an input), no randomness. Returns the same plan shape as the replicated planner.
//
// Per node: a task is created where the node is ready, active and meets the constraints and has
// no live task of the service; the task is pinned to the node (targetNodeId) and placed by the
// scheduler, which still checks that it fits (memory, ports, ...) and explains when it does not.
// A live task stays while its node is not down, not draining and still meets the constraints
// (a paused or unknown node keeps its task). A dead task is replaced as the restart policy says
// (restart-plan.ts); tasks of an older spec are replaced by the rolling update (rollout-plan.ts)
// with the service's update settings, each node counting as one replica.
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../../proto/src/model.js';
import { isTerminal } from '../../../proto/src/types.js';
import { meetsConstraints, constraintsOf } from '../model/node-attributes.js';
import { instanceOf, newTask } from '../model/task-identity.js';
import type { RolloutRecord } from '../../../proto/src/lifecycle-model.js';
import { TASK_HISTORY_PER_SLOT, type ReplicatedPlan, type TaskChange } from './replicated-plan.js';
import { refillDecision } from './restart-plan.js';
import { planRollout, slotRoles, type SlotState } from './rollout-plan.js';

export interface GlobalPlanInput {
  service: ServiceRecord;
  tasks: TaskRecord[];
  nodes: readonly NodeRecord[];
  nowMs: number;
  /** The service's rollout record, if any. */
  rollout?: RolloutRecord | undefined;
}

export function planGlobal(input: GlobalPlanInput): ReplicatedPlan {
  const { service: svc, nodes, nowMs } = input;
  const plan: ReplicatedPlan = { create: [], update: [], delete: [], deleteService: false };
  const nodeById = new Map(nodes.map((n) => [n.id, n]));
  const tasks = input.tasks.filter((t) => {
    if (t.serviceUid === svc.meta.uid) return true;
    plan.delete.push(t.id);
    return false;
  });
  const nodeOf = (t: TaskRecord): string => t.targetNodeId ?? t.nodeId;
  const isDead = (t: TaskRecord): boolean => isTerminal(t.status.state) || (t.nodeId !== '' && nodeById.get(t.nodeId)?.state === 'down');
  const changes = new Map<string, TaskChange>();
  const shutdown = (t: TaskRecord): void => {
    if (t.desiredState !== 'running' || changes.has(t.id)) return;
    const lost = !isTerminal(t.status.state) && t.nodeId !== '' && nodeById.get(t.nodeId)?.state === 'down';
    changes.set(t.id, { taskId: t.id, desiredState: 'shutdown', ...(lost ? { status: { ...t.status, state: 'orphaned', message: 'node down', timestampMs: nowMs } } : {}) });
  };

  const byNode = new Map<string, TaskRecord[]>();
  for (const t of tasks) {
    const n = nodeOf(t);
    let l = byNode.get(n);
    if (!l) byNode.set(n, (l = []));
    l.push(t);
  }
  for (const l of byNode.values()) l.sort((a, b) => instanceOf(a) - instanceOf(b));

  if (svc.deleting) {
    let allDone = true;
    for (const t of tasks) {
      shutdown(t);
      if (!isDead(t) && t.nodeId !== '') allDone = false;
    }
    plan.update = [...changes.values()];
    if (allDone) {
      plan.delete.push(...tasks.map((t) => t.id));
      plan.deleteService = true;
    }
    return plan;
  }

  const cs = constraintsOf(svc);
  let requeue: number | undefined;
  const nextInstance = (nodeId: string): number => {
    const l = byNode.get(nodeId) ?? [];
    const made = plan.create.filter((t) => t.targetNodeId === nodeId);
    const last = made[made.length - 1] ?? l[l.length - 1];
    return last ? instanceOf(last) + 1 : 0;
  };
  // Nodes that keep a task are the "slots" of the rolling update (numbered in node id order).
  const slots: SlotState[] = [];
  const slotNode = new Map<number, string>();

  const nodeIds = [...new Set([...nodeById.keys(), ...byNode.keys()])].sort();
  for (const nodeId of nodeIds) {
    const node = nodeById.get(nodeId);
    const list = byNode.get(nodeId) ?? [];
    const meets = node !== undefined && meetsConstraints(node, cs);
    const keep = node !== undefined && node.state !== 'down' && node.availability !== 'drain' && meets;
    const create = node !== undefined && node.state === 'ready' && node.availability === 'active' && meets;
    const live = list.filter((t) => t.desiredState === 'running');
    // History: the newest few dead tasks per node; all of them once the node is gone.
    const dead = list.filter((t) => t.desiredState !== 'running' && (isTerminal(t.status.state) || t.nodeId === ''));
    plan.delete.push(...(node === undefined ? dead : dead.slice(0, Math.max(0, dead.length - TASK_HISTORY_PER_SLOT))).map((t) => t.id));
    if (!keep) {
      for (const t of live) shutdown(t);
      continue;
    }
    const slot = slots.length + 1;
    slotNode.set(slot, nodeId);
    // Start-first update on this node: the outdated task stays until its successor is ready.
    const { current, predecessor } = slotRoles(svc, live, isDead);
    for (const extra of live) if (extra !== current && extra !== predecessor) shutdown(extra);
    const kept = predecessor ? [predecessor] : [];
    if (current && !isDead(current)) {
      slots.push({ slot, live: [...kept, current], tasks: list });
      continue;
    }
    if (current) shutdown(current);
    if (predecessor || !create) {
      slots.push({ slot, live: kept, tasks: list });
      continue;
    }
    // No task on the node: start one, after the restart policy's backoff if the last one failed.
    const decision = refillDecision(svc, list, nowMs);
    if (decision.refill && decision.waitMs > 0) requeue = Math.min(requeue ?? Infinity, decision.waitMs);
    if (!decision.refill || decision.waitMs > 0) {
      slots.push({ slot, live: [], tasks: list, refillPending: decision.refill });
      continue;
    }
    const t = newTask(svc, nodeId, nextInstance(nodeId), nowMs, { priorFailures: decision.priorFailures });
    plan.create.push(t);
    slots.push({ slot, live: [t], tasks: [...list, t] });
  }

  // Rolling update of the nodes whose task runs an outdated spec, with the service's update
  // settings; the budgets count the nodes as replicas.
  const r = planRollout({ service: { ...svc, spec: { ...svc.spec, replicas: slots.length } }, slots, record: input.rollout, nowMs });
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const id of r.shutdown) {
    const t = byId.get(id);
    if (t) shutdown(t);
  }
  for (const slot of r.replace) {
    const nodeId = slotNode.get(slot)!;
    const node = nodeById.get(nodeId);
    if (node && node.state === 'ready' && node.availability === 'active') plan.create.push(newTask(svc, nodeId, nextInstance(nodeId), nowMs));
  }
  if (r.record) plan.rollout = r.record;
  if (r.rollbackTo) plan.rollbackTo = r.rollbackTo;
  if (r.events.length > 0) plan.rolloutEvents = r.events;
  if (r.requeueAfterMs !== undefined) requeue = Math.min(requeue ?? Infinity, r.requeueAfterMs);

  const deleting = new Set(plan.delete);
  plan.update = [...changes.values()].filter((u) => !deleting.has(u.taskId));
  plan.delete = [...deleting];
  if (requeue !== undefined && Number.isFinite(requeue)) plan.requeueAfterMs = Math.max(1, requeue);
  return plan;
}
