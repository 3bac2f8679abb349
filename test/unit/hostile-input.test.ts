// Hostile manifests are refused fast and safely, both where the CLI reads YAML
// (cli/src/manifest.ts) and where the controller receives JSON (ServiceApi.parseDocument, i.e.
// proto/src/spec/safe-json.ts): oversized documents, alias bombs, deep nesting, duplicate keys,
// prototype keys, invalid UTF-8. Every case also bounds its running time. The bounds are far
// above what the cases take (milliseconds; about a second for a full 1 MiB document) so a
// loaded machine does not miss them, and far below what quadratic or exponential work would
// take (the yaml package's own duplicate-key check needs ~45 s for 50,000 keys).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeUtf8, invalidUtf8Offset, loadManifests, ManifestError, parseDocuments } from '../../cli/src/manifest.js';
import { ServiceApi } from '../../controller/src/api/services.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { Keys } from '../../controller/src/store/keys.js';
import { MemorySink } from '../../controller/src/events/events.js';
import { ManualClock } from '../../proto/src/clock.js';
import { ValidationError } from '../../proto/src/errors.js';
import { MAX_ALIASES, MAX_DEPTH, MAX_DOCUMENT_BYTES } from '../../proto/src/spec/limits.js';
import { parseJsonDocument } from '../../proto/src/spec/safe-json.js';

/** Small inputs: milliseconds in practice. */
const FAST_MS = 3_000;
/** A full 1 MiB document: about a second on an idle machine. */
const BIG_MS = 20_000;

async function timed<T>(budgetMs: number, fn: () => T | Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    expect(performance.now() - start, 'running time (ms)').toBeLessThan(budgetMs);
  }
}

/** The CLI's message for a text, or '' when it parses. */
async function cliRefusal(text: string, budgetMs = FAST_MS): Promise<string> {
  return timed(budgetMs, () => {
    try {
      parseDocuments('m.yaml', text);
      return '';
    } catch (e) {
      expect(e).toBeInstanceOf(ManifestError);
      return (e as Error).message;
    }
  });
}

function api(): { api: ServiceApi; store: MemoryStore } {
  const store = new MemoryStore();
  return { store, api: new ServiceApi({ store, keys: new Keys(), clock: new ManualClock(0), events: new MemorySink() }) };
}

/** The server's issues for a JSON text (via the ServiceApi edge), or [] when it parses. */
async function serverRefusal(json: string, budgetMs = FAST_MS): Promise<Array<{ path: string; message: string }>> {
  return timed(budgetMs, () => {
    try {
      api().api.parseDocument(json);
      return [];
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      return (e as ValidationError).issues;
    }
  });
}

const good = 'apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: web }\nspec: { image: busybox }\n';

// Any test here that pollutes Object.prototype fails in afterEach.
let protoBefore: string[];
beforeEach(() => {
  protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
});
afterEach(() => {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
});

describe('documents over 1 MiB', () => {
  it('CLI: refused before parsing', async () => {
    const text = `a: "${'x'.repeat(MAX_DOCUMENT_BYTES)}"`;
    expect(await cliRefusal(text)).toBe('m.yaml: larger than the 1 MiB limit');
    // Counted in bytes, not characters: 400,000 three-byte characters are 1.2 MB.
    expect(await cliRefusal(`a: "${'€'.repeat(400_000)}"`)).toBe('m.yaml: larger than the 1 MiB limit');
  });

  it('CLI: a document just under the limit is read (about a second for a worst case of 60,000 keys)', async () => {
    const text = Array.from({ length: 60_000 }, (_, i) => `k${i}: "v${i}"`).join('\n');
    expect(text.length).toBeLessThan(MAX_DOCUMENT_BYTES);
    expect(await cliRefusal(text, BIG_MS)).toBe('');
  });

  it('server: refused before parsing', async () => {
    expect(await serverRefusal(`{"a":"${'x'.repeat(MAX_DOCUMENT_BYTES)}"}`)).toEqual([
      { path: '(document)', message: `larger than the limit of ${MAX_DOCUMENT_BYTES} bytes` },
    ]);
    expect(await serverRefusal(`{"a":"${'€'.repeat(400_000)}"}`)).toHaveLength(1);
  });

  it('server: a document just under the limit is read in linear time', async () => {
    const json = JSON.stringify(Object.fromEntries(Array.from({ length: 55_000 }, (_, i) => [`k${i}`, `v${i}`])));
    expect(json.length).toBeLessThan(MAX_DOCUMENT_BYTES);
    expect(await serverRefusal(json, BIG_MS)).toEqual([]);
  });
});

