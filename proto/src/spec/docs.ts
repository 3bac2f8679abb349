// The generated part of docs/manifest.md: every field of the Service, Secret and Policy manifests, with
// type, presence or default, the limits checked and what it does, and the cross-field rules,
// all read from the schemas themselves (dsl.ts docRows/docRules). `npm run docs:manifest`
// writes it; a unit test fails when the file is stale.
import { docRows, docRules, type Schema } from './dsl.js';
import { secretManifestSchema } from './secret.js';
import { policyManifestSchema } from './policy.js';
import { serviceManifestSchema } from './service.js';

export const BEGIN_MARKER =
  '<!-- BEGIN GENERATED FIELD REFERENCE: npm run docs:manifest writes this part from proto/src/spec; do not edit -->';
export const END_MARKER = '<!-- END GENERATED FIELD REFERENCE -->';

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function reference(title: string, schema: Schema<unknown>): string {
  const rows = docRows(schema, '');
  const lines = [
    `### ${title}`,
    '',
    '| Field | Type | Presence | Limits | Description |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| \`${cell(r.path)}\` | ${cell(r.type)} | ${cell(r.presence)} | ${cell(r.constraint) || '–'} | ${cell(r.doc)} |`),
  ];
  const rules = docRules(schema, '');
  if (rules.length > 0) {
    lines.push('', 'Rules across fields:', '', ...rules.map((r) => `- \`${r.path || '(document)'}\`: ${r.rule}`));
  }
  return lines.join('\n');
}

/** The text between the markers (markers excluded). */
export function manifestReference(): string {
  return [
    '',
    reference('Service', serviceManifestSchema),
    '',
    reference('Secret', secretManifestSchema),
    '',
    reference('Policy', policyManifestSchema),
    '',
  ].join('\n');
}

/** docs/manifest.md with its generated part replaced; throws when the markers are missing. */
export function withReference(markdown: string): string {
  const begin = markdown.indexOf(BEGIN_MARKER);
  const end = markdown.indexOf(END_MARKER);
  if (begin < 0 || end < begin) throw new Error('docs/manifest.md: the generated-reference markers are missing');
  return markdown.slice(0, begin + BEGIN_MARKER.length) + '\n' + manifestReference() + '\n' + markdown.slice(end);
}
