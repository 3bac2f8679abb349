// The default-deny workload policy: the rules (pure), the API's refusal of every manifest of the
// escalation corpus (test/corpus/escalation, each naming the field and reason it must be refused
// with) with nothing stored, the exceptions a Policy allows, and the agent's own check.
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../proto/src/clock.js';
import { ValidationError } from '../../proto/src/errors.js';
import {
  BASELINE_CAPABILITIES,
  NO_GRANTS,
  effectiveCapabilities,
  mergeGrants,
  reachesEngineSocket,
  workloadViolations,
} from '../../proto/src/security/workload-policy.js';
import { validatePolicyManifest } from '../../proto/src/spec/policy.js';
import { validateServiceManifest, type ServiceSpec } from '../../proto/src/spec/service.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { Keys } from '../../controller/src/store/keys.js';
import { ServiceApi } from '../../controller/src/api/services.js';
import { PolicyApi } from '../../controller/src/api/policies.js';
import { MemorySink } from '../../controller/src/events/events.js';
import { guardWorkloadPolicy, probePath } from '../../agent/src/workload-guard.js';
import { grantsFromPb } from '../../agent/src/session.js';
import { FakeRuntime } from './fake-runtime.js';

const CORPUS = join(import.meta.dirname, '../corpus/escalation');
const corpus = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => {
    const text = readFileSync(join(CORPUS, f), 'utf8');
    const m = /^# refused: (\S+): (.+)$/m.exec(text);
    if (!m) throw new Error(`${f}: no "# refused: PATH: REASON" line`);
    return { file: f, doc: parse(text) as unknown, path: m[1]!, reason: m[2]! };
  });

function setup() {
  const store = new MemoryStore();
  const keys = new Keys();
  const clock = new ManualClock();
  return {
    store,
    keys,
    services: new ServiceApi({ store, keys, clock, events: new MemorySink() }),
    policies: new PolicyApi({ store, keys, clock }),
  };
}

const spec = (fields: Record<string, unknown>): ServiceSpec => {
  const v = validateServiceManifest({
    apiVersion: 'berth.dev/v1',
    kind: 'Service',
    metadata: { name: 's' },
    spec: { image: 'busybox', ...fields },
  });
  if (!v.ok) throw new Error(JSON.stringify(v.issues));
  return v.value.spec;
};

describe('escalation corpus', () => {
  it('holds at least 25 manifests', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(25);
  });

  it.each(corpus)('$file: refused at $path, nothing stored', async ({ doc, path, reason }) => {
    const { store, services } = setup();
    const before = (await store.list('')).revision;
    const err = await services.apply(doc).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ValidationError);
    const issue = (err as ValidationError).issues.find((i) => i.path === path);
    expect(issue, (err as Error).message).toBeDefined();
    expect(issue!.message).toContain(reason);
    expect((await store.list('')).revision).toBe(before);
    expect((await store.list('')).items).toEqual([]);
  });
});

describe('rules', () => {
  it('the baseline is admitted with no Policy: baseline capabilities, bridge, no escalation, ordinary binds', () => {
    expect(
      workloadViolations(
        spec({ capAdd: ['CHOWN', 'NET_BIND_SERVICE'], capDrop: ['MKNOD'], volumes: [{ type: 'bind', source: '/srv/data', target: '/d' }] }),
        'x',
        NO_GRANTS,
      ),
    ).toEqual([]);
  });

  it('each refusal names the field, the rule and the Policy field that would allow it', () => {
    const v = workloadViolations(
      spec({ capAdd: ['SYS_ADMIN'], networkMode: 'host', allowPrivilegeEscalation: true }),
      'payments',
      NO_GRANTS,
    );
    expect(v.map((x) => [x.path, x.rule])).toEqual([
      ['capAdd[0]', 'capabilities'],
      ['networkMode', 'host-network'],
      ['allowPrivilegeEscalation', 'privilege-escalation'],
    ]);
    expect(v[0]!.message).toMatch(
      /SYS_ADMIN is beyond the baseline capabilities \(rule capabilities: AUDIT_WRITE, .*\); a Policy of namespace "payments" with spec.allowCapabilities: \[SYS_ADMIN\] would allow it/,
    );
    expect(v[1]!.message).toMatch(/spec.allowHostNetwork: true would allow it/);
  });

  it('policies add up; ALL allows every capability; grants of another namespace do not count', () => {
    const a = validatePolicyManifest({
      apiVersion: 'berth.dev/v1',
      kind: 'Policy',
      metadata: { name: 'a', namespace: 'x' },
      spec: { allowCapabilities: ['net_admin'] },
    });
    const b = validatePolicyManifest({
      apiVersion: 'berth.dev/v1',
      kind: 'Policy',
      metadata: { name: 'b', namespace: 'x' },
      spec: { allowHostNetwork: true },
    });
    if (!a.ok || !b.ok) throw new Error('invalid');
    const g = mergeGrants([
      { name: 'b', spec: b.value.spec },
      { name: 'a', spec: a.value.spec },
    ]);
    expect(g).toEqual({
      capabilities: ['NET_ADMIN'],
      hostNetwork: true,
      privilegeEscalation: false,
      dockerSocket: false,
      policies: ['a', 'b'],
    });
    expect(workloadViolations(spec({ capAdd: ['NET_ADMIN'], networkMode: 'host' }), 'x', g)).toEqual([]);
    expect(workloadViolations(spec({ capAdd: ['SYS_ADMIN'] }), 'x', g).map((v) => v.path)).toEqual(['capAdd[0]']);
    expect(workloadViolations(spec({ capAdd: ['SYS_ADMIN', 'ALL'] }), 'x', { ...g, capabilities: ['ALL'] })).toEqual([]);
  });

  it.each([
    ['/var/run/docker.sock', true],
    ['/var/run/docker.sock/', true],
    ['/run', true],
    ['/var', true],
    ['/', true],
    ['/home/me/app.sock', true],
    ['/srv/docker.sock.d/x', true],
    ['/srv/data', false],
    ['/run-data', false],
    ['/var/lib/app', false],
  ])('a bind of %s reaches an engine socket: %s', (source, yes) => {
    expect(reachesEngineSocket(source)).toBe(yes);
  });

  it('the capabilities a container gets: all dropped, the baseline less capDrop plus capAdd', () => {
    expect(effectiveCapabilities({})).toEqual({ capDrop: ['ALL'], capAdd: [...BASELINE_CAPABILITIES] });
    expect(effectiveCapabilities({ capDrop: ['ALL'], capAdd: ['NET_BIND_SERVICE'] })).toEqual({
      capDrop: ['ALL'],
      capAdd: ['NET_BIND_SERVICE'],
    });
  });
});

