// The default-deny workload policy (pure): what a service may run with unless a Policy of its
// namespace allows more, and the capabilities and options a container then gets. The controller
// checks it at apply; the agent checks it again on what it is asked to run, with the grants the
// controller sent beside the task, so a forged or corrupted task record cannot bypass the API.
//
// The baseline is Kubernetes' baseline Pod Security Standard: its capability allow-list (Docker's
// defaults without NET_RAW), no host network, no privilege escalation (no-new-privileges on).
// Berth has no fields for privileged mode, host pid/ipc or devices at all, so those are refused
// by the schema; the engine's socket is refused here under any path that reaches it.
import type { PolicySpec } from '../spec/policy.js';

/** Kubernetes' baseline Pod Security Standard: the capabilities a container may have without a Policy. */
export const BASELINE_CAPABILITIES = [
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
] as const;

/** Engine sockets: a bind of one, or of a folder above one, gives root on the node. */
export const ENGINE_SOCKETS = [
  '/var/run/docker.sock',
  '/run/docker.sock',
  '/run/containerd/containerd.sock',
  '/var/run/containerd/containerd.sock',
  '/run/podman/podman.sock',
  '/var/run/crio/crio.sock',
  '/run/crio/crio.sock',
] as const;

/** What the policies of a namespace allow, merged (each field: any policy allows it). */
export interface PolicyGrants {
  capabilities: string[];
  hostNetwork: boolean;
  privilegeEscalation: boolean;
  dockerSocket: boolean;
  /** The policies merged, for messages. */
  policies: string[];
}

export const NO_GRANTS: PolicyGrants = {
  capabilities: [],
  hostNetwork: false,
  privilegeEscalation: false,
  dockerSocket: false,
  policies: [],
};

export function mergeGrants(policies: ReadonlyArray<{ name: string; spec: PolicySpec }>): PolicyGrants {
  const caps = new Set<string>();
  const g: PolicyGrants = { ...NO_GRANTS, capabilities: [], policies: [] };
  for (const p of [...policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    for (const c of p.spec.allowCapabilities ?? []) caps.add(c);
    g.hostNetwork ||= p.spec.allowHostNetwork === true;
    g.privilegeEscalation ||= p.spec.allowPrivilegeEscalation === true;
    g.dockerSocket ||= p.spec.allowDockerSocket === true;
    g.policies.push(p.name);
  }
  g.capabilities = [...caps].sort();
  return g;
}

/** The container fields the policy looks at. */
export interface WorkloadFields {
  capAdd?: string[] | undefined;
  networkMode?: string | undefined;
  allowPrivilegeEscalation?: boolean | undefined;
  volumes?: ReadonlyArray<{ type: string; source?: string | undefined }> | undefined;
}

export interface PolicyViolation {
  /** The field, relative to the spec (`capAdd[0]`). */
  path: string;
  /** The rule's name (docs/security.md). */
  rule: 'capabilities' | 'host-network' | 'privilege-escalation' | 'docker-socket';
  message: string;
}

const isBaseline = (c: string): boolean => (BASELINE_CAPABILITIES as readonly string[]).includes(c);

/** Whether a bind source reaches an engine socket: the socket itself, a folder above it, or any *.sock. */
export function reachesEngineSocket(source: string): boolean {
  const clean = source.replace(/\/+$/, '') || '/';
  if (/\.sock$/.test(clean) || /(^|\/)docker\.sock/.test(clean)) return true;
  return ENGINE_SOCKETS.some((s) => s === clean || clean === '/' || s.startsWith(clean + '/'));
}

/**
 * What the spec asks for that neither the baseline nor the grants allow, each with the field, the
 * rule and the Policy field that would allow it. Empty: admitted.
 */
export function workloadViolations(spec: WorkloadFields, namespace: string, grants: PolicyGrants): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  const allow = (field: string, value: string): string =>
    `a Policy of namespace ${JSON.stringify(namespace)} with spec.${field}: ${value} would allow it (admin only; berth apply -f policy.yaml)`;
  (spec.capAdd ?? []).forEach((c, i) => {
    if (isBaseline(c) || grants.capabilities.includes(c) || grants.capabilities.includes('ALL')) return;
    out.push({
      path: `capAdd[${i}]`,
      rule: 'capabilities',
      message:
        c === 'ALL'
          ? `ALL is every capability, beyond the baseline (rule capabilities); ${allow('allowCapabilities', '[ALL]')}`
          : `${c} is beyond the baseline capabilities (rule capabilities: ${BASELINE_CAPABILITIES.join(', ')}); ${allow('allowCapabilities', `[${c}]`)}`,
    });
  });
  if (spec.networkMode === 'host' && !grants.hostNetwork)
    out.push({
      path: 'networkMode',
      rule: 'host-network',
      message: `host shares the node's network stack (rule host-network); ${allow('allowHostNetwork', 'true')}`,
    });
  if (spec.allowPrivilegeEscalation === true && !grants.privilegeEscalation)
    out.push({
      path: 'allowPrivilegeEscalation',
      rule: 'privilege-escalation',
      message: `turns no-new-privileges off (rule privilege-escalation); ${allow('allowPrivilegeEscalation', 'true')}`,
    });
  (spec.volumes ?? []).forEach((v, i) => {
    if (v.type !== 'bind' || v.source === undefined || grants.dockerSocket) return;
    if (reachesEngineSocket(v.source))
      out.push({
        path: `volumes[${i}].source`,
        rule: 'docker-socket',
        message: `${v.source} reaches the container engine's socket, which is root on the node (rule docker-socket); ${allow('allowDockerSocket', 'true')}`,
      });
  });
  return out;
}

/**
 * The capabilities a container is created with: every one dropped, then the baseline less the
 * spec's capDrop, plus its capAdd (the policy was checked before). `ALL` in capAdd keeps all.
 */
export function effectiveCapabilities(spec: { capAdd?: string[] | undefined; capDrop?: string[] | undefined }): {
  capDrop: string[];
  capAdd: string[];
} {
  const drop = new Set(spec.capDrop ?? []);
  if ((spec.capAdd ?? []).includes('ALL')) return { capDrop: [], capAdd: ['ALL'] };
  const keep = drop.has('ALL') ? [] : BASELINE_CAPABILITIES.filter((c) => !drop.has(c));
  const add = new Set<string>([...keep, ...(spec.capAdd ?? [])]);
  return { capDrop: ['ALL'], capAdd: [...add].sort() };
}
