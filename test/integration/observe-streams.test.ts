// Issue 7 on real components (etcd, NATS, two dockerd hosts, the built berth binary): exec in a
// replica on the second host, events of a service's lifecycle in order, and logs of a 3-replica
// service followed while the agent of one host is killed.
import { lineSplitter } from '../../proto/src/lines.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BERTH_BIN, PID_REGISTRY, TestCluster, image } from '../harness/cluster.js';
import { startNats, type Nats } from '../../cli/src/local/services.js';
import { ObserveClient } from '../../cli/src/observe-client.js';
import { eventsSection, recentEvents } from '../../cli/src/events-view.js';

let cluster: TestCluster;
/** A nats-server this file started again after stopping the harness's (stopped in afterAll). */
let ownNats: Nats | undefined;

/** Starts nats-server again on the same port and data folder (the controller reconnects). */
async function restartNats(c: TestCluster): Promise<Nats> {
  const port = Number(new URL(c.nats.url).port);
  const monitorPort = Number(new URL(c.nats.monitor).port);
  ownNats = await startNats({ ...c.natsOptions, dir: join(c.dir, 'nats'), port, monitorPort, logFile: join(c.dir, 'nats-2.log') });
  appendFileSync(PID_REGISTRY, `${ownNats.proc.pid}\n`);
  return ownNats;
}

/** A running `berth` process whose output is read as it comes (follow modes). */
interface Live {
  child: ChildProcess;
  stdout: Array<{ at: number; line: string }>;
  stderr: Array<{ at: number; line: string }>;
  exited: Promise<number | null>;
}

