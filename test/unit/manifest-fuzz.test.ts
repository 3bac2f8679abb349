// Property test of the whole manifest path, run on 10,000 generated near-valid manifests per
// `npm test`: YAML text → the CLI's reader (parseDocuments) → JSON → the controller's edge
// (ServiceApi.parseDocument) → apply (ServiceApi / SecretApi on the memory store). Every outcome
// must be an expected one: refused by the reader (ManifestError), refused by validation
// (ValidationError), or accepted. Anything else (a TypeError, a RangeError, an error the gRPC
// edge would turn into INTERNAL) is a failure. Accepted specs must survive a round trip through
// their printed form unchanged. Deterministic (fixed seed); FC_SEED explores other seeds.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ManifestError, parseDocuments } from '../../cli/src/manifest.js';
import { SecretApi } from '../../controller/src/api/secrets.js';
import { ServiceApi } from '../../controller/src/api/services.js';
import { SecretCipher } from '../../controller/src/secrets/cipher.js';
import { Keys } from '../../controller/src/store/keys.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { MemorySink } from '../../controller/src/events/events.js';
import { ManualClock } from '../../proto/src/clock.js';
import { ValidationError } from '../../proto/src/errors.js';
import { canonicalJson, formatServiceSpec, validateServiceManifest } from '../../proto/src/spec/service.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 10_000);
const seed = process.env['FC_SEED'] ? Number(process.env['FC_SEED']) : 0x5eed;

// ---- a valid manifest ----

const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
const image = fc.constantFrom(
  'busybox',
  'berth-local/busybox:1',
  'registry:5000/team/web:1.2',
  `web@sha256:${'a'.repeat(64)}`,
  '127.0.0.1:5000/x/y',
);
const size = fc.constantFrom('16Mi', '64Mi', '1Gi', '500M', 1024, '0');
const duration = fc.constantFrom('500ms', '1s', '10s', '1m30s', '0');
const absPath = fc.constantFrom('/data', '/srv/x', '/tmp/cache', '/a/b/c');
const word = fc.oneof(fc.string({ maxLength: 12 }), fc.integer());

const specFields = {
  image,
  replicas: fc.integer({ min: 0, max: 20 }),
  entrypoint: fc.array(word, { maxLength: 3 }),
  command: fc.array(word, { maxLength: 4 }),
  args: fc.array(word, { maxLength: 3 }),
  env: fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), word, { maxKeys: 4 }),
  ports: fc.uniqueArray(
    fc.record(
      {
        containerPort: fc.integer({ min: 1, max: 65535 }),
        hostPort: fc.integer({ min: 1, max: 65535 }),
        protocol: fc.constantFrom('tcp', 'udp'),
      },
      { requiredKeys: ['containerPort'] },
    ),
    { maxLength: 3, selector: (p) => p.containerPort },
  ),
  resources: fc.record({ cpu: fc.constantFrom(0, 0.25, 1, '500m'), memory: size }, { requiredKeys: [] }),
  stop: fc.record({ signal: fc.constantFrom('SIGTERM', 'SIGINT', 'SIGQUIT'), gracePeriod: duration }, { requiredKeys: [] }),
  workingDir: absPath,
  user: fc.constantFrom('1000', '1000:1000', 'app', 'app:staff'),
  volumes: fc.array(
    fc.oneof(
      fc.record(
        { type: fc.constant('volume'), source: fc.constantFrom('data', 'cache-1'), target: absPath, readOnly: fc.boolean() },
        { requiredKeys: ['type', 'target'] },
      ),
      fc.record({ type: fc.constant('bind'), source: absPath, target: absPath, readOnly: fc.boolean() }),
      fc.record(
        { type: fc.constant('tmpfs'), target: absPath, size, mode: fc.constantFrom('1777', '0755') },
        { requiredKeys: ['type', 'target'] },
      ),
    ),
    { maxLength: 2 },
  ),
  networkMode: fc.constantFrom('bridge', 'host', 'none'),
  labels: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9.]{0,10}[a-z0-9]$/), word, { maxKeys: 3 }),
  logging: fc.record(
    {
      driver: fc.constantFrom('json-file', 'local', 'none'),
      options: fc.dictionary(fc.constantFrom('max-size', 'max-file', 'tag'), word, { maxKeys: 2 }),
    },
    { requiredKeys: ['driver'] },
  ),
  init: fc.boolean(),
  readOnlyRootFilesystem: fc.boolean(),
  capAdd: fc.uniqueArray(fc.constantFrom('NET_ADMIN', 'SYS_TIME', 'CHOWN'), { maxLength: 2 }),
  capDrop: fc.uniqueArray(fc.constantFrom('ALL', 'MKNOD', 'NET_RAW'), { maxLength: 2 }),
};

