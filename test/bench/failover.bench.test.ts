// `npm run bench:failover` (test/bench/failover.bench.test.ts): failure detection and recovery figures on real components, and the
// same node-kill scenario on Docker Swarm mode (a manager and two workers on extra dockerd
// instances, each on a loopback address of its own), side by side. Not part of npm test: it
// measures speed. Every wait is bounded; everything started is stopped by pid or removed.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, expect, it } from 'vitest';
import { BerthClient } from '../../cli/src/client.js';
import { ensureBusyboxImage, LOCAL_IMAGE } from '../../cli/src/local/image.js';
import { startDockerd, type Dockerd, type DockerdOptions } from '../../cli/src/local/services.js';
import { LABEL_MANAGED } from '../../proto/src/labels.js';
import { ModeFigures, modeTitle, runOrder, type Mode } from './pairs.js';
import { median } from './stats.js';
import { TestCluster, unmountUnder, webManifest } from '../harness/cluster.js';
import { createBridge, deleteBridge, hostAddress, randomRunBase, type Bridge } from '../harness/netns.js';

const TIMINGS = { heartbeatPeriod: '500ms', heartbeatGrace: '2500ms', downAfter: '3s', fenceAfter: '10s', leaseTtl: '3' };
const REPLICAS = 6;
/** Silent-agent detection depends on where in a heartbeat period the link is cut: several cuts. */
const SILENT_TRIALS = 5;
/** Polling interval of the measurements: the figures are accurate to about this much. */
const POLL_MS = 20;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const results: string[] = [];
const say = (line: string): void => {
  results.push(line);
  process.stdout.write(`${line}\n`);
};

/** Polls fn every POLL_MS until it returns a value; the time it first did, or throws after ms. */
async function until<T>(fn: () => Promise<T | undefined>, what: string, ms = 60_000): Promise<{ value: T; at: number }> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return { value: v, at: Date.now() };
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

let cluster: TestCluster | undefined;
const swarm: Array<{ d: Dockerd; bridge: Bridge; options: DockerdOptions }> = [];
const swarmDir = join('/tmp', `bt-swarm-${process.pid}`);

