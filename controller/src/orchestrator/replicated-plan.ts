// PURE planner of a replicated service: given the service, its tasks and the nodes, it returns
// every change that converges the slots. No I/O, no clock (now is an input), no randomness.
//
// Slot model: slots 1..replicas each want one live task (desired running) at the current spec
// revision. A slot whose live task died gets a new task in the same slot, as its restart policy
// says (restart-plan.ts); slots above replicas are shut down; live tasks of an outdated spec are
// replaced by the rolling update (rollout-plan.ts). Dead tasks are kept as history (a few per
// slot) and the rest deleted. A deleting service shuts everything down, then its records go.
import type { ServiceRecord, TaskRecord, TaskStatus } from '../../../proto/src/model.js';
import { isTerminal, type DesiredState } from '../../../proto/src/types.js';
import type { RolloutRecord } from '../../../proto/src/lifecycle-model.js';
import { refillDecision } from './restart-plan.js';
import { assessNodeLoss, decideLostTask, DEFAULT_NODE_LOSS, type NodeLossConfig, type NodeView } from './node-loss-plan.js';
import { planRollout, startFirstPredecessor, type RolloutEvent, type SlotState } from './rollout-plan.js';

/** Dead tasks kept per slot for `berth get tasks --all` and debugging. */
export const TASK_HISTORY_PER_SLOT = 3;
/** With the default restart backoff, a failed slot is refilled this long after its task ended. */
export const RESTART_DELAY_MS = 1_000;

export interface TaskChange {
  taskId: string;
  desiredState: DesiredState;
  /** Set when the controller, not the agent, decides the observed state (e.g. node lost). */
  status?: TaskStatus;
}

export interface ReplicatedPlan {
  create: TaskRecord[];
  update: TaskChange[];
  /** Task records to delete (their containers are removed by the agents). */
  delete: string[];
  /** All tasks are gone and the service is deleting: remove the service and its revisions. */
  deleteService: boolean;
  /** Look again after this long (a restart delay is running). */
  requeueAfterMs?: number;
  /** The rollout record to store (it changed). */
  rollout?: RolloutRecord;
  /** Roll the service back to this revision's spec (failureAction rollback). */
  rollbackTo?: { revision: number; reason: string };
  rolloutEvents?: RolloutEvent[];
}

export interface PlanInput {
  service: ServiceRecord;
  tasks: TaskRecord[];
  nodes: ReadonlyMap<string, NodeView>;
  /** How tasks of lost nodes are handled (node-loss-plan.ts); defaults when absent. */
  nodeLoss?: NodeLossConfig;
  nowMs: number;
  /** The service's rollout record, if any. */
  rollout?: RolloutRecord | undefined;
}

export function taskId(serviceUid: string, slot: number, instance: number): string {
  return `${serviceUid}-${slot}-${instance}`;
}

export function containerName(svc: ServiceRecord, slot: number, instance: number): string {
  return `berth-${svc.meta.namespace}-${svc.meta.name}-${slot}-${instance}-${svc.meta.uid}`;
}

export function instanceOf(task: Pick<TaskRecord, 'id'>): number {
  return Number(task.id.slice(task.id.lastIndexOf('-') + 1));
}

export function newTask(svc: ServiceRecord, slot: number, instance: number, nowMs: number, extra: { priorFailures?: number; avoidNodes?: string[] } = {}): TaskRecord {
  return {
    ...(extra.priorFailures ? { priorFailures: extra.priorFailures } : {}),
    ...(extra.avoidNodes && extra.avoidNodes.length > 0 ? { avoidNodes: extra.avoidNodes } : {}),
    ...(svc.restartGeneration ? { restartGeneration: svc.restartGeneration } : {}),
    id: taskId(svc.meta.uid, slot, instance),
    namespace: svc.meta.namespace,
    service: svc.meta.name,
    serviceUid: svc.meta.uid,
    slot,
    nodeId: '',
    specRevision: svc.specRevision,
    desiredState: 'running',
    spec: svc.spec,
    containerName: containerName(svc, slot, instance),
    createdAtMs: nowMs,
    status: { state: 'pending', message: 'waiting for placement', timestampMs: nowMs },
  };
}