describe('alias bombs', () => {
  const bomb = (levels: number): string => {
    const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < levels; i++)
      lines.push(
        `a${i}: &a${i} [${Array(9)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    return lines.join('\n');
  };

  it('CLI: a billion laughs is refused', async () => {
    expect(await cliRefusal(bomb(10))).toBe(`m.yaml: document 1: too many aliases (at most ${MAX_ALIASES} may be resolved per document)`);
  });

  it('CLI: a few aliases and merge keys are fine', async () => {
    expect(await cliRefusal('base: &b { image: busybox }\nweb:\n  <<: *b\n  replicas: 2\n')).toBe('');
  });

  it('CLI: an alias used as a key is refused', async () => {
    expect(await cliRefusal('x: &k a\n*k : 1\n')).toMatch(/keys must be plain strings/);
  });
});

describe('deep nesting', () => {
  it(`CLI: flow collections deeper than ${MAX_DEPTH} are refused by the lexer, before anything is built`, async () => {
    expect(await cliRefusal('['.repeat(MAX_DOCUMENT_BYTES - 10))).toBe(`m.yaml: nested deeper than ${MAX_DEPTH} levels`);
    expect(await cliRefusal(`a: ${'{b: '.repeat(100)}1${'}'.repeat(100)}`)).toBe(`m.yaml: nested deeper than ${MAX_DEPTH} levels`);
  });

  it(`CLI: block collections deeper than ${MAX_DEPTH} are refused`, async () => {
    const deep = (n: number): string => Array.from({ length: n }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1';
    expect(await cliRefusal(deep(MAX_DEPTH + 5))).toMatch(/line 65, column 65: a\.a\.a.*: nested deeper than 64 levels$/);
    expect(await cliRefusal(deep(MAX_DEPTH))).toBe('');
    // As deep as 1 MiB allows (the parser's own stack would overflow near 900 levels).
    expect(await cliRefusal(deep(1400), BIG_MS)).toMatch(/nested deeper than 64 levels/);
    expect(await cliRefusal(`${'- '.repeat(100)}x`)).toMatch(/nested deeper than 64 levels/);
  });

  it(`server: JSON deeper than ${MAX_DEPTH} is refused without recursing further`, async () => {
    expect(await serverRefusal('['.repeat(MAX_DOCUMENT_BYTES - 10))).toEqual([
      {
        path: '[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]',
        message: `nested deeper than ${MAX_DEPTH} levels`,
      },
    ]);
    expect(await serverRefusal(`${'{"a":'.repeat(MAX_DEPTH)}1${'}'.repeat(MAX_DEPTH)}`)).toEqual([]);
    expect(await serverRefusal(`${'{"a":'.repeat(MAX_DEPTH + 1)}1${'}'.repeat(MAX_DEPTH + 1)}`)).toHaveLength(1);
  });
});

describe('duplicate keys', () => {
  it('CLI: refused with path and line, also in flow mappings and JSON', async () => {
    expect(await cliRefusal(`${good}spec: {}\n`)).toBe(
      'm.yaml: document 1, line 5, column 1: spec: duplicate key (each key may appear once)',
    );
    expect(await cliRefusal('spec:\n  env: { A: 1, B: 2, A: 3 }\n')).toBe(
      'm.yaml: document 1, line 2, column 22: spec.env.A: duplicate key (each key may appear once)',
    );
    expect(await cliRefusal('{"a": {"b": [{"c": 1, "c": 2}]}}')).toBe(
      'm.yaml: document 1, line 1, column 23: a.b[0].c: duplicate key (each key may appear once)',
    );
  });

  it('CLI: 50,000 distinct keys are checked in linear time', async () => {
    expect(await cliRefusal(Array.from({ length: 50_000 }, (_, i) => `k${i}: ${i}`).join('\n'), BIG_MS)).toBe('');
  });

  it('server: every duplicate reported with its path (JSON.parse would keep the last silently)', async () => {
    expect(await serverRefusal('{"kind":"Service","kind":"Secret","spec":{"env":{"A":"1","A":"2"}}}')).toEqual([
      { path: 'kind', message: 'duplicate key (each key may appear once)' },
      { path: 'spec.env.A', message: 'duplicate key (each key may appear once)' },
    ]);
  });
});

describe('prototype keys (no prototype pollution)', () => {
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    it(`CLI: ${key} is refused anywhere, with its path`, async () => {
      expect(
        await cliRefusal(`${good.replace('spec: { image: busybox }', `spec:\n  image: busybox\n  env:\n    ${key}: { polluted: 1 }`)}`),
      ).toMatch(new RegExp(`line 7, column 5: spec\\.env\\.${key}: the key "${key}" is not allowed`));
      expect(await cliRefusal(`- a: 1\n- ${key}: { polluted: 1 }\n`)).toMatch(new RegExp(`\\[1\\]\\.${key}: the key`));
    });

    it(`server: ${key} is refused anywhere, with its path`, async () => {
      expect(await serverRefusal(`{"spec":{"env":{"${key}":{"polluted":1}}},"${key}":{"polluted":1}}`)).toEqual([
        { path: `spec.env.${key}`, message: `the key "${key}" is not allowed (it could reach an object's prototype)` },
        { path: key, message: `the key "${key}" is not allowed (it could reach an object's prototype)` },
      ]);
    });
  }

  it('server: apply of a polluting document writes nothing', async () => {
    const { api: a, store } = api();
    const before = store.currentRevision;
    expect(() =>
      a.parseDocument(
        '{"apiVersion":"berth.dev/v1","kind":"Service","metadata":{"name":"web"},"spec":{"image":"busybox","__proto__":{"polluted":true}}}',
      ),
    ).toThrow(ValidationError);
    // Even a parsed object carrying the key (JSON.parse makes it an own property) is refused by the schema.
    await expect(
      a.apply(
        JSON.parse(
          '{"apiVersion":"berth.dev/v1","kind":"Service","metadata":{"name":"web"},"spec":{"image":"busybox","__proto__":{"polluted":true}}}',
        ),
      ),
    ).rejects.toThrow(ValidationError);
    expect(store.currentRevision).toBe(before);
  });
});