/** Image plus up to five other fields: each field appears in about a thousand cases, and documents stay small enough that 10,000 run quickly. */
const OPTIONAL = Object.keys(specFields).filter((k) => k !== 'image') as Array<keyof typeof specFields>;
const spec = fc
  .tuple(fc.record(specFields), fc.subarray(OPTIONAL, { maxLength: 5 }))
  .map(([all, keys]) => Object.fromEntries([['image', all.image], ...keys.map((k) => [k, all[k]])]) as Record<string, unknown>);

const service = fc.record({
  apiVersion: fc.constant('berth.dev/v1'),
  kind: fc.constant('Service'),
  metadata: fc.record(
    { name: dnsLabel, namespace: dnsLabel, labels: fc.dictionary(dnsLabel, word, { maxKeys: 2 }) },
    { requiredKeys: ['name'] },
  ),
  spec,
});

const secret = fc.record({
  apiVersion: fc.constant('berth.dev/v1'),
  kind: fc.constant('Secret'),
  metadata: fc.record({ name: dnsLabel }),
  data: fc.dictionary(
    fc.stringMatching(/^[a-z][a-z0-9._-]{0,8}$/),
    fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b).toString('base64')),
    { maxKeys: 3 },
  ),
  stringData: fc.dictionary(fc.stringMatching(/^[A-Z][A-Z0-9]{0,8}$/), fc.string({ maxLength: 20 }), { maxKeys: 2 }),
});

// ---- near-valid: a few mutations of a valid one ----

/** Values that break types, ranges, units, encodings and object shapes. */
const weird = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    '',
    '-1',
    '0',
    '64Xi',
    '1e309',
    '-5Mi',
    '10',
    '1.5',
    '__proto__',
    'constructor',
    '\u0000',
    '\uFFFD',
    '\ud800',
    '../etc',
    '/',
    '/etc',
    'berth.task',
    'SIGFOO',
    'ALL',
    'x'.repeat(300),
    70000,
    -1,
    1.5,
    2 ** 60,
    Number.MAX_SAFE_INTEGER,
  ),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
);

type Mutation =
  | { op: 'set'; at: number; key: string; value: unknown }
  | { op: 'delete'; at: number; pick: number }
  | { op: 'replace'; at: number; pick: number; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    at: fc.nat(),
    key: fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom('__proto__', 'constructor', 'prototype', 'replicas', 'hostPort', 'size', 'mode', 'source', 'type', 'berth.node'),
    ),
    value: weird,
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), pick: fc.nat() }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), pick: fc.nat(), value: weird }),
);

/** Every mapping and list of a value, in a fixed order (the targets of mutations). */
function containers(v: unknown, out: Array<Record<string, unknown> | unknown[]> = []): Array<Record<string, unknown> | unknown[]> {
  if (v !== null && typeof v === 'object') {
    out.push(v as Record<string, unknown>);
    for (const x of Object.values(v)) containers(x, out);
  }
  return out;
}

/** A deep copy of plain data (faster than structuredClone); own "__proto__" keys stay data. */
function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (v === null || typeof v !== 'object') return v;
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v))
    Object.defineProperty(o, k, { value: clone(x), enumerable: true, writable: true, configurable: true });
  return o;
}

function mutate(doc: unknown, muts: Mutation[]): unknown {
  const copy = clone(doc);
  for (const m of muts) {
    const targets = containers(copy);
    const t = targets[m.at % targets.length]!;
    const keys = Object.keys(t);
    if (m.op === 'set') {
      // defineProperty: a "__proto__" key becomes data, as a YAML or JSON parser would make it.
      if (Array.isArray(t)) t.push(m.value);
      else Object.defineProperty(t, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
    } else if (keys.length > 0) {
      const k = keys[m.pick % keys.length]!;
      if (m.op === 'delete') {
        if (Array.isArray(t)) t.splice(Number(k), 1);
        else delete t[k];
      } else (t as Record<string, unknown>)[k] = m.value;
    }
  }
  return copy;
}

// ---- YAML text ----

/** Scalars that a plain (unquoted) YAML scalar would read as something else, or cannot hold. */
const PLAIN_SAFE = /^[A-Za-z_/][A-Za-z0-9_./@-]*$/;
const YAML_WORDS = /^(?:true|false|yes|no|on|off|null|~|y|n)$/i;

function scalar(v: unknown): string {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? '.nan' : v > 0 ? '.inf' : '-.inf';
  if (typeof v === 'string') return PLAIN_SAFE.test(v) && !YAML_WORDS.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? 'null';
}

/**
 * Block-style YAML as people write it: plain scalars where they are safe, double-quoted (JSON)
 * ones elsewhere, flow style for empty collections. Much faster than the yaml package's emitter,
 * which would dominate the run time of this test.
 */
function toYaml(v: unknown, indent = ''): string {
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return v.map((x) => `\n${indent}- ${toYaml(x, `${indent}  `).replace(/^\n\s*/, '')}`).join('');
  }
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v);
    if (entries.length === 0) return '{}';
    return entries
      .map(([k, x]) => {
        const body = toYaml(x, `${indent}  `);
        return `\n${indent}${scalar(k)}:${body.startsWith('\n') ? '' : ' '}${body}`;
      })
      .join('');
  }
  return scalar(v);
}

