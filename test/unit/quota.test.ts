// Namespace quotas in a Policy: an apply (or scale, or a new secret) over one is refused with the
// figure and the limit and stores nothing; shrinking always works; two applies racing past the
// same check cannot both land (the namespace's usage key); other namespaces are not limited.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../proto/src/clock.js';
import { ValidationError } from '../../proto/src/errors.js';
import { NO_USAGE, quotaViolations, serviceUsage } from '../../proto/src/security/quota.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { Keys } from '../../controller/src/store/keys.js';
import { ServiceApi } from '../../controller/src/api/services.js';
import { PolicyApi } from '../../controller/src/api/policies.js';
import { SecretApi } from '../../controller/src/api/secrets.js';
import { SecretCipher } from '../../controller/src/secrets/cipher.js';
import { MemorySink } from '../../controller/src/events/events.js';

function setup() {
  const store = new MemoryStore();
  const keys = new Keys();
  const clock = new ManualClock();
  return {
    store,
    keys,
    services: new ServiceApi({ store, keys, clock, events: new MemorySink() }),
    policies: new PolicyApi({ store, keys, clock }),
    secrets: new SecretApi({ store, keys, clock, cipher: new SecretCipher(Buffer.alloc(32, 7)) }),
  };
}
const svc = (name: string, replicas: number, resources: Record<string, unknown> = {}, ns = 'team') => ({
  apiVersion: 'berth.dev/v1',
  kind: 'Service',
  metadata: { name, namespace: ns },
  spec: { image: 'busybox', replicas, resources },
});
const quota = (q: Record<string, unknown>, name = 'limits') => ({
  apiVersion: 'berth.dev/v1',
  kind: 'Policy',
  metadata: { name, namespace: 'team' },
  spec: { quota: q },
});
const issueOf = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ValidationError);
  return (e as ValidationError).issues;
};

describe('quotaViolations (pure)', () => {
  it('a global service counts one replica per node; cpu is reserved per replica', () => {
    expect(serviceUsage({ replicas: 1, mode: 'global', resources: { cpu: 250, memory: 10 } }, 4)).toEqual({
      services: 1,
      replicas: 4,
      cpuMilli: 1000,
      memoryBytes: 40,
      secrets: 0,
    });
  });
  it('a limit already passed blocks only growth of that figure', () => {
    const before = { ...NO_USAGE, replicas: 8 };
    expect(quotaViolations('t', before, { ...NO_USAGE, replicas: 7 }, [{ policy: 'p', quota: { replicas: 5 } }])).toEqual([]);
    expect(quotaViolations('t', before, { ...NO_USAGE, replicas: 9 }, [{ policy: 'p', quota: { replicas: 5 } }])[0]!.message).toBe(
      'namespace "t" would use 9 replicas (now 8); its quota is 5 (policy p, spec.quota.replicas)',
    );
  });
});

describe('quotas through the API', () => {
  it('replicas, services, cpu and memory: refused with figure and limit, nothing stored; shrinking works', async () => {
    const { store, services, policies } = setup();
    await policies.apply(quota({ services: 2, replicas: 5, cpu: 1, memory: '1Gi' }));
    await services.apply(svc('a', 3, { cpu: 0.25, memory: '256Mi' }));
    const rev = (await store.list('')).revision;
    const replicas = await issueOf(services.apply(svc('b', 3)));
    expect(replicas).toEqual([
      {
        path: 'spec.replicas',
        message: 'namespace "team" would use 6 replicas (now 3); its quota is 5 (policy limits, spec.quota.replicas)',
      },
    ]);
    const cpu = await issueOf(services.apply(svc('a', 5, { cpu: 0.25, memory: '256Mi' })));
    expect(cpu.map((i) => i.path)).toEqual(['spec.resources.cpu', 'spec.resources.memory']);
    expect(cpu[0]!.message).toBe('namespace "team" would use 1.25 CPUs (now 0.75); its quota is 1 (policy limits, spec.quota.cpu)');
    expect(cpu[1]!.message).toMatch(/would use 1280Mi memory \(now 768Mi\); its quota is 1Gi/);
    expect((await store.list('')).revision).toBe(rev);
    await services.apply(svc('b', 2));
    expect((await issueOf(services.apply(svc('c', 0))))[0]).toMatchObject({
      path: 'metadata.name',
      message: expect.stringMatching(/3 services \(now 2\); its quota is 2/),
    });
    expect((await services.apply(svc('a', 1, { cpu: 0.25, memory: '256Mi' }))).result).toBe('updated');
    // Another namespace is not limited.
    expect((await services.apply(svc('big', 50, {}, 'other'))).result).toBe('created');
  });

  it('every Policy quota holds: the smallest limit wins', async () => {
    const { services, policies } = setup();
    await policies.apply(quota({ replicas: 10 }, 'wide'));
    await policies.apply(quota({ replicas: 4 }, 'narrow'));
    const issues = await issueOf(services.apply(svc('a', 5)));
    expect(issues.map((i) => i.message)).toEqual([expect.stringContaining('its quota is 4 (policy narrow')]);
  });

  it('two applies racing past the same check: exactly one lands', async () => {
    const { store, keys, services, policies } = setup();
    await policies.apply(quota({ replicas: 5 }));
    const results = await Promise.allSettled([services.apply(svc('x', 3)), services.apply(svc('y', 3))]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await store.list(`${keys.services}team/`)).items).toHaveLength(1);
  });

  it('secrets: a new one over the quota is refused; updating an existing one is not', async () => {
    const { store, keys, secrets, policies } = setup();
    await policies.apply(quota({ secrets: 1 }));
    const sec = (name: string, v: string) => ({
      apiVersion: 'berth.dev/v1',
      kind: 'Secret',
      metadata: { name, namespace: 'team' },
      stringData: { k: v },
    });
    await secrets.apply(sec('one', 'a'));
    const issues = await issueOf(secrets.apply(sec('two', 'b')));
    expect(issues[0]!.message).toBe('namespace "team" would use 2 secrets (now 1); its quota is 1 (policy limits, spec.quota.secrets)');
    expect((await secrets.apply(sec('one', 'c'))).result).toBe('updated');
    expect((await store.list(`${keys.secrets}team/`)).items).toHaveLength(1);
  });
});
