// `berth up` (the command behind `npm start`) as a user runs it: no engine answers on its socket,
// so it starts dockerd, then etcd, NATS, a controller and an agent, applies
// deploy/examples/web.yaml and prints where each replica answers. A Ctrl-C at the terminal
// (SIGINT to the whole foreground process group) stops everything it started and leaves no
// container behind; a second `berth up` resumes the same cluster from its data folder. The socket
// is a temporary one of the test's (DOCKER_HOST), so the machine's own engine is never touched.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../cli/src/local/process.js';
import { LABEL_MANAGED, LABEL_NODE } from '../../proto/src/labels.js';
import { BERTH_BIN, PID_REGISTRY, ROOT, unmountUnder } from '../harness/cluster.js';

let dir: string;
let data: string;
let socket: string;
let ports: { api: number; etcd: number; nats: number };
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
  return readdirSync(run).filter((f) => f.endsWith('.pid')).map((f) => Number(readFileSync(join(run, f), 'utf8'))).filter((p) => p > 1);
}

beforeAll(async () => {
  dir = mkdtempSync('/tmp/bt-up-');
  data = join(dir, 'data');
  socket = join(dir, 'docker.sock');
  hadDocker0 = hasLink('docker0');
  // etcd takes the port after its client port for peers; NATS its port + 4000 for monitoring.
  ports = { api: await freePort(), etcd: await freePort(), nats: await freePort() };
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
function up(): Up {
  const child = spawn(process.execPath, [
    BERTH_BIN, 'up', '--data', data, '--api', `127.0.0.1:${ports.api}`, '--etcd-port', String(ports.etcd), '--nats-port', String(ports.nats), '--node-id', 'uptest',
  ], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DOCKER_HOST: `unix://${socket}`, NO_COLOR: '1' } });
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
const containerDirs = (): string[] => readdirSync(join(data, 'docker', 'containers'));

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
    expect(out).toContain('berth up: service/default/web created');
    expect(out).toContain('service/default/web: converged: 3/3 running (revision 1)');
    expect(out).toMatch(/\$ berth get services\nNAMESPACE +NAME +REPLICAS +IMAGE +PORTS +REVISION +AGE\ndefault +web +3\/3 +berth-local\/busybox:1 +\*->8080\/tcp +1 /);
    const addresses = [...out.matchAll(/^web\.(\d) answers at (http:\/\/127\.0\.0\.1:\d+\/)$/gm)].map((m) => m[2]!);
    expect(addresses).toHaveLength(3);
    for (const a of addresses) expect(await (await fetch(a, { signal: AbortSignal.timeout(5_000) })).text()).toMatch(/^hello from /);
    const docker = new Docker({ socketPath: socket });
    const running = await docker.listContainers({ filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_NODE}=uptest`] } });
    expect(running).toHaveLength(3);
    // Published on loopback only: a local cluster is reachable from this machine, not the network.
    for (const c of running) expect(c.Ports.map((p) => p.IP)).toEqual(['127.0.0.1']);
    const pids = [...new Set(runPids())]; // dockerd's own --pidfile is there too
    expect(pids).toHaveLength(5); // dockerd, etcd, NATS, controller, agent

    const code = await ctrlC(u);
    expect(u.output()).toContain('berth up: removed 3 container(s)');
    expect(u.output()).toContain('berth up: stopped; data kept in');
    expect(code).toBe(0);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
    expect(runPids()).toEqual([]);
    expect(containerDirs()).toEqual([]);
  });

  it('a second berth up resumes the same cluster from its data folder', async () => {
    const u = up();
    try {
      await waitForOutput(u, 'Press Ctrl-C to stop it');
    } finally {
      await ctrlC(u);
    }
    // The service is still stored at its revision: the example applies unchanged.
    expect(u.output()).toContain('berth up: service/default/web unchanged');
    expect(u.output()).toContain('service/default/web: converged: 3/3 running (revision 1)');
    expect(u.output()).toContain('berth up: removed 3 container(s)');
    expect(runPids()).toEqual([]);
    expect(containerDirs()).toEqual([]);
  });
});
