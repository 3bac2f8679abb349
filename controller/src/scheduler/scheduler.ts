// PURE scheduler: (cluster snapshot, pending tasks, seed) → assignments, and for every task it
// could not place, why not, summarised per reason across nodes. No I/O, no clock, no
// Math.random: the seed only breaks ties, so equal input and seed give an equal plan.
//
// Pipeline. Pending tasks are grouped by service (and revision): the tasks of a group are
// identical, so the filters run once per group and node, not once per task:
//   static filters  (state, availability, constraints, host paths, affinity to other services) — decided once;
//   dynamic filters (cpu, memory, host ports, maxPerNode, affinity to itself) — looked at again
//                   only on the node that just took a task (no other node changed).
// Feasible nodes sit in a heap ordered by the group's rank (spread: fewest tasks of this service,
// then fewest tasks, then least loaded; binpack: most allocated after placing, then most tasks;
// then the seeded hash). With spreadBy, nodes are grouped by the attribute's value and the groups
// sit in a heap of their own (fewest tasks of this service in the group first). Each placement
// books the node at once, so one pass never double-books; it costs O(log nodes).
//
// Order of groups: tasks pinned to a node (global services) first, as they have no other choice;
// then services without affinity; then those with affinity, so the tasks they follow are placed.
import { firstRefusedPath } from '../../../proto/src/host-paths.js';
import { humanBytes } from '../../../proto/src/spec/units.js';
import type { Constraint, Strategy } from '../../../proto/src/spec/placement.js';
import type { Resources } from '../../../proto/src/model.js';
import type { NodeAvailability, NodeState } from '../../../proto/src/types.js';
import { constraintHolds, nodeAttribute } from '../model/node-attributes.js';
import { IndexedHeap, type HeapItem } from './heap.js';

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

interface Rejection {
  /** Groups nodes in the summary. */
  kind: string;
  /** Shown once per group; with `amount`, the smallest shortfall of the group is shown. */
  text: (amount: number) => string;
  amount: number;
}

/** Working state of one node during a pass: starts as a copy of the snapshot. */
class NodeWork implements HeapItem {
  heapIndex = -1;
  cpu: number;
  mem: number;
  total: number;
  /** loadWith(0, 0), kept up to date as tasks are booked. */
  baseLoad: number;
  portIndex: Map<string, PortUse[]> | undefined;
  /** Per group being placed: its tasks here, its rank keys, its spread group. */
  svc = 0;
  load = 0;
  group: SpreadGroup | undefined;

  constructor(readonly node: SchedNode, readonly index: number, readonly tieBreak: number) {
    this.cpu = node.allocated.cpuMilli;
    this.mem = node.allocated.memoryBytes;
    this.total = node.totalTasks;
    this.baseLoad = this.loadWith(0, 0);
  }

  ports(): Map<string, PortUse[]> {
    if (!this.portIndex) {
      this.portIndex = new Map();
      for (const p of this.node.ports ?? []) addPort(this.portIndex, p);
    }
    return this.portIndex;
  }

  /** Mean of the cpu and memory fractions allocated (dimensions without capacity count as 0). */
  loadWith(cpu: number, mem: number): number {
    const c = this.node.capacity;
    return ((c.cpuMilli > 0 ? (this.cpu + cpu) / c.cpuMilli : 0) + (c.memoryBytes > 0 ? (this.mem + mem) / c.memoryBytes : 0)) / 2;
  }
}

/**
 * Live tasks per node of the services a pass looks at (its own and those named by affinity),
 * as arrays indexed by node: built once from the snapshot, updated as tasks are booked.
 */
type Counts = Map<string, Int32Array>;

function buildCounts(works: readonly NodeWork[], keys: ReadonlySet<string>): Counts {
  const counts: Counts = new Map();
  for (const k of keys) counts.set(k, new Int32Array(works.length));
  for (const w of works) {
    for (const [k, c] of w.node.tasksByService) {
      const a = counts.get(k);
      if (a) a[w.index] = c;
    }
  }
  return counts;
}

