// PURE planner of a replicated service: given the service, its tasks and the nodes, it returns
// every change that converges the slots. No I/O, no clock (now is an input), no randomness.
//
// Slot model: slots 1..replicas each want one live task (desired running) at the current spec
// revision. A slot whose live task died gets a new task in the same slot, as its restart policy
// says (restart-plan.ts); slots above replicas are shut down; live tasks of an outdated spec are
// replaced by the rolling update (rollout-plan.ts). Dead tasks are kept as history (a few per
// slot) and the rest deleted. A deleting service shuts everything down, then its records go.
import type { NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../../../proto/src/model.js';
import { isTerminal, type DesiredState } from '../../../proto/src/types.js';
import type { RolloutRecord } from '../../../proto/src/lifecycle-model.js';
import { refillDecision } from './restart-plan.js';
import { assessNodeLoss, decideLostTask, DEFAULT_NODE_LOSS, type NodeLossConfig, type NodeView } from './node-loss-plan.js';
import { planRollout, slotRoles, type RolloutEvent, type SlotState } from './rollout-plan.js';
import { isReady } from '../../../proto/src/lifecycle-model.js';
import { instanceOf, newTask } from '../model/task-identity.js';

/** Dead tasks kept per slot for `berth get tasks --all` and debugging. */
export const TASK_HISTORY_PER_SLOT = 3;
/** With the default restart backoff, a failed slot is refilled this long after its task ended. */
export const RESTART_DELAY_MS = 1_000;
/**
 * A start-first handover (drain, rebalance) whose new task does not run within this long ends:
 * a drain stops the old task anyway (the node must empty), a rebalance gives up the move.
 */
export const HANDOVER_TIMEOUT_MS = 30_000;

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
  nodes: ReadonlyMap<string, NodeView & Partial<Pick<NodeRecord, 'availability'>>>;
  /** How tasks of lost nodes are handled (node-loss-plan.ts); defaults when absent. */
  nodeLoss?: NodeLossConfig;
  nowMs: number;
  /** The service's rollout record, if any. */
  rollout?: RolloutRecord | undefined;
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

  for (let slot = 1; slot <= replicas; slot++) {
    const list = bySlot.get(slot) ?? [];
    const live = list.filter((t) => t.desiredState === 'running');
    // More than one live task in a slot: keep the one at the current spec, and the outdated task
    // that a start-first successor is replacing until that one is ready (rolling update, see
    // slotRoles), or the task that a drain or rebalance successor replaces until that one is
    // ready (handover).
    const { current, predecessor } = slotRoles(svc, live, isDead);
    const handover: Handover = predecessor ? {} : planHandover(svc, current, live, nodes, nowMs, isDead);
    if (handover.requeueAfterMs !== undefined) requeue = Math.min(requeue ?? Infinity, handover.requeueAfterMs);
    for (const extra of live) if (extra !== current && extra !== predecessor && extra !== handover.keep) shutdown(extra);
    const kept = predecessor ?? handover.keep;
    const keep = kept ? [kept] : [];
    if (handover.cancel) {
      // A rebalance move that did not get ready in time: the replica stays where it is.
      shutdown(handover.cancel);
      slots.push({ slot, live: keep, tasks: list });
      continue;
    }
    if (current && handover.drain) {
      // On a draining node: start-first, a successor elsewhere first (the old one stays until it
      // is ready); stop-first when the service's update order says so.
      const t = newTask(svc, slot, instanceOf(list[list.length - 1]!) + 1, nowMs);
      if (handover.drain === 'stop-first') {
        shutdown(current);
        plan.create.push(t);
        slots.push({ slot, live: [t], tasks: [...list, t] });
      } else {
        const successor = { ...t, handoverFrom: current.id };
        plan.create.push(successor);
        slots.push({ slot, live: [current, successor], tasks: [...list, successor] });
      }
      continue;
    }
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
      slots.push({ slot, live: keep, tasks: list, refillPending: decision.refill });
      continue;
    }
    const last = list[list.length - 1];
    const fresh = newTask(svc, slot, last ? instanceOf(last) + 1 : 0, nowMs, decision);
    // A handover successor that died: its replacement still hands over from the old task.
    const t = handover.keep ? { ...fresh, handoverFrom: handover.keep.id } : fresh;
    plan.create.push(t);
    slots.push({ slot, live: [...keep, t], tasks: [...list, t] });
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

interface Handover {
  /** The older task that keeps running while its successor starts. */
  keep?: TaskRecord;
  /** The successor of a rebalance move that did not get ready in time: shut it down. */
  cancel?: TaskRecord;
  /** The slot's task is on a draining node and nothing replaces it yet: move it, in this order. */
  drain?: 'start-first' | 'stop-first';
  requeueAfterMs?: number;
}

/**
 * Moves of drain and rebalance. `current` (the newest live task of a slot) may name the task it
 * replaces (handoverFrom); that one keeps running until `current` is ready, dies, or
 * HANDOVER_TIMEOUT_MS passes. A live task on a draining node with no successor gets one:
 * start-first unless the service's update order is stop-first.
 */
export function planHandover(
  svc: Pick<ServiceRecord, 'spec'>,
  current: TaskRecord | undefined,
  live: readonly TaskRecord[],
  nodes: PlanInput['nodes'],
  nowMs: number,
  /** Whether a live task can no longer run (its container ended, its node is lost). */
  isDead: (t: TaskRecord) => boolean,
): Handover {
  if (!current) return {};
  const old = current.handoverFrom ? live.find((t) => t.id === current.handoverFrom) : undefined;
  if (!old || isDead(old)) {
    const draining = current.nodeId !== '' && nodes.get(current.nodeId)?.availability === 'drain';
    if (!draining || isDead(current)) return {};
    return { drain: svc.spec.update?.order === 'stop-first' ? 'stop-first' : 'start-first' };
  }
  if (isReady(current) && !isDead(current)) return {}; // done: the old one goes
  const left = current.createdAtMs + HANDOVER_TIMEOUT_MS - nowMs;
  if (left > 0) return { keep: old, requeueAfterMs: left };
  const oldDraining = old.nodeId !== '' && nodes.get(old.nodeId)?.availability === 'drain';
  return oldDraining ? {} : { keep: old, cancel: current };
}

function dedupe(plan: ReplicatedPlan): ReplicatedPlan {
  const seen = new Set<string>();
  plan.delete = plan.delete.filter((id) => (seen.has(id) ? false : (seen.add(id), true)));
  const deleting = new Set(plan.delete);
  plan.update = plan.update.filter((u) => !deleting.has(u.taskId));
  return plan;
}
