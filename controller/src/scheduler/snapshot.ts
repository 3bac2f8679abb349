// PURE translation of stored records into the scheduler's input: nodes with what their tasks
// reserve and the host ports they hold, and pending tasks with their placement requirements.
// Used by the scheduler shell (leader) and by `berth plan` (any controller replica).
import { bindSources } from '../../../proto/src/host-paths.js';
import type { NodeRecord, TaskRecord } from '../../../proto/src/model.js';
import { parseConstraint, type Constraint } from '../../../proto/src/spec/placement.js';
import type { ServiceSpec } from '../../../proto/src/spec/service.js';
import { isTerminal } from '../../../proto/src/types.js';
import { serviceKey } from '../model/task-identity.js';
import { effectiveLabels } from '../model/node-attributes.js';
import type { HostPortRequest, PendingTask, PortUse, SchedNode, TaskPlacement } from './types.js';

/** A task counts against its node while it is meant to run or its container may still run. */
export function holdsResources(t: TaskRecord): boolean {
  return t.nodeId !== '' && !isTerminal(t.status.state);
}

/** `name` → `namespace/name`; `ns/name` stays. */
export function resolveServiceRef(ref: string, namespace: string): string {
  return ref.includes('/') ? ref : serviceKey(namespace, ref);
}

export function hostPortsOf(spec: ServiceSpec): HostPortRequest[] {
  const out: HostPortRequest[] = [];
  for (const p of spec.ports ?? [])
    if (p.hostPort !== undefined) out.push({ protocol: p.protocol, port: p.hostPort, hostIp: p.hostIP ?? '' });
  return out;
}

export function placementOf(spec: ServiceSpec, namespace: string): TaskPlacement | undefined {
  const p = spec.placement;
  const hostPaths = bindSources(spec);
  if (!p) return hostPaths.length > 0 ? { strategy: 'spread', hostPaths } : undefined;
  const out: TaskPlacement = { strategy: p.strategy === 'binpack' ? 'binpack' : 'spread' };
  if (hostPaths.length > 0) out.hostPaths = hostPaths;
  if (p.constraints) out.constraints = p.constraints.map((s) => parseConstraint(s)).filter((c): c is Constraint => !('error' in c));
  if (p.spreadBy !== undefined) {
    const a = parseConstraint(`${p.spreadBy} == x`);
    if (!('error' in a)) out.spreadBy = a.attribute;
  }
  if (p.maxPerNode !== undefined) out.maxPerNode = p.maxPerNode;
  if (p.affinity) out.affinity = p.affinity.map((r) => resolveServiceRef(r, namespace));
  if (p.antiAffinity) out.antiAffinity = p.antiAffinity.map((r) => resolveServiceRef(r, namespace));
  return out;
}

/** Requirements computed once per service revision (a pass may hold thousands of its tasks). */
export class RequirementCache {
  private readonly byRevision = new Map<string, { placement: TaskPlacement | undefined; hostPorts: HostPortRequest[] }>();

  pendingTask(t: TaskRecord, avoidNodes?: readonly string[]): PendingTask {
    const sk = serviceKey(t.namespace, t.service);
    const k = `${sk}@${t.serviceUid}@${t.specRevision}`;
    let r = this.byRevision.get(k);
    if (!r) this.byRevision.set(k, (r = { placement: placementOf(t.spec, t.namespace), hostPorts: hostPortsOf(t.spec) }));
    const out: PendingTask = {
      id: t.id,
      serviceKey: sk,
      revision: t.specRevision,
      resources: { cpuMilli: t.spec.resources.cpu, memoryBytes: t.spec.resources.memory },
    };
    if (r.placement) out.placement = r.placement;
    if (r.hostPorts.length > 0) out.hostPorts = r.hostPorts;
    if (t.targetNodeId !== undefined) out.targetNodeId = t.targetNodeId;
    if (avoidNodes && avoidNodes.length > 0) out.avoidNodes = avoidNodes;
    return out;
  }
}

interface NodeTally {
  cpuMilli: number;
  memoryBytes: number;
  byService: Map<string, number>;
  total: number;
  ports: PortUse[];
}

/**
 * Builds the scheduler's nodes. `placed` yields every task to count on a node: the tasks the
 * store shows on it, plus placements committed but not yet seen (the shell's assumptions).
 */
