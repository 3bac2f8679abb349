// `berth up` (the command behind `npm start`) as a user runs it: no engine answers on its socket,
// so it starts dockerd, then etcd, NATS, a controller and an agent, applies
// deploy/examples/web.yaml (namespace `example`) and prints where each replica answers. A Ctrl-C
// at the terminal (SIGINT to the whole foreground process group) stops everything it started and
// leaves no container behind; a second `berth up` resumes the same cluster from its data folder
// and never changes what the user changed or made there (the example is created once, and
// `--no-example` applies nothing); an example that does not converge is reported and the cluster
// keeps running until Ctrl-C. The socket is a temporary one of the test's (DOCKER_HOST), so the
// machine's own engine is never touched. The tests run in order on one data folder.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthClient, transportFromEnv, type ClientTransport } from '../../cli/src/client.js';
import { freePort } from '../../cli/src/local/process.js';
import { etcdClient } from '../../controller/src/store/etcd-store.js';
import { connect } from 'nats';
import { LABEL_MANAGED, LABEL_NODE } from '../../proto/src/labels.js';
import { BERTH_BIN, PID_REGISTRY, ROOT, unmountUnder, webManifest, type CliResult } from '../harness/cluster.js';
import { httpGet } from '../harness/scrape.js';
import { parse as parseYaml } from 'yaml';

let dir: string;
let data: string;
let socket: string;
let ports: { api: number; etcd: number; nats: number; metrics: number };
/** docker0 is made by the first dockerd that runs without --bridge; removed after if we made it. */
let hadDocker0: boolean;
const seenPids = new Set<number>();

const hasLink = (name: string): boolean => {
  try {
    execFileSync('ip', ['link', 'show', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The pids `berth up` wrote for what it started (its run folder). */
function runPids(): number[] {
  const run = join(data, 'run');
  if (!existsSync(run)) return [];
  return readdirSync(run)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => Number(readFileSync(join(run, f), 'utf8')))
    .filter((p) => p > 1);
}

beforeAll(async () => {
  dir = mkdtempSync('/tmp/bt-up-');
  data = join(dir, 'data');
  socket = join(dir, 'docker.sock');
  hadDocker0 = hasLink('docker0');
  // etcd takes the port after its client port for peers; NATS its port + 4000 for monitoring; the
  // agent's metrics the port after the controller's.
  ports = { api: await freePort(), etcd: await freePort(), nats: await freePort(), metrics: await freePort() };
});

afterAll(() => {
  // Whatever a failed run left: the processes berth up started (by the pids it wrote).
  for (const pid of [...seenPids, ...runPids()]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
  if (!hadDocker0 && hasLink('docker0')) execFileSync('ip', ['link', 'delete', 'docker0']);
});

interface Up {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | string>;
}

/** Starts `berth up` in a process group of its own, as a terminal's foreground job is. */
function up(extra: string[] = []): Up {
  const child = spawn(
    process.execPath,
    [
      BERTH_BIN,
      'up',
      '--data',
      data,
      '--api',
      `127.0.0.1:${ports.api}`,
      '--etcd-port',
      String(ports.etcd),
      '--nats-port',
      String(ports.nats),
      '--metrics-port',
      String(ports.metrics),
      '--node-id',
      'uptest',
      ...extra,
    ],
    {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DOCKER_HOST: `unix://${socket}`, NO_COLOR: '1', BERTH_CONFIG: join(dir, 'config.yaml') },
    },
  );
  appendFileSync(PID_REGISTRY, `${child.pid}\n`);
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? 'unknown')));
  return { child, output: () => out, exited };
}

