// PURE "what if these services were applied?" for `berth plan`: from the stored nodes and tasks
// and the hypothetical service records, the end state the orchestrators aim at (every replaced
// or surplus task stopped, every slot or eligible node filled), placed by the real scheduler in
// explain mode. Per node: what starts, stops or moves, the free capacity before and after, and
// for every planned service without a task there, why not.
import type { NodeRecord, Resources, ServiceRecord, TaskRecord } from '../../../proto/src/model.js';
import { modeOf } from '../../../proto/src/spec/placement.js';
import { isOutdated } from '../../../proto/src/lifecycle-model.js';
import { eligibleNodes } from '../model/node-attributes.js';
import { serviceKey } from '../model/task-identity.js';
import { schedule, type PendingTask } from './scheduler.js';
import { RequirementCache, buildNodes, holdsResources } from './snapshot.js';

export interface WhatIfService {
  /** The record as it would be stored after apply. */
  record: ServiceRecord;
  result: 'created' | 'updated' | 'unchanged';
}

export interface PlannedTask {
  namespace: string;
  service: string;
  slot: number;
  taskId: string;
  fromNode: string;
  toNode: string;
}

export interface NodeWhatIf {
  nodeId: string;
  hostname: string;
  state: string;
  availability: string;
  capacity: Resources;
  freeBefore: Resources;
  freeAfter: Resources;
  start: PlannedTask[];
  stop: PlannedTask[];
  moveOut: PlannedTask[];
  moveIn: PlannedTask[];
  notChosen: Array<{ service: string; reason: string }>;
}

export interface ServiceWhatIf {
  namespace: string;
  name: string;
  result: string;
  desired: number;
  start: number;
  stop: number;
  move: number;
  unplaced: number;
  reason: string;
}

export interface WhatIf {
  nodes: NodeWhatIf[];
  services: ServiceWhatIf[];
}

interface Want {
  svc: ServiceRecord;
  slot: number;
  /** The live task this one replaces (spec changed), if any. */
  replaces?: TaskRecord;
  targetNodeId?: string;
}

const free = (cap: Resources, used: Resources): Resources => ({
  cpuMilli: cap.cpuMilli - used.cpuMilli,
  memoryBytes: cap.memoryBytes - used.memoryBytes,
});