describe('invalid UTF-8', () => {
  const bytes = (...parts: Array<string | number[]>): Buffer =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

  it('finds the first bad byte of every kind of malformed sequence', () => {
    expect(invalidUtf8Offset(bytes('ok é € 𝄞'))).toBe(-1);
    expect(invalidUtf8Offset(bytes('ab', [0xff]))).toBe(2); // never valid
    expect(invalidUtf8Offset(bytes('ab', [0x80]))).toBe(2); // lone continuation byte
    expect(invalidUtf8Offset(bytes('ab', [0xc3]))).toBe(2); // truncated
    expect(invalidUtf8Offset(bytes('ab', [0xc0, 0xaf]))).toBe(2); // overlong
    expect(invalidUtf8Offset(bytes('ab', [0xe0, 0x80, 0xaf]))).toBe(2); // overlong
    expect(invalidUtf8Offset(bytes('ab', [0xed, 0xa0, 0x80]))).toBe(2); // UTF-16 surrogate
    expect(invalidUtf8Offset(bytes('ab', [0xf4, 0x90, 0x80, 0x80]))).toBe(2); // above U+10FFFF
  });

  it('CLI: a file with invalid bytes is refused with line and column, not silently replaced', async () => {
    const buf = bytes('apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: w', [0xe9], 'b }\n');
    await timed(FAST_MS, () => {
      expect(() => decodeUtf8('m.yaml', buf)).toThrow(
        'm.yaml: not valid UTF-8: byte 0xe9 at offset 58 (line 3, column 20); save the file as UTF-8',
      );
      expect(() => loadManifests(['-'], () => buf)).toThrow('stdin: not valid UTF-8: byte 0xe9 at offset 58');
    });
    expect(() => decodeUtf8('m.yaml', bytes([0xff, 0xfe], 'a\0'))).toThrow('m.yaml: the file is UTF-16 text; save it as UTF-8');
    // A BOM is fine.
    expect(loadManifests(['-'], () => bytes([0xef, 0xbb, 0xbf], good))).toHaveLength(1);
  });

  it('CLI: 1 MiB of bad bytes is refused quickly', async () => {
    await timed(FAST_MS, () => expect(() => decodeUtf8('m.yaml', Buffer.alloc(MAX_DOCUMENT_BYTES, 0xff))).toThrow('at offset 0'));
  });

  it('server: the replacement character and unpaired surrogates are refused with their path', async () => {
    // gRPC decodes a string field's invalid UTF-8 as U+FFFD: that is all the server can see of it.
    expect(await serverRefusal('{"metadata":{"name":"w\uFFFDb"}}')).toEqual([
      { path: 'metadata.name', message: expect.stringContaining('contains U+FFFD') as string },
    ]);
    expect(await serverRefusal('{"spec":{"env":{"A":"\\ud800"}}}')).toEqual([
      { path: 'spec.env.A', message: 'contains an unpaired UTF-16 surrogate (not valid Unicode)' },
    ]);
    expect(await serverRefusal('{"\\udc00":1}')).toEqual([
      { path: '\udc00', message: 'key contains an unpaired UTF-16 surrogate (not valid Unicode)' },
    ]);
    expect(await serverRefusal('{"a":"\\ud83d\\ude00 ok"}')).toEqual([]);
  });
});

