// Images on real engines: pull policies, a failed pull that retries (and stops with the
// service), and a private registry — Debian's docker-registry on loopback with htpasswd auth,
// into which the test pushes a local image: wrong password → clear status, fixed → runs, and
// the password appears in no log file.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, image } from '../harness/cluster.js';
import { freePort, spawnProc, waitUntil, type Proc } from '../../cli/src/local/process.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';

let cluster: TestCluster;
let registry: Proc | undefined;
let registryAddr = '';
const USER = 'berth';
const PASSWORD = 'S3cret-pull-pass-7f2c';
const WRONG = 'wrong-pass-91ab';

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: 1 });
  const port = await freePort();
  registryAddr = `127.0.0.1:${port}`;
  const dir = join(cluster.dir, 'registry');
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, 'htpasswd'), execFileSync('htpasswd', ['-Bbn', USER, PASSWORD], { encoding: 'utf8' }));
  writeFileSync(
    join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log: { level: info }',
      `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} } }`,
      `http: { addr: "${registryAddr}" }`,
      `auth: { htpasswd: { realm: berth-test, path: ${join(dir, 'htpasswd')} } }`,
    ].join('\n'),
  );
  registry = spawnProc('docker-registry', 'docker-registry', ['serve', join(dir, 'config.yml')], {
    logFile: join(cluster.dir, 'registry.log'),
  });
  await waitUntil(async () => (await fetch(`http://${registryAddr}/v2/`)).status === 401, 'registry answering', {
    proc: registry,
    timeoutMs: 30_000,
  });
});

afterAll(async () => {
  await registry?.stop(5_000);
  await cluster?.stop();
});

function manifest(name: string, spec: string): string {
  const f = join(cluster.dir, `${name}-${Date.now()}.yaml`);
  writeFileSync(f, `apiVersion: berth.dev/v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n${spec}`);
  return f;
}

const taskOf = async (service: string): Promise<Task__Output | undefined> => (await cluster.client().listTasks({ service }))[0];

async function login(password: string): Promise<void> {
  const res = await cluster.berth(['registry', 'login', registryAddr, '--name', 'regcred', '-u', USER, '--password-stdin'], {
    input: `${password}\n`,
  });
  expect(res.code, res.stderr).toBe(0);
  expect(res.stdout + res.stderr).not.toContain(password);
}

/** berth_agent_image_pulls_total{outcome} of host h1's agent, from its metrics endpoint. */
async function pulls(outcome: 'pulled' | 'failed' | 'abandoned'): Promise<number> {
  const node = (await cluster.client().listNodes()).find((n) => n.id === 'h1');
  const text = await cluster.scrape(node!.description!.metricsAddress);
  const m = new RegExp(`^berth_agent_image_pulls_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text);
  if (!m) throw new Error(`no berth_agent_image_pulls_total{outcome="${outcome}"} in h1's metrics`);
  return Number(m[1]);
}

/** Every file under dir whose name ends in .log, recursively. */
function logFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...logFiles(p));
    else if (e.endsWith('.log')) out.push(p);
  }
  return out;
}

