// PURE planner of a replicated service: slots 1..replicas, placed by the scheduler. The slot-plan
// core (slot-plan.ts) plans them as it plans every service; what is replicated's own is how the
// slots are named (their number), that slots above `replicas` are forgotten once done, and the
// start-first moves of drain and rebalance (planHandover). No I/O, no clock, no randomness.
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../../proto/src/model.js';
import type { RolloutRecord } from '../../../proto/src/lifecycle-model.js';
import { isReady } from '../../../proto/src/lifecycle-model.js';
import type { NodeLossConfig, NodeView } from './node-loss-plan.js';
import { planSlots, type DesiredSlot, type Handover, type ServicePlan } from './slot-plan.js';

/** With the default restart backoff, a failed slot is refilled this long after its task ended. */
export const RESTART_DELAY_MS = 1_000;
/**
 * A start-first handover (drain, rebalance) whose new task does not run within this long ends:
 * a drain stops the old task anyway (the node must empty), a rebalance gives up the move.
 */
export const HANDOVER_TIMEOUT_MS = 30_000;

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

export function planReplicated(input: PlanInput): ServicePlan {
  const { service: svc, nodes, nowMs } = input;
  const desired: DesiredSlot[] = [];
  for (let slot = 1; slot <= svc.spec.replicas; slot++) desired.push({ key: slot, canCreate: true });
  return planSlots(input, {
    keyOf: (t) => t.slot,
    desired,
    retire: () => 'when-done',
    handover: (current, live, isDead) => planHandover(svc, current, live, nodes, nowMs, isDead),
    extra: (d) => d,
  });
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