export function buildNodes(
  nodes: readonly NodeRecord[],
  placed: Iterable<{ task: TaskRecord; nodeId: string }>,
  nowMs: number,
): SchedNode[] {
  const tally = new Map<string, NodeTally>();
  for (const { task: t, nodeId } of placed) {
    if (isTerminal(t.status.state)) continue;
    let e = tally.get(nodeId);
    if (!e) tally.set(nodeId, (e = { cpuMilli: 0, memoryBytes: 0, byService: new Map(), total: 0, ports: [] }));
    e.cpuMilli += t.spec.resources.cpu;
    e.memoryBytes += t.spec.resources.memory;
    const sk = serviceKey(t.namespace, t.service);
    for (const p of hostPortsOf(t.spec)) e.ports.push({ ...p, owner: sk });
    if (t.desiredState === 'running') {
      e.byService.set(sk, (e.byService.get(sk) ?? 0) + 1);
      e.total++;
    }
  }
  return nodes.map((n) => {
    const e = tally.get(n.id);
    const ports = e?.ports ?? [];
    for (const u of n.unavailablePorts ?? []) {
      if (u.untilMs > nowMs) ports.push({ protocol: u.protocol, port: u.port, hostIp: u.hostIp, owner: '' });
    }
    return {
      id: n.id,
      state: n.state,
      availability: n.availability,
      capacity: n.description.capacity,
      allocated: { cpuMilli: e?.cpuMilli ?? 0, memoryBytes: e?.memoryBytes ?? 0 },
      tasksByService: e?.byService ?? new Map<string, number>(),
      totalTasks: e?.total ?? 0,
      hostname: n.description.hostname,
      os: n.description.os,
      arch: n.description.arch,
      labels: effectiveLabels(n),
      ports,
      ...(n.description.allowedHostPaths ? { allowedHostPaths: n.description.allowedHostPaths } : {}),
    };
  });
}

/** What one task adds to its node: computed once per task revision. */
interface TaskShare {
  modRevision: number;
  /** Where it counts; '' nowhere (unassigned and not assumed, or finished). */
  nodeId: string;
  cpuMilli: number;
  memoryBytes: number;
  serviceKey: string;
  ports: PortUse[];
  /** Counted in tasksByService and totalTasks (desired running). */
  running: boolean;
}

/** A node's record and what is derived from it once per node revision. */
interface NodeEntry {
  modRevision: number;
  record: NodeRecord;
  labels: Record<string, string>;
}

/** Sums of the tasks counted on one node, kept up to date task by task. */
interface Tally {
  cpuMilli: number;
  memoryBytes: number;
  total: number;
  byService: Map<string, number>;
  /** taskId → its host ports (only tasks that have some). */
  ports: Map<string, PortUse[]>;
}

/** A built node and the times between which its held ports (unavailablePorts) stay the same. */
interface Built {
  node: SchedNode;
  validFromMs: number;
  validUntilMs: number;
}

/**
 * The scheduler's nodes kept incrementally (the shell's snapshot): the caller reports every node
 * and task that may have changed (setNode, setTask: present with its revision, or absent), and
 * build() returns the same nodes as buildNodes() over the current records, sorted by id. What a
 * task adds (reservations, host ports, service) is derived once per task revision, labels once
 * per node revision; a node is rebuilt only when its record, its tasks or its held ports' expiry
 * changed. Reports are idempotent (a repeat of the same revision and node changes nothing).
 * Built nodes are never mutated after they are returned (a changed node is a new object).
 */
export class SnapshotBuilder {
  private readonly nodes = new Map<string, NodeEntry>();
  private readonly tasks = new Map<string, TaskShare>();
  private readonly tallies = new Map<string, Tally>();
  private readonly built = new Map<string, Built>();
  /** The last build, sorted by id; undefined when nodes came or went since. */
  private sorted: SchedNode[] | undefined;
  private position = new Map<string, number>();

  /** The node's current record, or undefined when it is gone. */
  setNode(id: string, rec: { value: NodeRecord; modRevision: number } | undefined): void {
    const cur = this.nodes.get(id);
    if (!rec) {
      if (!cur) return;
      this.nodes.delete(id);
      this.invalidate(id);
      this.sorted = undefined;
      return;
    }
    if (cur && cur.modRevision === rec.modRevision) return;
    this.nodes.set(id, { modRevision: rec.modRevision, record: rec.value, labels: effectiveLabels(rec.value) });
    this.invalidate(id);
    if (!cur) this.sorted = undefined;
  }

  /**
   * The task's current record (undefined when gone) and the node it counts on: its own, or for
   * an unassigned task the node a placement in flight assumed ('' for none).
   */
  setTask(id: string, rec: { value: TaskRecord; modRevision: number } | undefined, nodeId: string): void {
    const cur = this.tasks.get(id);
    if (!rec) {
      if (!cur) return;
      this.tasks.delete(id);
      this.remove(id, cur);
      return;
    }
    const counts = nodeId !== '' && !isTerminal(rec.value.status.state) ? nodeId : '';
    if (cur && cur.modRevision === rec.modRevision && cur.nodeId === counts) return;
    const t = rec.value;
    let share: TaskShare;
    if (cur && cur.modRevision === rec.modRevision) share = { ...cur, nodeId: counts };
    else {
      const sk = serviceKey(t.namespace, t.service);
      share = {
        modRevision: rec.modRevision,
        nodeId: counts,
        cpuMilli: t.spec.resources.cpu,
        memoryBytes: t.spec.resources.memory,
        serviceKey: sk,
        ports: hostPortsOf(t.spec).map((p) => ({ ...p, owner: sk })),
        running: t.desiredState === 'running',
      };
    }
    if (cur) this.remove(id, cur);
    this.tasks.set(id, share);
    this.add(id, share);
  }

