// The CLI verbs of issue 3 on real components: etcd, nats-server, one Docker engine, one
// controller and one agent, driven through the built berth binary. apply --wait (converged,
// unschedulable, crash loop), diff, describe, scale, get -l / -o, version, contexts, delete -f,
// shell completion, and 200 parallel conflicting updates of one service.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdStore } from '../../controller/src/store/etcd-store.js';
import { Keys } from '../../controller/src/store/keys.js';
import { ApiError } from '../../cli/src/client.js';
import type { RevisionRecord } from '../../proto/src/model.js';
import type { ServiceSpec } from '../../proto/src/spec/service.js';
import { BERTH_BIN, TestCluster, webManifest } from '../harness/cluster.js';
import { etcdStoreOptions } from '../harness/backends.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: 1 });
});

afterAll(async () => {
  await cluster?.stop();
});

let fileSeq = 0;
function file(text: string, name = `m${++fileSeq}.yaml`): string {
  const f = join(cluster.dir, name);
  writeFileSync(f, text);
  return f;
}

const labelled = (labels: Record<string, string>): string =>
  `  labels: { ${Object.entries(labels)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ')} }\n`;

/** webManifest with metadata labels (inserted under metadata). */
function manifest(o: { name: string; replicas: number; labels?: Record<string, string>; extra?: string; port?: boolean }): string {
  const text = webManifest({
    name: o.name,
    replicas: o.replicas,
    ...(o.extra ? { extra: o.extra } : {}),
    ...(o.port === false ? { port: false } : {}),
  });
  return o.labels ? text.replace(`  name: ${o.name}\n`, `  name: ${o.name}\n${labelled(o.labels)}`) : text;
}

describe('berth version', () => {
  it('prints the client and the server version, as text and as json', async () => {
    const res = await cluster.berth(['version']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Client: berth 0\.1\.0 \(API berth\.dev\/v1, node v20\.[0-9.]+, linux\/x64\)$/);
    expect(lines[1]).toBe(
      `Server: berth 0.1.0 (API berth.dev/v1, node ${process.version}) at ${cluster.controllers[0]!.address}; controller c1 (leader)`,
    );
    const json = JSON.parse((await cluster.berth(['version', '-o', 'json'])).stdout) as {
      client: { version: string };
      server: { version: string; controllerId: string; leader: boolean };
    };
    expect(json).toMatchObject({ client: { version: '0.1.0' }, server: { version: '0.1.0', controllerId: 'c1', leader: true } });
    expect((await cluster.berth(['--version'])).stdout).toBe('berth 0.1.0\n');
    const down = await cluster.berth(['version'], { env: { BERTH_CONTROLLER: '127.0.0.1:1' } });
    expect(down.code).toBe(3);
    expect(down.stdout).toMatch(/^Client: berth 0\.1\.0/);
    expect(down.stderr).toContain('cannot reach the controller at 127.0.0.1:1');
  });
});

