// PURE slot-plan core of both orchestrators: given a service, its tasks, the nodes and how the
// service names its slots (a strategy), it returns every change that converges the slots. No
// I/O, no clock (now is an input), no randomness.
//
// Slot model: each desired slot wants one live task (desired running) at the current spec
// revision. A replicated service names its slots 1..replicas and the scheduler chooses their
// nodes; a global service has one slot per eligible node, its tasks pinned there. Otherwise the
// two are planned alike:
// - a live task whose node is lost is kept, waited for (waitForNode) or given up as
//   node-loss-plan.ts decides; one whose container ended is dead;
// - a slot whose live task died gets a new task in the same slot, as its restart policy says
//   (restart-plan.ts), where the strategy lets it create one;
// - live tasks of an outdated spec are replaced by the rolling update (rollout-plan.ts), the
//   desired slots counting as the replicas;
// - slots no longer desired are shut down and, once done, forgotten (or keep their history);
// - dead tasks are kept as history (TASK_HISTORY_PER_SLOT per slot) and the rest deleted;
// - a deleting service shuts everything down, then its records go.
import type { ServiceRecord, TaskRecord, TaskStatus } from '../../../proto/src/model.js';
import { isTerminal, type DesiredState } from '../../../proto/src/types.js';
import type { RolloutRecord } from '../../../proto/src/lifecycle-model.js';
import { instanceOf, newTask, type NewTaskExtra } from '../model/task-identity.js';
import { refillDecision } from './restart-plan.js';
import { assessNodeLoss, decideLostTask, DEFAULT_NODE_LOSS, type NodeLossConfig, type NodeView } from './node-loss-plan.js';
import { planRollout, slotRoles, type RolloutEvent, type SlotState } from './rollout-plan.js';

/** Dead tasks kept per slot for `berth get tasks --all` and debugging. */
export const TASK_HISTORY_PER_SLOT = 3;

export interface TaskChange {
  taskId: string;
  desiredState: DesiredState;
  /** Set when the controller, not the agent, decides the observed state (e.g. node lost). */
  status?: TaskStatus;
}

