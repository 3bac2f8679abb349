// Short form of the chaos harness (npm test): every fault once on one cluster (three hosts in
// their own network namespaces, two controllers, etcd, NATS), each followed by convergence and
// the offline invariant check over the whole sampled history. The soak runs many random faults:
// `npm run test:chaos -- --faults 60`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, StringCodec } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../cli/src/client.js';
import { LABEL_TASK } from '../../proto/src/labels.js';
import { image } from '../harness/cluster.js';
import { natsClientOptions } from '../harness/backends.js';
import { BOUNDS, Chaos, SERVICES, type FaultKind } from './chaos.js';
import { checkInvariants, describeHandovers, describeViolations, summary, type Violation } from './invariants.js';

let chaos: Chaos;
/** A fixed draw: host 2 of 3, the long link cut, mid-range pauses. */
const fixed = (): number => 0.5;

beforeAll(async () => {
  chaos = await Chaos.start();
  chaos.startSampling();
});

afterAll(async () => {
  if (!chaos) return;
  await chaos.endSampling();
  const v = checkInvariants(chaos.samples, SERVICES, chaos.faults, BOUNDS, chaos.engineHistory());
  process.stdout.write(
    `chaos (short form): ${summary(chaos.faults.length, v)}; ${chaos.samples.length} samples, ${chaos.containers.size} containers timed by their engines\n`,
  );
  if (describeHandovers(v)) process.stdout.write(`${describeHandovers(v)}\n`);
  await chaos.stop();
});

/** Live task ids (desired running) of the watched services. */
async function liveTasks(): Promise<string[]> {
  const tasks = await chaos.withClient((c) => c.listTasks({}));
  return tasks
    .filter((t) => SERVICES.some((s) => s.name === t.service))
    .map((t) => t.id)
    .sort();
}

/** Checks the whole history; reports the violations that began since `sinceMs` (this test's). */
function assertInvariants(sinceMs: number): void {
  const all = checkInvariants(chaos.samples, SERVICES, chaos.faults, BOUNDS, chaos.engineHistory());
  const mine = (xs: Violation[]): Violation[] => xs.filter((x) => x.fromMs >= sinceMs);
  const v = {
    lost: mine(all.lost),
    duplicated: mine(all.duplicated),
    restarts: mine(all.restarts),
    handovers: all.handovers.filter((h) => h.atMs >= sinceMs),
  };
  const text = describeViolations(v);
  expect(text, `${summary(1, v)}; history kept in ${text ? chaos.report(v, 'chaos') : '-'}`).toBe('');
}

/** Runs a fault, waits for convergence, checks the history of this fault. */
async function run(kind: FaultKind, during?: () => Promise<void>, host?: number): Promise<{ recoveredMs: number }> {
  const since = Date.now();
  const f = await chaos.inject(kind, fixed, during, host);
  const recoveredMs = await chaos.converged(kind);
  await new Promise((r) => setTimeout(r, 1_000)); // a quiet stretch in the history
  assertInvariants(since);
  process.stdout.write(`${kind} (${f.target}): fault ${f.healedMs - f.startMs} ms, converged ${recoveredMs} ms after heal\n`);
  return { recoveredMs };
}

