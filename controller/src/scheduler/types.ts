// PURE types of the scheduler's input and output: the snapshot of nodes (what they hold and
// offer), the pending tasks with their placement requirements, and the plan (assignments, and
// why each unplaced task could not go anywhere). Shared by the filters, the placer, the
// explanation and every caller (the shell, `berth plan`, the rebalance wiring, the benchmark).
import type { Constraint, Strategy } from '../../../proto/src/spec/placement.js';
import type { Resources } from '../../../proto/src/model.js';
import type { NodeAvailability, NodeState } from '../../../proto/src/types.js';

/** A host port in use on a node: by a Berth task (owner: its service key) or outside Berth (owner ''). */
export interface PortUse {
  protocol: string;
  port: number;
  /** '' when bound on every address. */
  hostIp: string;
  owner: string;
}

export interface SchedNode {
  id: string;
  state: NodeState;
  availability: NodeAvailability;
  capacity: Resources;
  /** Sum of reservations of the live tasks already on the node. */
  allocated: Resources;
  /** Live tasks on the node, per service key (namespace/name). */
  tasksByService: ReadonlyMap<string, number>;
  totalTasks: number;
  hostname?: string;
  os?: string;
  arch?: string;
  /** Effective labels: the agent's, overridden by the operator's. */
  labels?: Readonly<Record<string, string>>;
  /** Host ports in use on the node. */
  ports?: readonly PortUse[];
  /** Host paths the node lets services bind-mount (its agent's --allow-host-path). */
  allowedHostPaths?: readonly string[];
}

/** Where a task may go; the same for every task of a service revision. */
export interface TaskPlacement {
  strategy?: Strategy;
  constraints?: readonly Constraint[];
  /** A node attribute (node.labels.zone, node.hostname, ...): spread over its values first. */
  spreadBy?: string;
  maxPerNode?: number;
  /** Service keys: only on nodes running a task of each. */
  affinity?: readonly string[];
  /** Service keys: never on a node running a task of any. */
  antiAffinity?: readonly string[];
  /** Bind-mount sources: only on nodes that allow every one. */
  hostPaths?: readonly string[];
}

export interface HostPortRequest {
  protocol: string;
  port: number;
  /** '' for every address. */
  hostIp: string;
}

export interface PendingTask {
  id: string;
  /** namespace/name: tasks of one service are spread against each other. */
  serviceKey: string;
  resources: Resources;
  /**
   * Tasks with equal serviceKey, revision, resources and hostPorts must have equal placement:
   * they are evaluated once as a group.
   */
  revision?: number;
  placement?: TaskPlacement;
  hostPorts?: readonly HostPortRequest[];
  /** Global services: the only node this task may go to. */
  targetNodeId?: string;
  /**
   * Nodes to use only when no other feasible node is left (e.g. where this slot failed again and
   * again). Never makes a node infeasible; ranks it after every other feasible node.
   */
  avoidNodes?: readonly string[];
}

export interface Snapshot {
  nodes: readonly SchedNode[];
}

export interface Assignment {
  taskId: string;
  nodeId: string;
}

export interface Unplaced {
  taskId: string;
  /** e.g. "2 nodes: memory short by 200Mi; 1 node: node unknown" */
  reason: string;
}

/** Why one node took no task of a service (explain mode, for `berth plan`). */
export interface NodeVerdict {
  nodeId: string;
  /** Tasks of the service placed on the node in this pass. */
  placed: number;
  /** '' when placed > 0; otherwise why not. */
  reason: string;
}

export interface ServiceExplain {
  serviceKey: string;
  nodes: NodeVerdict[];
}

export interface Plan {
  assignments: Assignment[];
  unplaced: Unplaced[];
  /** With { explain: true }: per service, every node's verdict. */
  explain?: ServiceExplain[];
}

export interface ScheduleOptions {
  explain?: boolean;
}

/** Why a node refused a group (internal to the pipeline; summarised by explain.ts). */
export interface Rejection {
  /** Groups nodes in the summary. */
  kind: string;
  /** Shown once per group; with `amount`, the smallest shortfall of the group is shown. */
  text: (amount: number) => string;
  amount: number;
}