describe('images', () => {
  it('pulls a private image with the controller-held credential: wrong password → clear status and retries, fixed → runs', async () => {
    const docker = cluster.hosts[0]!.docker;
    const ref = `${registryAddr}/private/web:1`;
    await docker.getImage(image()).tag({ repo: `${registryAddr}/private/web`, tag: '1' });
    const push = await docker
      .getImage(ref)
      .push({ authconfig: { username: USER, password: PASSWORD, serveraddress: registryAddr } } as object);
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(push, (err: Error | null, out: Array<{ error?: string }>) => {
        const failed = out?.find((o) => o.error);
        if (err || failed) reject(err ?? new Error(failed!.error));
        else resolve();
      }),
    );
    await docker.getImage(ref).remove();

    await login(WRONG);
    const t0 = Date.now();
    const apply = await cluster.berth([
      'apply',
      '-f',
      manifest('private', `  image: ${ref}\n  imagePullSecret: regcred\n  command: [httpd, -f, -p, "8080", -h, /www]\n`),
    ]);
    expect(apply.code, apply.stderr).toBe(0);
    await cluster.waitFor(
      async () => /pull of .* failed/.test((await taskOf('private'))?.status?.message ?? ''),
      'the failed pull in the task status',
      20_000,
    );
    const failedAt = Date.now() - t0;
    const t = (await taskOf('private'))!;
    expect(t.status!.state).toBe('preparing'); // not a terminal failure
    expect(t.status!.restarts).toBe(0); // burns no restart
    expect(t.status!.message).toMatch(/unauthorized|authentication required|no basic auth/i);
    expect(t.status!.message).toMatch(/retrying in \d/);
    expect(failedAt).toBeLessThan(20_000);

    await login(PASSWORD);
    await cluster.waitFor(async () => (await taskOf('private'))?.status?.state === 'running', 'the private image running', 60_000);
    expect((await cluster.client().listTasks({ service: 'private', all: true })).length).toBe(1); // the same task, retried

    // The credential is listed without its password, and no log file holds either password.
    const ls = await cluster.berth(['registry', 'ls']);
    expect(ls.stdout).toContain('regcred');
    expect(ls.stdout).not.toContain(PASSWORD);
    const files = logFiles(cluster.dir);
    expect(files.some((f) => f.endsWith('registry.log'))).toBe(true);
    expect(files.some((f) => f.includes('agent-'))).toBe(true);
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      expect(text.includes(PASSWORD), f).toBe(false);
      expect(text.includes(WRONG), f).toBe(false);
    }
    expect((await cluster.berth(['delete', 'service', 'private'])).code).toBe(0);
  });

  it('deleting a service stops its pull retries (the registry sees no further request)', async () => {
    const res = await cluster.berth(['registry', 'login', registryAddr, '--name', 'badcred', '-u', USER, '--password-stdin'], {
      input: `${WRONG}\n`,
    });
    expect(res.code, res.stderr).toBe(0);
    const ref = `${registryAddr}/retry/app:1`;
    // Every pull attempt asks the registry for the manifest (and is refused): count those requests.
    const attempts = (): number =>
      readFileSync(join(cluster.dir, 'registry.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"GET /v2/retry/app/manifests/1 ')).length;
    const before = attempts();
    const apply = await cluster.berth(['apply', '-f', manifest('retry', `  image: ${ref}\n  imagePullSecret: badcred\n`)]);
    expect(apply.code, apply.stderr).toBe(0);
    // Retries after 1s, 2s, 4s: wait for the third failure.
    await cluster.waitFor(
      async () => /retrying in 4s/.test((await taskOf('retry'))?.status?.message ?? ''),
      'the third failed pull',
      30_000,
    );
    const during = attempts() - before;
    expect(during).toBeGreaterThanOrEqual(3);
    const del = await cluster.berth(['delete', 'service', 'retry']);
    expect(del.code, del.stderr).toBe(0);
    await cluster.waitFor(
      async () => (await cluster.client().listServices()).every((s) => s.meta?.name !== 'retry'),
      'the service gone',
      30_000,
    );
    const atDelete = attempts();
    // The next retry was due 4s after the third failure; wait past it (and one more backoff).
    await new Promise((r) => setTimeout(r, 9_000));
    expect(attempts(), 'registry requests after the delete').toBe(atDelete);
    expect((await cluster.berth(['registry', 'rm', 'badcred'])).code).toBe(0);
  });

  it('deleting a service ends a pull that hangs (a registry that never answers)', async () => {
    // Accepts connections and never answers: the engine's pull waits on it indefinitely. (The
    // engine keeps its side open even after the agent hangs up; the agent no longer waits.)
    const open = new Set<Socket>();
    const blackhole = createServer((sock) => {
      open.add(sock);
      sock.on('close', () => open.delete(sock));
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    const port = (blackhole.address() as AddressInfo).port;
    try {
      const abandonedBefore = await pulls('abandoned');
      const failedBefore = await pulls('failed');
      const apply = await cluster.berth(['apply', '-f', manifest('hang', `  image: 127.0.0.1:${port}/hang/app:1\n`)]);
      expect(apply.code, apply.stderr).toBe(0);
      await cluster.waitFor(
        async () => /pulling image/.test((await taskOf('hang'))?.status?.message ?? '') && open.size > 0,
        'the pull hanging on the registry',
        30_000,
      );
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await taskOf('hang'))?.status?.state).toBe('preparing'); // still hanging
      const t0 = Date.now();
      expect((await cluster.berth(['delete', 'service', 'hang'])).code).toBe(0);
      await cluster.waitFor(
        async () => (await cluster.client().listServices()).every((s) => s.meta?.name !== 'hang'),
        'the service gone',
        20_000,
      );
      expect(Date.now() - t0).toBeLessThan(20_000);
      // The agent gave the pull up rather than waiting for the engine.
      const t = (await cluster.client().listTasks({ all: true })).find((x) => x.service === 'hang');
      expect(t).toBeUndefined();
      // The agent's own count says the pull ended as abandoned (not failed: the registry never answered).
      await cluster.waitFor(async () => (await pulls('abandoned')) >= abandonedBefore + 1, 'the pull counted abandoned', 10_000);
      expect(await pulls('failed')).toBe(failedBefore);
    } finally {
      for (const sock of open) sock.destroy();
      await new Promise<void>((r) => blackhole.close(() => r()));
    }
  });

  it('pull policies: never refuses a missing image, always pulls even a present one; deleting the service ends them', async () => {
    await cluster.berth(['apply', '-f', manifest('never', '  image: berth-local/absent:1\n  pullPolicy: never\n')]);
    await cluster.berth(['apply', '-f', manifest('always', `  image: ${image()}\n  pullPolicy: always\n`)]);
    await cluster.berth(['apply', '-f', manifest('present', `  image: ${image()}\n  command: [sleep, "3600"]\n`)]);
    await cluster.waitFor(
      async () => {
        const [n, a, p] = await Promise.all([taskOf('never'), taskOf('always'), taskOf('present')]);
        return (
          /not on this node and pullPolicy is never/.test(n?.status?.message ?? '') &&
          /pull of berth-local\/busybox:1 failed/.test(a?.status?.message ?? '') &&
          p?.status?.state === 'running'
        );
      },
      'pull policy outcomes',
      30_000,
    );
    for (const name of ['never', 'always']) await cluster.berth(['delete', 'service', name]);
    await cluster.waitFor(
      async () => (await cluster.client().listServices()).every((s) => s.meta?.name === 'present'),
      'services gone',
      30_000,
    );
    await cluster.berth(['delete', 'service', 'present']);
  });
});
