// PURE feasibility filters of the scheduler: whether a node can take one more task of a group,
// and if not, why (a Rejection, summarised across nodes in explain.ts). Two kinds:
//   static  (state, availability, constraints, host paths, affinity to other services): nothing
//           the group places changes them, so they are decided once per group and node;
//   dynamic (cpu, memory, host ports, maxPerNode, affinity to itself): looked at again only on
//           the node that just took a task.
// Also the working state of a node during a pass (NodeWork), which the filters judge.
import { firstRefusedPath } from '../../../proto/src/host-paths.js';
import { humanBytes } from '../../../proto/src/spec/units.js';
import { constraintHolds } from '../model/node-attributes.js';
import type { HeapItem } from './heap.js';
import type { HostPortRequest, PendingTask, PortUse, Rejection, SchedNode } from './types.js';

/** Working state of one node during a pass: starts as a copy of the snapshot. */
export class NodeWork implements HeapItem {
  heapIndex = -1;
  cpu: number;
  mem: number;
  total: number;
  /** loadWith(0, 0), kept up to date as tasks are booked. */
  baseLoad: number;
  portIndex: Map<string, PortUse[]> | undefined;
  /** Per group being placed: its tasks here (maxPerNode, self-affinity), its rank key (placer.ts). */
  svc = 0;
  load = 0;

  constructor(
    readonly node: SchedNode,
    readonly index: number,
    readonly tieBreak: number,
  ) {
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
export type Counts = Map<string, Int32Array>;

export function buildCounts(works: readonly NodeWork[], keys: ReadonlySet<string>): Counts {
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

function portKey(protocol: string, port: number): string {
  return `${protocol}/${port}`;
}

export function addPort(index: Map<string, PortUse[]>, p: PortUse): void {
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

export const fixed = (kind: string, text: string): Rejection => ({ kind, text: () => text, amount: 0 });
/** Rejections that do not depend on the group, made once. */
const NOT_READY: Record<string, Rejection> = { unknown: fixed('state-unknown', 'node unknown'), down: fixed('state-down', 'node down') };
const NOT_ACTIVE: Record<string, Rejection> = {
  pause: fixed('avail-pause', 'availability pause'),
  drain: fixed('avail-drain', 'availability drain'),
};

/** The filters of one group of identical tasks (`req` stands for all of them). */
export class GroupFilter {
  readonly sk: string;
  readonly req: PendingTask;
  readonly cpu: number;
  readonly mem: number;
  private readonly selfAffinity: boolean;
  private readonly selfAnti: boolean;
  private readonly otherAffinity: readonly Int32Array[];
  private readonly otherAnti: readonly Int32Array[];
  private readonly otherAffinityKeys: readonly string[];
  private readonly otherAntiKeys: readonly string[];
  /** Tasks of this service per node index. */
  readonly own: Int32Array;
  private readonly rejections = new Map<string, Rejection>();

  constructor(serviceKey: string, first: PendingTask, counts: Counts) {
    this.sk = serviceKey;
    this.req = first;
    this.cpu = first.resources.cpuMilli;
    this.mem = first.resources.memoryBytes;
    const p = first.placement;
    this.selfAffinity = p?.affinity?.includes(this.sk) ?? false;
    this.selfAnti = p?.antiAffinity?.includes(this.sk) ?? false;
    this.otherAffinityKeys = p?.affinity?.filter((s) => s !== this.sk) ?? [];
    this.otherAntiKeys = p?.antiAffinity?.filter((s) => s !== this.sk) ?? [];
    this.otherAffinity = this.otherAffinityKeys.map((k) => counts.get(k)!);
    this.otherAnti = this.otherAntiKeys.map((k) => counts.get(k)!);
    this.own = counts.get(this.sk)!;
  }

  /** A rejection without amount, made once per group and kind. */
  private fx(kind: string, text: string): Rejection {
    let r = this.rejections.get(kind);
    if (!r) this.rejections.set(kind, (r = fixed(kind, text)));
    return r;
  }

  /** Filters decided once per group: nothing this group does changes them. */
  staticReject(n: NodeWork): Rejection | undefined {
    const node = n.node;
    if (node.state !== 'ready') return NOT_READY[node.state] ?? fixed(`state-${node.state}`, `node ${node.state}`);
    if (node.availability !== 'active')
      return NOT_ACTIVE[node.availability] ?? fixed(`avail-${node.availability}`, `availability ${node.availability}`);
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
      if (this.otherAffinity[i]![n.index] === 0)
        return this.fx(`affinity ${this.otherAffinityKeys[i]}`, `affinity: no task of ${this.otherAffinityKeys[i]}`);
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
}