afterAll(async () => {
  await cluster?.stop();
  for (const s of swarm) {
    await s.d.docker.swarmLeave({ force: true }).catch(() => undefined);
    const cs = await s.d.docker.listContainers({ all: true }).catch(() => [] as Docker.ContainerInfo[]);
    await Promise.all(
      cs.map((c) =>
        s.d.docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
    await s.d.proc.stop(20_000);
    deleteBridge(s.bridge.name);
  }
  unmountUnder(swarmDir);
  rmSync(swarmDir, { recursive: true, force: true });
  if (results.length > 0) process.stdout.write(`\n--- failover figures\n${results.join('\n')}\n`);
});

async function client(): Promise<BerthClient> {
  for (const c of cluster!.controllers) {
    if (!c.proc.isAlive()) continue;
    const b = new BerthClient(c.address, cluster!.transport);
    try {
      await b.listNodes();
      return b;
    } catch {
      b.close();
    }
  }
  throw new Error('no controller answers');
}

async function leader(): Promise<string | undefined> {
  for (const c of cluster!.controllers) {
    if (!c.proc.isAlive()) continue;
    try {
      const text = await cluster!.scrape(c.metrics, '/metrics', 500);
      if (/^berth_controller_is_leader 1$/m.test(text)) return c.id;
    } catch {
      /* not answering */
    }
  }
  return undefined;
}

async function containerStarts(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const h of cluster!.hosts) {
    for (const c of await h.docker.listContainers({ all: true, filters: { label: [`${LABEL_MANAGED}=true`] } })) {
      const i = await h.docker.getContainer(c.Id).inspect();
      out.set(c.Id, `${i.State.StartedAt}|${i.State.Status}`);
    }
  }
  return out;
}

async function settled(replicas: number): Promise<void> {
  const c = await client();
  try {
    await until(async () => {
      const tasks = await c.listTasks({ service: 'web' });
      const nodes = await c.listNodes();
      return tasks.length === replicas && tasks.every((t) => t.status?.state === 'running') && nodes.every((n) => n.state === 'ready')
        ? true
        : undefined;
    }, 'web settled');
  } finally {
    c.close();
  }
}

/** Each mode's figures (ms) over its runs, for the side-by-side table of TLS and plaintext. */
const figures = new ModeFigures();
// TLS (the default) and plaintext (--insecure-dev), each on a fresh cluster, in the same run, in
// pairs alternating which goes first (BENCH_PAIRS, BENCH_TRANSPORT: pairs.ts).
const ORDER = runOrder();

for (const [i, mode] of ORDER.entries())
  it(`Berth (${mode}, run ${i + 1} of ${ORDER.length}): dead agent, silent agent, leader kill`, () => berthScenario(mode));

it('Berth: TLS beside plaintext', () => {
  if (!figures.paired) return;
  const pairs = ORDER.length / 2;
  say(`\nTLS beside plaintext, ${pairs} pair(s) in the order ${ORDER.join(', ')}\n${figures.text()}`);
  figures.append(
    'TLS beside plaintext (bench:failover)',
    `\`BENCH_PAIRS=${pairs} npm run bench:failover\`: dead agent, silent agent and leader kill on 3 hosts (netns) and 2 controllers, ` +
      `heartbeat ${TIMINGS.heartbeatPeriod}, grace ${TIMINGS.heartbeatGrace}, down after ${TIMINGS.downAfter}, lease TTL ${TIMINGS.leaseTtl} s, polled every ${POLL_MS} ms; ` +
      `${modeTitle('tls')} against ${modeTitle('plaintext')}, each on a fresh cluster, ${pairs} pair(s) in the order ${ORDER.join(', ')}; medians over the runs.`,
  );
});

async function berthScenario(mode: Mode): Promise<void> {
  const fig = { set: (name: string, ms: number): void => figures.add(mode, name, ms, 'ms') };
  say(`--- Berth, ${modeTitle(mode)}`);
  cluster = await TestCluster.start({ hosts: 3, controllers: 2, netns: true, ...TIMINGS, insecureDev: mode === 'plaintext' });
  const f = join(cluster.dir, 'web.yaml');
  writeFileSync(f, webManifest({ replicas: REPLICAS, port: false }));
  expect((await cluster.berth(['apply', '-f', f])).code).toBe(0);
  await settled(REPLICAS);
  figures.runStarts(mode);
  say(
    `Berth test configuration: heartbeat ${TIMINGS.heartbeatPeriod}, grace ${TIMINGS.heartbeatGrace}, down after ${TIMINGS.downAfter}, lease TTL ${TIMINGS.leaseTtl}s; ${REPLICAS} replicas on 3 hosts`,
  );

  // --- dead agent (kill -9): detection, down, replacements committed and running
  {
    const c = await client();
    const before = await c.listTasks({ service: 'web' });
    const victim = cluster.hosts[0]!;
    const lost = before.filter((t) => t.nodeId === victim.nodeId).map((t) => t.slot);
    const t0 = Date.now();
    await cluster.killAgent(0);
    const unknown = await until(
      async () => ((await c.listNodes()).find((n) => n.id === victim.nodeId)?.state === 'unknown' ? true : undefined),
      'node unknown',
    );
    const down = await until(async () => (await c.listNodes()).find((n) => n.id === victim.nodeId && n.state === 'down'), 'node down');
    const downAt = Number(down.value.stateChangedAtMs);
    const committed = await until(async () => {
      const ts = await c.listTasks({ service: 'web' });
      const repl = ts.filter((t) => lost.includes(t.slot) && t.nodeId !== '' && t.nodeId !== victim.nodeId);
      return repl.length === lost.length ? repl : undefined;
    }, 'replacements placed');
    const running = await until(async () => {
      const ts = await c.listTasks({ service: 'web' });
      return ts.filter((t) => lost.includes(t.slot) && t.nodeId !== victim.nodeId && t.status?.state === 'running').length === lost.length
        ? true
        : undefined;
    }, 'replacements running');
    fig.set('dead agent: kill → unknown', unknown.at - t0);
    fig.set('dead agent: kill → down', downAt - t0);
    fig.set('dead agent: down → replacements placed', committed.at - downAt);
    fig.set('dead agent: kill → replacements running', running.at - t0);
    say(
      `dead agent (kill -9): unknown after ${unknown.at - t0} ms; down after ${downAt - t0} ms (grace ${TIMINGS.downAfter}); ` +
        `${lost.length} replacements committed and placed ${committed.at - downAt} ms after down; running ${running.at - committed.at} ms later; kill → running ${running.at - t0} ms`,
    );
    // Reference: the same engine creating and starting as many containers directly.
    const docker = cluster.hosts[1]!.docker;
    const r0 = Date.now();
    const made: string[] = [];
    for (let i = 0; i < lost.length; i++) {
      const ct = await docker.createContainer({
        name: `bench-raw-${process.pid}-${i}`,
        Image: LOCAL_IMAGE,
        Cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'],
      });
      await ct.start();
      made.push(ct.id);
    }
    const rawMs = Date.now() - r0;
    for (const id of made) await docker.getContainer(id).remove({ force: true });
    say(`  reference: the engine alone creates and starts ${lost.length} such containers in ${rawMs} ms`);
    c.close();
    await cluster.startAgent(0);
    await settled(REPLICAS);
  }

  // --- silent agent (link cut): detection, a few times (the cut falls anywhere in a heartbeat period)
  {
    const c = await client();
    const victim = cluster.hosts[1]!;
    const took: number[] = [];
    for (let trial = 0; trial < SILENT_TRIALS; trial++) {
      // Cuts spread evenly over a heartbeat period's worth of phases (the same in every mode).
      await sleep((trial * 1_000) / SILENT_TRIALS);
      const t0 = Date.now();
      cluster.net!.cutLink(1);
      const unknown = await until(
        async () => ((await c.listNodes()).find((n) => n.id === victim.nodeId)?.state === 'unknown' ? true : undefined),
        'silent node unknown',
      );
      cluster.net!.healLink(1);
      took.push(unknown.at - t0);
      await settled(REPLICAS);
    }
    took.sort((a, b) => a - b);
    fig.set(`silent agent: cut → unknown (median of ${SILENT_TRIALS})`, median(took));
    say(
      `silent agent (link cut), ${SILENT_TRIALS} trials: unknown after ${took.join(', ')} ms (heartbeat grace ${TIMINGS.heartbeatGrace}; poll step ${POLL_MS} ms)`,
    );
    c.close();
  }

  // --- leader kill: new leader serving and reconciling; nothing restarted, no node down
  {
    const starts = await containerStarts();
    const old = (await until(leader, 'a leader')).value;
    const idx = cluster.controllers.findIndex((x) => x.id === old);
    const other = cluster.controllers.find((x) => x.id !== old)!;
    const watcher = new BerthClient(other.address, cluster.transport);
    const seenStates = new Set<string>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        try {
          for (const n of await watcher.listNodes()) if (n.state !== 'ready') seenStates.add(`${n.id}=${n.state}`);
        } catch {
          /* electing */
        }
        await sleep(50);
      }
    })();
    const t0 = Date.now();
    cluster.controllers[idx]!.proc.signal('SIGKILL');
    // A change made right after the kill, through the survivor (followers accept writes).
    // The election is watched from the kill on, beside the CLI: awaited after it, the figure was the
    // CLI process's time whenever that took longer than the election (under load, with TLS).
    const electing = until(async () => ((await leader()) === other.id ? true : undefined), 'new leader');
    writeFileSync(f, webManifest({ replicas: REPLICAS + 1, port: false }));
    const applied = await cluster.berth(['apply', '-f', f], { env: { BERTH_CONTROLLER: other.address } });
    const appliedAt = Date.now();
    expect(applied.code).toBe(0);
    const elected = await electing;
    const reconciled = await until(async () => {
      const ts = await watcher.listTasks({ service: 'web' });
      return ts.length === REPLICAS + 1 && ts.every((t) => t.nodeId !== '') ? true : undefined;
    }, 'new task placed by the new leader');
    const running = await until(
      async () =>
        (await watcher.listTasks({ service: 'web' })).filter((t) => t.status?.state === 'running').length === REPLICAS + 1
          ? true
          : undefined,
      'new task running',
    );
    await sleep(2_000);
    watching = false;
    await watch;
    const after = await containerStarts();
    const restarted = [...starts].filter(([id, s]) => after.get(id) !== s).length;
    fig.set('leader kill: → the change applied (one CLI process)', appliedAt - t0);
    fig.set('leader kill: → new leader', elected.at - t0);
    fig.set('leader kill: → change placed', reconciled.at - t0);
    fig.set('leader kill: → change running', running.at - t0);
    say(
      `leader kill -9: new leader after ${elected.at - t0} ms; a change applied at the kill reconciled (placed) after ${reconciled.at - t0} ms, running after ${running.at - t0} ms; ` +
        `containers restarted: ${restarted}; nodes not ready meanwhile: ${seenStates.size === 0 ? 'none' : [...seenStates].join(', ')}; ` +
        `the apply (a CLI process, through the survivor) returned ${appliedAt - t0} ms after the kill`,
    );
    expect(restarted).toBe(0);
    expect([...seenStates].filter((s) => s.endsWith('=down'))).toEqual([]);
    watcher.close();
    await cluster.startController(idx);
  }
  await cluster.stop();
  cluster = undefined;
}