describe('Policy objects and the API', () => {
  it('a Policy of the namespace admits what it allows, only there; deleting it refuses new applies again', async () => {
    const { store, keys, services, policies } = setup();
    const svc = (ns: string) => ({
      apiVersion: 'berth.dev/v1',
      kind: 'Service',
      metadata: { name: 'vpn', namespace: ns },
      spec: { image: 'busybox', capAdd: ['NET_ADMIN'] },
    });
    await expect(services.apply(svc('net'))).rejects.toThrow(/spec.capAdd\[0\]: NET_ADMIN is beyond the baseline/);
    const p = {
      apiVersion: 'berth.dev/v1',
      kind: 'Policy',
      metadata: { name: 'vpn', namespace: 'net' },
      spec: { allowCapabilities: ['NET_ADMIN'] },
    };
    expect((await policies.apply(p)).result).toBe('created');
    expect((await policies.apply(p)).result).toBe('unchanged');
    expect((await services.apply(svc('net'))).result).toBe('created');
    await expect(services.apply(svc('other'))).rejects.toThrow(/namespace "other"/);
    await policies.delete('net', 'vpn');
    await expect(services.apply({ ...svc('net'), spec: { ...svc('net').spec, replicas: 2 } })).rejects.toThrow(/NET_ADMIN/);
    expect((await store.list(keys.policies)).items).toEqual([]);
  });

  it('a bad Policy names the field', async () => {
    const { store, policies } = setup();
    await expect(
      policies.apply({
        apiVersion: 'berth.dev/v1',
        kind: 'Policy',
        metadata: { name: 'p' },
        spec: { allowCapabilities: ['NET_FOO'], allowHostNetwork: 'yes' },
      }),
    ).rejects.toThrow(/spec.allowCapabilities\[0\]: unknown capability "NET_FOO"[\s\S]*spec.allowHostNetwork:/);
    expect((await store.list('')).items).toEqual([]);
  });
});

describe("the agent's own check", () => {
  const tmp = mkdtempSync(join(tmpdir(), 'berth-wl-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('refuses a forged task the API would have refused, and admits it with the grants sent beside it', async () => {
    const inner = new FakeRuntime();
    const rt = guardWorkloadPolicy(inner);
    const forged = spec({ capAdd: ['SYS_ADMIN'] });
    await expect(rt.create({ name: 'c', labels: {}, spec: forged, namespace: 'x', grants: NO_GRANTS })).rejects.toThrow(
      /refused by this node's workload policy check: spec.capAdd\[0\]: SYS_ADMIN is beyond the baseline/,
    );
    await expect(rt.create({ name: 'c', labels: {}, spec: forged, namespace: 'x' })).rejects.toThrow(/SYS_ADMIN/);
    const grants = grantsFromPb(JSON.stringify({ ...NO_GRANTS, capabilities: ['SYS_ADMIN'] }));
    expect(await rt.create({ name: 'c', labels: {}, spec: forged, namespace: 'x', grants })).toBeTruthy();
    expect(grantsFromPb('not json')).toEqual(NO_GRANTS);
  });

  it('a bind whose path on the node is a socket, or a symlink to one, is refused', async () => {
    const sock = join(tmp, 'engine');
    const server = createServer();
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      symlinkSync(sock, join(tmp, 'innocent'));
      expect(await probePath(join(tmp, 'innocent'))).toEqual({ real: sock, socket: true });
      const rt = guardWorkloadPolicy(new FakeRuntime());
      for (const source of [sock, join(tmp, 'innocent')]) {
        await expect(
          rt.create({
            name: 'c',
            labels: {},
            spec: spec({ volumes: [{ type: 'bind', source, target: '/s' }] }),
            namespace: 'x',
            grants: NO_GRANTS,
          }),
        ).rejects.toThrow(/is a socket .*\(rule docker-socket\)/);
      }
    } finally {
      server.close();
    }
  });
});