async function waitForOutput(u: Up, text: string, ms = 150_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!u.output().includes(text)) {
    for (const p of runPids()) seenPids.add(p);
    if (u.child.exitCode !== null) throw new Error(`berth up exited (${u.child.exitCode}):\n${u.output()}`);
    if (Date.now() > deadline) throw new Error(`berth up did not print ${JSON.stringify(text)} within ${ms} ms:\n${u.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const p of runPids()) seenPids.add(p);
}

/** Ctrl-C at a terminal: SIGINT to every process of the foreground group. */
async function ctrlC(u: Up): Promise<number | string> {
  if (u.child.exitCode !== null) return u.child.exitCode;
  process.kill(-u.child.pid!, 'SIGINT');
  const t = setTimeout(() => process.kill(-u.child.pid!, 'SIGKILL'), 90_000);
  try {
    return await u.exited;
  } finally {
    clearTimeout(t);
  }
}

/** Containers in the engine's data root (the engine itself is stopped by then). */
/** The admin credential berth up made in its data folder. */
const adminTransport = (): ClientTransport => transportFromEnv({ BERTH_CREDENTIALS: join(data, 'tls', 'admin') })!;

const containerDirs = (): string[] => readdirSync(join(data, 'docker', 'containers'));

/** The berth CLI, as a user runs it from another terminal while `berth up` runs. */
function berth(args: string[], input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BERTH_BIN, '--controller', `127.0.0.1:${ports.api}`, ...args],
      // The credential is the one berth up stored in the context it made current.
      { env: { ...process.env, NO_COLOR: '1', BERTH_CONFIG: join(dir, 'config.yaml') }, timeout: 120_000 },
      (err, stdout, stderr) => {
        resolve({
          code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0,
          stdout,
          stderr,
        });
      },
    );
    child.stdin?.end(input ?? '');
  });
}

/** What is stored of a service (its spec revision, spec and last update), read through the API. */
async function stored(namespace: string, name: string): Promise<{ specRevision: number; spec: { replicas: number }; updatedAtMs: number }> {
  const c = new BerthClient(`127.0.0.1:${ports.api}`, adminTransport());
  try {
    const s = await c.getService(namespace, name);
    return {
      specRevision: s.specRevision,
      spec: JSON.parse(s.specJson) as { replicas: number },
      updatedAtMs: Number(s.meta?.updatedAtMs ?? 0),
    };
  } finally {
    c.close();
  }
}

/** The running tasks of a namespace, as SERVICE.SLOT, read through the API. */
async function runningIn(namespace: string): Promise<string[]> {
  const c = new BerthClient(`127.0.0.1:${ports.api}`, adminTransport());
  try {
    return (await c.listTasks({ namespace }))
      .filter((t) => t.status?.state === 'running')
      .map((t) => `${t.service}.${t.slot}`)
      .sort();
  } finally {
    c.close();
  }
}

/** A Ctrl-C that stops everything berth up started and leaves no container behind. */
async function ctrlCCleans(u: Up): Promise<void> {
  const pids = [...new Set(runPids())];
  expect(pids).toHaveLength(5); // dockerd, etcd, NATS, controller, agent
  const code = await ctrlC(u);
  expect(u.output()).toContain('berth up: stopped; data kept in');
  expect(code).toBe(0);
  for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
  expect(runPids()).toEqual([]);
  expect(containerDirs()).toEqual([]);
}

/** The example as a user changed it: one replica instead of three. */
const changedExample = (): string => readFileSync(join(ROOT, 'deploy/examples/web.yaml'), 'utf8').replace('replicas: 3', 'replicas: 1');
let before: { example: Awaited<ReturnType<typeof stored>>; own: Awaited<ReturnType<typeof stored>> };

describe('berth up', () => {
  it('starts an engine and the cluster, runs the example, prints where each replica answers; Ctrl-C removes everything it started', async () => {
    const u = up();
    try {
      await waitForOutput(u, 'Press Ctrl-C to stop it');
    } catch (err) {
      await ctrlC(u);
      throw err;
    }
    const out = u.output();
    expect(out).toContain(`berth up: no Docker engine answers on ${socket}; starting dockerd there`);
    expect(out).toContain('berth up: service/example/web created (revision 1)');
    expect(out).toContain('service/example/web: converged: 3/3 running (revision 1)');
    expect(out).toMatch(
      /\$ berth get services -A\nNAMESPACE +NAME +REPLICAS +IMAGE +PORTS +REVISION +AGE\nexample +web +3\/3 +berth-local\/busybox:1 +\*->8080\/tcp +1 /,
    );
    const addresses = [...out.matchAll(/^web\.(\d) answers at (http:\/\/127\.0\.0\.1:\d+\/)$/gm)].map((m) => m[2]!);
    expect(addresses).toHaveLength(3);
    for (const a of addresses) expect(await (await fetch(a, { signal: AbortSignal.timeout(5_000) })).text()).toMatch(/^hello from /);
    const docker = new Docker({ socketPath: socket });
    const running = await docker.listContainers({ filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_NODE}=uptest`] } });
    expect(running).toHaveLength(3);
    // Published on loopback only: a local cluster is reachable from this machine, not the network.
    for (const c of running) expect(c.Ports.map((p) => p.IP)).toEqual(['127.0.0.1']);
    // The Prometheus config berth up wrote: discovery and scrapes over mTLS with its monitor credential.
    expect(out).toContain(`berth up: Prometheus: prometheus --config.file=${join(data, 'prometheus.yml')}`);
    const prom = parseYaml(readFileSync(join(data, 'prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ job_name: string; http_sd_configs: Array<{ url: string; tls_config: Record<string, string> }> }>;
    };
    const sd = prom.scrape_configs.find((j) => j.job_name === 'berth-agents')!.http_sd_configs[0]!;
    expect(sd.url).toBe(`https://127.0.0.1:${ports.metrics}/sd/agents`);
    const monitor = {
      caPem: readFileSync(sd.tls_config['ca_file']!, 'utf8'),
      certPem: readFileSync(sd.tls_config['cert_file']!, 'utf8'),
      keyPem: readFileSync(sd.tls_config['key_file']!, 'utf8'),
    };
    const agents = await httpGet(sd.url, monitor);
    expect(agents.status).toBe(200);
    const agentTarget = (JSON.parse(agents.body) as Array<{ targets: string[] }>)[0]!.targets[0]!;
    expect((await httpGet(`https://${agentTarget}/metrics`, monitor)).body).toMatch(/berth_agent_/);
    await expect(httpGet(sd.url, { caPem: monitor.caPem })).rejects.toThrow();
    const pids = [...new Set(runPids())]; // dockerd's own --pidfile is there too
    expect(pids).toHaveLength(5); // dockerd, etcd, NATS, controller, agent
    // etcd and NATS speak TLS and take only clients with a certificate of the backends CA.
    expect(out).toContain(`berth up: etcd on https://127.0.0.1:${ports.etcd}`);
    expect(out).toContain(`berth up: nats-server (JetStream) on tls://127.0.0.1:${ports.nats}`);
    const tls = join(data, 'tls', 'backends');
    const pem = (f: string): string => readFileSync(join(tls, f), 'utf8');
    const etcdAnswers = async (opts: Parameters<typeof etcdClient>[0]): Promise<boolean> => {
      const c = etcdClient({ ...opts, callTimeoutMs: 3_000 });
      try {
        await c.get('/probe').string();
        return true;
      } catch {
        return false;
      } finally {
        c.close();
      }
    };
    const endpoint = `https://127.0.0.1:${ports.etcd}`;
    expect(await etcdAnswers({ endpoints: [endpoint], tls: { caPem: pem('ca.pem') } })).toBe(false);
    expect(
      await etcdAnswers({
        endpoints: [endpoint],
        tls: { caPem: pem('ca.pem'), certPem: pem('client.pem'), keyPem: pem('client-key.pem') },
      }),
    ).toBe(true);
    await expect(
      connect({ servers: `127.0.0.1:${ports.nats}`, tls: { ca: pem('ca.pem') }, reconnect: false, timeout: 3_000 }),
    ).rejects.toThrow();

    const code = await ctrlC(u);
    expect(u.output()).toContain('berth up: removed 3 container(s)');
    expect(u.output()).toContain('berth up: stopped; data kept in');
    expect(code).toBe(0);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
    expect(runPids()).toEqual([]);
    expect(containerDirs()).toEqual([]);
  });

  it('a second berth up --no-example resumes the same cluster and applies nothing; the user changes the example and makes their own web', async () => {
    const u = up(['--no-example']);
    try {
      await waitForOutput(u, 'Press Ctrl-C to stop it');
      expect(u.output()).not.toContain('service/');
      // The cluster of the first run: the example is still stored at its revision.
      expect((await stored('example', 'web')).specRevision).toBe(1);
      // From another terminal: scale the example down by editing it, and apply a service of one's own named web.
      const changed = await berth(['apply', '-f', '-', '--wait', '--timeout', '90s'], changedExample());
      expect(changed.stdout).toContain('service/example/web configured (revision 2)');
      expect(changed.code).toBe(0);
      const own = await berth(['apply', '-f', '-', '--wait', '--timeout', '90s'], webManifest({ name: 'web', replicas: 1 }));
      expect(own.stdout).toContain('service/default/web created (revision 1)');
      expect(own.code).toBe(0);
      before = { example: await stored('example', 'web'), own: await stored('default', 'web') };
    } catch (err) {
      await ctrlC(u);
      throw err;
    }
    await ctrlCCleans(u);
  });

  it('a resumed berth up leaves an existing example as the user left it and never touches their own services', async () => {
    const u = up();
    try {
      await waitForOutput(u, 'Press Ctrl-C to stop it');
      const out = u.output();
      expect(out).toContain(
        'berth up: service/example/web exists (revision 2); left as it is; it differs from deploy/examples/web.yaml (berth apply -f deploy/examples/web.yaml resets it)',
      );
      expect(out).toContain('service/example/web: converged: 1/1 running (revision 2)');
      expect(out).not.toMatch(/service\/example\/web (created|updated|configured|unchanged)/);
      expect(out).not.toContain('service/default/web');
      // Nothing written: same spec revision, same spec, same last update.
      expect(await stored('example', 'web')).toEqual(before.example);
      expect((await stored('example', 'web')).spec.replicas).toBe(1);
      expect(await stored('default', 'web')).toEqual(before.own);
    } catch (err) {
      await ctrlC(u);
      throw err;
    }
    await ctrlCCleans(u);
  });

  it('an example that does not converge is reported; the cluster keeps running and serves the user until Ctrl-C', async () => {
    // Its one replica exits at once, so it never runs; a short --example-timeout bounds the wait.
    const broken = join(dir, 'broken.yaml');
    writeFileSync(
      broken,
      `apiVersion: berth.dev/v1
kind: Service
metadata: { name: broken, namespace: example }
spec:
  image: berth-local/busybox:1
  replicas: 1
  command: [sh, -c, 'exit 1']
  stop: { gracePeriod: 1s }
`,
    );
    const u = up(['--example', broken, '--example-timeout', '5s']);
    try {
      await waitForOutput(u, 'Press Ctrl-C to stop it');
      const out = u.output();
      expect(out).toContain('berth up: service/example/broken created (revision 1)');
      expect(out).toMatch(/^berth up: the example did not converge: service\/example\/broken: (timed out|failed): .+$/m);
      expect(out).toContain(
        'berth up: the cluster keeps running; see berth describe service -n example broken, or delete the example with berth delete service -n example broken',
      );
      expect(out).not.toContain('berth up: stopping');
      // The controller answers and takes the user's work: a new service runs, the user's web still runs.
      const nodes = await berth(['get', 'nodes']);
      expect(nodes.code).toBe(0);
      expect(nodes.stdout).toMatch(/^uptest\s.*\bready\b/m);
      const cache = await berth(['apply', '-f', '-', '--wait', '--timeout', '90s'], webManifest({ name: 'cache', replicas: 1 }));
      expect(cache.stdout).toContain('service/default/cache: converged: 1/1 running (revision 1)');
      expect(cache.code).toBe(0);
      expect(await runningIn('default')).toContain('cache.1');
      expect(u.child.exitCode).toBeNull();
    } catch (err) {
      await ctrlC(u);
      throw err;
    }
    await ctrlCCleans(u);
    expect(u.output()).toMatch(/berth up: removed \d+ container\(s\)/);
  });
});
