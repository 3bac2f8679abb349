import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_REPLICAS, formatServiceSpec, validateServiceManifest } from '../../proto/src/spec/service.js';
import { formatBytes, formatCpu, formatDuration, humanBytes, parseBytes, parseCpu, parseDuration } from '../../proto/src/spec/units.js';
import type { Issue } from '../../proto/src/spec/dsl.js';
import { configureProperties } from './fixtures.js';

configureProperties();

const manifest = (spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
  apiVersion: 'berth.dev/v1',
  kind: 'Service',
  metadata: { name: 'web', ...metadata },
  spec: { image: 'berth-local/web:1', ...spec },
  ...top,
});

/** The documented defaults of the lifecycle fields (docs/manifest.md); test/unit/fixtures.ts mockSpec builds on what the validator fills in. */
const DEFAULT_LIFECYCLE = {
  onNodeLoss: 'replace',
  restart: { policy: 'always', backoff: { initial: 1_000, multiplier: 2, max: 300_000, resetAfter: 60_000 } },
  update: {
    maxSurge: 1,
    maxUnavailable: 0,
    order: 'start-first',
    monitor: 5_000,
    delay: 0,
    failureAction: 'rollback',
    maxFailureRatio: 0,
    progressDeadline: 120_000,
  },
  pullPolicy: 'ifNotPresent',
} as const;

function issues(doc: unknown): Issue[] {
  const r = validateServiceManifest(doc);
  if (r.ok) throw new Error('expected the manifest to be invalid');
  return r.issues;
}
const paths = (doc: unknown): string[] => issues(doc).map((i) => i.path);
const messageAt = (doc: unknown, path: string): string | undefined => issues(doc).find((i) => i.path === path)?.message;