class SpreadGroup implements HeapItem {
  heapIndex = -1;
  /** Tasks of the service on every node of the group (feasible or not). */
  count = 0;
  readonly heap: IndexedHeap<NodeWork>;
  constructor(readonly value: string, less: (a: NodeWork, b: NodeWork) => boolean) {
    this.heap = new IndexedHeap(less);
  }
}

function portKey(protocol: string, port: number): string {
  return `${protocol}/${port}`;
}

function addPort(index: Map<string, PortUse[]>, p: PortUse): void {
  const k = portKey(p.protocol, p.port);
  const l = index.get(k);
  if (l) l.push(p);
  else index.set(k, [p]);
}

const anyAddress = (ip: string): boolean => ip === '' || ip === '0.0.0.0' || ip === '::';

/** The use of `want` that collides with it on this node, if any. */
function portClash(index: Map<string, PortUse[]>, want: HostPortRequest): PortUse | undefined {
  const uses = index.get(portKey(want.protocol, want.port));
  if (!uses) return undefined;
  return uses.find((u) => anyAddress(u.hostIp) || anyAddress(want.hostIp) || u.hostIp === want.hostIp);
}

/** Stable 32-bit hash (FNV-1a) of seed and id: the deterministic tie-break. */
export function tieHash(seed: number, id: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

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

const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const fixed = (kind: string, text: string): Rejection => ({ kind, text: () => text, amount: 0 });
/** Rejections that do not depend on the group, made once. */
const NOT_READY: Record<string, Rejection> = { unknown: fixed('state-unknown', 'node unknown'), down: fixed('state-down', 'node down') };
const NOT_ACTIVE: Record<string, Rejection> = { pause: fixed('avail-pause', 'availability pause'), drain: fixed('avail-drain', 'availability drain') };

/** One group of identical pending tasks. */
interface TaskGroup {
  key: string;
  serviceKey: string;
  first: PendingTask;
  tasks: PendingTask[];
  /** 0: pinned to nodes, 1: no affinity, 2: affinity (placed after what it follows). */
  order: number;
}

function samePorts(a: readonly HostPortRequest[] | undefined, b: readonly HostPortRequest[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return (a?.length ?? 0) === 0 && (b?.length ?? 0) === 0;
  return a.every((p, i) => p.port === b[i]!.port && p.protocol === b[i]!.protocol && p.hostIp === b[i]!.hostIp);
}

/** Same group: same revision, and (so that a caller mixing them never overbooks) same resources and ports. */
function sameGroup(a: PendingTask, b: PendingTask): boolean {
  return (a.revision ?? 0) === (b.revision ?? 0)
    && a.resources.cpuMilli === b.resources.cpuMilli
    && a.resources.memoryBytes === b.resources.memoryBytes
    && (a.targetNodeId !== undefined) === (b.targetNodeId !== undefined)
    && samePorts(a.hostPorts, b.hostPorts);
}

function groupTasks(pending: readonly PendingTask[]): TaskGroup[] {
  const byService = new Map<string, TaskGroup[]>();
  const list: TaskGroup[] = [];
  for (const t of pending) {
    let groups = byService.get(t.serviceKey);
    if (!groups) byService.set(t.serviceKey, (groups = []));
    let g = groups.find((x) => sameGroup(x.first, t));
    if (!g) {
      const p = t.placement;
      const order = t.targetNodeId !== undefined ? 0 : (p?.affinity?.length ?? 0) + (p?.antiAffinity?.length ?? 0) > 0 ? 2 : 1;
      const r = t.resources;
      const key = `${t.serviceKey}\u0000${String(t.revision ?? 0).padStart(12, '0')}\u0000${r.cpuMilli}\u0000${r.memoryBytes}\u0000${t.hostPorts?.map((x) => `${x.hostIp}:${x.port}/${x.protocol}`).join(',') ?? ''}\u0000${order === 0 ? 'pinned' : ''}`;
      groups.push((g = { key, serviceKey: t.serviceKey, first: t, tasks: [], order }));
      list.push(g);
    }
    g.tasks.push(t);
  }
  for (const g of list) {
    g.tasks.sort(byId);
    g.first = g.tasks[0]!;
  }
  return list.sort((a, b) => a.order - b.order || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Places the tasks of one group; returns per-node rejections and what it placed. */
class GroupPlacer {
  readonly sk: string;
  readonly req: PendingTask;
  readonly cpu: number;
  readonly mem: number;
  readonly binpack: boolean;
  readonly rejected = new Map<NodeWork, Rejection>();
  readonly placedOn = new Map<NodeWork, number>();
  private readonly selfAffinity: boolean;
  private readonly selfAnti: boolean;
  private readonly otherAffinity: readonly Int32Array[];
  private readonly otherAnti: readonly Int32Array[];
  private readonly otherAffinityKeys: readonly string[];
  private readonly otherAntiKeys: readonly string[];
  /** Tasks of this service per node index. */
  readonly own: Int32Array;
  /** spreadBy as a label key, read straight from the labels (the common case). */
  readonly spreadLabel: string | undefined;
  private readonly rejections = new Map<string, Rejection>();

  constructor(group: TaskGroup, counts: Counts) {
    this.sk = group.serviceKey;
    this.req = group.first;
    this.cpu = this.req.resources.cpuMilli;
    this.mem = this.req.resources.memoryBytes;
    const p = this.req.placement;
    this.binpack = p?.strategy === 'binpack';
    this.selfAffinity = p?.affinity?.includes(this.sk) ?? false;
    this.selfAnti = p?.antiAffinity?.includes(this.sk) ?? false;
    this.otherAffinityKeys = p?.affinity?.filter((s) => s !== this.sk) ?? [];
    this.otherAntiKeys = p?.antiAffinity?.filter((s) => s !== this.sk) ?? [];
    this.otherAffinity = this.otherAffinityKeys.map((k) => counts.get(k)!);
    this.otherAnti = this.otherAntiKeys.map((k) => counts.get(k)!);
    this.own = counts.get(this.sk)!;
    const sb = this.binpack ? undefined : p?.spreadBy;
    this.spreadLabel = sb?.startsWith('node.labels.') ? sb.slice('node.labels.'.length) : undefined;
  }

  /** A rejection without amount, made once per group and kind. */
  private fx(kind: string, text: string): Rejection {
    let r = this.rejections.get(kind);
    if (!r) this.rejections.set(kind, (r = fixed(kind, text)));
    return r;
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

  /** Filters decided once per group: nothing this group does changes them. */
  staticReject(n: NodeWork): Rejection | undefined {
    const node = n.node;
    if (node.state !== 'ready') return NOT_READY[node.state] ?? fixed(`state-${node.state}`, `node ${node.state}`);
    if (node.availability !== 'active') return NOT_ACTIVE[node.availability] ?? fixed(`avail-${node.availability}`, `availability ${node.availability}`);
    const cs = this.req.placement?.constraints;
    if (cs) {
      for (const c of cs) if (!constraintHolds(node, c)) return this.fx(`constraint ${c.text}`, `constraint ${c.text}`);
    }
    const paths = this.req.placement?.hostPaths;
    if (paths) {
      const refused = firstRefusedPath(paths, node.allowedHostPaths ?? []);
      if (refused !== undefined) return this.fx(`host path ${refused}`, `host path ${refused} not allowed`);
    }
    for (let i = 0; i < this.otherAffinity.length; i++) {
      if (this.otherAffinity[i]![n.index] === 0) return this.fx(`affinity ${this.otherAffinityKeys[i]}`, `affinity: no task of ${this.otherAffinityKeys[i]}`);
    }
    for (let i = 0; i < this.otherAnti.length; i++) {
      if (this.otherAnti[i]![n.index]! > 0) return this.fx(`anti ${this.otherAntiKeys[i]}`, `anti-affinity: runs ${this.otherAntiKeys[i]}`);
    }
    return undefined;
  }

  /** Filters that change as this group places tasks (only on the node that took one). */
  dynamicReject(n: NodeWork): Rejection | undefined {
    const c = n.node.capacity;
    const freeCpu = c.cpuMilli - n.cpu;
    if (this.cpu > freeCpu) return { kind: 'cpu', text: (a) => `cpu short by ${a / 1000}`, amount: this.cpu - freeCpu };
    const freeMem = c.memoryBytes - n.mem;
    if (this.mem > freeMem) return { kind: 'memory', text: (a) => `memory short by ${humanBytes(a)}`, amount: this.mem - freeMem };
    const hp = this.req.hostPorts;
    if (hp && hp.length > 0) {
      const index = n.ports();
      for (const want of hp) {
        const clash = portClash(index, want);
        if (clash) {
          const what = `port ${want.port}/${want.protocol}`;
          return clash.owner === ''
            ? this.fx(`port ${what} host`, `${what} in use on the host (not by Berth)`)
            : this.fx(`port ${what} ${clash.owner}`, `${what} taken by ${clash.owner}`);
        }
      }
    }
    const max = this.req.placement?.maxPerNode;
    if (max !== undefined && n.svc >= max) return this.fx('maxPerNode', `maxPerNode ${max} reached`);
    if (this.selfAnti && n.svc > 0) return this.fx(`anti ${this.sk}`, `anti-affinity: runs ${this.sk}`);
    if (this.selfAffinity && n.svc === 0) return this.fx(`affinity ${this.sk}`, `affinity: no task of ${this.sk}`);
    return undefined;
  }

  reject(n: NodeWork): Rejection | undefined {
    return this.staticReject(n) ?? this.dynamicReject(n);
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

export function schedule(snapshot: Snapshot, pending: readonly PendingTask[], seed: number, opts: ScheduleOptions = {}): Plan {
  const works = [...snapshot.nodes].sort(byId).map((n, i) => new NodeWork(n, i, tieHash(seed, n.id)));
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
    if (plan.explain) plan.explain.push(explainGroup(g, group, works));
  }
  return plan;
}

/** Global tasks: each may go to its one node only. */
function placePinned(g: GroupPlacer, group: TaskGroup, workById: ReadonlyMap<string, NodeWork>, nodeCount: number, plan: Plan): void {
  for (const t of group.tasks) {
    const n = workById.get(t.targetNodeId!);
    if (!n) {
      plan.unplaced.push({ taskId: t.id, reason: nodeCount === 0 ? 'no nodes in the cluster' : `node ${t.targetNodeId} is not in the cluster` });
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

function placeFree(g: GroupPlacer, group: TaskGroup, works: readonly NodeWork[], plan: Plan): void {
  const spreadBy = g.binpack ? undefined : g.req.placement?.spreadBy;
  const spreadGroups = new Map<string, SpreadGroup>();
  const members = new Map<SpreadGroup, NodeWork[]>();
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
function pickAvoiding(g: GroupPlacer, groups: IndexedHeap<SpreadGroup>, avoid: ReadonlySet<string>): NodeWork | undefined {
  let best: NodeWork | undefined;
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

function explainGroup(g: GroupPlacer, group: TaskGroup, works: readonly NodeWork[]): ServiceExplain {
  const nodes: NodeVerdict[] = works.map((n) => {
    const placed = g.placedOn.get(n) ?? 0;
    if (placed > 0) return { nodeId: n.node.id, placed, reason: '' };
    const r = g.rejected.get(n);
    if (r) return { nodeId: n.node.id, placed: 0, reason: r.text(r.amount) };
    if (group.order === 0) return { nodeId: n.node.id, placed: 0, reason: 'not its node (global task pinned elsewhere)' };
    const pct = Math.round(n.loadWith(0, 0) * 100);
    return { nodeId: n.node.id, placed: 0, reason: `fits, ranked lower (${g.own[n.index]} of this service, ${n.total} tasks, ${pct}% allocated)` };
  });
  return { serviceKey: group.serviceKey, nodes };
}
