// `berth get policies` and `berth delete policy`: the workload exceptions and quotas of each namespace.
import type { Command } from 'commander';
import type { Policy__Output } from '../../../proto/gen/berth/v1/Policy.js';
import { age, table } from '../output.js';
import { humanBytes } from '../../../proto/src/spec/units.js';
import { SecretClient } from '../secret-client.js';
import { matches, type Requirement } from '../selector.js';
import { controllerAddress } from './common.js';
import { deleteEach } from './secrets.js';

function specOf(p: Policy__Output): Record<string, unknown> {
  try {
    return JSON.parse(p.specJson) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** The exceptions a policy allows, in a few words. */
export function allowsOf(spec: Record<string, unknown>): string {
  const out: string[] = [];
  const caps = spec['allowCapabilities'];
  if (Array.isArray(caps) && caps.length > 0) out.push(`capabilities ${caps.join(',')}`);
  if (spec['allowHostNetwork'] === true) out.push('host network');
  if (spec['allowPrivilegeEscalation'] === true) out.push('privilege escalation');
  if (spec['allowDockerSocket'] === true) out.push('docker socket');
  const q = spec['quota'];
  if (q && typeof q === 'object') {
    const parts = Object.entries(q as Record<string, unknown>).map(([k, v]) =>
      k === 'cpu' ? `cpu ${Number(v) / 1000}` : k === 'memory' ? `memory ${humanBytes(Number(v))}` : `${k} ${String(v)}`,
    );
    if (parts.length > 0) out.push(`quota ${parts.join(', ')}`);
  }
  return out.join('; ') || '-';
}

export async function getPolicies(
  cmd: Command,
  namespace: string,
  name: string | undefined,
  selector: Requirement[] | undefined,
  emit: (data: unknown, text: () => string) => void,
): Promise<void> {
  const c = new SecretClient(controllerAddress(cmd));
  try {
    const list = (await c.listPolicies(namespace))
      .filter((p) => name === undefined || p.meta?.name === name)
      .filter((p) => !selector || matches(p.meta?.labels ?? {}, selector))
      .sort((a, b) => `${a.meta?.namespace}/${a.meta?.name}`.localeCompare(`${b.meta?.namespace}/${b.meta?.name}`));
    emit(
      list.map((p) => ({ meta: p.meta, spec: specOf(p), modRevision: p.modRevision })),
      () =>
        table(
          ['NAMESPACE', 'NAME', 'ALLOWS', 'AGE'],
          list.map((p) => [p.meta?.namespace ?? '', p.meta?.name ?? '', allowsOf(specOf(p)), age(p.meta?.createdAtMs ?? 0)]),
        ),
    );
  } finally {
    c.close();
  }
}

export function deletePolicies(cmd: Command, targets: Array<{ namespace: string; name: string }>): Promise<void> {
  return deleteEach(cmd, 'policy', targets, (c, ns, name) => c.deletePolicy(ns, name));
}
