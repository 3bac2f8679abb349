// Namespace quotas (pure): what a namespace uses, and whether a change keeps it within the quotas
// of its Policies (each must hold: the smallest limit wins). The controller reads the usage and
// checks before it writes; the write carries a condition on the namespace's usage key, so two
// applies racing past the same check cannot both land.
import type { QuotaSpec } from '../spec/policy.js';
import { formatBytes, formatCpu } from '../spec/units.js';

export interface Usage {
  services: number;
  replicas: number;
  /** Thousandths of a CPU reserved. */
  cpuMilli: number;
  memoryBytes: number;
  secrets: number;
}

export const NO_USAGE: Usage = { services: 0, replicas: 0, cpuMilli: 0, memoryBytes: 0, secrets: 0 };

/** What one service uses: its replicas (a global one: one per node) and their reservations. */
export function serviceUsage(
  spec: { replicas: number; mode?: string | undefined; resources: { cpu: number; memory: number } },
  nodes: number,
): Usage {
  const replicas = spec.mode === 'global' ? nodes : spec.replicas;
  return { services: 1, replicas, cpuMilli: spec.resources.cpu * replicas, memoryBytes: spec.resources.memory * replicas, secrets: 0 };
}

export function addUsage(a: Usage, b: Usage): Usage {
  return {
    services: a.services + b.services,
    replicas: a.replicas + b.replicas,
    cpuMilli: a.cpuMilli + b.cpuMilli,
    memoryBytes: a.memoryBytes + b.memoryBytes,
    secrets: a.secrets + b.secrets,
  };
}

export interface QuotaViolation {
  field: keyof QuotaSpec;
  message: string;
}

/**
 * The quotas the namespace would exceed with `after` (its use once the change is made), each
 * with the figure and the limit. A limit already exceeded `before` the change is not held against
 * a change that does not grow that figure (a quota lowered below today's use blocks growth only).
 */
export function quotaViolations(
  namespace: string,
  before: Usage,
  after: Usage,
  quotas: ReadonlyArray<{ policy: string; quota: QuotaSpec }>,
): QuotaViolation[] {
  const out: QuotaViolation[] = [];
  const rows: Array<[keyof QuotaSpec, keyof Usage, (n: number) => string]> = [
    ['services', 'services', String],
    ['replicas', 'replicas', String],
    ['cpu', 'cpuMilli', (n) => String(formatCpu(n))],
    ['memory', 'memoryBytes', (n) => String(formatBytes(n))],
    ['secrets', 'secrets', String],
  ];
  for (const { policy, quota } of quotas) {
    for (const [field, use, fmt] of rows) {
      const limit = quota[field];
      if (limit === undefined || after[use] <= limit || after[use] <= before[use]) continue;
      out.push({
        field,
        message: `namespace ${JSON.stringify(namespace)} would use ${fmt(after[use])} ${field === 'cpu' ? 'CPUs' : field} (now ${fmt(before[use])}); its quota is ${fmt(limit)} (policy ${policy}, spec.quota.${field})`,
      });
    }
  }
  return out;
}
