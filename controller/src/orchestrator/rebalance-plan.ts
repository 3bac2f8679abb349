// PURE opt-in rebalancing (`placement.rebalance`): which replicas of a service to move so that a
// node that joined or came back gets its share. A move is a start-first handover: a new task in
// the same slot (handoverFrom = the old one) that the scheduler places; the old one stops only
// once the new one runs (replicated-plan.ts), so the service never drops below what runs now.
//
// Rules: only a service whose every slot has exactly one live task, ready (running and healthy),
// at the current spec (no move, update or restart in flight); at most `maxMoving` moves at once; a move
// only where the real scheduler, asked to place that replica now, picks another node AND the
// spread strictly improves: Φ = M·Σ(group count²) + Σ(node count²) drops (M outweighs any node
// term). Φ is a non-negative integer that every move lowers, so rebalancing always stops.
//
// "Where would the scheduler put this replica now" is asked through `place`, injected by the
// composition root (manager.ts wires the scheduler's wouldPlace): the orchestrator and the
// scheduler are peer layers and never import each other, and the one scheduler (not a copy of
// its rules) judges every move.
import type { Resources, ServiceRecord, TaskRecord } from '../../../proto/src/model.js';
import { modeOf } from '../../../proto/src/spec/placement.js';
import { isOutdated, isReady } from '../../../proto/src/lifecycle-model.js';
import { nodeAttribute, type NodeAttributes } from '../model/node-attributes.js';
import { serviceKey } from '../model/task-identity.js';

/** Weight of the group term of Φ: above any possible change of the node term. */
const GROUP_WEIGHT = 1e9;

/** What the planner reads of a node (the scheduler's snapshot node has all of it). */
export interface RebalanceNode extends NodeAttributes {
  /** Live tasks on the node, per service key. */
  tasksByService: ReadonlyMap<string, number>;
  totalTasks: number;
  allocated: Resources;
}

/** The node the scheduler would place one more task like `task` on, given `nodes`; undefined when none. */
export type PlaceFn<N extends RebalanceNode> = (nodes: readonly N[], task: TaskRecord, seed: number) => string | undefined;

export interface RebalanceMove {
  serviceKey: string;
  /** The running task to replace elsewhere. */
  task: TaskRecord;
  fromNode: string;
  toNode: string;
}

export function planRebalance<N extends RebalanceNode>(input: {
  nodes: readonly N[];
  service: ServiceRecord;
  tasks: readonly TaskRecord[];
  seed: number;
  place: PlaceFn<N>;
}): RebalanceMove[] {
  const { service: svc, seed } = input;
  const budget = svc.spec.placement?.rebalance?.maxMoving;
  if (budget === undefined || svc.deleting || modeOf(svc.spec) !== 'replicated' || svc.spec.placement?.strategy === 'binpack') return [];
  const sk = serviceKey(svc.meta.namespace, svc.meta.name);
  const live = input.tasks.filter((t) => t.serviceUid === svc.meta.uid && t.desiredState === 'running');
  const slots = new Set(live.map((t) => t.slot));
  const settled =
    live.length === svc.spec.replicas &&
    slots.size === live.length &&
    live.every((t) => isReady(t) && t.nodeId !== '' && !isOutdated(t, svc));
  if (!settled) return [];

  const spreadBy = svc.spec.placement?.spreadBy;
  type WorkNode = N & { tasksByService: Map<string, number>; totalTasks: number; allocated: Resources };
  const nodes: WorkNode[] = input.nodes.map((n) => ({ ...n, tasksByService: new Map(n.tasksByService) }));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const count = (n: RebalanceNode): number => n.tasksByService.get(sk) ?? 0;
  const groupOf = (n: RebalanceNode): string => (spreadBy ? (nodeAttribute(n, spreadBy) ?? '') : '');
  const groupCount = (g: string): number => nodes.reduce((s, n) => s + (groupOf(n) === g ? count(n) : 0), 0);
  const shift = (n: WorkNode, delta: number, t: TaskRecord): void => {
    n.tasksByService.set(sk, count(n) + delta);
    n.totalTasks += delta;
    n.allocated = {
      cpuMilli: n.allocated.cpuMilli + delta * t.spec.resources.cpu,
      memoryBytes: n.allocated.memoryBytes + delta * t.spec.resources.memory,
    };
  };

  const moves: RebalanceMove[] = [];
  const moved = new Set<string>();
  while (moves.length < budget) {
    // Candidates: replicas on the nodes with the most of this service first.
    const candidates = live
      .filter((t) => !moved.has(t.id) && byId.has(t.nodeId))
      .sort(
        (a, b) =>
          count(byId.get(b.nodeId)!) - count(byId.get(a.nodeId)!) ||
          (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0) ||
          a.slot - b.slot,
      );
    let chosen: RebalanceMove | undefined;
    // Replicas of a service are identical: one try per source node tells for all of its replicas.
    const tried = new Set<string>();
    for (const t of candidates) {
      if (tried.has(t.nodeId)) continue;
      tried.add(t.nodeId);
      const from = byId.get(t.nodeId)!;
      shift(from, -1, t);
      const placed = input.place(nodes, t, seed);
      const to = placed !== undefined ? byId.get(placed) : undefined;
      let better = false;
      if (to && to !== from) {
        const cA = count(from) + 1;
        const cB = count(to);
        const dNodes = 2 * (cB - cA + 1);
        const gA = groupOf(from);
        const gB = groupOf(to);
        const dGroups = gA === gB ? 0 : 2 * (groupCount(gB) - (groupCount(gA) + 1) + 1);
        better = GROUP_WEIGHT * dGroups + dNodes < 0;
      }
      if (better && to) {
        shift(to, +1, t);
        chosen = { serviceKey: sk, task: t, fromNode: from.id, toNode: to.id };
        break;
      }
      shift(from, +1, t);
    }
    if (!chosen) break;
    moved.add(chosen.task.id);
    moves.push(chosen);
  }
  return moves;
}