/** Damage to the text itself: a duplicated line, a stray character, a cut. */
type TextDamage = { op: 'none' } | { op: 'dupLine' | 'cut'; at: number } | { op: 'insert'; at: number; text: string };
const textDamage: fc.Arbitrary<TextDamage> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ op: 'none' as const }) },
  fc.record({ op: fc.constantFrom('dupLine' as const, 'cut' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.constantFrom(':', '- ', '{', '[', '&a ', '*a', '!!binary ', '"', '\t', '\n  ', '<<: ', '---\n'),
  }),
);

function damage(text: string, d: TextDamage): string {
  switch (d.op) {
    case 'none':
      return text;
    case 'dupLine': {
      const lines = text.split('\n');
      const i = d.at % lines.length;
      lines.splice(i, 0, lines[i]!);
      return lines.join('\n');
    }
    case 'cut':
      return text.slice(0, d.at % (text.length + 1));
    case 'insert': {
      const i = d.at % (text.length + 1);
      return text.slice(0, i) + d.text + text.slice(i);
    }
  }
}

const caseArb = fc.record({
  doc: fc.oneof({ weight: 9, arbitrary: service }, { weight: 1, arbitrary: secret }),
  mutations: fc.array(mutation, { maxLength: 3 }),
  // Block YAML as people write it, or JSON (which is YAML too, and what tools generate).
  style: fc.constantFrom('yaml' as const, 'json' as const),
  damage: textDamage,
});

// ---- the property ----

const outcomes = { readerRefused: 0, invalid: 0, accepted: 0 };

describe('manifest fuzz: parse → validate → apply', () => {
  const store = new MemoryStore();
  const keys = new Keys();
  const clock = new ManualClock(1_000);
  const services = new ServiceApi({ store, keys, clock, events: new MemorySink() });
  const secrets = new SecretApi({ store, keys, clock, cipher: new SecretCipher(Buffer.alloc(32, 7)) });

  afterAll(() => {
    // Printed so a reader of the test log sees what the generator produced.
    process.stdout.write(`manifest fuzz outcomes over ${RUNS} cases: ${JSON.stringify(outcomes)}\n`);
  });

  it("the test's YAML emitter writes what the reader reads back unchanged", () => {
    fc.assert(
      fc.property(fc.oneof(service, secret), (doc) => {
        expect(parseDocuments('emit.yaml', toYaml(doc).replace(/^\n/, ''))[0]!.doc).toEqual(doc);
      }),
      { numRuns: 300, seed },
    );
  });

  it(`${RUNS} near-valid manifests: only reader refusals, validation errors or accepted applies`, async () => {
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const mutated = mutate(c.doc, c.mutations);
        const text = damage(c.style === 'yaml' ? toYaml(mutated).replace(/^\n/, '') : JSON.stringify(mutated), c.damage);
        let docs;
        try {
          docs = parseDocuments('fuzz.yaml', text);
        } catch (e) {
          if (e instanceof ManifestError) {
            outcomes.readerRefused++;
            return;
          }
          throw e;
        }
        for (const d of docs) {
          try {
            // The controller's edge reads what the CLI sends: JSON.
            const doc = services.parseDocument(JSON.stringify(d.doc));
            const kind = (doc as { kind?: unknown } | null)?.kind;
            if (kind === 'Secret') await secrets.apply(doc);
            else {
              const { service } = await services.apply(doc);
              // The printed form of an accepted spec validates back to the same spec.
              const again = validateServiceManifest({
                apiVersion: 'berth.dev/v1',
                kind: 'Service',
                metadata: { name: service.value.meta.name },
                spec: formatServiceSpec(service.value.spec),
              });
              expect(again.ok && canonicalJson(again.value.spec)).toBe(canonicalJson(service.value.spec));
            }
            outcomes.accepted++;
          } catch (e) {
            if (e instanceof ValidationError) {
              expect(e.issues.length).toBeGreaterThan(0);
              for (const i of e.issues) expect(typeof i.path === 'string' && i.path.length > 0 && i.message.length > 0).toBe(true);
              outcomes.invalid++;
              continue;
            }
            throw e;
          }
        }
      }),
      { numRuns: RUNS, seed },
    );
    // The generator must exercise every outcome, or the property says little.
    for (const [k, n] of Object.entries(outcomes)) expect(n, k).toBeGreaterThan(RUNS / 20);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
  }, 120_000);
});
