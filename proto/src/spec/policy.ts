// The Policy manifest: what a namespace's workloads may do beyond the default-deny baseline
// (docs/security.md, "Workload policy"). Admin only. Several policies of one namespace add up.
import { BoolSchema, Ctx, INVALID, StringSchema, obj, optional, required, type Infer } from './dsl.js';
import { capabilityList } from './container.js';
import { API_VERSION, metadataSchema, type Validated } from './service.js';

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