function live(args: string[]): Live {
  const child = spawn(process.execPath, [BERTH_BIN, ...args], {
    env: { ...process.env, ...cluster.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Live = { child, stdout: [], stderr: [], exited: new Promise((r) => child.once('exit', (code) => r(code))) };
  const lines = (into: Live['stdout']) => lineSplitter((line) => into.push({ at: Date.now(), line }));
  child.stdout.on('data', lines(out.stdout));
  child.stderr.on('data', lines(out.stderr));
  return out;
}

function manifest(name: string, replicas: number, command: string): string {
  const f = join(cluster.dir, `${name}.yaml`);
  writeFileSync(
    f,
    `apiVersion: berth.dev/v1
kind: Service
metadata: { name: ${name} }
spec:
  image: ${image()}
  replicas: ${replicas}
  command: [sh, -c, ${JSON.stringify(command)}]
  stop: { gracePeriod: 1s }
`,
  );
  return f;
}

async function runningTasks(service: string) {
  return (await cluster.client().listTasks({ service })).filter((t) => t.status?.state === 'running');
}

async function apply(name: string, replicas: number, command: string): Promise<void> {
  const res = await cluster.berth(['apply', '-f', manifest(name, replicas, command)]);
  expect(res.stderr).toBe('');
  await cluster.waitFor(async () => (await runningTasks(name)).length === replicas, `${replicas} running replicas of ${name}`);
}

/** Open ObserveAPI and AgentAPI streams of a kind, read from the controller's and agents' /metrics. */
async function openStreams(address: string, metric: string, method: string): Promise<number> {
  const text = await cluster.scrape(address);
  const m = new RegExp(`^${metric}\\{method="${method}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: 2 });
});

afterAll(async () => {
  await cluster?.stop();
  await ownNats?.proc.stop(5_000);
});

describe('berth exec', () => {
  it('runs a command in the replica on the second host: its output, stderr and exit code come back', async () => {
    await apply('sleeper', 2, 'exec sleep 3600');
    const onH2 = (await runningTasks('sleeper')).find((t) => t.nodeId === cluster.hosts[1]!.nodeId);
    expect(onH2, 'one replica on h2 (spread)').toBeDefined();
    const res = await cluster.berth([
      'exec',
      `sleeper/${onH2!.slot}`,
      '--',
      'sh',
      '-c',
      'echo "out from $(hostname)"; echo "to stderr" >&2; exit 7',
    ]);
    expect(res.code).toBe(7);
    // The engine names a container's host after its id: the command ran in that very container.
    expect(res.stdout).toBe(`out from ${onH2!.status!.containerId.slice(0, 12)}\n`);
    expect(res.stderr).toBe('to stderr\n');

    const ok = await cluster.berth(['exec', `sleeper/${onH2!.slot}`, '--', 'true']);
    expect(ok).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('passes stdin with -i and gives a terminal with -it', async () => {
    const piped = await cluster.berth(['exec', '-i', 'sleeper', '--', 'sh', '-c', 'tr a-z A-Z; exit 3'], { input: 'hello berth\n' });
    expect(piped.code).toBe(3);
    expect(piped.stdout).toBe('HELLO BERTH\n');

    // A real terminal on our side (script(1) gives the CLI a pty), so -it puts it in raw mode.
    const tty = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const cmd = `${process.execPath} ${BERTH_BIN} exec -it sleeper/1 -- sh`;
      const child = spawn('script', ['-qec', cmd, '/dev/null'], {
        env: { ...process.env, ...cluster.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.once('exit', (code) => resolve({ code, out }));
      setTimeout(() => child.stdin.write('tty -s && echo "tty: yes"; echo $((6 * 7)); exit 5\n'), 1500);
    });
    expect(tty.out).toContain('tty: yes');
    expect(tty.out).toContain('42');
    expect(tty.code).toBe(5);
  });

  it("names a global service's replicas by node, for exec and logs", async () => {
    const f = join(cluster.dir, 'everywhere.yaml');
    writeFileSync(
      f,
      `apiVersion: berth.dev/v1
kind: Service
metadata: { name: everywhere }
spec:
  image: ${image()}
  mode: global
  command: [sh, -c, "echo started; exec sleep 3600"]
  stop: { gracePeriod: 1s }
`,
    );
    expect((await cluster.berth(['apply', '-f', f])).stderr).toBe('');
    await cluster.waitFor(async () => (await runningTasks('everywhere')).length === 2, 'one replica per node');
    const onH2 = (await runningTasks('everywhere')).find((t) => t.nodeId === 'h2')!;
    const res = await cluster.berth(['exec', 'everywhere@h2', '--', 'hostname']);
    expect(res).toEqual({ code: 0, stdout: `${onH2.status!.containerId.slice(0, 12)}\n`, stderr: '' });
    const logs = await cluster.berth(['logs', 'everywhere']);
    expect(logs.stdout.split('\n').filter(Boolean).sort()).toEqual(['everywhere@h1 | started', 'everywhere@h2 | started']);
    expect((await cluster.berth(['delete', 'service', 'everywhere'])).code).toBe(0);
  });

  it('refuses clearly: unknown service, slot not running, empty command', async () => {
    const missing = await cluster.berth(['exec', 'nosuch', '--', 'true']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('service default/nosuch not found');
    const slot = await cluster.berth(['exec', 'sleeper/9', '--', 'true']);
    expect(slot.code).toBe(1);
    expect(slot.stderr).toContain('replica sleeper/9 is not running');
    const bad = await cluster.berth(['exec', 'Bad_Name', '--', 'true']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected SERVICE, SERVICE/SLOT or SERVICE@NODE');
  });
});

describe('berth events', () => {
  it("shows a service's lifecycle in order: applied, task states, deleting, deleted", async () => {
    const follower = live(['events', '-f', '--service', 'evt']);
    await apply('evt', 1, 'exec sleep 3600');
    // berth describe ends with the object's recent events.
    await cluster.waitFor(
      async () =>
        /Events:\n(?:.*\n)*  \S+ ago +task\.state +running +evt\.1@h\d /.test((await cluster.berth(['describe', 'service', 'evt'])).stdout),
      'describe service shows its events',
      20_000,
    );
    const described = (await cluster.berth(['describe', 'service', 'evt'])).stdout;
    expect(described.slice(described.indexOf('Events:'))).toMatch(/^Events:\n  AGE +TYPE +STATE +OBJECT +MESSAGE\n.*service\.applied/);
    // A node's: its own and those of the tasks on it, every row about h1.
    expect((await cluster.berth(['describe', 'node', 'h1'])).stdout).toMatch(/Events:\n  AGE +TYPE .*\n(?:  .*(?:@h1 |node\/h1 ).*\n)+$/);
    expect((await cluster.berth(['delete', 'service', 'evt'])).code).toBe(0);
    await cluster.waitFor(async () => !(await cluster.client().listServices()).some((s) => s.meta?.name === 'evt'), 'evt gone');

    type Ev = { type: string; state: string; message: string; service: string; task: string; seq: number };
    let events: Ev[] = [];
    await cluster.waitFor(async () => {
      const res = await cluster.berth(['events', '--service', 'evt', '-o', 'json']);
      events = res.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Ev);
      return events.some((e) => e.type === 'service.deleted');
    }, 'service.deleted published');
    const steps = events.map((e) => (e.type === 'task.state' ? `task:${e.state}` : e.type));
    const order = [
      'service.applied',
      'task:pending',
      'task:assigned',
      'task:running',
      'service.deleting',
      'task:shutdown',
      'service.deleted',
    ];
    const at = order.map((s) => steps.indexOf(s));
    expect(
      at.every((i) => i >= 0),
      `every step in ${steps.join(', ')}`,
    ).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(events.every((e) => e.service === 'evt')).toBe(true);
    // Sequence numbers increase: the stream's order is publication order.
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));

    // What `berth describe` shows of the service: its newest events, and those of one task.
    const oc = new ObserveClient(cluster.controllers[0]!.address, cluster.transport);
    try {
      const recent = await recentEvents(oc, { namespace: 'default', service: 'evt' }, 3);
      expect(recent.map((e) => e.seq)).toEqual(events.slice(-3).map((e) => e.seq));
      const taskId = events.find((e) => e.type === 'task.state')!.task;
      const ofTask = await recentEvents(oc, { namespace: 'default', service: 'evt', task: taskId });
      expect(ofTask.length).toBeGreaterThan(2);
      expect(ofTask.every((e) => e.task === taskId)).toBe(true);
      const section = eventsSection(recent, Date.now());
      expect(section.lines[0]).toMatch(/^AGE +TYPE +STATE +OBJECT +MESSAGE$/);
      expect(section.lines.at(-1)).toMatch(/ago +service\.deleted +- +evt +service and its records removed$/);
    } finally {
      oc.close();
    }

    // The follower saw the same events as they happened.
    await cluster.waitFor(() => follower.stdout.some((l) => l.line.includes('service.deleted')), 'follower saw service.deleted', 10_000);
    expect(follower.stdout.some((l) => /task\.state +default\/evt\.1@h\d +running/.test(l.line))).toBe(true);
    follower.child.kill('SIGINT');
    await follower.exited;
  });

  it('shows a full rollout in order, and a failed one rolled back', async () => {
    type Ev = { type: string; state: string; message: string; slot: number; task: string; seq: number };
    const write = (env: string, command: string): string => {
      const f = join(cluster.dir, 'roll.yaml');
      writeFileSync(
        f,
        `apiVersion: berth.dev/v1
kind: Service
metadata: { name: roll }
spec:
  image: ${image()}
  replicas: 2
  command: [sh, -c, ${JSON.stringify(command)}]
  env: { VERSION: "${env}" }
  stop: { gracePeriod: 1s }
  restart: { backoff: { initial: 200ms } }
  update: { monitor: 1s }
`,
      );
      return f;
    };
    const eventsOf = async (): Promise<Ev[]> =>
      (await cluster.berth(['events', '--service', 'roll', '-o', 'json'])).stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Ev);
    expect((await cluster.berth(['apply', '-f', write('1', 'exec sleep 3600')])).code).toBe(0);
    await cluster.waitFor(async () => (await runningTasks('roll')).length === 2, 'roll v1 running');
    const v1 = new Set((await runningTasks('roll')).map((t) => t.id));
    const from = (await eventsOf()).length;

    expect((await cluster.berth(['apply', '-f', write('2', 'exec sleep 3600')])).code).toBe(0);
    let rollout: Ev[] = [];
    const oldStops = (evs: Ev[]): number => evs.filter((e) => e.type === 'task.state' && v1.has(e.task) && e.state === 'shutdown').length;
    await cluster.waitFor(
      async () => {
        rollout = (await eventsOf()).slice(from);
        return rollout.some((e) => e.type === 'rollout.completed') && oldStops(rollout) === 2;
      },
      'rollout.completed and both old tasks stopped',
      60_000,
    );
    const at = (pred: (e: Ev) => boolean): number => rollout.findIndex(pred);
    const applied = at((e) => e.type === 'service.applied' && e.message.includes('revision 2'));
    const started = at((e) => e.type === 'rollout.started');
    const completed = at((e) => e.type === 'rollout.completed');
    expect(applied).toBeGreaterThanOrEqual(0);
    expect(started).toBeGreaterThan(applied);
    expect(completed).toBeGreaterThan(started);
    // After the start: each slot's new task runs, then its old one stops (the rollout completes
    // once the old ones are told to stop, so their `shutdown` may come after the completion).
    for (const slot of [1, 2]) {
      const newRunning = at((e) => e.type === 'task.state' && e.slot === slot && !v1.has(e.task) && e.state === 'running');
      const oldStopped = at((e) => e.type === 'task.state' && e.slot === slot && v1.has(e.task) && e.state === 'shutdown');
      expect(
        newRunning,
        `slot ${slot}: new task running in ${JSON.stringify(rollout.map((e) => `${e.type}:${e.slot}:${e.state}`))}`,
      ).toBeGreaterThan(started);
      expect(oldStopped).toBeGreaterThan(newRunning);
      expect(completed).toBeGreaterThan(newRunning);
    }

    // A bad revision fails during its monitor window and is rolled back.
    const before = (await eventsOf()).length;
    expect((await cluster.berth(['apply', '-f', write('3', 'exit 1')])).code).toBe(0);
    let bad: Ev[] = [];
    await cluster.waitFor(
      async () => (bad = (await eventsOf()).slice(before)).some((e) => e.type === 'rollout.completed'),
      'rollback completed',
      90_000,
    );
    const types = bad.map((e) => e.type).filter((t) => t.startsWith('rollout.'));
    const order = ['rollout.started', 'rollout.failure', 'rollout.rollback', 'rollout.completed'];
    expect(
      order.map((t) => types.indexOf(t)).every((i, k, a) => i >= 0 && (k === 0 || i > a[k - 1]!)),
      types.join(', '),
    ).toBe(true);
    expect(bad.find((e) => e.type === 'rollout.completed')!.state).toBe('rollback_completed');
    expect((await cluster.berth(['delete', 'service', 'roll'])).code).toBe(0);
  });

  it('says so when the event stream cannot be read (NATS down), and reads it again once NATS is back', async () => {
    await cluster.nats.proc.stop(5_000);
    try {
      const res = await cluster.berth(['events', '--limit', '1']);
      expect(res.code).toBe(3);
      expect(res.stderr).toMatch(/^error: event stream unavailable: /);
    } finally {
      cluster.nats = await restartNats(cluster);
    }
    await cluster.waitFor(async () => (await cluster.berth(['events', '--limit', '1'])).code === 0, 'events readable again', 30_000);
  });

  it('filters by type, node and namespace, and refuses an unknown type', async () => {
    const nodes = await cluster.berth(['events', '--type', 'node', '-o', 'json']);
    const nodeEvents = nodes.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; node: string });
    expect(nodeEvents.length).toBeGreaterThanOrEqual(2);
    expect(nodeEvents.every((e) => e.type.startsWith('node.'))).toBe(true);

    const h1 = await cluster.berth(['events', '--node', 'h1', '-o', 'json']);
    const h1Events = h1.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { node: string });
    expect(h1Events.length).toBeGreaterThan(0);
    expect(h1Events.every((e) => e.node === 'h1')).toBe(true);

    const none = await cluster.berth(['events', '-n', 'elsewhere']);
    expect(none).toEqual({ code: 0, stdout: '', stderr: '' });

    const limited = await cluster.berth(['events', '--limit', '2']);
    expect(limited.stdout.trim().split('\n')).toHaveLength(2);

    const bad = await cluster.berth(['events', '--type', 'nonsense']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('types[0]: unknown event type "nonsense"');
  });
});

describe('berth logs', () => {
  it("prints each replica's lines with slot and node; --tail and --timestamps", async () => {
    await apply('talker', 3, 'i=0; while true; i=$((i+1)); do echo "tick $i"; sleep 0.2; done');
    await cluster.waitFor(
      async () => {
        const res = await cluster.berth(['logs', 'talker', '--tail', '2']);
        return [1, 2, 3].every(
          (slot) => res.stdout.split('\n').filter((l) => new RegExp(`^talker\\.${slot}@h[12] \\| tick \\d+$`).test(l)).length === 2,
        );
      },
      'two lines per replica with --tail 2',
      20_000,
    );
    const stamped = await cluster.berth(['logs', 'talker/2', '--tail', '1', '--timestamps']);
    expect(stamped.stdout).toMatch(/^talker\.2@h[12] \| \d{4}-\d\d-\d\dT[\d:.]+Z tick \d+\n$/);
    const since = await cluster.berth(['logs', 'talker/1', '--since', '1s']);
    const all = await cluster.berth(['logs', 'talker/1']);
    expect(since.stdout.split('\n').length).toBeLessThan(all.stdout.split('\n').length);
  });

  it("follows 3 replicas while one host's agent is killed: the others keep streaming, the lost replica is named", async () => {
    const h2 = cluster.hosts[1]!.nodeId;
    const onH2 = (await runningTasks('talker')).filter((t) => t.nodeId === h2);
    expect(onH2.length).toBeGreaterThan(0);
    const follower = live(['logs', '-f', 'talker', '--tail', '0']);
    await cluster.waitFor(
      () => [1, 2, 3].every((s) => follower.stdout.some((l) => l.line.startsWith(`talker.${s}@`))),
      'lines of all 3 replicas',
      20_000,
    );

    await cluster.killAgent(1);
    const killedAt = Date.now();
    for (const t of onH2) {
      await cluster.waitFor(
        () => follower.stderr.some((l) => l.line.startsWith(`talker.${t.slot}@${h2} | -- unavailable:`)),
        `replica ${t.slot} on ${h2} named unavailable`,
        15_000,
      );
    }
    // The replicas on h1 go on.
    await cluster.waitFor(
      () => follower.stdout.filter((l) => l.at > killedAt + 1000 && l.line.includes('@h1 | tick')).length >= 5,
      'h1 replicas keep streaming',
      15_000,
    );
    // h2 goes down, its replicas are replaced on h1, and the followed stream picks them up.
    for (const t of onH2) {
      await cluster.waitFor(
        () => follower.stdout.some((l) => l.at > killedAt && l.line.startsWith(`talker.${t.slot}@h1 | tick`)),
        `replacement of slot ${t.slot} joins`,
        45_000,
      );
    }
    expect(follower.child.exitCode).toBeNull();

    // berth top names the node it cannot ask.
    const top = await cluster.berth(['top']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(new RegExp(`^${h2} +\\w+ .*unavailable: `, 'm'));

    // The client leaves: every stream it held stops, on the controller and on the agent.
    const h1Agent = (await cluster.client().listNodes()).find((n) => n.id === 'h1')!.description!.metricsAddress;
    expect(await openStreams(cluster.controllers[0]!.metrics, 'berth_controller_api_streams', 'Logs')).toBe(1);
    expect(await openStreams(h1Agent, 'berth_agent_api_streams', 'Logs')).toBeGreaterThanOrEqual(3);
    follower.child.kill('SIGKILL');
    await follower.exited;
    await cluster.waitFor(
      async () => (await openStreams(cluster.controllers[0]!.metrics, 'berth_controller_api_streams', 'Logs')) === 0,
      'controller streams closed',
      10_000,
    );
    await cluster.waitFor(
      async () => (await openStreams(h1Agent, 'berth_agent_api_streams', 'Logs')) === 0,
      'agent streams closed',
      10_000,
    );

    await cluster.startAgent(1);
    await cluster.waitFor(
      async () => (await cluster.client().listNodes()).find((n) => n.id === h2)?.state === 'ready',
      `${h2} ready again`,
      30_000,
    );
  });
});
