// docs/manifest.md: its field reference is generated from the schema (npm run docs:manifest) and
// this test fails when it is stale; every field of the schema appears in it; and every example
// manifest in the page validates (Services and Secrets) or converts (Compose).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { docRows } from '../../proto/src/spec/dsl.js';
import { BEGIN_MARKER, END_MARKER, manifestReference, withReference } from '../../proto/src/spec/docs.js';
import { serviceManifestSchema } from '../../proto/src/spec/service.js';
import { secretManifestSchema } from '../../proto/src/spec/secret.js';
import { parseDocuments } from '../../cli/src/manifest.js';
import { checkDocuments } from '../../cli/src/documents.js';
import { convertCompose, isComposeDocument } from '../../cli/src/compose/convert.js';

const file = join(import.meta.dirname, '../../docs/manifest.md');
const markdown = readFileSync(file, 'utf8');

describe('docs/manifest.md', () => {
  it('the generated field reference is fresh (run npm run docs:manifest)', () => {
    expect(markdown).toContain(BEGIN_MARKER);
    expect(markdown).toContain(END_MARKER);
    expect(withReference(markdown) === markdown, 'docs/manifest.md is stale: run npm run docs:manifest').toBe(true);
  });

  it('lists every field of the Service and Secret schemas', () => {
    const reference = manifestReference();
    for (const schema of [serviceManifestSchema, secretManifestSchema]) {
      for (const row of docRows(schema, '')) expect(reference).toContain(`| \`${row.path}\` |`);
    }
  });

  it('every example manifest in the page is valid', () => {
    const blocks = [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => /^apiVersion:/m.test(b));
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const block of blocks) {
      const docs = parseDocuments('docs/manifest.md', block);
      const { problems } = checkDocuments(docs);
      expect(problems, block).toEqual([]);
    }
  });

  it('an example with only volumes is a valid volume list', () => {
    const block = [...markdown.matchAll(/```yaml\n(volumes:[\s\S]*?)```/g)].map((m) => m[1]!)[0]!;
    const [doc] = parseDocuments(
      'docs/manifest.md',
      `apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: v }\nspec:\n  image: busybox\n${block.replace(/^/gm, '  ')}`,
    );
    expect(checkDocuments([doc!]).problems).toEqual([]);
  });

  it('the Compose example converts to exactly the Berth manifest the page shows after it', () => {
    const blocks = [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const i = blocks.findIndex((b) => parseDocuments('docs/manifest.md', b).some((d) => isComposeDocument(d.doc)));
    expect(i).toBeGreaterThanOrEqual(0);
    const [compose] = parseDocuments('docs/manifest.md', blocks[i]!);
    const r = convertCompose(compose!.doc, { projectDir: '/home/me/shop', env: {}, readFile: () => '' });
    expect(r.errors).toEqual([]);
    expect(r.ignored.map((x) => x.path)).toEqual(['networks', 'services.web.networks']);
    expect(r.notes.map((x) => x.path)).toEqual(['services.web.healthcheck.timeout', 'services.web.restart']);
    expect(r.manifests).toEqual(parseDocuments('docs/manifest.md', blocks[i + 1]!).map((d) => d.doc));
    // The stderr lines the page shows are the ones berth prints (cli/src/compose/load.ts).
    const shown = /with these lines on stderr:\n\n```\n([\s\S]*?)```/.exec(markdown)![1]!.trim().split('\n');
    expect(shown).toEqual([
      ...r.notes.map((n) => `note: docker-compose.yml: ${n.path}: ${n.message}`),
      ...r.ignored.map((n) => `warning: docker-compose.yml: ${n.path}: ${n.message}`),
    ]);
  });
});