describe('validateServiceManifest', () => {
  it('accepts a minimal manifest and fills in the defaults', () => {
    const r = validateServiceManifest({
      apiVersion: 'berth.dev/v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { image: 'busybox' },
    });
    expect(r).toEqual({
      ok: true,
      value: {
        apiVersion: 'berth.dev/v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: 'default' },
        spec: {
          image: 'busybox',
          replicas: 1,
          resources: { cpu: 0, memory: 0 },
          stop: { signal: 'SIGTERM', gracePeriod: 10_000 },
          ...DEFAULT_LIFECYCLE,
        },
      },
    });
  });

  it('turns units into base units (bytes, ms, milli-CPU) and keeps the rest', () => {
    const r = validateServiceManifest(
      manifest(
        {
          replicas: 3,
          command: ['httpd', '-f', '-p', 8080],
          env: { GREETING: 'hello', N: 5, ON: true },
          ports: [{ containerPort: 8080, hostPort: 18080 }],
          resources: { cpu: 0.25, memory: '64Mi', limits: { cpu: '500m', memory: '128Mi' } },
          stop: { signal: 'SIGINT', gracePeriod: '1m30s' },
        },
        { namespace: 'team-a', labels: { tier: 'front', 'example.com/owner': 'ops' } },
      ),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.metadata).toEqual({ name: 'web', namespace: 'team-a', labels: { 'example.com/owner': 'ops', tier: 'front' } });
    expect(r.value.spec).toEqual({
      image: 'berth-local/web:1',
      replicas: 3,
      command: ['httpd', '-f', '-p', '8080'],
      env: { GREETING: 'hello', N: '5', ON: 'true' },
      ports: [{ containerPort: 8080, hostPort: 18080, protocol: 'tcp' }],
      resources: { cpu: 250, memory: 64 * 2 ** 20, limits: { cpu: 500, memory: 128 * 2 ** 20 } },
      stop: { signal: 'SIGINT', gracePeriod: 90_000 },
      ...DEFAULT_LIFECYCLE,
    });
    // And back to the form a person writes.
    expect(formatServiceSpec(r.value.spec)).toMatchObject({
      resources: { cpu: 0.25, memory: '64Mi', limits: { cpu: 0.5, memory: '128Mi' } },
      stop: { signal: 'SIGINT', gracePeriod: '90s' },
    });
  });

  it('treats null like an absent field (defaults apply)', () => {
    const r = validateServiceManifest(manifest({ replicas: null, stop: null }));
    expect(r.ok && r.value.spec.replicas).toBe(1);
    expect(r.ok && r.value.spec.stop).toEqual({ signal: 'SIGTERM', gracePeriod: 10_000 });
  });

  it('reports each unknown field with its path, at the top, in spec and nested', () => {
    const doc = manifest(
      { replica: 2, stop: { grace: '1s' }, ports: [{ containerPort: 80, hostport: 8080 }], resources: { limits: { cpus: 1 } } },
      { label: {} },
      { extra: true },
    );
    const got = issues(doc);
    expect(got.map((i) => i.path).sort()).toEqual([
      'extra',
      'metadata.label',
      'spec.ports[0].hostport',
      'spec.replica',
      'spec.resources.limits.cpus',
      'spec.stop.grace',
    ]);
    expect(got.find((i) => i.path === 'spec.replica')!.message).toMatch(/^unknown field \(known: image, replicas, /);
  });

  it('refuses prototype-polluting keys as unknown fields and in maps', () => {
    const doc = JSON.parse(
      '{"apiVersion":"berth.dev/v1","kind":"Service","metadata":{"name":"web"},"spec":{"image":"busybox","__proto__":{"x":1},"env":{"__proto__":"x"}}}',
    ) as unknown;
    expect(paths(doc).sort()).toEqual(['spec.__proto__', 'spec.env.__proto__']);
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });

  it('a negative replica count is reported at spec.replicas', () => {
    expect(issues(manifest({ replicas: -1 }))).toEqual([{ path: 'spec.replicas', message: 'must be at least 0 (got -1)' }]);
  });

  it(`replicas above MAX_REPLICAS (${MAX_REPLICAS}) or not an integer are refused`, () => {
    expect(issues(manifest({ replicas: MAX_REPLICAS + 1 }))).toEqual([
      { path: 'spec.replicas', message: `must be at most ${MAX_REPLICAS} (got ${MAX_REPLICAS + 1})` },
    ]);
    expect(validateServiceManifest(manifest({ replicas: MAX_REPLICAS })).ok).toBe(true);
    expect(messageAt(manifest({ replicas: 1.5 }), 'spec.replicas')).toBe('expected an integer, got 1.5');
    expect(messageAt(manifest({ replicas: '3' }), 'spec.replicas')).toBe('expected an integer, got a string');
  });

  it('a missing image is reported at spec.image', () => {
    const doc = manifest();
    delete (doc.spec as Record<string, unknown>)['image'];
    expect(issues(doc)).toEqual([{ path: 'spec.image', message: 'required field is missing' }]);
  });

  it('a malformed image reference is refused', () => {
    expect(paths(manifest({ image: 'Busybox:latest' }))).toEqual(['spec.image']);
    expect(paths(manifest({ image: '' }))).toEqual(['spec.image']);
    for (const ok of ['busybox', 'registry:5000/team/web:1.2', `web@sha256:${'a'.repeat(64)}`, '127.0.0.1:5000/x/y']) {
      expect(validateServiceManifest(manifest({ image: ok })).ok, ok).toBe(true);
    }
  });

  it.each(['Web', 'web_1', '-web', 'web-', 'a'.repeat(64), ''])('refuses the name %j (not a DNS-1123 label) at metadata.name', (name) => {
    expect(paths(manifest({}, { name }))).toEqual(['metadata.name']);
  });

  it('accepts DNS-1123 names', () => {
    for (const name of ['a', 'web-1', '0x', 'a'.repeat(63)]) expect(validateServiceManifest(manifest({}, { name })).ok, name).toBe(true);
  });

  it('reports ports out of range at the port’s path', () => {
    const doc = manifest({
      ports: [{ containerPort: 80 }, { containerPort: 70000 }, { containerPort: 81, hostPort: 0 }, { containerPort: 82, protocol: 'sctp' }],
    });
    expect(issues(doc)).toEqual([
      { path: 'spec.ports[1].containerPort', message: 'must be at most 65535 (got 70000)' },
      { path: 'spec.ports[2].hostPort', message: 'must be at least 1 (got 0)' },
      { path: 'spec.ports[3].protocol', message: 'must be one of "tcp", "udp"; got "sctp"' },
    ]);
  });

  it('refuses a host port published twice (same protocol and address)', () => {
    const doc = manifest({
      ports: [
        { containerPort: 80, hostPort: 8080 },
        { containerPort: 81, hostPort: 8081 },
        { containerPort: 82, hostPort: 8080 },
      ],
    });
    expect(issues(doc)).toEqual([{ path: 'spec.ports[2].hostPort', message: 'host port 8080/tcp is already used by ports[0]' }]);
    // Another protocol or another address is a different binding.
    expect(
      validateServiceManifest(
        manifest({
          ports: [
            { containerPort: 80, hostPort: 53 },
            { containerPort: 81, hostPort: 53, protocol: 'udp' },
          ],
        }),
      ).ok,
    ).toBe(true);
    expect(
      validateServiceManifest(
        manifest({
          ports: [
            { containerPort: 80, hostPort: 80, hostIP: '127.0.0.1' },
            { containerPort: 81, hostPort: 80, hostIP: '127.0.0.2' },
          ],
        }),
      ).ok,
    ).toBe(true);
  });

  it('refuses a container port published twice', () => {
    expect(paths(manifest({ ports: [{ containerPort: 80 }, { containerPort: 80 }] }))).toEqual(['spec.ports[1].containerPort']);
  });

  it('reports every error of a document at once', () => {
    const doc = {
      apiVersion: 'berth.dev/v2',
      kind: 'Service',
      metadata: { name: 'Bad_Name' },
      spec: {
        replicas: -3,
        ports: [{ containerPort: 0 }],
        stop: { signal: 'SIGFOO', gracePeriod: 10 },
        resources: { memory: '12XB' },
        env: { '1BAD': 'x' },
      },
      status: {},
    };
    expect(paths(doc).sort()).toEqual([
      'apiVersion',
      'metadata.name',
      'spec.env.1BAD',
      'spec.image',
      'spec.ports[0].containerPort',
      'spec.replicas',
      'spec.resources.memory',
      'spec.stop.gracePeriod',
      'spec.stop.signal',
      'status',
    ]);
    expect(messageAt(doc, 'spec.stop.gracePeriod')).toBe('a duration needs a unit: write 10s or 10ms');
  });

  it('checks limits against reservations', () => {
    const doc = manifest({ resources: { cpu: 1, memory: '64Mi', limits: { cpu: 0.5, memory: '32Mi' } } });
    expect(paths(doc)).toEqual(['spec.resources.limits.cpu', 'spec.resources.limits.memory']);
    expect(paths(manifest({ resources: { limits: { memory: '4Mi' } } }))).toEqual(['spec.resources.limits.memory']);
  });

  it('rejects a document that is not a mapping', () => {
    expect(issues('kind: Service')).toEqual([{ path: '(document)', message: 'expected a mapping, got a string' }]);
    expect(issues([])).toEqual([{ path: '(document)', message: 'expected a mapping, got a list' }]);
  });
});

describe('units', () => {
  it('parseBytes', () => {
    expect(parseBytes('64Mi')).toBe(64 * 2 ** 20);
    expect(parseBytes('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(parseBytes('500M')).toBe(500_000_000);
    expect(parseBytes('2k')).toBe(2000);
    expect(parseBytes(' 8Ki ')).toBe(8192);
    expect(parseBytes('1024')).toBe(1024);
    expect(parseBytes(1024)).toBe(1024);
    expect(parseBytes(0)).toBe(0);
    for (const bad of [-1, 1.5, '12XB', '-5Mi', 'Mi', '', true, null]) expect(typeof parseBytes(bad), String(bad)).toBe('string');
    expect(parseBytes('12XB')).toBe('"12XB" is not a size: use a number with Ki, Mi, Gi, Ti (or k, M, G, T), e.g. 64Mi');
  });

  it('formatBytes uses the largest exact binary unit', () => {
    expect(formatBytes(64 * 2 ** 20)).toBe('64Mi');
    expect(formatBytes(2 ** 30)).toBe('1Gi');
    expect(formatBytes(1536)).toBe(1536);
    expect(formatBytes(0)).toBe(0);
    expect(humanBytes(200 * 2 ** 20)).toBe('200Mi');
    expect(humanBytes(1.5 * 2 ** 30)).toBe('1.5Gi');
    expect(humanBytes(500)).toBe('500B');
    expect(humanBytes(-(2 ** 20))).toBe('-1Mi');
  });

  it('parseDuration', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration(5)).toBe('a duration needs a unit: write 5s or 5ms');
    for (const bad of ['10', '1x', '', 's', '-1s', '1d', {}]) expect(typeof parseDuration(bad), JSON.stringify(bad)).toBe('string');
  });

  it('formatDuration picks the largest exact unit', () => {
    expect([0, 999, 1000, 1500, 60_000, 90_000, 3_600_000].map(formatDuration)).toEqual(['0s', '999ms', '1s', '1.5s', '1m', '90s', '1h']);
  });

  it('parseCpu and formatCpu', () => {
    expect(parseCpu(0.5)).toBe(500);
    expect(parseCpu(2)).toBe(2000);
    expect(parseCpu('250m')).toBe(250);
    expect(parseCpu('1.25')).toBe(1250);
    expect(parseCpu(0.001)).toBe(1);
    expect(parseCpu(0.0005)).toBe('CPU amount must be a multiple of 0.001 (1m)');
    expect(parseCpu(-1)).toBe('CPU amount must be a non-negative number');
    expect(typeof parseCpu('two')).toBe('string');
    expect(typeof parseCpu(Infinity)).toBe('string');
    expect(formatCpu(250)).toBe(0.25);
  });

  it('format then parse is the identity (bytes, durations, CPUs)', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (b) => {
        expect(parseBytes(formatBytes(b))).toBe(b);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (b) => {
        expect(parseBytes(formatBytes(b * 1024))).toBe(b * 1024);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 24 * 3_600_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1024 * 1000 }), (milli) => {
        expect(parseCpu(formatCpu(milli))).toBe(milli);
      }),
    );
  });
});