describe('chaos: each fault once, invariants over the sampled history', () => {
  it('kill -9 of an agent and its restart: no task replaced, nothing restarted', async () => {
    const before = await liveTasks();
    await run('agent-kill');
    expect(await liveTasks()).toEqual(before);
  });

  it('kill -9 of an agent kept away past the fencing deadline: its waitForNode slots wait for it, never two copies', async () => {
    // A dead agent fences nothing: its containers may still run. The leader must wait for the
    // node (NodeRecord.agentExited) instead of replacing at the deadline, as it does for a silent
    // node whose agent fences itself. (Issue 19: replaced at the deadline, the slot ran twice.)
    const tasks = await chaos.withClient((c) => c.listTasks({}));
    const solo = tasks.find((t) => t.service === 'solo' && t.nodeId !== '');
    expect(solo).toBeDefined();
    const index = chaos.cluster.hosts.findIndex((h) => h.nodeId === solo!.nodeId);
    // last contact + fence-after (10 s) + the task's stop grace (1 s) + margin (2 s), and then some.
    const away = async (): Promise<void> => {
      await new Promise((r) => setTimeout(r, 17_000));
      const node = (await chaos.withClient((c) => c.listNodes())).find((n) => n.id === solo!.nodeId);
      expect(node?.state, 'the node of the killed agent').toBe('down');
      const now = (await chaos.withClient((c) => c.listTasks({ all: true }))).find((t) => t.id === solo!.id);
      expect(now?.desiredState, `solo slot ${solo!.slot} while its agent is dead: ${now?.status?.message ?? ''}`).toBe('running');
    };
    await run('agent-kill', away, index);
  });

  it('a cut link: replace slots replaced, waitForNode slots fenced before replaced, extras removed on return', async () => {
    const index = await chaos.busiestHost();
    const host = chaos.cluster.hosts[index]!;
    const before = await chaos.withClient((c) => c.listTasks({}));
    const onHost = before.filter((t) => t.nodeId === host.nodeId);
    expect(onHost.length).toBeGreaterThan(0);
    await run('link-cut', undefined, index);
    const all = await chaos.withClient((c) => c.listTasks({ all: true }));
    for (const t of onHost) {
      const now = all.find((x) => x.id === t.id);
      // Replaced: the old task is given up (or already trimmed from history).
      if (now)
        expect(now.desiredState, `${t.service} slot ${t.slot} (${t.id}): ${now.status?.state} ${now.status?.message ?? ''}`).toBe('remove');
    }
    // Their containers are stopped and removed once the node is back.
    const gone = new Set(onHost.map((t) => t.id));
    await chaos.cluster.waitFor(
      async () => (await host.docker.listContainers({ all: true })).every((c) => !gone.has(c.Labels[LABEL_TASK] ?? '')),
      'replaced containers removed',
      30_000,
    );
    const log = readFileSync(join(chaos.cluster.dir, `agent-${host.nodeId}.log`), 'utf8');
    if (onHost.some((t) => t.service === 'solo')) expect(log).toContain('fenced: stopping waitForNode container');
  });

  it('kill -9 of the leader: the other controller leads, agents follow, nothing replaced or restarted', async () => {
    const before = await liveTasks();
    await run('leader-kill');
    expect(await liveTasks()).toEqual(before);
  });

  it('the leader paused past its lease (SIGSTOP, then SIGCONT): it does not act after waking', async () => {
    const before = await liveTasks();
    const paused = await chaos.leader();
    await run('leader-pause');
    expect(await liveTasks()).toEqual(before);
    const log = readFileSync(join(chaos.cluster.dir, `controller-${paused}.log`), 'utf8');
    expect(log).toMatch(/lease not renewed in time; giving up leadership|leader key changed; leadership lost/);
  });

  it('etcd restarted: writes fail with UNAVAILABLE meanwhile, nothing stops, loops resume', async () => {
    const before = await liveTasks();
    let failedWith: unknown;
    let tookMs = 0;
    await run('etcd-restart', async () => {
      const t0 = Date.now();
      await chaos
        .withClient((c) =>
          c.applyService({
            manifestJson: JSON.stringify({
              apiVersion: 'berth.dev/v1',
              kind: 'Service',
              metadata: { name: 'probe' },
              spec: { image: image(), replicas: 1 },
            }),
          }),
        )
        .catch((err: unknown) => (failedWith = err));
      tookMs = Date.now() - t0;
    });
    process.stdout.write(`etcd down: apply failed after ${tookMs} ms with ${String(failedWith)}\n`);
    expect(failedWith).toBeInstanceOf(ApiError);
    expect((failedWith as ApiError).code).toBe(14); // UNAVAILABLE
    expect(await liveTasks()).toEqual(before);
  });

  it('a dockerd restarted: the agent reconnects, resyncs once and brings its slots back', async () => {
    const index = await chaos.busiestHost();
    const host = chaos.cluster.hosts[index]!;
    const logFile = join(chaos.cluster.dir, `agent-${host.nodeId}.log`);
    /** Times of the agent's event-loop lines since `fromMs`. */
    const lines = (msg: string, fromMs: number): number[] =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes(msg))
        .map((l) => Date.parse((JSON.parse(l) as { time: string }).time))
        .filter((t) => t >= fromMs);
    const before = await Promise.all(
      (await host.docker.listContainers()).map(async (c) => ({
        id: c.Id,
        startedAt: (await host.docker.getContainer(c.Id).inspect()).State.StartedAt,
      })),
    );
    expect(before.length).toBeGreaterThan(0);
    const t0 = Date.now();
    await run('dockerd-restart', undefined, index);
    // One completed resync per reconnect: at most one per broken stream, and exactly one after
    // the last break (a stream may also be re-opened while the engine is still shutting down).
    const resyncs = lines('engine back; resynced every task', t0);
    const breaks = lines('engine event stream broke', t0);
    expect(breaks.length).toBeGreaterThan(0);
    expect(resyncs.length).toBeLessThanOrEqual(breaks.length);
    expect(resyncs.filter((t) => t >= Math.max(...breaks))).toHaveLength(1);
    // The engine stopped them (no live-restore): each was brought back (restarted in place per
    // its restart policy, or its slot refilled), so none runs since before the restart.
    for (const b of before) {
      const now = await host.docker
        .getContainer(b.id)
        .inspect()
        .catch(() => undefined);
      if (now?.State.Running) expect(now.State.StartedAt).not.toBe(b.startedAt);
    }
  });

  it('NATS killed: placement and status go on, the events of the outage arrive once it is back', async () => {
    await run('nats-kill', async () => {
      // Placement during the outage: a probe service runs.
      const res = await chaos.cluster.berth(['apply', '-f', writeProbe()]);
      expect(res.code).toBe(0);
      await chaos.cluster.waitFor(
        async () => (await chaos.withClient((c) => c.listTasks({ service: 'probe' }))).some((t) => t.status?.state === 'running'),
        'probe running while NATS is down',
        30_000,
      );
    });
    const nc = await connect(natsClientOptions(chaos.cluster.nats));
    try {
      const jsm = await nc.jetstreamManager();
      const sc = StringCodec();
      let found = false;
      for (let i = 0; i < 50 && !found; i++) {
        try {
          const m = await jsm.streams.getMessage('BERTH_EVENTS', { last_by_subj: 'berth.events.service.applied.default.probe' });
          found = sc.decode(m.data).includes('probe');
        } catch {
          await new Promise((r) => setTimeout(r, 300));
        }
      }
      expect(found).toBe(true);
    } finally {
      await nc.close();
    }
    expect((await chaos.cluster.berth(['delete', 'service', 'probe'])).code).toBe(0);
    await chaos.cluster.waitFor(
      async () => (await chaos.withClient((c) => c.listServices())).every((s) => s.meta?.name !== 'probe'),
      'probe gone',
      60_000,
    );
  });

  it('most nodes cut at once: replacement suspended, nothing replaced, nothing restarted', async () => {
    const before = await liveTasks();
    await run('majority-cut');
    expect(await liveTasks()).toEqual(before);
    const leader = await chaos.leader();
    const log = readFileSync(join(chaos.cluster.dir, `controller-${leader}.log`), 'utf8');
    expect(log).toContain('mass node loss: replacement suspended');
  });
});

function writeProbe(): string {
  const f = join(chaos.cluster.dir, 'probe.yaml');
  writeFileSync(
    f,
    `apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: probe }\nspec:\n  image: ${image()}\n  replicas: 1\n  command: [sleep, "3600"]\n  stop: { gracePeriod: 1s }\n`,
  );
  return f;
}
