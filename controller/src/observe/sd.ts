// PURE Prometheus HTTP service discovery (https://prometheus.io/docs/prometheus/latest/http_sd/):
// the target groups of the controllers, the agents and the replicas of services that declare
// `spec.metrics`. deploy/prometheus/prometheus.yml has one scrape job per role.
import type { NodeRecord, TaskRecord } from '../../../proto/src/model.js';

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

export const SD_ROLES = ['controllers', 'agents', 'tasks'] as const;
export type SdRole = (typeof SD_ROLES)[number];

export interface SdMember {
  id: string;
  metricsAddress: string;
}

const WILDCARD = new Set(['', '0.0.0.0', '::']);

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function controllerTargets(members: SdMember[]): TargetGroup[] {
  return members
    .filter((m) => m.metricsAddress)
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((m) => ({ targets: [m.metricsAddress], labels: { controller: m.id } }));
}

/** Every registered agent that serves metrics, whatever its state: a dead one shows as up == 0. */
export function agentTargets(nodes: NodeRecord[]): TargetGroup[] {
  return nodes
    .filter((n) => n.description.metricsAddress)
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((n) => ({ targets: [n.description.metricsAddress!], labels: { node: n.id } }));
}

/**
 * Running replicas of services with spec.metrics, at their node's address and the host port the
 * metrics port is published on.
 */
export function taskTargets(tasks: TaskRecord[], nodes: Map<string, NodeRecord>): TargetGroup[] {
  const out: Array<TargetGroup & { key: string }> = [];
  for (const t of tasks) {
    const m = t.spec.metrics;
    if (!m || t.desiredState !== 'running' || t.status.state !== 'running') continue;
    const binding = (t.status.ports ?? []).find((p) => p.containerPort === m.port && p.protocol === 'tcp' && p.hostPort > 0);
    const node = nodes.get(t.nodeId);
    if (!binding || !node) continue;
    const host = WILDCARD.has(binding.hostIp) ? node.description.address : binding.hostIp;
    out.push({
      key: `${t.namespace}/${t.service}/${String(t.slot).padStart(6, '0')}/${t.id}`,
      targets: [hostPort(host, binding.hostPort)],
      labels: { namespace: t.namespace, service: t.service, slot: String(t.slot), node: t.nodeId, __metrics_path__: m.path },
    });
  }
  return out.sort((a, b) => a.key.localeCompare(b.key)).map(({ targets, labels }) => ({ targets, labels }));
}
