// Records ↔ protobuf messages, used at the API and session edges only.
import type { Node as PbNode } from '../gen/berth/v1/Node.js';
import type {
  NodeDescription as PbNodeDescription,
  NodeDescription__Output as PbNodeDescriptionOut,
} from '../gen/berth/v1/NodeDescription.js';
import type { Service as PbService } from '../gen/berth/v1/Service.js';
import type { Task as PbTask, Task__Output as PbTaskOut } from '../gen/berth/v1/Task.js';
import type { TaskStatus as PbTaskStatus, TaskStatus__Output as PbTaskStatusOut } from '../gen/berth/v1/TaskStatus.js';
import type { NodeDescription, NodeRecord, ObjectMeta, Resources, ServiceRecord, TaskRecord, TaskStatus } from './model.js';
import type { ObjectMeta as PbObjectMeta } from '../gen/berth/v1/ObjectMeta.js';
import type { ServiceSpec } from './spec/service.js';
import { isContainerPhase, isTaskState, type DesiredState } from './types.js';

export function statusToPb(s: TaskStatus): PbTaskStatus {
  return {
    state: s.state,
    message: s.message,
    err: s.err ?? '',
    containerId: s.containerId ?? '',
    ports: (s.ports ?? []).map((p) => ({ containerPort: p.containerPort, hostPort: p.hostPort, protocol: p.protocol, hostIp: p.hostIp })),
    timestampMs: s.timestampMs,
    exitCode: s.exitCode ?? 0,
    startedAtMs: s.startedAtMs ?? 0,
    health: s.health ?? '',
    restarts: s.restarts ?? 0,
    container: s.container ?? '',
    ...(s.failuresInRow !== undefined ? { failuresInRow: s.failuresInRow } : {}),
    ...(s.oomKilled ? { oomKilled: true } : {}),
  };
}

export function statusFromPb(s: PbTaskStatusOut): TaskStatus {
  if (!isTaskState(s.state)) throw new Error(`unknown task state ${JSON.stringify(s.state)}`);
  const out: TaskStatus = { state: s.state, message: s.message, timestampMs: s.timestampMs };
  if (s.err) out.err = s.err;
  if (s.containerId) out.containerId = s.containerId;
  if (s.ports.length > 0)
    out.ports = s.ports.map((p) => ({ containerPort: p.containerPort, hostPort: p.hostPort, protocol: p.protocol, hostIp: p.hostIp }));
  if (s.exitCode) out.exitCode = s.exitCode;
  if (s.startedAtMs) out.startedAtMs = s.startedAtMs;
  if (s.health) out.health = s.health;
  if (s.restarts) out.restarts = s.restarts;
  if (typeof s.failuresInRow === 'number') out.failuresInRow = s.failuresInRow;
  if (s.oomKilled) out.oomKilled = true;
  if (s.container) {
    if (!isContainerPhase(s.container)) throw new Error(`unknown container phase ${JSON.stringify(s.container)}`);
    out.container = s.container;
  }
  return out;
}

export function taskToPb(t: TaskRecord, extra: { modRevision?: number; nodeAddress?: string } = {}): PbTask {
  return {
    id: t.id,
    namespace: t.namespace,
    service: t.service,
    slot: t.slot,
    nodeId: t.nodeId,
    specRevision: t.specRevision,
    desiredState: t.desiredState,
    status: statusToPb(t.status),
    specJson: JSON.stringify(t.spec),
    createdAtMs: t.createdAtMs,
    containerName: t.containerName,
    serviceUid: t.serviceUid,
    modRevision: extra.modRevision ?? 0,
    nodeAddress: extra.nodeAddress ?? '',
    priorFailures: t.priorFailures ?? 0,
    targetNodeId: t.targetNodeId ?? '',
  };
}

export function taskFromPb(t: PbTaskOut): TaskRecord {
  return {
    id: t.id,
    namespace: t.namespace,
    service: t.service,
    serviceUid: t.serviceUid,
    slot: t.slot,
    nodeId: t.nodeId,
    specRevision: t.specRevision,
    desiredState: t.desiredState as DesiredState,
    spec: JSON.parse(t.specJson) as ServiceSpec,
    containerName: t.containerName,
    createdAtMs: t.createdAtMs,
    status: t.status ? statusFromPb(t.status) : { state: 'assigned', message: '', timestampMs: 0 },
    ...(t.priorFailures ? { priorFailures: t.priorFailures } : {}),
    ...(t.targetNodeId ? { targetNodeId: t.targetNodeId } : {}),
  };
}

/** An object's metadata as the API carries it (services, secrets). */
export function metaToPb(m: ObjectMeta): PbObjectMeta {
  return { name: m.name, namespace: m.namespace, labels: m.labels, uid: m.uid, createdAtMs: m.createdAtMs, updatedAtMs: m.updatedAtMs };
}

export function serviceToPb(
  s: ServiceRecord,
  modRevision: number,
  status?: { desired: number; running: number; pending: number; message: string },
): PbService {
  return {
    meta: metaToPb(s.meta),
    specJson: JSON.stringify(s.spec),
    specRevision: s.specRevision,
    modRevision,
    deleting: s.deleting,
    status: status ?? { desired: s.spec.replicas, running: 0, pending: 0, message: '' },
  };
}

export function descriptionToPb(d: NodeDescription): PbNodeDescription {
  return { ...d, capacity: { ...d.capacity }, metricsAddress: d.metricsAddress ?? '', apiAddress: d.apiAddress ?? '' };
}

export function descriptionFromPb(d: PbNodeDescriptionOut): NodeDescription {
  return {
    hostname: d.hostname,
    capacity: { cpuMilli: d.capacity?.cpuMilli ?? 0, memoryBytes: d.capacity?.memoryBytes ?? 0 },
    engineVersion: d.engineVersion,
    os: d.os,
    arch: d.arch,
    labels: { ...d.labels },
    address: d.address,
    agentVersion: d.agentVersion,
    ...(d.allowedHostPaths.length > 0 ? { allowedHostPaths: [...d.allowedHostPaths] } : {}),
    ...(d.metricsAddress ? { metricsAddress: d.metricsAddress } : {}),
    ...(d.apiAddress ? { apiAddress: d.apiAddress } : {}),
  };
}

export function nodeToPb(n: NodeRecord, extra: { allocated: Resources; tasks: number; modRevision: number }): PbNode {
  return {
    id: n.id,
    description: descriptionToPb(n.description),
    state: n.state,
    availability: n.availability,
    labels: n.labels,
    stateChangedAtMs: n.stateChangedAtMs,
    message: n.message,
    allocated: extra.allocated,
    tasks: extra.tasks,
    modRevision: extra.modRevision,
  };
}
