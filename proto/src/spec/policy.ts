// The Policy manifest: what a namespace's workloads may do beyond the default-deny baseline
// (docs/security.md, "Workload policy"). Admin only. Several policies of one namespace add up.
import { BoolSchema, Ctx, INVALID, IntSchema, StringSchema, UnitSchema, obj, optional, required, type Infer } from './dsl.js';
import { formatBytes, formatCpu, parseBytes, parseCpu } from './units.js';
import { capabilityList } from './container.js';
import { API_VERSION, metadataSchema, type Validated } from './service.js';

const count = (): IntSchema => new IntSchema({ min: 0, max: 1_000_000 });

export const quotaSchema = obj({
  services: optional(count(), 'Services in the namespace, at most.'),
  replicas: optional(count(), 'Replicas of all its services together (a global service counts one per node).'),
  cpu: optional(
    new UnitSchema('CPUs', parseCpu, formatCpu, { min: 0, max: 1024 * 1000 }),
    'CPUs reserved (resources.cpu × replicas) by all its services together.',
  ),
  memory: optional(
    new UnitSchema('size', parseBytes, formatBytes, { min: 0, max: 2 ** 50 }),
    'Memory reserved (resources.memory × replicas) by all its services together.',
  ),
  secrets: optional(count(), 'Secrets in the namespace, at most.'),
});
export type QuotaSpec = Infer<typeof quotaSchema>;

export const policySpecSchema = obj({
  allowCapabilities: optional(
    capabilityList(),
    'Capabilities services of the namespace may add beyond the baseline (capabilities(7) names; ALL allows every one).',
  ),
  allowHostNetwork: optional(new BoolSchema(), "networkMode host: the node's own network stack."),
  allowPrivilegeEscalation: optional(new BoolSchema(), 'Services may set allowPrivilegeEscalation (no-new-privileges off).'),
  allowDockerSocket: optional(
    new BoolSchema(),
    "A bind volume of the engine's socket (or a folder holding it): root on the node. Allow it only for trusted tooling.",
  ),
  quota: optional(
    quotaSchema,
    "Limits of the namespace's use; an apply over one is refused. Each policy's quota holds (the smallest limit wins).",
  ),
});
export type PolicySpec = Infer<typeof policySpecSchema>;

export const policyManifestSchema = obj({
  apiVersion: required(new StringSchema({ oneOf: [API_VERSION] as const }), `Always ${API_VERSION}.`),
  kind: required(new StringSchema({ oneOf: ['Policy'] as const }), 'Policy.'),
  metadata: required(metadataSchema, 'Name, namespace (the one it applies to) and labels.'),
  spec: required(policySpecSchema, 'The exceptions it allows.'),
});
export type PolicyManifest = Infer<typeof policyManifestSchema>;

export function validatePolicyManifest(doc: unknown): Validated<PolicyManifest> {
  const ctx = new Ctx();
  const v = policyManifestSchema.parse(doc, '', ctx);
  if (v === INVALID || ctx.issues.length > 0) return { ok: false, issues: ctx.issues };
  return { ok: true, value: v };
}