export function planWhatIf(input: {
  services: readonly WhatIfService[];
  nodes: readonly NodeRecord[];
  tasks: readonly TaskRecord[];
  nowMs: number;
  seed: number;
}): WhatIf {
  const { nodes, tasks, nowMs } = input;
  const planned = new Map(input.services.map((s) => [serviceKey(s.record.meta.namespace, s.record.meta.name), s]));
  const placedNow = tasks.filter(holdsResources).map((t) => ({ task: t, nodeId: t.nodeId }));
  const before = new Map(buildNodes(nodes, placedNow, nowMs).map((n) => [n.id, n]));

  const stopped = new Set<string>();
  const wants: Want[] = [];
  for (const { record: svc } of input.services) {
    const sk = serviceKey(svc.meta.namespace, svc.meta.name);
    const live = tasks.filter(
      (t) => serviceKey(t.namespace, t.service) === sk && t.desiredState === 'running' && t.serviceUid === svc.meta.uid,
    );
    // The orchestrator's own rule (a changed spec, or a `rollout restart`), with its cached keys.
    const outdated = (t: TaskRecord): boolean => isOutdated(t, svc);
    if (modeOf(svc.spec) === 'global') {
      const eligible = new Set(eligibleNodes(svc, nodes).map((n) => n.id));
      const covered = new Set<string>();
      for (const t of live) {
        const nodeId = t.targetNodeId ?? t.nodeId;
        if (!eligible.has(nodeId) || covered.has(nodeId)) stopped.add(t.id);
        else if (outdated(t) || t.nodeId === '') {
          stopped.add(t.id);
          wants.push({ svc, slot: 0, replaces: t, targetNodeId: nodeId });
          covered.add(nodeId);
        } else covered.add(nodeId);
      }
      for (const id of [...eligible].sort()) if (!covered.has(id)) wants.push({ svc, slot: 0, targetNodeId: id });
      continue;
    }
    const bySlot = new Map<number, TaskRecord>();
    for (const t of [...live].sort((a, b) => a.createdAtMs - b.createdAtMs)) {
      const prev = bySlot.get(t.slot);
      if (prev) stopped.add(prev.id);
      bySlot.set(t.slot, t);
    }
    for (const [slot, t] of bySlot) if (slot > svc.spec.replicas) stopped.add(t.id);
    for (let slot = 1; slot <= svc.spec.replicas; slot++) {
      const t = bySlot.get(slot);
      if (t && !outdated(t) && t.nodeId !== '') continue;
      if (t) stopped.add(t.id);
      wants.push(t ? { svc, slot, replaces: t } : { svc, slot });
    }
  }

  // Pending tasks the plan does not touch still compete for the same capacity.
  const reqs = new RequirementCache();
  const pending: PendingTask[] = [];
  const wantById = new Map<string, Want>();
  for (const t of tasks) {
    if (t.nodeId === '' && t.desiredState === 'running' && !planned.has(serviceKey(t.namespace, t.service)))
      pending.push(reqs.pendingTask(t));
  }
  wants.forEach((w, i) => {
    const id = `plan-${String(i).padStart(6, '0')}`;
    wantById.set(id, w);
    const draft: TaskRecord = {
      id,
      namespace: w.svc.meta.namespace,
      service: w.svc.meta.name,
      serviceUid: w.svc.meta.uid,
      slot: w.slot,
      nodeId: '',
      specRevision: w.svc.specRevision,
      desiredState: 'running',
      spec: w.svc.spec,
      containerName: '',
      createdAtMs: nowMs,
      status: { state: 'pending', message: '', timestampMs: nowMs },
      ...(w.targetNodeId !== undefined ? { targetNodeId: w.targetNodeId } : {}),
    };
    pending.push(reqs.pendingTask(draft));
  });
  const remaining = placedNow.filter((p) => !stopped.has(p.task.id));
  const plan = schedule({ nodes: buildNodes(nodes, remaining, nowMs) }, pending, input.seed, { explain: true });

  const out = new Map<string, NodeWhatIf>(
    nodes.map((n) => {
      const b = before.get(n.id)!;
      return [
        n.id,
        {
          nodeId: n.id,
          hostname: n.description.hostname,
          state: n.state,
          availability: n.availability,
          capacity: n.description.capacity,
          freeBefore: free(n.description.capacity, b.allocated),
          freeAfter: free(n.description.capacity, b.allocated),
          start: [],
          stop: [],
          moveOut: [],
          moveIn: [],
          notChosen: [],
        },
      ];
    }),
  );
  const summaries = new Map<string, ServiceWhatIf>(
    input.services.map((s) => [
      serviceKey(s.record.meta.namespace, s.record.meta.name),
      {
        namespace: s.record.meta.namespace,
        name: s.record.meta.name,
        result: s.result,
        desired: 0,
        start: 0,
        stop: 0,
        move: 0,
        unplaced: 0,
        reason: '',
      },
    ]),
  );
  const adjust = (nodeId: string, t: Pick<TaskRecord, 'spec'>, sign: number): void => {
    const n = out.get(nodeId);
    if (!n) return;
    n.freeAfter.cpuMilli -= sign * t.spec.resources.cpu;
    n.freeAfter.memoryBytes -= sign * t.spec.resources.memory;
  };
  const entry = (t: Pick<TaskRecord, 'namespace' | 'service' | 'slot'>, taskId: string, fromNode: string, toNode: string): PlannedTask => ({
    namespace: t.namespace,
    service: t.service,
    slot: t.slot,
    taskId,
    fromNode,
    toNode,
  });

  const placedAt = new Map(plan.assignments.map((a) => [a.taskId, a.nodeId]));
  const movedOld = new Set<string>();
  for (const [id, w] of wantById) {
    const s = summaries.get(serviceKey(w.svc.meta.namespace, w.svc.meta.name))!;
    s.desired++;
    const to = placedAt.get(id);
    if (!to) continue;
    const draft = { namespace: w.svc.meta.namespace, service: w.svc.meta.name, slot: w.slot, spec: w.svc.spec };
    adjust(to, draft, +1);
    const from = w.replaces?.nodeId ?? '';
    if (w.replaces && from !== '' && from !== to) {
      movedOld.add(w.replaces.id);
      s.move++;
      out.get(from)?.moveOut.push(entry(draft, w.replaces.id, from, to));
      out.get(to)?.moveIn.push(entry(draft, w.replaces.id, from, to));
    } else {
      s.start++;
      out.get(to)?.start.push(entry(draft, '', '', to));
    }
  }
  for (const { task: t } of placedNow) {
    if (!stopped.has(t.id)) continue;
    adjust(t.nodeId, t, -1);
    if (movedOld.has(t.id)) continue;
    const s = summaries.get(serviceKey(t.namespace, t.service));
    if (s) s.stop++;
    out.get(t.nodeId)?.stop.push(entry(t, t.id, t.nodeId, ''));
  }
  for (const s of summaries.values()) {
    const sk = serviceKey(s.namespace, s.name);
    const unplaced = plan.unplaced.filter((u) => {
      const w = wantById.get(u.taskId);
      return w !== undefined && serviceKey(w.svc.meta.namespace, w.svc.meta.name) === sk;
    });
    s.unplaced = unplaced.length;
    s.reason = [...new Set(unplaced.map((u) => u.reason))].join(' | ');
  }
  for (const ex of plan.explain ?? []) {
    if (!planned.has(ex.serviceKey)) continue;
    for (const v of ex.nodes) {
      if (v.placed > 0) continue;
      const n = out.get(v.nodeId);
      if (n && !n.notChosen.some((c) => c.service === ex.serviceKey)) n.notChosen.push({ service: ex.serviceKey, reason: v.reason });
    }
  }
  // A service placed on a node in one group (e.g. a pinned global task) is not "not chosen" there.
  for (const n of out.values()) {
    const chosen = new Set([...n.start, ...n.moveIn].map((t) => serviceKey(t.namespace, t.service)));
    n.notChosen = n.notChosen.filter((c) => !chosen.has(c.service));
  }
  return { nodes: [...out.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1)), services: [...summaries.values()] };
}