export function planReplicated(input: PlanInput): ReplicatedPlan {
  const { service: svc, nodes, nowMs } = input;
  const plan: ReplicatedPlan = { create: [], update: [], delete: [], deleteService: false };
  // Tasks of lost nodes: given up, waited for, or kept (node-loss-plan.ts decides).
  const assessment = assessNodeLoss(nodes);
  let requeue: number | undefined;
  const lost = (t: TaskRecord) => {
    const d = decideLostTask(t, nodes.get(t.nodeId), assessment, nowMs, input.nodeLoss ?? DEFAULT_NODE_LOSS);
    if (d.action === 'wait') requeue = Math.min(requeue ?? Infinity, d.atMs - nowMs);
    return d;
  };
  /** A live task that can no longer run: its container ended or its node is gone. */
  const isDead = (t: TaskRecord): boolean => isTerminal(t.status.state) || lost(t).action === 'replace';
  // Tasks of an earlier incarnation of the same name are leftovers: remove them.
  const tasks = input.tasks.filter((t) => {
    if (t.serviceUid === svc.meta.uid) return true;
    plan.delete.push(t.id);
    return false;
  });

  const bySlot = new Map<number, TaskRecord[]>();
  for (const t of tasks) {
    let list = bySlot.get(t.slot);
    if (!list) bySlot.set(t.slot, (list = []));
    list.push(t);
  }
  for (const list of bySlot.values()) list.sort((a, b) => instanceOf(a) - instanceOf(b));

  const shutdown = (t: TaskRecord): void => {
    if (t.desiredState !== 'running') return;
    const d = isTerminal(t.status.state) ? undefined : lost(t);
    // A lost node's task: its container is removed when the node returns (not kept as history).
    plan.update.push(d?.action === 'replace' ? { taskId: t.id, desiredState: 'remove', status: d.status } : { taskId: t.id, desiredState: 'shutdown' });
  };

  if (svc.deleting) {
    let allDone = true;
    for (const t of tasks) {
      shutdown(t);
      if (!isDead(t) && t.nodeId !== '') allDone = false;
    }
    if (allDone) {
      plan.delete.push(...tasks.map((t) => t.id));
      plan.deleteService = true;
    } else if (requeue !== undefined) plan.requeueAfterMs = Math.max(1, requeue);
    return dedupe(plan);
  }

  const replicas = svc.spec.replicas;
  const slots: SlotState[] = [];
  const dead = (t: TaskRecord): boolean => isDead(t);

  for (let slot = 1; slot <= replicas; slot++) {
    const list = bySlot.get(slot) ?? [];
    const live = list.filter((t) => t.desiredState === 'running');
    // More than one live task in a slot (a lost race): keep the newest, and the outdated task
    // that a start-first successor is replacing until that one is ready.
    const predecessor = startFirstPredecessor(svc, live, dead);
    for (const extra of live.slice(0, -1)) if (extra !== predecessor) shutdown(extra);
    const keep = predecessor ? [predecessor] : [];
    const current = live[live.length - 1];
    if (current && !isDead(current)) {
      slots.push({ slot, live: [...keep, current], tasks: list });
      continue;
    }
    if (current) shutdown(current);
    // A start-first successor died: the old task keeps serving and the rollout tries again.
    if (predecessor) {
      slots.push({ slot, live: keep, tasks: list });
      continue;
    }
    // The slot is empty: refill it as the restart policy says (after its backoff).
    const decision = refillDecision(svc, list, nowMs);
    if (decision.refill && decision.waitMs > 0) requeue = Math.min(requeue ?? Infinity, decision.waitMs);
    if (!decision.refill || decision.waitMs > 0) {
      slots.push({ slot, live: [], tasks: list });
      continue;
    }
    const last = list[list.length - 1];
    const t = newTask(svc, slot, last ? instanceOf(last) + 1 : 0, nowMs, decision);
    plan.create.push(t);
    slots.push({ slot, live: [t], tasks: [...list, t] });
  }

  for (const [slot, list] of bySlot) {
    if (slot > replicas) {
      // Scaled away: stop what runs; once everything of the slot is done, forget the slot.
      for (const t of list) shutdown(t);
      if (list.every((t) => isDead(t) || t.nodeId === '')) plan.delete.push(...list.map((t) => t.id));
      continue;
    }
    // History: keep the newest TASK_HISTORY_PER_SLOT dead tasks of the slot.
    const dead = list.filter((t) => t.desiredState !== 'running' && (isTerminal(t.status.state) || t.nodeId === ''));
    if (dead.length > TASK_HISTORY_PER_SLOT) plan.delete.push(...dead.slice(0, dead.length - TASK_HISTORY_PER_SLOT).map((t) => t.id));
  }

  // Rolling update of the slots that run an outdated spec.
  const r = planRollout({ service: svc, slots, record: input.rollout, nowMs });
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const id of r.shutdown) {
    const t = byId.get(id);
    if (t) shutdown(t);
  }
  for (const slot of r.replace) {
    const list = bySlot.get(slot) ?? [];
    const last = plan.create.find((c) => c.slot === slot) ?? list[list.length - 1];
    const failedBefore = list.filter((t) => t.desiredState !== 'running' && t.specRevision === svc.specRevision);
    const prior = failedBefore.length > 0 ? refillDecision(svc, failedBefore, nowMs) : undefined;
    plan.create.push(newTask(svc, slot, last ? instanceOf(last) + 1 : 0, nowMs, prior?.refill ? prior : {}));
  }
  if (r.record) plan.rollout = r.record;
  if (r.rollbackTo) plan.rollbackTo = r.rollbackTo;
  if (r.events.length > 0) plan.rolloutEvents = r.events;
  if (r.requeueAfterMs !== undefined) requeue = Math.min(requeue ?? Infinity, r.requeueAfterMs);

  if (requeue !== undefined && Number.isFinite(requeue)) plan.requeueAfterMs = Math.max(1, requeue);
  return dedupe(plan);
}

function dedupe(plan: ReplicatedPlan): ReplicatedPlan {
  const seen = new Set<string>();
  plan.delete = plan.delete.filter((id) => (seen.has(id) ? false : (seen.add(id), true)));
  const deleting = new Set(plan.delete);
  plan.update = plan.update.filter((u) => !deleting.has(u.taskId));
  return plan;
}
