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
  for (const p of spec.ports ?? []) if (p.hostPort !== undefined) out.push({ protocol: p.protocol, port: p.hostPort, hostIp: p.hostIP ?? '' });
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
export function buildNodes(nodes: readonly NodeRecord[], placed: Iterable<{ task: TaskRecord; nodeId: string }>, nowMs: number): SchedNode[] {
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
