// PURE explanations of the scheduler: the reason of an unplaced task, summarised per kind of
// rejection across nodes ("2 nodes: memory short by 200Mi; 1 node: node unknown"), and with
// { explain: true } (`berth plan`) every node's verdict per service.
import type { NodeWork } from './filters.js';
import type { NodeVerdict, Rejection, ServiceExplain } from './types.js';

export function summarize(rejections: readonly Rejection[], nodeCount: number): string {
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

/** What placing one group left behind, as explainGroup reads it. */
export interface GroupOutcome {
  serviceKey: string;
  /** Tasks pinned to one node each (global services). */
  pinned: boolean;
  placedOn: ReadonlyMap<NodeWork, number>;
  rejected: ReadonlyMap<NodeWork, Rejection>;
  /** Tasks of the service per node index, after placing. */
  own: Int32Array;
}

export function explainGroup(g: GroupOutcome, works: readonly NodeWork[]): ServiceExplain {
  const nodes: NodeVerdict[] = works.map((n) => {
    const placed = g.placedOn.get(n) ?? 0;
    if (placed > 0) return { nodeId: n.node.id, placed, reason: '' };
    const r = g.rejected.get(n);
    if (r) return { nodeId: n.node.id, placed: 0, reason: r.text(r.amount) };
    if (g.pinned) return { nodeId: n.node.id, placed: 0, reason: 'not its node (global task pinned elsewhere)' };
    const pct = Math.round(n.loadWith(0, 0) * 100);
    return {
      nodeId: n.node.id,
      placed: 0,
      reason: `fits, ranked lower (${g.own[n.index]} of this service, ${n.total} tasks, ${pct}% allocated)`,
    };
  });
  return { serviceKey: g.serviceKey, nodes };
}