it('Docker Swarm mode: the same node kill (manager + two workers on extra dockerd instances)', async () => {
  const base = randomRunBase();
  for (let i = 0; i < 3; i++) {
    const bridge = createBridge();
    const hdir = join(swarmDir, `s${i}`);
    const options: DockerdOptions = {
      dataRoot: join(hdir, 'data'),
      execRoot: join(hdir, 'x'),
      socket: join(hdir, 'docker.sock'),
      pidFile: join(hdir, 'docker.pid'),
      logFile: join(hdir, 'dockerd.log'),
      bridge: bridge.name,
      ip: hostAddress(base, i),
      noIptables: true,
    };
    const d = await startDockerd(options);
    swarm.push({ d, bridge, options });
    await ensureBusyboxImage(d.docker);
  }
  const addr = (i: number): string => hostAddress(base, i);
  const [mgr, w1, w2] = swarm.map((s) => s.d.docker) as [Docker, Docker, Docker];
  await mgr.swarmInit({ ListenAddr: `${addr(0)}:2377`, AdvertiseAddr: addr(0), ForceNewCluster: false });
  const info = (await mgr.swarmInspect()) as { JoinTokens: { Worker: string } };
  for (const [i, w] of [
    [1, w1],
    [2, w2],
  ] as const) {
    await w.swarmJoin({
      ListenAddr: `${addr(i)}:2377`,
      AdvertiseAddr: addr(i),
      RemoteAddrs: [`${addr(0)}:2377`],
      JoinToken: info.JoinTokens.Worker,
    });
  }
  // Tasks only on the workers, as Berth's run only on agents' hosts.
  const self = (await mgr.listNodes()).find((n: { ManagerStatus?: unknown }) => n.ManagerStatus) as {
    ID: string;
    Version: { Index: number };
    Spec: object;
  };
  // (dockerode returns a promise when given no callback; its typings say void.)
  await (mgr
    .getNode(self.ID)
    .update({ version: self.Version.Index, ...self.Spec, Availability: 'drain' } as never) as unknown as Promise<void>);
  await mgr.createService({
    Name: 'web',
    TaskTemplate: { ContainerSpec: { Image: LOCAL_IMAGE, Command: ['httpd', '-f', '-p', '8080', '-h', '/www'] } },
    Mode: { Replicated: { Replicas: REPLICAS } },
  } as never);
  const nodeIdOf = async (d: Docker): Promise<string> => ((await d.info()) as { Swarm: { NodeID: string } }).Swarm.NodeID;
  const w1Id = await nodeIdOf(w1);
  const runningOn = async (): Promise<Map<string, number>> => {
    const tasks = (await mgr.listTasks({ filters: { service: ['web'], 'desired-state': ['running'] } })) as Array<{
      NodeID: string;
      Status: { State: string };
    }>;
    const m = new Map<string, number>();
    for (const t of tasks) if (t.Status.State === 'running') m.set(t.NodeID, (m.get(t.NodeID) ?? 0) + 1);
    return m;
  };
  await until(
    async () => ([...(await runningOn()).values()].reduce((a, b) => a + b, 0) === REPLICAS ? true : undefined),
    'swarm service running',
    120_000,
  );
  const lost = (await runningOn()).get(w1Id) ?? 0;
  const t0 = Date.now();
  swarm[1]!.d.proc.signal('SIGKILL');
  const down = await until(
    async () => {
      const n = (await mgr.listNodes()).find((x: { ID: string }) => x.ID === w1Id) as { Status: { State: string } } | undefined;
      return n?.Status.State === 'down' ? true : undefined;
    },
    'swarm worker down',
    120_000,
  );
  const replaced = await until(
    async () => {
      const m = await runningOn();
      return [...m].filter(([id]) => id !== w1Id).reduce((a, [, n]) => a + n, 0) === REPLICAS ? true : undefined;
    },
    'swarm replacements running',
    180_000,
  );
  say(
    `Docker Swarm (defaults, ${(await mgr.version()).Version}): worker dockerd kill -9: node down after ${down.at - t0} ms; ${lost} replacements running after ${replaced.at - t0} ms`,
  );
  // Bring the killed engine back so that its containers (still running under their shims) are
  // removed through it at cleanup.
  swarm[1]!.d = await startDockerd(swarm[1]!.options);
});