describe('server: other malformed JSON', () => {
  it.each([
    ['', 'not valid JSON: unexpected end of input'],
    ['{"a":1,}', 'not valid JSON: expected a key in quotes at line 1, column 8'],
    ['{"a" 1}', 'not valid JSON: expected ":" at line 1, column 6'],
    ['{"a":1} x', 'not valid JSON: unexpected text after the document at line 1, column 9'],
    ['{"a":"\n"}', 'not valid JSON: control character in a string at line 1, column 7'],
    ['{"a":"\\x"}', 'not valid JSON: bad escape at line 1, column 7'],
    ['[1 2]', 'not valid JSON: expected "," or "]" at line 1, column 4'],
    ['{"a":NaN}', 'not valid JSON: unexpected character "N" at line 1, column 6'],
    ['"open', 'not valid JSON: unterminated string at line 1, column 6'],
  ])('%j → %s', async (text, message) => {
    const issues = await serverRefusal(text);
    expect(issues.map((i) => i.message)).toEqual([message]);
  });

  it('reads what JSON.parse reads for ordinary documents', () => {
    const doc = { apiVersion: 'berth.dev/v1', n: [0, -1.5, 2e3, true, false, null], s: 'a"b\\c/\n\t\u00e9\ud83d\ude00', e: {}, l: [] };
    expect(parseJsonDocument(JSON.stringify(doc))).toEqual({ ok: true, value: doc });
    expect(parseJsonDocument(' {"a" : [ 1 , 2 ] } ')).toEqual({ ok: true, value: { a: [1, 2] } });
  });
});
