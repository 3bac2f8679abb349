// PURE node-loss policy, called by the replicated planner: what to do with a live task whose
// node is not ready. No I/O, no clock (now is an input).
//
// - `replace` (at least once, the default): once the node is `down` the task is given up
//   (orphaned, desired `remove`, so its container goes when the node returns) and the slot is
//   refilled elsewhere.
// - `waitForNode` (at most once): the node's agent stops such containers by itself once it has
//   had no contact with the leader for `fenceAfterMs`. The task is given up only when the node is
//   down AND that fencing deadline plus a margin (and the container's stop grace period) has
//   passed, counted from the last contact any leader had with the node. Before that the slot
//   waits: never two copies. A node lost because its agent process ended (its session closed
//   while its heartbeats were current, the host still up) cannot fence: its waitForNode tasks
//   wait until an agent runs there again, or until the operator removes the node.
// - Mass loss: when most of the nodes that were alive dropped at once, the control plane is the
//   likely one cut off; nothing is replaced until they come back (or the operator removes them).
import type { NodeRecord, TaskRecord, TaskStatus } from '../../../proto/src/model.js';
import { nodeLossMode } from '../../../proto/src/spec/ha.js';
import type { NodeState } from '../../../proto/src/types.js';

/**
 * Added to the fencing time before a waitForNode replacement: the agent checks its deadline
 * every FENCE_CHECK_MS (250 ms), the engine needs time to deliver the stop signal, and clocks of
 * two machines may differ by a little (NTP keeps it well under a second).
 */
export const FENCE_MARGIN_MS = 2_000;
/** Fencing time when the controller is not told otherwise (controller flag --fence-after). */
export const DEFAULT_FENCE_AFTER_MS = 30_000;
/** Nodes lost within this long of the newest loss count as lost "at once". */
export const MASS_LOSS_WINDOW_MS = 60_000;
/** Replacement is suspended when more than this share of the recently alive nodes is lost. */
export const MASS_LOSS_FRACTION = 0.5;

export interface NodeLossConfig {
  /** An agent stops its waitForNode containers after this long without the leader. */
  fenceAfterMs: number;
}

export const DEFAULT_NODE_LOSS: NodeLossConfig = { fenceAfterMs: DEFAULT_FENCE_AFTER_MS };

/** What the planner needs to know of a node. */
export type NodeView = Pick<NodeRecord, 'state'> & Partial<Pick<NodeRecord, 'lastContactMs' | 'stateChangedAtMs' | 'agentExited'>>;

export interface NodeLossAssessment {
  /** Replacement of lost nodes' tasks is suspended (most nodes dropped at once). */
  suspended: boolean;
  /** Human-readable why, for logs and task messages. */
  reason: string;
}

function lostAt(n: NodeView): number {
  return n.lastContactMs ?? n.stateChangedAtMs ?? 0;
}

const isLost = (s: NodeState): boolean => s !== 'ready';

/**
 * Whether most nodes dropped at once. Nodes lost long before the newest loss (more than
 * MASS_LOSS_WINDOW_MS earlier) are left out of both counts: a node that died last week does not
 * turn today's single failure into a "mass" one.
 */
export function assessNodeLoss(nodes: ReadonlyMap<string, NodeView>): NodeLossAssessment {
  let newest = -Infinity;
  for (const n of nodes.values()) if (isLost(n.state)) newest = Math.max(newest, lostAt(n));
  if (newest === -Infinity) return { suspended: false, reason: '' };
  let ready = 0;
  let lost = 0;
  for (const n of nodes.values()) {
    if (!isLost(n.state)) ready++;
    else if (lostAt(n) >= newest - MASS_LOSS_WINDOW_MS) lost++;
  }
  // A single node on its own is not a "mass" loss: nowhere else to go anyway, but say so plainly.
  if (ready + lost >= 2 && lost > (ready + lost) * MASS_LOSS_FRACTION) {
    return { suspended: true, reason: `${lost} of ${ready + lost} nodes lost at once: replacement suspended until they return` };
  }
  return { suspended: false, reason: '' };
}

export type LostTaskDecision =
  /** Leave the task as it is (node fine, not down yet, or replacement suspended). */
  | { action: 'keep' }
  /** Give the task up: the slot is refilled; the container is removed when the node returns. */
  | { action: 'replace'; status: TaskStatus }
  /** waitForNode: the node is down but its agent may not have fenced yet; look again at `atMs`. */
  | { action: 'wait'; atMs: number };

/** When a waitForNode task on a node last in contact at `lastContactMs` may be replaced. */
export function fenceDeadline(lastContactMs: number, stopGraceMs: number, cfg: NodeLossConfig): number {
  return lastContactMs + cfg.fenceAfterMs + stopGraceMs + FENCE_MARGIN_MS;
}

export function decideLostTask(
  task: Pick<TaskRecord, 'nodeId' | 'spec' | 'status'>,
  node: NodeView | undefined,
  assessment: NodeLossAssessment,
  nowMs: number,
  cfg: NodeLossConfig,
): LostTaskDecision {
  if (task.nodeId === '') return { action: 'keep' };
  // The operator removed the node record: it is gone for good, whatever the mode.
  if (!node) return { action: 'replace', status: { ...task.status, state: 'orphaned', message: 'node removed', timestampMs: nowMs } };
  if (node.state !== 'down' || assessment.suspended) return { action: 'keep' };
  if (nodeLossMode(task.spec) === 'waitForNode') {
    // Its agent ended while the host stayed up: nobody fences the container, which may well
    // still run. The slot waits for an agent to run there again (it fences or adopts, then the
    // task goes on or fails and is run anew), or for the operator to remove the node.
    if (node.agentExited) return { action: 'keep' };
    const at = fenceDeadline(lostAt(node), task.spec.stop.gracePeriod, cfg);
    if (nowMs < at) return { action: 'wait', atMs: at };
    return {
      action: 'replace',
      status: { ...task.status, state: 'orphaned', message: 'node down; its agent has fenced the container', timestampMs: nowMs },
    };
  }
  return { action: 'replace', status: { ...task.status, state: 'orphaned', message: 'node down', timestampMs: nowMs } };
}