  /** Ids of the tasks known, for a caller that reconciles against its own listing. */
  taskIds(): IterableIterator<string> {
    return this.tasks.keys();
  }

  nodeIds(): IterableIterator<string> {
    return this.nodes.keys();
  }

  /** The scheduler's nodes at nowMs (sorted by id). */
  build(nowMs: number): SchedNode[] {
    const rebuilt: string[] = [];
    for (const [id, entry] of this.nodes) {
      const b = this.built.get(id);
      if (b && nowMs >= b.validFromMs && nowMs < b.validUntilMs) continue;
      this.built.set(id, this.buildNode(entry, nowMs));
      rebuilt.push(id);
    }
    if (this.sorted === undefined) {
      // Nodes came or went: sort again.
      const ids = [...this.nodes.keys()].sort();
      this.position = new Map(ids.map((id, i) => [id, i]));
      this.sorted = ids.map((id) => this.built.get(id)!.node);
    } else if (rebuilt.length > 0) {
      // The same nodes: a new array (a returned one never changes) with the rebuilt ones replaced.
      const next = this.sorted.slice();
      for (const id of rebuilt) next[this.position.get(id)!] = this.built.get(id)!.node;
      this.sorted = next;
    }
    return this.sorted;
  }

  private invalidate(nodeId: string): void {
    this.built.delete(nodeId);
  }

  private add(taskId: string, s: TaskShare): void {
    if (s.nodeId === '') return;
    let e = this.tallies.get(s.nodeId);
    if (!e) this.tallies.set(s.nodeId, (e = { cpuMilli: 0, memoryBytes: 0, total: 0, byService: new Map(), ports: new Map() }));
    e.cpuMilli += s.cpuMilli;
    e.memoryBytes += s.memoryBytes;
    if (s.ports.length > 0) e.ports.set(taskId, s.ports);
    if (s.running) {
      e.byService.set(s.serviceKey, (e.byService.get(s.serviceKey) ?? 0) + 1);
      e.total++;
    }
    this.invalidate(s.nodeId);
  }

  private remove(taskId: string, s: TaskShare): void {
    if (s.nodeId === '') return;
    const e = this.tallies.get(s.nodeId)!;
    e.cpuMilli -= s.cpuMilli;
    e.memoryBytes -= s.memoryBytes;
    e.ports.delete(taskId);
    if (s.running) {
      const c = e.byService.get(s.serviceKey)! - 1;
      if (c === 0) e.byService.delete(s.serviceKey);
      else e.byService.set(s.serviceKey, c);
      e.total--;
    }
    this.invalidate(s.nodeId);
  }

  private buildNode(entry: NodeEntry, nowMs: number): Built {
    const n = entry.record;
    const e = this.tallies.get(n.id);
    const ports: PortUse[] = [];
    if (e) {
      // In task id order: the same on every build, whatever order the reports came in.
      for (const id of [...e.ports.keys()].sort()) ports.push(...e.ports.get(id)!);
    }
    let validFromMs = Number.NEGATIVE_INFINITY;
    let validUntilMs = Number.POSITIVE_INFINITY;
    for (const u of n.unavailablePorts ?? []) {
      if (u.untilMs > nowMs) {
        ports.push({ protocol: u.protocol, port: u.port, hostIp: u.hostIp, owner: '' });
        validUntilMs = Math.min(validUntilMs, u.untilMs);
      } else validFromMs = Math.max(validFromMs, u.untilMs);
    }
    const node: SchedNode = {
      id: n.id,
      state: n.state,
      availability: n.availability,
      capacity: n.description.capacity,
      allocated: { cpuMilli: e?.cpuMilli ?? 0, memoryBytes: e?.memoryBytes ?? 0 },
      tasksByService: new Map(e?.byService),
      totalTasks: e?.total ?? 0,
      hostname: n.description.hostname,
      os: n.description.os,
      arch: n.description.arch,
      labels: entry.labels,
      ports,
      ...(n.description.allowedHostPaths ? { allowedHostPaths: n.description.allowedHostPaths } : {}),
    };
    return { node, validFromMs, validUntilMs };
  }
}
