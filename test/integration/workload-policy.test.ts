// The default-deny workload policy on a real cluster: every manifest of the escalation corpus is
// refused through the real CLI (exit non-zero, the field and reason named, nothing stored); a
// Policy admits its exception, and the container has exactly what was allowed (docker inspect);
// a spec written straight into etcd, past the API, is refused by the agent itself.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../harness/cluster.js';
import { LOCAL_IMAGE } from '../../cli/src/local/image.js';
import { LABEL_SERVICE } from '../../proto/src/labels.js';
import { EtcdStore } from '../../controller/src/store/etcd-store.js';
import { etcdStoreOptions } from '../harness/backends.js';
import { Keys } from '../../controller/src/store/keys.js';
import type { ServiceRecord } from '../../proto/src/model.js';

const CORPUS = join(import.meta.dirname, '../corpus/escalation');
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: 1 });
});

afterAll(async () => {
  await cluster?.stop();
});

const files = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('escalation corpus through the CLI', () => {
  it(`refuses each of the ${files.length} manifests with its field and reason; nothing is stored`, async () => {
    for (const f of files) {
      const text = readFileSync(join(CORPUS, f), 'utf8');
      const [, path, reason] = /^# refused: (\S+): (.+)$/m.exec(text)!;
      const res = await cluster.berth(['apply', '-f', join(CORPUS, f)]);
      expect(res.code, `${f}: ${res.stdout}${res.stderr}`).not.toBe(0);
      expect(res.stderr, f).toContain(`${path}: `);
      expect(res.stderr, f).toContain(reason!);
    }
    expect(await cluster.client().listServices('corpus')).toEqual([]);
  });
});

describe('a Policy, and the agent', () => {
  it('admits the exception it allows; the container gets exactly that (docker inspect)', async () => {
    const dir = cluster.dir;
    const svc = `apiVersion: berth.dev/v1
kind: Service
metadata: { name: vpn, namespace: net }
spec:
  image: ${LOCAL_IMAGE}
  command: [sleep, "600"]
  capAdd: [NET_ADMIN]
  stop: { gracePeriod: 1s }
`;
    writeFileSync(join(dir, 'vpn.yaml'), svc);
    const refused = await cluster.berth(['apply', '-f', join(dir, 'vpn.yaml')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /spec.capAdd\[0\]: NET_ADMIN is beyond the baseline capabilities .*spec.allowCapabilities: \[NET_ADMIN\] would allow it/,
    );

    writeFileSync(
      join(dir, 'vpn-policy.yaml'),
      'apiVersion: berth.dev/v1\nkind: Policy\nmetadata: { name: vpn, namespace: net }\nspec: { allowCapabilities: [NET_ADMIN] }\n',
    );
    const p = await cluster.berth(['apply', '-f', join(dir, 'vpn-policy.yaml')]);
    expect(p.stdout).toContain('policy/net/vpn created');
    const listed = await cluster.berth(['get', 'policies', '-n', 'net']);
    expect(listed.stdout).toMatch(/net\s+vpn\s+capabilities NET_ADMIN/);

    const ok = await cluster.berth(['apply', '-f', join(dir, 'vpn.yaml'), '--wait', '--timeout', '60s']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const docker = cluster.hosts[0]!.docker;
    const [c] = await docker.listContainers({ filters: { label: [`${LABEL_SERVICE}=vpn`] } });
    const info = await docker.getContainer(c!.Id).inspect();
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.HostConfig.CapAdd).toContain('NET_ADMIN');
    expect(info.HostConfig.CapAdd).not.toContain('NET_RAW');
    expect(info.HostConfig.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(info.HostConfig.NetworkMode).not.toBe('host');
    expect(info.HostConfig.Privileged).toBe(false);
  });

  it('a spec changed in etcd behind the API is refused by the agent, with the rule named', async () => {
    writeFileSync(
      join(cluster.dir, 'plain.yaml'),
      `apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: plain, namespace: forged }\nspec:\n  image: ${LOCAL_IMAGE}\n  command: [sleep, "600"]\n  stop: { gracePeriod: 1s }\n`,
    );
    expect((await cluster.berth(['apply', '-f', join(cluster.dir, 'plain.yaml'), '--wait', '--timeout', '60s'])).code).toBe(0);
    // What an attacker with etcd write access (or a corrupted record) would do: a new revision
    // with SYS_ADMIN, never checked by the API.
    const store = EtcdStore.connect(etcdStoreOptions(cluster.etcd));
    const keys = new Keys();
    try {
      const kv = (await store.get(keys.service('forged', 'plain')))!;
      const rec = JSON.parse(kv.value) as ServiceRecord;
      const forged: ServiceRecord = { ...rec, spec: { ...rec.spec, capAdd: ['SYS_ADMIN'] }, specRevision: rec.specRevision + 1 };
      await store.commit([{ op: 'update', key: kv.key, value: JSON.stringify(forged), modRevision: kv.modRevision }]);
    } finally {
      await store.close();
    }
    await cluster.waitFor(
      async () => {
        const tasks = await cluster.client().listTasks({ namespace: 'forged', service: 'plain', all: true });
        return tasks.some((t) => /refused by this node's workload policy check: spec.capAdd\[0\]: SYS_ADMIN/.test(t.status?.message ?? ''));
      },
      'a task refused by the agent',
      60_000,
    );
    // No container with SYS_ADMIN ever existed.
    const all = await cluster.hosts[0]!.docker.listContainers({ all: true, filters: { label: [`${LABEL_SERVICE}=plain`] } });
    for (const c of all)
      expect((await cluster.hosts[0]!.docker.getContainer(c.Id).inspect()).HostConfig.CapAdd ?? []).not.toContain('SYS_ADMIN');
  });

  it('a quota: an apply over it exits non-zero naming the figure and the limit; nothing changes', async () => {
    const dir = cluster.dir;
    writeFileSync(
      join(dir, 'quota.yaml'),
      'apiVersion: berth.dev/v1\nkind: Policy\nmetadata: { name: limits, namespace: small }\nspec: { quota: { replicas: 2 } }\n',
    );
    expect((await cluster.berth(['apply', '-f', join(dir, 'quota.yaml')])).code).toBe(0);
    expect((await cluster.berth(['get', 'policies', '-n', 'small'])).stdout).toMatch(/small\s+limits\s+quota replicas 2/);
    const svc = (replicas: number) =>
      `apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: web, namespace: small }\nspec:\n  image: ${LOCAL_IMAGE}\n  command: [sleep, "600"]\n  replicas: ${replicas}\n  stop: { gracePeriod: 1s }\n`;
    writeFileSync(join(dir, 'small.yaml'), svc(3));
    const over = await cluster.berth(['apply', '-f', join(dir, 'small.yaml')]);
    expect(over.code).not.toBe(0);
    expect(over.stderr).toContain(
      'spec.replicas: namespace "small" would use 3 replicas (now 0); its quota is 2 (policy limits, spec.quota.replicas)',
    );
    expect(await cluster.client().listServices('small')).toEqual([]);
    writeFileSync(join(dir, 'small.yaml'), svc(2));
    expect((await cluster.berth(['apply', '-f', join(dir, 'small.yaml')])).code).toBe(0);
    const scaled = await cluster.berth(['scale', 'web=3', '-n', 'small']);
    expect(scaled.code).not.toBe(0);
    expect(scaled.stderr).toContain('would use 3 replicas (now 2); its quota is 2');
    expect((await cluster.client().getService('small', 'web')).specRevision).toBe(1);
  });
});