/** Every change an orchestrator commits for one service. */
export interface ServicePlan {
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

/** A slot's name: its number (replicated) or the node its tasks are pinned to (global). */
export type SlotKey = number | string;

/** A slot the service should have now. */
export interface DesiredSlot {
  key: SlotKey;
  /** A new task may be created in the slot now (a global slot: only on a ready, active node). */
  canCreate: boolean;
}

/** What a start-first handover (drain, rebalance) of a slot decides; replicated slots only. */
export interface Handover {
  /** The older task that keeps running while its successor starts. */
  keep?: TaskRecord;
  /** The successor of a rebalance move that did not get ready in time: shut it down. */
  cancel?: TaskRecord;
  /** The slot's task is on a draining node and nothing replaces it yet: move it, in this order. */
  drain?: 'start-first' | 'stop-first';
  requeueAfterMs?: number;
}

/** How a kind of service names its slots; everything else is planned alike. */
export interface SlotStrategy {
  /** The slot a task of the service belongs to. */
  keyOf(t: TaskRecord): SlotKey;
  /** The desired slots, in rollout order (the order of `slot` numbers the rollout sees). */
  desired: readonly DesiredSlot[];
  /**
   * What becomes of the records of a slot no longer desired, once its live tasks are shut down:
   * `when-done`, all deleted once every task is done (a replicated slot scaled away); `dead`, the
   * dead ones deleted at once (a global slot whose node is gone); `history`, the newest few kept
   * (a global slot whose node no longer qualifies, and may again).
   */
  retire(key: SlotKey): 'when-done' | 'dead' | 'history';
  /** Start-first moves of drain and rebalance (replicated services); none when absent. */
  handover?(current: TaskRecord | undefined, live: readonly TaskRecord[], isDead: (t: TaskRecord) => boolean): Handover;
  /** What a new task of the slot carries of the slot's failures (a pinned slot has no node to avoid). */
  extra(decision: NewTaskExtra): NewTaskExtra;
}

export interface SlotPlanInput {
  service: ServiceRecord;
  tasks: readonly TaskRecord[];
  /** Every node the planner may need to judge a task's node by (lost, removed). */
  nodes: ReadonlyMap<string, NodeView>;
  /** How tasks of lost nodes are handled (node-loss-plan.ts); defaults when absent. */
  nodeLoss?: NodeLossConfig | undefined;
  nowMs: number;
  /** The service's rollout record, if any. */
  rollout?: RolloutRecord | undefined;
}

export function planSlots(input: SlotPlanInput, strategy: SlotStrategy): ServicePlan {
  const { service: svc, nodes, nowMs } = input;
  const plan: ServicePlan = { create: [], update: [], delete: [], deleteService: false };
  // Tasks of lost nodes: given up, waited for, or kept (node-loss-plan.ts decides).
  const assessment = assessNodeLoss(nodes);
  let requeue: number | undefined;
  const later = (ms: number): void => void (requeue = Math.min(requeue ?? Infinity, ms));
  const lost = (t: TaskRecord) => {
    const d = decideLostTask(t, nodes.get(t.nodeId), assessment, nowMs, input.nodeLoss ?? DEFAULT_NODE_LOSS);
    if (d.action === 'wait') later(d.atMs - nowMs);
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

  const bySlot = new Map<SlotKey, TaskRecord[]>();
  for (const t of tasks) {
    const key = strategy.keyOf(t);
    let list = bySlot.get(key);
    if (!list) bySlot.set(key, (list = []));
    list.push(t);
  }
  for (const list of bySlot.values()) list.sort((a, b) => instanceOf(a) - instanceOf(b));
  // The next instance of each slot: one past the newest task it has or is given in this plan.
  const nextInstance = new Map<SlotKey, number>();
  for (const [key, list] of bySlot) nextInstance.set(key, instanceOf(list[list.length - 1]!) + 1);
  const create = (key: SlotKey, extra: NewTaskExtra = {}): TaskRecord => {
    const instance = nextInstance.get(key) ?? 0;
    nextInstance.set(key, instance + 1);
    const t = newTask(svc, key, instance, nowMs, strategy.extra(extra));
    plan.create.push(t);
    return t;
  };

  const changed = new Set<string>();
  const shutdown = (t: TaskRecord): void => {
    if (t.desiredState !== 'running' || changed.has(t.id)) return;
    changed.add(t.id);
    const d = isTerminal(t.status.state) ? undefined : lost(t);
    // A lost node's task: its container is removed when the node returns (not kept as history).
    plan.update.push(
      d?.action === 'replace' ? { taskId: t.id, desiredState: 'remove', status: d.status } : { taskId: t.id, desiredState: 'shutdown' },
    );
  };
  const finish = (): ServicePlan => {
    if (requeue !== undefined && Number.isFinite(requeue)) plan.requeueAfterMs = Math.max(1, requeue);
    return dedupe(plan);
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
    }
    return finish();
  }

  const slots: SlotState[] = [];
  const slotKey = new Map<number, DesiredSlot>();
  for (const want of strategy.desired) {
    const slot = slots.length + 1;
    slotKey.set(slot, want);
    const list = bySlot.get(want.key) ?? [];
    const live = list.filter((t) => t.desiredState === 'running');
    // More than one live task in a slot: keep the one at the current spec, and the outdated task
    // that a start-first successor is replacing until that one is ready (rolling update, see
    // slotRoles), or the task that a drain or rebalance successor replaces until that one is
    // ready (handover).
    const { current, predecessor } = slotRoles(svc, live, isDead);
    const handover: Handover = predecessor || !strategy.handover ? {} : strategy.handover(current, live, isDead);
    if (handover.requeueAfterMs !== undefined) later(handover.requeueAfterMs);
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
      if (handover.drain === 'stop-first') {
        shutdown(current);
        const t = create(want.key);
        slots.push({ slot, live: [t], tasks: [...list, t] });
      } else {
        const t = create(want.key);
        const successor = { ...t, handoverFrom: current.id };
        plan.create[plan.create.length - 1] = successor;
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
    if (predecessor || !want.canCreate) {
      slots.push({ slot, live: keep, tasks: list });
      continue;
    }
    // The slot is empty: refill it as the restart policy says (after its backoff).
    const decision = refillDecision(svc, list, nowMs);
    if (decision.refill && decision.waitMs > 0) later(decision.waitMs);
    if (!decision.refill || decision.waitMs > 0) {
      slots.push({ slot, live: keep, tasks: list, refillPending: decision.refill });
      continue;
    }
    const fresh = create(want.key, decision);
    // A handover successor that died: its replacement still hands over from the old task.
    const t = handover.keep ? { ...fresh, handoverFrom: handover.keep.id } : fresh;
    plan.create[plan.create.length - 1] = t;
    slots.push({ slot, live: [...keep, t], tasks: [...list, t] });
  }

  const desired = new Set(strategy.desired.map((d) => d.key));
  for (const [key, list] of bySlot) {
    const dead = list.filter((t) => t.desiredState !== 'running' && (isTerminal(t.status.state) || t.nodeId === ''));
    if (!desired.has(key)) {
      // No longer desired (scaled away, node gone or no longer eligible): stop what runs.
      for (const t of list) shutdown(t);
      const how = strategy.retire(key);
      if (how === 'when-done') {
        if (list.every((t) => isDead(t) || t.nodeId === '')) plan.delete.push(...list.map((t) => t.id));
        continue;
      }
      if (how === 'dead') {
        plan.delete.push(...dead.map((t) => t.id));
        continue;
      }
    }
    // History: keep the newest TASK_HISTORY_PER_SLOT dead tasks of the slot.
    if (dead.length > TASK_HISTORY_PER_SLOT) plan.delete.push(...dead.slice(0, dead.length - TASK_HISTORY_PER_SLOT).map((t) => t.id));
  }

  // Rolling update of the slots that run an outdated spec; the desired slots count as replicas.
  const r = planRollout({ service: { ...svc, spec: { ...svc.spec, replicas: slots.length } }, slots, record: input.rollout, nowMs });
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const id of r.shutdown) {
    const t = byId.get(id);
    if (t) shutdown(t);
  }
  for (const slot of r.replace) {
    const want = slotKey.get(slot);
    if (!want?.canCreate) continue;
    const list = bySlot.get(want.key) ?? [];
    const failedBefore = list.filter((t) => t.desiredState !== 'running' && t.specRevision === svc.specRevision);
    const prior = failedBefore.length > 0 ? refillDecision(svc, failedBefore, nowMs) : undefined;
    create(want.key, prior?.refill ? prior : {});
  }
  if (r.record) plan.rollout = r.record;
  if (r.rollbackTo) plan.rollbackTo = r.rollbackTo;
  if (r.events.length > 0) plan.rolloutEvents = r.events;
  if (r.requeueAfterMs !== undefined) later(r.requeueAfterMs);
  return finish();
}

function dedupe(plan: ServicePlan): ServicePlan {
  const seen = new Set<string>();
  plan.delete = plan.delete.filter((id) => (seen.has(id) ? false : (seen.add(id), true)));
  const deleting = new Set(plan.delete);
  plan.update = plan.update.filter((u) => !deleting.has(u.taskId));
  return plan;
}
