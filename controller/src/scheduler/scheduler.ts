// PURE scheduler: (cluster snapshot, pending tasks, seed) → assignments, and for every task it
// could not place, why not, summarised per reason across nodes. No I/O, no clock, no
// Math.random: the seed only breaks ties, so equal input and seed give an equal plan.
//
// Pipeline per task: filters drop infeasible nodes (each says why), the rank orders the rest
// (spread: fewest tasks of this service, then least loaded), the best node takes the task and
// its reservation is counted at once, so one pass never double-books a node.
import { humanBytes } from '../../../proto/src/spec/units.js';
import type { Resources } from '../../../proto/src/model.js';
import type { NodeAvailability, NodeState } from '../../../proto/src/types.js';

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
}

export interface PendingTask {
  id: string;
  /** namespace/name: tasks of one service are spread against each other. */
  serviceKey: string;
  resources: Resources;
  /** Nodes to rank last (the slot failed there repeatedly); still used when nothing else fits. */
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
  /** e.g. "2 nodes: memory short by 200Mi; 1 node: not ready (unknown)" */
  reason: string;
}

export interface Plan {
  assignments: Assignment[];
  unplaced: Unplaced[];
}

/** Working state of one node during a pass: starts as a copy of the snapshot. */
interface NodeState_ {
  node: SchedNode;
  cpu: number;
  mem: number;
  total: number;
  byService: Map<string, number>;
  tieBreak: number;
}

interface Rejection {
  /** Groups nodes in the summary. */
  kind: string;
  /** Shown once per group; with `amount`, the smallest shortfall of the group is shown. */
  text: (amount: number) => string;
  amount: number;
}

type Filter = (n: NodeState_, t: PendingTask) => Rejection | undefined;

const FILTERS: Filter[] = [
  (n) =>
    n.node.state === 'ready'
      ? undefined
      : { kind: `state-${n.node.state}`, text: () => `node ${n.node.state}`, amount: 0 },
  (n) =>
    n.node.availability === 'active'
      ? undefined
      : { kind: `avail-${n.node.availability}`, text: () => `availability ${n.node.availability}`, amount: 0 },
  (n, t) => {
    const free = n.node.capacity.cpuMilli - n.cpu;
    return t.resources.cpuMilli <= free
      ? undefined
      : { kind: 'cpu', text: (a) => `cpu short by ${a / 1000}`, amount: t.resources.cpuMilli - free };
  },
  (n, t) => {
    const free = n.node.capacity.memoryBytes - n.mem;
    return t.resources.memoryBytes <= free
      ? undefined
      : { kind: 'memory', text: (a) => `memory short by ${humanBytes(a)}`, amount: t.resources.memoryBytes - free };
  },
];

/** Stable 32-bit hash (FNV-1a) of seed and id: the deterministic tie-break. */
export function tieHash(seed: number, id: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function load(n: NodeState_): number {
  const c = n.node.capacity;
  const cpu = c.cpuMilli > 0 ? n.cpu / c.cpuMilli : 0;
  const mem = c.memoryBytes > 0 ? n.mem / c.memoryBytes : 0;
  return Math.max(cpu, mem);
}

/** Spread: fewer tasks of this service first, then fewer tasks, then less loaded, then the hash. */
function better(a: NodeState_, b: NodeState_, serviceKey: string, avoid: readonly string[] = []): boolean {
  const aa = avoid.includes(a.node.id);
  if (aa !== avoid.includes(b.node.id)) return !aa;
  const sa = a.byService.get(serviceKey) ?? 0;
  const sb = b.byService.get(serviceKey) ?? 0;
  if (sa !== sb) return sa < sb;
  if (a.total !== b.total) return a.total < b.total;
  const la = load(a);
  const lb = load(b);
  if (la !== lb) return la < lb;
  return a.tieBreak < b.tieBreak;
}

export function summarize(rejections: Rejection[], nodeCount: number): string {
  if (nodeCount === 0) return 'no nodes in the cluster';
  const groups = new Map<string, { count: number; min: number; text: (a: number) => string }>();
  for (const r of rejections) {
    const g = groups.get(r.kind);
    if (g) {
      g.count++;
      g.min = Math.min(g.min, r.amount);
    } else groups.set(r.kind, { count: 1, min: r.amount, text: r.text });
  }
  return [...groups.values()]
    .sort((a, b) => b.count - a.count)
    .map((g) => `${g.count} node${g.count === 1 ? '' : 's'}: ${g.text(g.min)}`)
    .join('; ');
}

export function schedule(snapshot: Snapshot, pending: readonly PendingTask[], seed: number): Plan {
  const states: NodeState_[] = [...snapshot.nodes]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((node) => ({
      node,
      cpu: node.allocated.cpuMilli,
      mem: node.allocated.memoryBytes,
      total: node.totalTasks,
      byService: new Map(node.tasksByService),
      tieBreak: tieHash(seed, node.id),
    }));
  const plan: Plan = { assignments: [], unplaced: [] };
  const ordered = [...pending].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const task of ordered) {
    let best: NodeState_ | undefined;
    const rejections: Rejection[] = [];
    for (const n of states) {
      let rejected: Rejection | undefined;
      for (const f of FILTERS) {
        rejected = f(n, task);
        if (rejected) break;
      }
      if (rejected) {
        rejections.push(rejected);
        continue;
      }
      if (!best || better(n, best, task.serviceKey, task.avoidNodes)) best = n;
    }
    if (!best) {
      plan.unplaced.push({ taskId: task.id, reason: summarize(rejections, states.length) });
      continue;
    }
    best.cpu += task.resources.cpuMilli;
    best.mem += task.resources.memoryBytes;
    best.total++;
    best.byService.set(task.serviceKey, (best.byService.get(task.serviceKey) ?? 0) + 1);
    plan.assignments.push({ taskId: task.id, nodeId: best.node.id });
  }
  return plan;
}