describe('apply --wait', () => {
  it('waits until every replica runs, showing progress, and exits 0', async () => {
    const res = await cluster.berth([
      'apply',
      '--wait',
      '--timeout',
      '90s',
      '-f',
      file(manifest({ name: 'web', replicas: 2, labels: { tier: 'front' } })),
    ]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toBe('service/default/web created (revision 1)');
    expect(lines.at(-1)).toBe('service/default/web: converged: 2/2 running (revision 1)');
    expect(lines.slice(1, -1).every((l) => /^service\/default\/web: [0-2]\/2 running/.test(l))).toBe(true);
    expect(await cluster.running(0)).toHaveLength(2);
  });

  it('an unchanged manifest of a converged service: converged at once, nothing waited for', async () => {
    const res = await cluster.berth(['apply', '--wait', '-f', file(manifest({ name: 'web', replicas: 2, labels: { tier: 'front' } }))]);
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toBe('service/default/web unchanged');
    expect(lines.at(-1)).toBe('service/default/web: converged: 2/2 running (revision 1)');
  });

  it('a container that runs for a moment and exits is not taken for converged', async () => {
    const brief = file(
      manifest({ name: 'brief', replicas: 1, port: false, extra: '  restart: { policy: never }\n' }).replace(
        'command: [httpd, -f, -p, "8080", -h, /www]',
        'command: [sh, -c, "sleep 0.2; exit 3"]',
      ),
    );
    const res = await cluster.berth(['apply', '--wait', '--timeout', '90s', '-f', brief]);
    expect(res.code).toBe(1);
    expect(res.stdout).not.toMatch(/converged/);
    expect(res.stderr).toMatch(/^error: service\/default\/brief: failed: .*brief\.1 failed: .*exited with code 3/m);
    expect((await cluster.berth(['delete', 'service', 'brief'])).code).toBe(0);
  });

  it('an unschedulable service: exit 1 at the timeout, with the scheduler reason', async () => {
    const big = file(manifest({ name: 'big', replicas: 1, port: false, extra: '  resources: { memory: 1Pi }\n' }));
    const res = await cluster.berth(['apply', '--wait', '--timeout', '4s', '-f', big]);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('service/default/big created (revision 1)');
    expect(res.stderr).toMatch(
      /^error: service\/default\/big: timed out: not converged within 4s: 0\/1 running, 1 pending \(no suitable node: .*memory/m,
    );
    // describe tells why it is pending, and where the task stands.
    const d = await cluster.berth(['describe', 'service', 'big']);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/^Status: +progressing: 0\/1 running, 1 pending \(no suitable node: .*memory/m);
    expect(d.stdout).toMatch(/^Pending:\n {2}big\.1: no suitable node: .*memory/m);
    expect(d.stdout).toMatch(/^ {2}big\.1 +\S+ +- +running +pending /m);
    expect((await cluster.berth(['delete', 'service', 'big'])).code).toBe(0);
  });

  it('a crashing service: exit 1 as soon as it crash-loops, with the exit code', async () => {
    const crash = file(
      manifest({ name: 'crash', replicas: 1, port: false }).replace(
        'command: [httpd, -f, -p, "8080", -h, /www]',
        'command: [sh, -c, "exit 3"]',
      ),
    );
    const started = Date.now();
    const res = await cluster.berth(['apply', '--wait', '--timeout', '90s', '-f', crash]);
    expect(res.code).toBe(1);
    // Either the rollout stops it (update.failureAction: a first revision cannot roll back, so it
    // pauses) or the crash loop is seen first; both name the failure of the container.
    expect(res.stderr).toMatch(
      /^error: service\/default\/crash: failed: (crash loop|rollout of revision 1 paused: .*; last failure): crash\.1 \w+: .*exited with code 3/m,
    );
    expect(Date.now() - started).toBeLessThan(60_000); // it did not wait for the timeout
    expect((await cluster.berth(['delete', 'service', 'crash'])).code).toBe(0);
  });

  it('a crash loop the rollout lets go on (failureAction continue): exit 1 after 3 failures in a row', async () => {
    const crash = file(
      manifest({
        name: 'crash2',
        replicas: 1,
        port: false,
        extra: '  update: { failureAction: continue }\n  restart: { backoff: { initial: 200ms } }\n',
      }).replace('command: [httpd, -f, -p, "8080", -h, /www]', 'command: [sh, -c, "exit 4"]'),
    );
    const res = await cluster.berth(['apply', '--wait', '--timeout', '90s', '-f', crash]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^error: service\/default\/crash2: failed: crash loop: crash2\.1 \w+: .*exited with code 4.* \(failed [0-9]+ times in a row at this revision\)$/m,
    );
    expect((await cluster.berth(['delete', 'service', 'crash2'])).code).toBe(0);
  });

  it('--wait with --dry-run or a bad --timeout is a usage error', async () => {
    const f = file(manifest({ name: 'web', replicas: 2 }));
    expect((await cluster.berth(['apply', '--wait', '--dry-run', '-f', f])).code).toBe(2);
    const bad = await cluster.berth(['apply', '--wait', '--timeout', '5', '-f', f]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--timeout: "5" is not a duration');
  });
});

describe('berth diff', () => {
  it('no changes: exit 0', async () => {
    const res = await cluster.berth(['diff', '-f', file(manifest({ name: 'web', replicas: 2, labels: { tier: 'front' } }))]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('service/default/web: no changes\n');
  });

  it('changes: every changed field with old → new in the human form, exit 1, nothing written', async () => {
    const before = await cluster.client().getService('default', 'web');
    const changed = manifest({
      name: 'web',
      replicas: 3,
      labels: { tier: 'back' },
      extra: '  resources: { memory: 32Mi }\n  env: { MODE: fast }\n',
    }).replace('gracePeriod: 2s', 'gracePeriod: 1500ms');
    const res = await cluster.berth(['diff', '-f', '-'], { input: changed });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(1);
    expect(res.stdout).toBe(
      [
        'service/default/web: changed (revision 1 → 2)',
        '  ~ metadata.labels.tier: front → back',
        '  ~ spec.replicas: 2 → 3',
        '  + spec.env: {MODE: fast}',
        '  ~ spec.resources.memory: 0 → 32Mi',
        '  ~ spec.stop.gracePeriod: 2s → 1.5s',
        '',
      ].join('\n'),
    );
    const after = await cluster.client().getService('default', 'web');
    expect(after.modRevision).toBe(before.modRevision);
  });

  it('a new service shows as created; -o json; a directory of several', async () => {
    const dir = join(cluster.dir, 'diffdir');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a-web.yaml'), manifest({ name: 'web', replicas: 2, labels: { tier: 'front' } }));
    writeFileSync(join(dir, 'b-api.yaml'), manifest({ name: 'api', replicas: 1, labels: { tier: 'back' } }));
    const res = await cluster.berth(['diff', '-f', dir]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(
      /^service\/default\/web: no changes\nservice\/default\/api: created \(revision 1\)\n {2}\+ metadata\.labels\.tier: back\n {2}\+ spec\.image: berth-local\/busybox:1\n/,
    );
    const json = await cluster.berth(['diff', '-o', 'json', '-f', dir]);
    expect(json.code).toBe(1);
    const data = JSON.parse(json.stdout) as {
      differences: boolean;
      items: Array<{ name: string; result: string; changes: Array<{ op: string; path: string }> }>;
    };
    expect(data.differences).toBe(true);
    expect(data.items.map((i) => [i.name, i.result])).toEqual([
      ['web', 'unchanged'],
      ['api', 'created'],
    ]);
    expect(data.items[1]!.changes).toContainEqual({ op: 'added', path: 'spec.replicas', to: 1 });
    await expect(cluster.client().getService('default', 'api')).rejects.toThrow(/not found/);
  });

  it('a Compose file compares as the services apply makes of it; a Secret is noted, not compared', async () => {
    const compose = file(
      `name: proj\nservices:\n  web:\n    image: berth-local/busybox:1\n    deploy: { replicas: 5 }\n  cdiff:\n    image: berth-local/busybox:1\n`,
      'docker-compose.yml',
    );
    const secret = file('apiVersion: berth.dev/v1\nkind: Secret\nmetadata: { name: creds }\ndata: { password: hunter2 }\n');
    const res = await cluster.berth(['diff', '-f', compose, '-f', secret]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^service\/default\/web: changed \(revision 1 → 2\)\n/);
    expect(res.stdout).toContain('  ~ spec.replicas: 2 → 5\n');
    expect(res.stdout).toContain('service/default/cdiff: created (revision 1)\n');
    expect(res.stderr).toContain(`${secret} (document 1): secret creds not compared (secret values are never read back`);
    expect(res.stderr).not.toContain('hunter2');
    // Only a Secret: nothing to compare is an error, as an empty file is.
    const only = await cluster.berth(['diff', '-f', secret]);
    expect(only.code).toBe(2);
    expect(only.stderr).toContain('no Service documents to compare');
    await expect(cluster.client().getService('default', 'cdiff')).rejects.toThrow(/not found/);
  });

  it('errors exit 2 (invalid manifest, missing file), 3 when the controller is unreachable', async () => {
    const bad = await cluster.berth(['diff', '-f', file(manifest({ name: 'web', replicas: -1 }))]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('spec.replicas: must be at least 0');
    expect((await cluster.berth(['diff', '-f', join(cluster.dir, 'nope.yaml')])).code).toBe(2);
    const down = await cluster.berth(['diff', '-f', file(manifest({ name: 'web', replicas: 2 }))], {
      env: { BERTH_CONTROLLER: '127.0.0.1:1' },
    });
    expect(down.code).toBe(3);
  });
});

describe('berth scale', () => {
  it('scales through the API: a new revision, no running container replaced', async () => {
    const before = (await cluster.running(0)).map((c) => c.Id).sort();
    expect(before).toHaveLength(2);
    const res = await cluster.berth(['scale', 'web=3', '--wait', '--timeout', '60s']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout.split('\n')[0]).toBe('service/default/web scaled 2 → 3 (revision 2)');
    expect(res.stdout).toContain('service/default/web: converged: 3/3 running (revision 2)');
    const after = (await cluster.running(0)).map((c) => c.Id);
    expect(after).toHaveLength(3);
    for (const id of before) expect(after).toContain(id);
    const svc = await cluster.client().getService('default', 'web');
    expect(svc.specRevision).toBe(2);
    expect(svc.meta?.labels).toEqual({ tier: 'front' });
    // diff of the original manifest now shows the scale as the only spec difference.
    const d = await cluster.berth(['diff', '-f', file(manifest({ name: 'web', replicas: 2, labels: { tier: 'front' } }))]);
    expect(d.stdout).toBe('service/default/web: changed (revision 2 → 3)\n  ~ spec.replicas: 3 → 2\n');
  });

  it('same count: unchanged; several at once; errors', async () => {
    expect((await cluster.berth(['scale', 'web=3'])).stdout).toBe('service/default/web unchanged (3 replicas, revision 2)\n');
    const missing = await cluster.berth(['scale', 'nope=1']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('service default/nope not found');
    for (const arg of ['web', 'web=x', 'Web=1', '=3']) expect((await cluster.berth(['scale', arg])).code).toBe(2);
    const range = await cluster.berth(['scale', 'web=10001']);
    expect(range.code).toBe(1);
    expect(range.stderr).toContain('spec.replicas: must be at most 10000');
    const stale = await cluster.berth(['scale', 'web=2', '--expected-revision', '1']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/changed since revision 1 \(current revision [0-9]+\); read it again and retry/);
  });
});

describe('berth describe', () => {
  it('service: spec in the human form, revision, status, tasks with node, state and address', async () => {
    const res = await cluster.berth(['describe', 'service', 'web']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Name: +web$/m);
    expect(res.stdout).toMatch(/^Labels: +tier=front$/m);
    expect(res.stdout).toMatch(/^Revision: +2$/m);
    expect(res.stdout).toMatch(/^Status: +converged: 3\/3 running$/m);
    expect(res.stdout).toContain('Spec:\n  image: berth-local/busybox:1\n  replicas: 3\n');
    expect(res.stdout).toContain('  stop:\n    signal: SIGTERM\n    gracePeriod: 2s\n');
    const rows = res.stdout.split('\n').filter((l) => /^ {2}web\.[1-3] /.test(l));
    expect(rows).toHaveLength(3);
    for (const r of rows)
      expect(r).toMatch(new RegExp(` h1 +running +running +[0-9]+[sm] +${cluster.hosts[0]!.address.replace(/\./g, '\\.')}:[0-9]+ `));
  });

  it('task by NAME.SLOT and by id; node', async () => {
    const t = await cluster.berth(['describe', 'task', 'web.1']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^Name: +web\.1$/m);
    const id = /^ID: +(\S+)$/m.exec(t.stdout)![1]!;
    const byId = await cluster.berth(['describe', 'task', id]);
    expect(byId.stdout).toMatch(/^State: +running since /m);
    expect(byId.stdout).toMatch(new RegExp(`^Node: +h1 \\(${cluster.hosts[0]!.address.replace(/\./g, '\\.')}\\)$`, 'm'));
    const n = await cluster.berth(['describe', 'node', 'h1']);
    expect(n.code).toBe(0);
    expect(n.stdout).toMatch(/^State: +ready since /m);
    expect(n.stdout.split('\n').filter((l) => /^ {2}web\.[1-3] /.test(l))).toHaveLength(3);
    expect((await cluster.berth(['describe', 'service', 'nope'])).code).toBe(1);
    expect((await cluster.berth(['describe', 'widget', 'x'])).code).toBe(2);
  });
});

describe('berth get -l / -o', () => {
  it('selects by labels: services, their tasks; -o json and yaml in the documented shape', async () => {
    expect(
      (
        await cluster.berth([
          'apply',
          '--wait',
          '-f',
          file(manifest({ name: 'api', replicas: 1, port: false, labels: { tier: 'back', team: 'core' } })),
        ])
      ).code,
    ).toBe(0);
    const names = async (args: string[]): Promise<string[]> => {
      const res = await cluster.berth(['get', 'services', ...args]);
      expect(res.code).toBe(0);
      return res.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/ +/)[1]!);
    };
    expect(await names(['-l', 'tier=front'])).toEqual(['web']);
    expect(await names(['-l', 'tier!=front'])).toEqual(['api']);
    expect(await names(['-l', 'tier in (front,back)'])).toEqual(['api', 'web']);
    expect(await names(['-l', 'team'])).toEqual(['api']);
    expect(await names(['-l', '!team'])).toEqual(['web']);
    expect(await names(['-l', 'tier=none'])).toEqual([]);
    const tasks = await cluster.berth(['get', 'tasks', '-l', 'tier=back']);
    expect(
      tasks.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/ +/)[0]),
    ).toEqual(['api.1']);
    const bad = await cluster.berth(['get', 'services', '-l', 'a=b=c']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('-l: "a=b=c": "b=c" is not a selector value');

    const json = JSON.parse((await cluster.berth(['get', 'services', '-o', 'json'])).stdout) as { items: Array<Record<string, unknown>> };
    expect(json.items.map((s) => (s['metadata'] as { name: string }).name)).toEqual(['api', 'web']);
    const web = json.items[1]!;
    expect(Object.keys(web)).toEqual(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
    expect(web).toMatchObject({
      apiVersion: 'berth.dev/v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default', labels: { tier: 'front' } },
      spec: { replicas: 3, stop: { gracePeriod: '2s' } },
      status: { revision: 2, desired: 3, running: 3 },
    });
    const yaml = parseYaml((await cluster.berth(['get', 'service', 'web', '-o', 'yaml'])).stdout) as Record<string, unknown>;
    expect(yaml).toEqual(web);
    const tjson = JSON.parse((await cluster.berth(['get', 'tasks', 'web', '-o', 'json'])).stdout) as {
      items: Array<Record<string, unknown>>;
    };
    expect(tjson.items.map((t) => t['name'])).toEqual(['web.1', 'web.2', 'web.3']);
    expect(tjson.items[0]).toMatchObject({ node: 'h1', state: 'running', desiredState: 'running', revision: expect.any(Number) as number });
    const nodes = JSON.parse((await cluster.berth(['get', 'nodes', '-o', 'json'])).stdout) as { items: Array<Record<string, unknown>> };
    expect(nodes.items[0]).toMatchObject({ id: 'h1', state: 'ready', availability: 'active' });
    expect((await cluster.berth(['get', 'services', '-o', 'xml'])).code).toBe(2);
  });
});

describe('colors', () => {
  it('colors states on a terminal only, and never with NO_COLOR', () => {
    // `script` gives the command a pseudo-terminal, as a person's shell would.
    const onTty = (extra: NodeJS.ProcessEnv): string =>
      execFileSync('script', ['-qec', `${process.execPath} ${BERTH_BIN} get tasks web`, '/dev/null'], {
        env: { ...process.env, ...cluster.env, TERM: 'xterm', NO_COLOR: '', ...extra },
        encoding: 'utf8',
      });
    expect(onTty({})).toContain('\u001b[32mrunning');
    expect(onTty({ NO_COLOR: '1' })).not.toContain('\u001b[');
    expect(onTty({ TERM: 'dumb' })).not.toContain('\u001b[');
  });
});

describe('contexts', () => {
  it('set-context, use-context, precedence of --controller, --context and BERTH_CONTROLLER; invalid file', async () => {
    const xdg = join(cluster.dir, 'xdg');
    const env = { XDG_CONFIG_HOME: xdg, BERTH_CONTROLLER: '' };
    const run = (args: string[], extra: NodeJS.ProcessEnv = {}) => cluster.berth(args, { env: { ...env, ...extra } });
    const good = cluster.controllers[0]!.address;
    expect((await run(['config', 'get-contexts'])).stdout).toBe('CURRENT   NAME   CONTROLLER\n');
    expect((await run(['config', 'set-context', 'test', '--controller', good])).stdout).toBe(
      'context "test" created (controller ' + good + ')\n',
    );
    expect((await run(['config', 'set-context', 'dead', '--controller', '127.0.0.1:1'])).code).toBe(0);
    expect((await run(['config', 'current-context'])).code).toBe(1);
    expect((await run(['config', 'path'])).stdout).toContain('controller:  127.0.0.1:7070 (from default)');

    expect((await run(['config', 'use-context', 'test'])).stdout).toBe('switched to context "test"\n');
    expect((await run(['config', 'current-context'])).stdout).toBe('test\n');
    expect((await run(['get', 'services'])).stdout).toMatch(/^NAMESPACE +NAME/);
    const ls = (await run(['config', 'get-contexts'])).stdout.split('\n');
    expect(ls[1]).toMatch(/^ +dead +127\.0\.0\.1:1$/);
    expect(ls[2]).toMatch(/^\* +test +127\.0\.0\.1:[0-9]+$/);

    expect((await run(['config', 'use-context', 'dead'])).code).toBe(0);
    const dead = await run(['get', 'services']);
    expect(dead.code).toBe(3);
    expect(dead.stderr).toContain('cannot reach the controller at 127.0.0.1:1');
    expect((await run(['--context', 'test', 'get', 'services'])).code).toBe(0);
    expect((await run(['get', 'services'], { BERTH_CONTROLLER: good })).code).toBe(0);
    expect((await run(['--controller', good, 'get', 'services'])).code).toBe(0);
    expect((await run(['--context', 'dead', 'get', 'services'], { BERTH_CONTROLLER: good })).code).toBe(3);
    expect((await run(['config', 'path'])).stdout).toBe(
      `config file: ${xdg}/berth/config.yaml\ncontroller:  127.0.0.1:1 (from current context dead)\n`,
    );

    expect((await run(['config', 'use-context', 'nope'])).code).toBe(2);
    expect((await run(['config', 'set-context', 'x', '--controller', 'no-port'])).code).toBe(2);
    writeFileSync(join(xdg, 'berth', 'config.yaml'), 'current-context: test\ncontexts:\n  - name: test\n    controler: 1.2.3.4:5\n');
    const invalid = await run(['get', 'services']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain(`invalid config file ${xdg}/berth/config.yaml:`);
    expect(invalid.stderr).toContain('contexts[0].controler: unknown field');
    // An explicit address never reads the file.
    expect((await run(['get', 'services'], { BERTH_CONTROLLER: good })).code).toBe(0);
  });
});

describe('delete -f', () => {
  it('deletes the services named in a manifest; their containers and records go', async () => {
    const res = await cluster.berth(['delete', '-f', file(manifest({ name: 'api', replicas: 1 }))]);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('service/default/api deleted (containers stopping)\n');
    await cluster.waitFor(async () => (await cluster.client().listServices()).every((s) => s.meta?.name !== 'api'), 'api gone', 60_000);
    await cluster.waitFor(
      async () => (await cluster.containers(0)).every((c) => c.Labels['berth.service'] !== 'api'),
      'api containers gone',
      60_000,
    );
  });
});

describe('shell completion', () => {
  it('bash accepts the script; compgen completes commands, flags and service names', async () => {
    const bin = join(cluster.dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'berth'), `#!/bin/sh\nexec ${process.execPath} ${BERTH_BIN} "$@"\n`);
    chmodSync(join(bin, 'berth'), 0o755);
    const script = file((await cluster.berth(['completion', 'bash'])).stdout, 'completion.bash');
    execFileSync('bash', ['-n', script]);
    const complete = (words: string[]): string[] => {
      const prog = `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _berth; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const out = execFileSync('bash', ['-c', prog], {
        env: { ...process.env, PATH: `${bin}:${process.env['PATH']}`, ...cluster.env },
        encoding: 'utf8',
      });
      return out.split('\n').filter(Boolean);
    };
    expect(complete(['berth', 'ge'])).toEqual(['get']);
    expect(complete(['berth', 'get', ''])).toEqual(['services', 'tasks', 'nodes', 'secrets', 'policies']);
    expect(complete(['berth', 'delete', ''])).toEqual(['services', 'secrets', 'policies']);
    expect(complete(['berth', 'get', 'services', '-o', ''])).toEqual(['wide', 'json', 'yaml']);
    expect(complete(['berth', 'apply', '--ti'])).toEqual(['--timeout']);
    expect(complete(['berth', 'describe', 'service', 'w'])).toEqual(['web']);
    expect(complete(['berth', 'scale', ''])).toEqual(['web=']);
    expect(complete(['berth', 'describe', 'node', ''])).toEqual(['h1']);
    expect(complete(['berth', 'completion', ''])).toEqual(['bash', 'zsh']);
  });

  it('zsh accepts the script and completes commands', async () => {
    const script = file((await cluster.berth(['completion', 'zsh'])).stdout, 'completion.zsh');
    execFileSync('zsh', ['-n', script]);
    // compadd stands in for zsh's own matcher: it keeps the candidates that start with the word.
    const prog = `compadd() { while [[ $1 == -* ]]; do if [[ $1 == -- ]]; then shift; break; fi; [[ $1 == -S ]] && shift; shift; done; local w; for w in "$@"; do [[ $w == \${words[CURRENT]}* ]] && print -r -- $w; done; }
source ${script}; words=(berth ge); CURRENT=2; _berth; true`;
    expect(execFileSync('zsh', ['-c', prog], { encoding: 'utf8' })).toBe('get\n');
  });
});

describe('200 parallel conflicting updates of one service', () => {
  it('each is applied or ABORTED with the current revision; none lost; final state = last applied', async () => {
    const c = cluster.client();
    const base = {
      apiVersion: 'berth.dev/v1',
      kind: 'Service',
      metadata: { name: 'race' },
      spec: { image: 'berth-local/busybox:1', replicas: 0 },
    };
    const created = await c.applyService({ manifestJson: JSON.stringify(base) });
    const startRevision = created.service!.specRevision;
    const WRITERS = 200;
    // All 200 run at once; their reads are spread over ~2 s (50 groups, 40 ms apart) so reads
    // and writes interleave and many rounds of the race happen, not just one.
    const results = await Promise.all(
      Array.from({ length: WRITERS }, async (_, i) => {
        await new Promise((r) => setTimeout(r, (i % 50) * 40));
        const cur = await c.getService('default', 'race');
        const spec = JSON.parse(cur.specJson) as ServiceSpec;
        const doc = { ...base, spec: { ...base.spec, replicas: spec.replicas, env: { WRITER: String(i) } } };
        try {
          const res = await c.applyService({ manifestJson: JSON.stringify(doc), expectedRevision: cur.modRevision });
          return {
            i,
            applied: true as const,
            specRevision: res.service!.specRevision,
            modRevision: res.service!.modRevision,
            result: res.result,
          };
        } catch (err) {
          if (!(err instanceof ApiError) || err.code !== status.ABORTED) throw err;
          const current = Number(err.metadata?.get('berth-current-revision')[0]);
          return { i, applied: false as const, expected: cur.modRevision, current, message: err.message };
        }
      }),
    );
    const applied = results.filter((r) => r.applied);
    const aborted = results.filter((r) => !r.applied);
    expect(applied.length + aborted.length).toBe(WRITERS);
    expect(applied.length).toBeGreaterThan(0);
    expect(aborted.length).toBeGreaterThan(0);
    for (const a of aborted) {
      expect(a.current).toBeGreaterThan(a.expected); // the revision that beat it, named in the answer
      expect(a.message).toMatch(/current revision [0-9]+\); read it again and retry/);
    }
    // Every applied update wrote its own revision: consecutive numbers, one per success.
    expect(applied.every((a) => a.result === 'updated')).toBe(true);
    const revisions = applied.map((a) => a.specRevision).sort((x, y) => x - y);
    expect(revisions).toEqual(Array.from({ length: applied.length }, (_, k) => startRevision + 1 + k));
    const final = await c.getService('default', 'race');
    expect(final.specRevision).toBe(startRevision + applied.length);
    const last = applied.reduce((x, y) => (y.modRevision > x.modRevision ? y : x));
    expect(last.specRevision).toBe(final.specRevision);
    expect((JSON.parse(final.specJson) as ServiceSpec).env).toEqual({ WRITER: String(last.i) });
    // The kept revision records hold exactly what each winner wrote.
    const store = EtcdStore.connect(etcdStoreOptions(cluster.etcd));
    try {
      const keys = new Keys();
      for (const a of applied.filter((x) => x.specRevision > final.specRevision - 10)) {
        const rec = JSON.parse((await store.get(keys.revision('default', 'race', a.specRevision)))!.value) as RevisionRecord;
        expect(rec.spec.env).toEqual({ WRITER: String(a.i) });
      }
      const kept = await store.list(keys.revisions('default', 'race'));
      expect(kept.items.length).toBe(Math.min(10, final.specRevision));
    } finally {
      await store.close();
    }
  });
});
