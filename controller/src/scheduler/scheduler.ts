// PURE scheduler: (cluster snapshot, pending tasks, seed) → assignments, and for every task it
// could not place, why not, summarised per reason across nodes. No I/O, no clock, no
// Math.random: the seed only breaks ties, so equal input and seed give an equal plan.
//
// The entry point; the parts: types.ts (input and output), filters.ts (feasibility, decided once
// per group or again on the node that just took a task), placer.ts (groups of identical tasks,
// ranking heaps, booking), explain.ts (reasons and `berth plan` verdicts).
//
// Order of groups: tasks pinned to a node (global services) first, as they have no other choice;
// then services without affinity; then those with affinity, so the tasks they follow are placed.
import { explainGroup } from './explain.js';
import { buildCounts } from './filters.js';
import { GroupPlacer, RankedNode, byId, groupTasks, placeFree, placePinned } from './placer.js';
import type { TaskRecord } from '../../../proto/src/model.js';
import { RequirementCache } from './snapshot.js';
import type { PendingTask, Plan, SchedNode, ScheduleOptions, Snapshot } from './types.js';

export type {
  Assignment,
  HostPortRequest,
  NodeVerdict,
  PendingTask,
  Plan,
  PortUse,
  SchedNode,
  ScheduleOptions,
  ServiceExplain,
  Snapshot,
  TaskPlacement,
  Unplaced,
} from './types.js';
export { tieHash } from './placer.js';
export { summarize } from './explain.js';

export function schedule(snapshot: Snapshot, pending: readonly PendingTask[], seed: number, opts: ScheduleOptions = {}): Plan {
  const works = [...snapshot.nodes].sort(byId).map((n, i) => new RankedNode(n, i, seed));
  const workById = new Map(works.map((w) => [w.node.id, w]));
  const plan: Plan = { assignments: [], unplaced: [] };
  if (opts.explain) plan.explain = [];
  const groups = groupTasks(pending);
  const keys = new Set<string>();
  for (const g of groups) {
    keys.add(g.serviceKey);
    for (const k of g.first.placement?.affinity ?? []) keys.add(k);
    for (const k of g.first.placement?.antiAffinity ?? []) keys.add(k);
  }
  const counts = buildCounts(works, keys);

  for (const group of groups) {
    const g = new GroupPlacer(group, counts);
    if (group.order === 0) placePinned(g, group, workById, works.length, plan);
    else placeFree(g, group, works, plan);
    if (plan.explain)
      plan.explain.push(
        explainGroup(
          { serviceKey: group.serviceKey, pinned: group.order === 0, placedOn: g.placedOn, rejected: g.rejected, own: g.own },
          works,
        ),
      );
  }
  return plan;
}

/**
 * The node schedule() would put one more task like the stored `task` on, given `nodes`
 * (undefined when it fits nowhere). The rebalance planner asks it (orchestrator/rebalance-plan.ts,
 * wired by manager.ts), so moves follow the scheduler's own rules.
 */
export function wouldPlace(nodes: readonly SchedNode[], task: TaskRecord, seed: number): string | undefined {
  return schedule({ nodes }, [new RequirementCache().pendingTask(task)], seed).assignments[0]?.nodeId;
}
