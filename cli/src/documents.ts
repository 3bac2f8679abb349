// The documents of one `berth apply` (or delete): Services, Secrets and Policies, validated together
// before anything is sent, so that one bad document applies none of them.
import { validatePolicyManifest } from '../../proto/src/spec/policy.js';
import { validateSecretManifest } from '../../proto/src/spec/secret.js';
import { validateServiceManifest } from '../../proto/src/spec/service.js';
import type { SourceDoc } from './manifest.js';

export const KINDS = ['Service', 'Secret', 'Policy'] as const;
export type Kind = (typeof KINDS)[number];

export interface CheckedDoc {
  kind: Kind;
  namespace: string;
  name: string;
  source: SourceDoc;
}

export function describeDoc(d: SourceDoc): string {
  const o = d.doc as { kind?: unknown; metadata?: { name?: unknown } } | null;
  const name = typeof o?.metadata?.name === 'string' ? o.metadata.name : '?';
  const kind = typeof o?.kind === 'string' ? o.kind : 'document';
  return `${d.source} (document ${d.index}, ${kind} ${name})`;
}

/** Validates every document; problems name the document, then each field path and reason. */
export function checkDocuments(docs: SourceDoc[]): { docs: CheckedDoc[]; problems: string[] } {
  const out: CheckedDoc[] = [];
  const problems: string[] = [];
  const seen = new Map<string, SourceDoc>();
  for (const d of docs) {
    const kind = (d.doc as { kind?: unknown } | null)?.kind;
    if (kind !== 'Service' && kind !== 'Secret' && kind !== 'Policy') {
      problems.push(
        `${describeDoc(d)}:\n  kind: ${kind === undefined ? 'required field is missing' : `unsupported kind ${JSON.stringify(kind)}; this version applies: ${KINDS.join(', ')}`}`,
      );
      continue;
    }
    const v =
      kind === 'Service'
        ? validateServiceManifest(d.doc)
        : kind === 'Secret'
          ? validateSecretManifest(d.doc)
          : validatePolicyManifest(d.doc);
    if (!v.ok) {
      problems.push(`${describeDoc(d)}:\n${v.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
      continue;
    }
    const { namespace, name } = v.value.metadata;
    const id = `${kind}/${namespace}/${name}`;
    const first = seen.get(id);
    if (first) {
      problems.push(`${describeDoc(d)}:\n  metadata.name: ${kind} ${namespace}/${name} is also defined by ${describeDoc(first)}`);
      continue;
    }
    seen.set(id, d);
    out.push({ kind, namespace, name, source: d });
  }
  return { docs: out, problems };
}
