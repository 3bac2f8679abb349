// berth diff's pure parts: field-level changes in the human form, values on one line, the text.
import { describe, expect, it } from 'vitest';
import type { Service__Output } from '../../proto/gen/berth/v1/Service.js';
import { diffValues, formatValue, renderChanges } from '../../cli/src/diff.js';
import { documentDiff, renderDiff } from '../../cli/src/commands/diff.js';
import { mockSpec } from './fixtures.js';

describe('diffValues', () => {
  const table: Array<[string, unknown, unknown, string[]]> = [
    ['equal scalars', 1, 1, []],
    ['changed scalar', { a: 1 }, { a: 2 }, ['~ a: 1 → 2']],
    ['added key', { a: 1 }, { a: 1, b: 'x' }, ['+ b: x']],
    ['removed key', { a: 1, b: 'x' }, { a: 1 }, ['- b: x']],
    [
      'nested',
      { spec: { resources: { memory: '64Mi' } } },
      { spec: { resources: { memory: '128Mi' } } },
      ['~ spec.resources.memory: 64Mi → 128Mi'],
    ],
    ['list item changed', { p: [{ hostPort: 1 }, { hostPort: 2 }] }, { p: [{ hostPort: 1 }, { hostPort: 3 }] }, ['~ p[1].hostPort: 2 → 3']],
    ['list grew', { c: ['a'] }, { c: ['a', 'b'] }, ['+ c[1]: b']],
    ['list shrank', { c: ['a', 'b'] }, { c: ['a'] }, ['- c[1]: b']],
    ['object added whole', { s: {} }, { s: { limits: { memory: '1Gi' } } }, ['+ s.limits: {memory: 1Gi}']],
    ['odd keys quoted', { env: { 'A.B': '1' } }, { env: { 'A.B': '2' } }, ['~ env["A.B"]: "1" → "2"']],
    ['type change', { a: '1' }, { a: 1 }, ['~ a: "1" → 1']],
  ];
  for (const [name, from, to, want] of table) {
    it(name, () => expect(renderChanges(diffValues(from, to), undefined, '')).toEqual(want));
  }
});

describe('formatValue', () => {
  it('quotes only when a bare word would read as something else', () => {
    expect(formatValue('64Mi')).toBe('64Mi');
    expect(formatValue('8080')).toBe('"8080"');
    expect(formatValue('')).toBe('""');
    expect(formatValue('true')).toBe('"true"');
    expect(formatValue('a b')).toBe('a b');
    expect(formatValue('a: b')).toBe('"a: b"');
    expect(formatValue('line\nbreak')).toBe('"line\\nbreak"');
    expect(formatValue(['httpd', '-f'])).toBe('[httpd, "-f"]');
    expect(formatValue({ containerPort: 8080, protocol: 'tcp' })).toBe('{containerPort: 8080, protocol: tcp}');
  });
});

function svc(
  over: { replicas?: number; image?: string; labels?: Record<string, string>; specRevision?: number; env?: Record<string, string> } = {},
): Service__Output {
  const spec = mockSpec({
    replicas: over.replicas ?? 2,
    image: over.image ?? 'berth-local/web:1',
    resources: { cpu: 250, memory: 64 * 2 ** 20 },
    ...(over.env ? { env: over.env } : {}),
  });
  return {
    meta: { name: 'web', namespace: 'default', labels: over.labels ?? {}, uid: 'u1', createdAtMs: 0, updatedAtMs: 0 },
    specJson: JSON.stringify(spec),
    specRevision: over.specRevision ?? 1,
    modRevision: 10,
    deleting: false,
    status: null,
  };
}

describe('documentDiff / renderDiff', () => {
  it('no changes', () => {
    const d = documentDiff('unchanged', svc(), svc());
    expect(d.changes).toEqual([]);
    expect(renderDiff(d, false)).toBe('service/default/web: no changes\n');
  });

  it('changes in the human form (sizes with units), with the revision step', () => {
    const d = documentDiff(
      'updated',
      svc(),
      svc({ replicas: 3, image: 'berth-local/web:2', specRevision: 2, labels: { tier: 'front' }, env: { MODE: 'x' } }),
    );
    expect(renderDiff(d, false)).toBe(
      [
        'service/default/web: changed (revision 1 → 2)',
        '  + metadata.labels.tier: front',
        '  ~ spec.image: berth-local/web:1 → berth-local/web:2',
        '  ~ spec.replicas: 2 → 3',
        '  + spec.env: {MODE: x}',
        '',
      ].join('\n'),
    );
  });

  it('a labels-only change keeps the revision', () => {
    const d = documentDiff('updated', svc(), svc({ labels: { a: 'b' } }));
    expect(renderDiff(d, false).split('\n')[0]).toBe('service/default/web: changed (labels only; revision 1 stays)');
  });

  it('a new service lists every field it sets, human units included', () => {
    const text = renderDiff(documentDiff('created', null, svc()), false);
    expect(text).toContain('service/default/web: created (revision 1)');
    expect(text).toContain('  + spec.image: berth-local/web:1');
    expect(text).toContain('  + spec.resources: {cpu: 0.25, memory: 64Mi}');
    expect(text).toContain('  + spec.stop: {signal: SIGTERM, gracePeriod: 10s}');
  });

  it('colors only when asked, and escapes control characters from the server', () => {
    const hostile = svc({ env: { X: 'a\u001b[2Jb' } });
    const text = renderDiff(documentDiff('updated', svc(), hostile), true);
    expect(text).toContain('\u001b[32m  '.slice(0, 0) + '\u001b[32m+ spec.env: {X: "a\\u001b[2Jb"}\u001b[0m');
    expect(renderDiff(documentDiff('updated', svc(), hostile), false)).not.toContain('\u001b');
    const c1 = svc({ env: { X: 'a\u009b2Jb' } });
    expect(renderDiff(documentDiff('updated', svc(), c1), false)).toContain('{X: a\\x9b2Jb}');
  });
});
