// PURE placement of groups of identical pending tasks onto the nodes that pass the filters
// (filters.ts). Tasks are grouped by one key (service, revision, resources, host ports, pinned);
// a group's feasible nodes sit in a heap ordered by its rank (spread: fewest tasks of this
// service, then fewest tasks, then least loaded; binpack: most allocated after placing, then
// most tasks; then the seeded hash). With spreadBy, nodes are grouped by the attribute's value
// and the groups sit in a heap of their own (fewest tasks of this service in the group first).
// Each placement books the node at once, so one pass never double-books; it costs O(log nodes).
import { nodeAttribute } from '../model/node-attributes.js';
import { summarize } from './explain.js';
import { GroupFilter, NodeWork, addPort, type Counts } from './filters.js';
import { IndexedHeap, type HeapItem } from './heap.js';
import type { HostPortRequest, PendingTask, Plan, Rejection, SchedNode } from './types.js';

/** Stable 32-bit hash (FNV-1a) of seed and id: the deterministic tie-break. */
export function tieHash(seed: number, id: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A node as the placer ranks it: its working state and, per group, its spread group. */
export class RankedNode extends NodeWork {
  group: SpreadGroup | undefined;
  constructor(node: SchedNode, index: number, seed: number) {
    super(node, index, tieHash(seed, node.id));
  }
}

class SpreadGroup implements HeapItem {
  heapIndex = -1;
  /** Tasks of the service on every node of the group (feasible or not). */
  count = 0;
  readonly heap: IndexedHeap<RankedNode>;
  constructor(
    readonly value: string,
    less: (a: RankedNode, b: RankedNode) => boolean,
  ) {
    this.heap = new IndexedHeap(less);
  }
}

export const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** One group of identical pending tasks. */
export interface TaskGroup {
  key: string;
  serviceKey: string;
  first: PendingTask;
  tasks: PendingTask[];
  /** 0: pinned to nodes, 1: no affinity, 2: affinity (placed after what it follows). */
  order: number;
}

/** Host ports as part of a group key; memoised per array (one per service revision, RequirementCache). */
const portsKeys = new WeakMap<readonly HostPortRequest[], string>();
function portsKey(ports: readonly HostPortRequest[] | undefined): string {
  if (!ports) return '';
  let k = portsKeys.get(ports);
  if (k === undefined) portsKeys.set(ports, (k = ports.map((x) => `${x.hostIp}:${x.port}/${x.protocol}`).join(',')));
  return k;
}

/**
 * The one key of a task's group: tasks with equal service, revision, resources, host ports and
 * pinning are evaluated once together (equal resources and ports too, so that a caller mixing
 * them under one revision never overbooks). It also orders the groups of one `order`.
 */
export function groupKey(t: PendingTask): string {
  const r = t.resources;
  return `${t.serviceKey}\u0000${String(t.revision ?? 0).padStart(12, '0')}\u0000${r.cpuMilli}\u0000${r.memoryBytes}\u0000${portsKey(t.hostPorts)}\u0000${t.targetNodeId !== undefined ? 'pinned' : ''}`;
}

/** Whether b's group key is a's without computing it: the fields it is made of are equal (ports by identity). */
function sameKeyFields(a: PendingTask, b: PendingTask): boolean {
  return (
    a.serviceKey === b.serviceKey &&
    a.revision === b.revision &&
    a.resources.cpuMilli === b.resources.cpuMilli &&
    a.resources.memoryBytes === b.resources.memoryBytes &&
    a.hostPorts === b.hostPorts &&
    (a.targetNodeId === undefined) === (b.targetNodeId === undefined)
  );
}

export function groupTasks(pending: readonly PendingTask[]): TaskGroup[] {
  const groups = new Map<string, TaskGroup>();
  let prev: { task: PendingTask; group: TaskGroup } | undefined;
  for (const t of pending) {
    // Runs of tasks of one service revision share their key: computed once per run.
    if (prev && sameKeyFields(prev.task, t)) {
      prev.group.tasks.push(t);
      continue;
    }
    const key = groupKey(t);
    let g = groups.get(key);
    if (!g) {
      const p = t.placement;
      const order = t.targetNodeId !== undefined ? 0 : (p?.affinity?.length ?? 0) + (p?.antiAffinity?.length ?? 0) > 0 ? 2 : 1;
      groups.set(key, (g = { key, serviceKey: t.serviceKey, first: t, tasks: [], order }));
    }
    g.tasks.push(t);
    prev = { task: t, group: g };
  }
  const list = [...groups.values()];
  for (const g of list) {
    g.tasks.sort(byId);
    g.first = g.tasks[0]!;
  }
  return list.sort((a, b) => a.order - b.order || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Places the tasks of one group; keeps per-node rejections and what it placed. */
export class GroupPlacer extends GroupFilter {
  readonly binpack: boolean;
  readonly rejected = new Map<NodeWork, Rejection>();
  readonly placedOn = new Map<NodeWork, number>();
  /** spreadBy as a label key, read straight from the labels (the common case). */
  readonly spreadLabel: string | undefined;

  constructor(group: TaskGroup, counts: Counts) {
    super(group.serviceKey, group.first, counts);
    const p = this.req.placement;
    this.binpack = p?.strategy === 'binpack';
    const sb = this.binpack ? undefined : p?.spreadBy;
    this.spreadLabel = sb?.startsWith('node.labels.') ? sb.slice('node.labels.'.length) : undefined;
  }

  /** Value of spreadBy on n ('' when the node lacks it). */
  spreadValue(n: NodeWork): string {
    const sb = this.req.placement?.spreadBy;
    if (this.binpack || sb === undefined) return '';
    if (this.spreadLabel !== undefined) return n.node.labels?.[this.spreadLabel] ?? '';
    return nodeAttribute(n.node, sb) ?? '';
  }

  /** Spread: fewer of this service, fewer tasks, less loaded. Binpack: more loaded after placing, more tasks. Then the hash. */
  readonly less = (a: NodeWork, b: NodeWork): boolean => {
    if (this.binpack) {
      if (a.load !== b.load) return a.load > b.load;
      if (a.total !== b.total) return a.total > b.total;
    } else {
      if (a.svc !== b.svc) return a.svc < b.svc;
      if (a.total !== b.total) return a.total < b.total;
      if (a.load !== b.load) return a.load < b.load;
    }
    return a.tieBreak < b.tieBreak;
  };

  readonly groupLess = (a: SpreadGroup, b: SpreadGroup): boolean => {
    if (a.count !== b.count) return a.count < b.count;
    return this.less(a.heap.peek()!, b.heap.peek()!);
  };

  /** Prepares n's rank keys for this group. */
  rank(n: NodeWork): void {
    n.svc = this.own[n.index]!;
    n.load = this.binpack ? n.loadWith(this.cpu, this.mem) : n.baseLoad;
  }

  /** Books one task on n. */
  book(n: NodeWork): void {
    n.cpu += this.cpu;
    n.mem += this.mem;
    n.total++;
    n.svc++;
    this.own[n.index] = n.svc;
    const hp = this.req.hostPorts;
    if (hp) for (const p of hp) addPort(n.ports(), { ...p, owner: this.sk });
    this.placedOn.set(n, (this.placedOn.get(n) ?? 0) + 1);
    n.baseLoad = n.loadWith(0, 0);
    n.load = this.binpack ? n.loadWith(this.cpu, this.mem) : n.baseLoad;
  }
}

/** Global tasks: each may go to its one node only. */
export function placePinned(
  g: GroupPlacer,
  group: TaskGroup,
  workById: ReadonlyMap<string, RankedNode>,
  nodeCount: number,
  plan: Plan,
): void {
  for (const t of group.tasks) {
    const n = workById.get(t.targetNodeId!);
    if (!n) {
      plan.unplaced.push({
        taskId: t.id,
        reason: nodeCount === 0 ? 'no nodes in the cluster' : `node ${t.targetNodeId} is not in the cluster`,
      });
      continue;
    }
    g.rank(n);
    const r = g.reject(n);
    if (r) {
      g.rejected.set(n, r);
      plan.unplaced.push({ taskId: t.id, reason: summarize([r], 1) });
      continue;
    }
    g.book(n);
    plan.assignments.push({ taskId: t.id, nodeId: n.node.id });
  }
}

export function placeFree(g: GroupPlacer, group: TaskGroup, works: readonly RankedNode[], plan: Plan): void {
  const spreadBy = g.binpack ? undefined : g.req.placement?.spreadBy;
  const spreadGroups = new Map<string, SpreadGroup>();
  const members = new Map<SpreadGroup, RankedNode[]>();
  for (const n of works) {
    g.rank(n);
    const value = spreadBy ? g.spreadValue(n) : '';
    let sg = spreadGroups.get(value);
    if (!sg) {
      spreadGroups.set(value, (sg = new SpreadGroup(value, g.less)));
      members.set(sg, []);
    }
    sg.count += n.svc;
    n.group = sg;
    const r = g.reject(n);
    if (r) g.rejected.set(n, r);
    else members.get(sg)!.push(n);
  }
  const groups = new IndexedHeap<SpreadGroup>(g.groupLess);
  for (const [sg, list] of members) {
    sg.heap.pushAll(list);
    if (sg.heap.size > 0) groups.push(sg);
  }
  let summary: string | undefined;
  for (const t of group.tasks) {
    const n = t.avoidNodes && t.avoidNodes.length > 0 ? pickAvoiding(g, groups, new Set(t.avoidNodes)) : groups.peek()?.heap.peek();
    if (!n) {
      summary ??= summarize([...g.rejected.values()], works.length);
      plan.unplaced.push({ taskId: t.id, reason: summary });
      continue;
    }
    const sg = n.group!;
    g.book(n);
    sg.count++;
    plan.assignments.push({ taskId: t.id, nodeId: n.node.id });
    const r = g.dynamicReject(n);
    if (r) {
      g.rejected.set(n, r);
      sg.heap.remove(n);
    } else sg.heap.update(n);
    if (sg.heap.size === 0) groups.remove(sg);
    else groups.update(sg);
  }
}

/** The best feasible node not in `avoid`; the best avoided one when only those are left. O(nodes). */
function pickAvoiding(g: GroupPlacer, groups: IndexedHeap<SpreadGroup>, avoid: ReadonlySet<string>): RankedNode | undefined {
  let best: RankedNode | undefined;
  let bestAvoided = true;
  for (const sg of groups.all) {
    for (const n of sg.heap.all) {
      const avoided = avoid.has(n.node.id);
      if (best === undefined) {
        best = n;
        bestAvoided = avoided;
        continue;
      }
      if (avoided !== bestAvoided) {
        if (!avoided) {
          best = n;
          bestAvoided = false;
        }
        continue;
      }
      const bg = best.group!;
      if (sg.count !== bg.count ? sg.count < bg.count : g.less(n, best)) best = n;
    }
  }
  return best;
}
