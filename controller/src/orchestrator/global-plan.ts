// PURE planner of a global service (`mode: global`): one slot per eligible node. The slot-plan
// core (slot-plan.ts) plans it as it plans every service; what is global's own is how the slots
// are named (the node each is pinned to) and which there are. No I/O, no clock, no randomness.
//
// Per node: the slot is desired while the node is not down, not draining and meets the
// constraints (a paused or unknown node keeps its task); a task is created there only while the
// node is ready and active. The task is pinned (targetNodeId) and placed by the scheduler, which
// still checks that it fits (memory, ports, ...) and explains when it does not. Tasks of a lost
// node are handled as for every service (node-loss-plan.ts: waitForNode waits for the fence). The
// rolling update counts the desired nodes as replicas, in node id order.
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../../proto/src/model.js';
import type { RolloutRecord } from '../../../proto/src/lifecycle-model.js';
import { constraintsOf, meetsConstraints } from '../model/node-attributes.js';
import type { NodeLossConfig } from './node-loss-plan.js';
import { planSlots, type DesiredSlot, type ServicePlan } from './slot-plan.js';

export interface GlobalPlanInput {
  service: ServiceRecord;
  tasks: TaskRecord[];
  nodes: readonly NodeRecord[];
  /** How tasks of lost nodes are handled (node-loss-plan.ts); defaults when absent. */
  nodeLoss?: NodeLossConfig | undefined;
  nowMs: number;
  /** The service's rollout record, if any. */
  rollout?: RolloutRecord | undefined;
}

export function planGlobal(input: GlobalPlanInput): ServicePlan {
  const { service: svc } = input;
  const nodeById = new Map(input.nodes.map((n) => [n.id, n]));
  const cs = constraintsOf(svc);
  const desired: DesiredSlot[] = [];
  for (const node of [...input.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    if (node.state === 'down' || node.availability === 'drain' || !meetsConstraints(node, cs)) continue;
    desired.push({ key: node.id, canCreate: node.state === 'ready' && node.availability === 'active' });
  }
  return planSlots(
    { ...input, nodes: nodeById },
    {
      keyOf: (t) => t.targetNodeId ?? t.nodeId,
      desired,
      retire: (nodeId) => (nodeById.has(nodeId as string) ? 'history' : 'dead'),
      extra: (d) => (d.priorFailures ? { priorFailures: d.priorFailures } : {}),
    },
  );
}
