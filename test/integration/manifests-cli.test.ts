// The manifest half of the CLI against a real cluster (etcd, NATS, one dockerd, controller,
// agent; the real berth binary): mixed Service and Secret documents, secrets sealed in etcd and
// never shown, one bad document applying none, hostile files refused with nothing stored, and
// Compose import (apply with warnings, --strict, convert).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { etcdClient } from '../../controller/src/store/etcd-store.js';
import { LOCAL_IMAGE } from '../../cli/src/local/image.js';
import { LABEL_SERVICE } from '../../proto/src/labels.js';
import { ApiError } from '../../cli/src/client.js';
import { TestCluster } from '../harness/cluster.js';
import { etcdStoreOptions } from '../harness/backends.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: 1 });
});

afterAll(async () => {
  await cluster?.stop();
});

function file(name: string, content: string | Buffer): string {
  const p = join(cluster.dir, name);
  writeFileSync(p, content);
  return p;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function serviceNames(): Promise<string[]> {
  return (await cluster.client().listServices()).map((s) => s.meta?.name ?? '').sort();
}

describe('Services and Secrets in one apply', () => {
  const mixed = `apiVersion: berth.dev/v1
kind: Service
metadata: { name: app }
spec:
  image: ${LOCAL_IMAGE}
  command: [sleep, "600"]
  stop: { gracePeriod: 1s }
---
apiVersion: berth.dev/v1
kind: Secret
metadata: { name: db, labels: { team: data } }
data:
  password: ${b64('s3cr3t-value')}
stringData:
  user: admin-user
`;

  it('applies both (the secret first), and re-applying changes nothing', async () => {
    const f = file('mixed.yaml', mixed);
    const res = await cluster.berth(['apply', '-f', f]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('secret/default/db created (version 1)\nservice/default/app created (revision 1)\n');
    const again = await cluster.berth(['apply', '-f', f]);
    expect(again.stdout).toBe('secret/default/db unchanged\nservice/default/app unchanged\n');
  });

  it('shows names, keys and sizes, never values; etcd holds the values only sealed', async () => {
    const table = await cluster.berth(['get', 'secrets']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAMESPACE +NAME +KEYS +VERSION +AGE\ndefault +db +password \(12B\), user \(10B\) +1 +\d+s\n$/);
    for (const format of ['json', 'yaml']) {
      const out = await cluster.berth(['get', 'secret', 'db', '-o', format]);
      expect(out.code).toBe(0);
      expect(out.stdout).toContain('password');
      for (const secret of ['s3cr3t-value', b64('s3cr3t-value'), 'admin-user', b64('admin-user')]) expect(out.stdout).not.toContain(secret);
    }
    const etcd = etcdClient(etcdStoreOptions(cluster.etcd));
    try {
      const raw = await etcd.get('/berth/v1/secrets/default/db').string();
      expect(raw).toBeTruthy();
      expect(JSON.parse(raw!)).toMatchObject({
        keys: [
          { name: 'password', sizeBytes: 12 },
          { name: 'user', sizeBytes: 10 },
        ],
        sealed: { alg: 'aes-256-gcm' },
      });
      for (const secret of ['s3cr3t-value', b64('s3cr3t-value'), 'admin-user', b64('admin-user')]) expect(raw).not.toContain(secret);
    } finally {
      etcd.close();
    }
  });

  it('one bad document applies none of them, naming every problem by path', async () => {
    const f = file(
      'bad-mixed.yaml',
      `apiVersion: berth.dev/v1
kind: Secret
metadata: { name: other }
stringData: { token: abc }
---
apiVersion: berth.dev/v1
kind: Service
metadata: { name: broken }
spec:
  image: ${LOCAL_IMAGE}
  ports: [{ containerPort: 80 }, { containerPort: 81, hostPort: 70000 }]
  volumes: [{ type: bind, source: relative/path, target: /x }]
---
apiVersion: berth.dev/v1
kind: ConfigMap
metadata: { name: c }
`,
    );
    const res = await cluster.berth(['apply', '-f', f]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('invalid manifest, nothing applied');
    expect(res.stderr).toContain('spec.ports[1].hostPort: must be at most 65535 (got 70000)');
    expect(res.stderr).toContain('spec.volumes[0].source: "relative/path" is not an absolute path');
    expect(res.stderr).toContain('unsupported kind "ConfigMap"; this version applies: Service, Secret');
    expect((await cluster.berth(['get', 'secrets'])).stdout).not.toContain('other');
    expect(await serviceNames()).not.toContain('broken');
  });

  it('deletes a secret by name', async () => {
    const res = await cluster.berth(['delete', 'secret', 'db']);
    expect(res.stdout).toBe('secret/default/db deleted\n');
    const after = await cluster.berth(['get', 'secret', 'db']);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('secret default/db not found');
  });
});

describe('hostile files are refused by the CLI with nothing stored', () => {
  it.each([
    [
      'over 1 MiB',
      () =>
        `apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: big }\nspec: { image: busybox, env: { A: "${'x'.repeat(1024 * 1024)}" } }\n`,
      /: \d+ bytes is larger than the 1 MiB limit/,
    ],
    [
      'invalid UTF-8',
      () =>
        Buffer.concat([
          Buffer.from('apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: b'),
          Buffer.from([0xff, 0xfe]),
          Buffer.from('ad }\nspec: { image: busybox }\n'),
        ]),
      /not valid UTF-8: byte 0xff at offset 58 \(line 3, column 20\)/,
    ],
    [
      'a duplicate key',
      () => 'apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: dup }\nspec: { image: busybox, replicas: 1, replicas: 50 }\n',
      /document 1, line 4, column 38: spec.replicas: duplicate key/,
    ],
    [
      'a __proto__ key',
      () => 'apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: proto }\nspec: { image: busybox, __proto__: { replicas: 50 } }\n',
      /spec.__proto__: the key "__proto__" is not allowed/,
    ],
    [
      'an alias bomb',
      () =>
        [
          'a0: &a0 [x, x, x, x, x, x, x, x, x]',
          ...Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(9).fill(`*a${i}`).join(', ')}]`),
        ].join('\n'),
      /too many aliases/,
    ],
    ['deep nesting', () => `${'['.repeat(10_000)}${']'.repeat(10_000)}`, /nested deeper than 64 levels/],
  ])('%s', async (what, content, message) => {
    const before = await serviceNames();
    const start = Date.now();
    const res = await cluster.berth(['apply', '-f', file(`hostile-${what.replace(/\W+/g, '-')}.yaml`, content())]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(message);
    expect(Date.now() - start, 'the CLI answers promptly').toBeLessThan(30_000);
    expect(await serviceNames()).toEqual(before);
  });

  it('the controller refuses the same at its edge (a client that is not the CLI)', async () => {
    const c = cluster.client();
    const err = await c
      .applyService({
        manifestJson:
          '{"apiVersion":"berth.dev/v1","kind":"Service","metadata":{"name":"dup"},"spec":{"image":"busybox","replicas":1,"replicas":50}}',
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((err as ApiError).message).toContain('spec.replicas: duplicate key');
    const deep = await c.applyService({ manifestJson: '['.repeat(100_000) }).catch((e: unknown) => e);
    expect((deep as ApiError).message).toContain('nested deeper than 64 levels');
    expect(await serviceNames()).not.toContain('dup');
  });
});

describe('Compose import', () => {
  const compose = (project: string, web: string, worker: string): string => `name: ${project}
services:
  ${web}:
    image: ${LOCAL_IMAGE}
    command: httpd -f -p 8080 -h /www
    ports: ["8080"]
    environment: [GREETING=hi]
    volumes: ["data:/data", "/tmp"]
    deploy:
      replicas: 2
      resources:
        limits: { cpus: "0.5", memory: 64M }
        reservations: { memory: 16M }
    stop_grace_period: 1s
    healthcheck: { test: ["CMD", "true"], interval: 1s, timeout: 1s }
    restart: on-failure:3
    networks: [front]
  ${worker}:
    image: ${LOCAL_IMAGE}
    command: ["sh", "-c", "echo $$GREETING; exec sleep 600"]
    environment: { GREETING: hello }
    stop_grace_period: 1s
volumes:
  data: {}
networks:
  front: {}
`;

  it('apply converts a Compose file, reports every key it does not honour, and runs it', async () => {
    const f = file('docker-compose.yml', compose('demo', 'web', 'worker'));
    const res = await cluster.berth(['apply', '-f', f]);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('service/default/web created (revision 1)\nservice/default/worker created (revision 1)\n');
    const warnings = res.stderr.trim().split('\n');
    expect(warnings).toEqual([
      `warning: ${f}: networks: not honoured: Berth uses the engine's bridge network (or networkMode host/none); containers reach each other through published ports`,
      `warning: ${f}: services.web.networks: not honoured: Berth uses the engine's bridge network (or networkMode host/none); containers reach each other through published ports`,
    ]);
    await cluster.waitFor(
      async () => (await cluster.running(0)).filter((c) => ['web', 'worker'].includes(c.Labels[LABEL_SERVICE] ?? '')).length === 3,
      'two web and one worker container running',
    );
    const docker = cluster.hosts[0]!.docker;
    const [web] = await docker.listContainers({ filters: { label: [`${LABEL_SERVICE}=web`] } });
    const info = await docker.getContainer(web!.Id).inspect();
    expect(info.Config.Cmd).toEqual(['httpd', '-f', '-p', '8080', '-h', '/www']);
    expect(info.Config.Env).toContain('GREETING=hi');
    expect(info.HostConfig.Memory).toBe(64 * 2 ** 20);
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.MemoryReservation).toBe(16 * 2 ** 20);
    expect(info.HostConfig.Mounts).toEqual([
      { Type: 'volume', Source: 'demo_data', Target: '/data' },
      { Type: 'volume', Target: '/tmp' },
    ]);
    expect(Object.keys(info.HostConfig.PortBindings ?? {})).toEqual(['8080/tcp']);
    const services = await cluster.client().listServices();
    const webService = services.find((s) => s.meta?.name === 'web')!;
    expect(webService.meta?.labels).toEqual({ 'com.docker.compose.project': 'demo', 'com.docker.compose.service': 'web' });
    // healthcheck and restart became Berth's health check and restart policy, and they work.
    expect(JSON.parse(webService.specJson)).toMatchObject({
      health: { exec: { command: ['true'] }, interval: 1000, timeout: 1000, retries: 3 },
      restart: { policy: 'on-failure', maxAttempts: 3 },
    });
    await cluster.waitFor(async () => {
      const tasks = await cluster.client().listTasks({ service: 'web' });
      return tasks.length === 2 && tasks.every((t) => t.status?.health === 'healthy');
    }, 'both web tasks healthy by the converted health check');
  });

  it('--strict turns what is not honoured into errors and applies nothing', async () => {
    const f = file('strict-docker-compose.yml', compose('strict', 'strict-web', 'strict-worker'));
    const res = await cluster.berth(['apply', '--strict', '-f', f]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('cannot convert the Compose file (--strict: keys that are not honoured are errors); nothing was sent:');
    expect(res.stderr).toContain(`${f}: services.strict-web.networks: not honoured`);
    expect(await serviceNames()).not.toContain('strict-web');
    expect(await serviceNames()).not.toContain('strict-worker');
  });

  it('convert prints the Berth manifests, which apply as they are', async () => {
    const f = file('convert-compose.yml', compose('conv', 'conv-web', 'conv-worker'));
    const res = await cluster.berth(['convert', '-f', f]);
    expect(res.code).toBe(0);
    const docs = parseAllDocuments(res.stdout).map(
      (d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> },
    );
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(['Service/conv-web', 'Service/conv-worker']);
    expect(docs[0]!.spec).toMatchObject({
      replicas: 2,
      resources: { memory: '16Mi', limits: { cpu: 0.5, memory: '64Mi' } },
      volumes: [
        { type: 'volume', source: 'conv_data', target: '/data' },
        { type: 'volume', target: '/tmp' },
      ],
    });
    expect(res.stderr).toContain('services.conv-web.networks: not honoured');
    expect(docs[0]!.spec).toMatchObject({ health: { exec: { command: ['true'] } }, restart: { policy: 'on-failure', maxAttempts: 3 } });
    const dry = await cluster.berth(['apply', '--dry-run', '-f', file('converted.yaml', res.stdout)]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe(
      'service/default/conv-web created (revision 1) (dry run)\nservice/default/conv-worker created (revision 1) (dry run)\n',
    );
  });
});
