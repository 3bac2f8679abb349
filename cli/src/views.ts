// The objects `berth get -o json|yaml` prints: one documented shape per kind (docs/cli.md), keys
// always in the same order, lists sorted, maps with sorted keys, times as ISO 8601, the spec in
// the form a person writes (as in manifests: 64Mi, 10s). Scripts can rely on it.
import type { Node__Output } from '../../proto/gen/berth/v1/Node.js';
import type { Service__Output } from '../../proto/gen/berth/v1/Service.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';
import { formatServiceSpec, API_VERSION, type ServiceSpec } from '../../proto/src/spec/service.js';
import { formatBytes, formatCpu } from '../../proto/src/spec/units.js';
import { taskAddresses, taskName } from './output.js';

/** ISO 8601 time, or null when unset (0). */
export function isoTime(ms: number | undefined): string | null {
  return ms ? new Date(ms).toISOString() : null;
}

export function sortedMap(m: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(m ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function humanSpec(specJson: string): unknown {
  return formatServiceSpec(JSON.parse(specJson) as ServiceSpec);
}

export function sortServices(list: Service__Output[]): Service__Output[] {
  return [...list].sort(
    (a, b) => (a.meta?.namespace ?? '').localeCompare(b.meta?.namespace ?? '') || (a.meta?.name ?? '').localeCompare(b.meta?.name ?? ''),
  );
}

/** Live tasks first within a slot, then history newest first. */
export function sortTasks(list: Task__Output[]): Task__Output[] {
  const liveRank = (t: Task__Output): number => (t.desiredState === 'running' ? 0 : 1);
  return [...list].sort(
    (a, b) =>
      a.namespace.localeCompare(b.namespace) ||
      a.service.localeCompare(b.service) ||
      a.slot - b.slot ||
      a.nodeId.localeCompare(b.nodeId) ||
      liveRank(a) - liveRank(b) ||
      b.createdAtMs - a.createdAtMs ||
      a.id.localeCompare(b.id),
  );
}

export function sortNodes(list: Node__Output[]): Node__Output[] {
  return [...list].sort((a, b) => a.id.localeCompare(b.id));
}

/** A node's labels as the scheduler sees them: agent labels, overridden by operator labels. */
export function nodeLabels(n: Node__Output): Record<string, string> {
  return sortedMap({ ...(n.description?.labels ?? {}), ...n.labels });
}

export function serviceView(s: Service__Output): Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: 'Service',
    metadata: {
      name: s.meta?.name ?? '',
      namespace: s.meta?.namespace ?? '',
      labels: sortedMap(s.meta?.labels),
      uid: s.meta?.uid ?? '',
      createdAt: isoTime(s.meta?.createdAtMs),
      updatedAt: isoTime(s.meta?.updatedAtMs),
    },
    spec: humanSpec(s.specJson),
    status: {
      revision: s.specRevision,
      modRevision: s.modRevision,
      deleting: s.deleting,
      desired: s.status?.desired ?? 0,
      running: s.status?.running ?? 0,
      pending: s.status?.pending ?? 0,
      message: s.status?.message ?? '',
    },
  };
}

export function taskView(t: Task__Output): Record<string, unknown> {
  const st = t.status;
  return {
    id: t.id,
    name: taskName(t),
    targetNode: t.targetNodeId || null,
    namespace: t.namespace,
    service: t.service,
    serviceUid: t.serviceUid,
    slot: t.slot,
    node: t.nodeId || null,
    revision: t.specRevision,
    desiredState: t.desiredState,
    state: st?.state ?? '',
    message: st?.message ?? '',
    error: st?.err || null,
    exitCode: st && (st.state === 'failed' || st.state === 'complete' || st.state === 'shutdown') ? st.exitCode : null,
    health: st?.health || null,
    containerName: t.containerName,
    containerId: st?.containerId || null,
    ports: (st?.ports ?? []).map((p) => ({ containerPort: p.containerPort, hostPort: p.hostPort, protocol: p.protocol, hostIP: p.hostIp })),
    addresses: taskAddresses(t),
    createdAt: isoTime(t.createdAtMs),
    since: isoTime(st?.timestampMs),
    startedAt: isoTime(st?.startedAtMs),
    modRevision: t.modRevision,
    spec: humanSpec(t.specJson),
  };
}

export function nodeView(n: Node__Output): Record<string, unknown> {
  const d = n.description;
  return {
    id: n.id,
    hostname: d?.hostname ?? '',
    state: n.state,
    availability: n.availability,
    stateChangedAt: isoTime(n.stateChangedAtMs),
    message: n.message,
    address: d?.address ?? '',
    labels: nodeLabels(n),
    agentLabels: sortedMap(d?.labels),
    operatorLabels: sortedMap(n.labels),
    capacity: { cpu: formatCpu(d?.capacity?.cpuMilli ?? 0), memory: formatBytes(d?.capacity?.memoryBytes ?? 0) },
    allocated: { cpu: formatCpu(n.allocated?.cpuMilli ?? 0), memory: formatBytes(n.allocated?.memoryBytes ?? 0) },
    tasks: n.tasks,
    engineVersion: d?.engineVersion ?? '',
    agentVersion: d?.agentVersion ?? '',
    os: d?.os ?? '',
    arch: d?.arch ?? '',
    modRevision: n.modRevision,
  };
}
