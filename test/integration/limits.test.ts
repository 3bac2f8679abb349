// Limits per identity on a real cluster (etcd, NATS, dockerd, a controller and an agent, TLS):
// one operator at its follow-stream share does not block another; the total still holds; a
// controller at its share of an agent's AgentAPI does not block another controller; a message
// from an agent certificate over --max-agent-message, or with a field beyond its limit, is
// refused and registers nothing; servers no longer take 64 MiB from anyone; `berth plan` over its
// rate gets RESOURCE_EXHAUSTED for that caller only. The caps are small here (flags) to keep it fast.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { TestCluster, webManifest } from '../harness/cluster.js';
import { CHANNEL_OPTIONS, loadProto } from '../../proto/src/grpc.js';
import { createCsr, issueCertificate, type Credentials } from '../../proto/src/security/pki.js';
import type { Identity } from '../../proto/src/security/identity.js';
import { channelCredentials, CredentialSource, TLS_CHANNEL_OPTIONS } from '../../proto/src/security/tls.js';

let cluster: TestCluster;
const T = (): number => Date.now();

async function credential(id: Identity): Promise<Credentials> {
  const ca = { certPem: readFileSync(cluster.pki.caCertFile, 'utf8'), keyPem: readFileSync(cluster.pki.caKeyFile, 'utf8') };
  const { csrPem, keyPem } = await createCsr('limits');
  const c = await issueCertificate({ ca, csrPem, identity: id, notBefore: new Date(T() - 60_000), notAfter: new Date(T() + 3600_000) });
  return { caPem: ca.certPem, certPem: c.certPem, keyPem };
}

const admin = (user: string): Identity => ({ kind: 'operator', user, role: 'admin', namespaces: ['*'] });

type AnyClient = grpc.Client & Record<string, (...a: unknown[]) => unknown>;
const clients: grpc.Client[] = [];

async function client(file: string, service: string, id: Identity, address: string): Promise<AnyClient> {
  const Ctor = loadProto<Record<string, Record<string, Record<string, grpc.ServiceClientConstructor>>>>(file)['berth']!['v1']![service]!;
  const creds = channelCredentials({ kind: 'tls', source: new CredentialSource(await credential(id)) }, () => undefined);
  const c = new Ctor(address, creds, { ...CHANNEL_OPTIONS, ...TLS_CHANNEL_OPTIONS }) as unknown as AnyClient;
  clients.push(c);
  return c;
}

/** A server stream; `outcome` settles with its first message ('data') or its error. */
function open(
  c: AnyClient,
  method: string,
  req: unknown,
): { call: grpc.ClientReadableStream<unknown>; outcome: Promise<'data' | grpc.ServiceError> } {
  const call = c[method]!.call(c, req) as grpc.ClientReadableStream<unknown>;
  const outcome = new Promise<'data' | grpc.ServiceError>((resolve) => {
    call.on('data', () => resolve('data'));
    call.on('error', (e: grpc.ServiceError) => resolve(e));
  });
  return { call, outcome };
}

/** Whether a stream is still open (not refused) after `ms`. */
async function stillOpen(s: { outcome: Promise<unknown> }, ms = 1_500): Promise<boolean> {
  const r = await Promise.race([s.outcome, new Promise((res) => setTimeout(() => res('open'), ms))]);
  return r === 'open' || r === 'data';
}

async function gauge(metricsAddress: string, name: string, method: string): Promise<number> {
  const text = await cluster.scrape(metricsAddress);
  const m = new RegExp(`^${name}\\{method="${method}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

beforeAll(async () => {
  cluster = await TestCluster.start({
    hosts: 1,
    controllerArgs: [
      ...['--max-streams', '5', '--max-streams-per-identity', '3'],
      ...['--plan-rate', '0.05', '--plan-burst', '2'],
      ...['--max-agent-message', '256Ki'],
    ],
    agentArgs: ['--max-api-streams', '3', '--max-api-streams-per-controller', '2'],
  });
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

describe('follow streams per identity (ObserveAPI)', () => {
  it('one operator at its share does not block another; the total still holds; a closed stream frees its place', async () => {
    const address = cluster.controllers[0]!.address;
    const metrics = cluster.controllers[0]!.metrics;
    const ann = await client('observe', 'ObserveAPI', admin('ann'), address);
    // Three idle follow streams (a namespace with no events): ann's whole share.
    const idle = [0, 1, 2].map(() => open(ann, 'Events', { namespace: 'quiet', follow: true }));
    expect(await Promise.all(idle.map((s) => stillOpen(s)))).toEqual([true, true, true]);
    expect(await gauge(metrics, 'berth_controller_api_streams', 'Events')).toBe(3);

    const fourth = await open(ann, 'Events', { namespace: 'quiet', follow: true }).outcome;
    expect(fourth).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    expect((fourth as grpc.ServiceError).details).toBe(
      'ann (admin) holds 3 events, logs, exec and watch streams on this controller, the most one identity may (--max-streams-per-identity 3); close one and try again',
    );

    // Another operator is served: its follow stream gets the history (node.registered) at once.
    const bob = await client('observe', 'ObserveAPI', admin('bob'), address);
    const bobs = open(bob, 'Events', { follow: true });
    expect(await bobs.outcome).toBe('data');
    // The CLI of a third identity (the harness's admin) is served too.
    const cli = await cluster.berth(['events', '--since', '1h']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain('node.registered');

    // The total (--max-streams 5): ann 3 + bob 1 + carol 1, then dave is refused.
    const carol = open(await client('observe', 'ObserveAPI', admin('carol'), address), 'Events', { namespace: 'quiet', follow: true });
    expect(await stillOpen(carol)).toBe(true);
    const dave = await client('observe', 'ObserveAPI', admin('dave'), address);
    const refused = await open(dave, 'Events', { namespace: 'quiet', follow: true }).outcome;
    expect(refused).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    expect((refused as grpc.ServiceError).details).toContain(
      'this controller serves 5 events, logs, exec and watch streams at most (--max-streams 5)',
    );
    expect((refused as grpc.ServiceError).details).toContain('refused for dave (admin)');

    // ann closes one: dave gets its place.
    idle[0]!.call.cancel();
    await cluster.waitFor(async () => (await gauge(metrics, 'berth_controller_api_streams', 'Events')) === 4, 'ann stream closed', 10_000);
    const daves = open(dave, 'Events', { namespace: 'quiet', follow: true });
    expect(await stillOpen(daves)).toBe(true);
    for (const s of [...idle, bobs, carol, daves]) s.call.cancel();
    await cluster.waitFor(
      async () => (await gauge(metrics, 'berth_controller_api_streams', 'Events')) === 0,
      'every stream closed',
      10_000,
    );
  }, 60_000);
});

describe("AgentAPI streams per controller (the agent's)", () => {
  it('a controller at its share of an agent does not block another controller; the total holds', async () => {
    const apply = await cluster.berth(['apply', '-f', '-'], { input: webManifest({ name: 'lim', replicas: 1, port: false }) });
    expect(apply.code, apply.stderr).toBe(0);
    let taskId = '';
    await cluster.waitFor(
      async () => {
        const t = (await cluster.client().listTasks({ service: 'lim' })).find((x) => x.status?.state === 'running');
        taskId = t?.id ?? '';
        return taskId !== '';
      },
      'lim running',
      60_000,
    );
    const node = (await cluster.client().listNodes()).find((n) => n.id === 'h1')!;
    const apiAddress = node.description!.apiAddress;
    const agentMetrics = node.description!.metricsAddress;
    const cx = await client('observe', 'AgentAPI', { kind: 'controller', id: 'cx' }, apiAddress);
    const mine = [0, 1].map(() => open(cx, 'Logs', { taskId, follow: true, tail: 0 }));
    expect(await Promise.all(mine.map((s) => stillOpen(s)))).toEqual([true, true]);
    const third = await open(cx, 'Logs', { taskId, follow: true, tail: 0 }).outcome;
    expect(third).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    expect((third as grpc.ServiceError).details).toBe(
      'controller cx holds 2 logs and exec streams on this agent, the most one identity may (--max-api-streams-per-controller 2); close one and try again',
    );
    // Another controller is served...
    const cy = await client('observe', 'AgentAPI', { kind: 'controller', id: 'cy' }, apiAddress);
    const theirs = open(cy, 'Logs', { taskId, follow: true, tail: 0 });
    expect(await stillOpen(theirs)).toBe(true);
    expect(await gauge(agentMetrics, 'berth_agent_api_streams', 'Logs')).toBe(3);
    // ...up to the total (--max-api-streams 3).
    const cz = await client('observe', 'AgentAPI', { kind: 'controller', id: 'cz' }, apiAddress);
    const over = await open(cz, 'Logs', { taskId, follow: true, tail: 0 }).outcome;
    expect((over as grpc.ServiceError).details).toContain('this agent serves 3 logs and exec streams at most (--max-api-streams 3)');
    for (const s of [...mine, theirs]) s.call.cancel();
    // The cluster's own controller still reaches the agent (berth logs goes through it).
    await cluster.waitFor(async () => (await gauge(agentMetrics, 'berth_agent_api_streams', 'Logs')) === 0, 'agent streams closed', 10_000);
    const logs = await cluster.berth(['logs', 'lim']);
    expect(logs.code, logs.stderr).toBe(0);
  }, 120_000);
});

describe('messages from agents', () => {
  function session(c: AnyClient): { call: grpc.ClientDuplexStream<unknown, unknown>; ended: Promise<grpc.ServiceError> } {
    const call = c['Session']!.call(c) as grpc.ClientDuplexStream<unknown, unknown>;
    const ended = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    call.on('data', () => undefined);
    return { call, ended };
  }
  const hello = (labels: Record<string, string>, containers = 0) => ({
    hello: {
      nodeId: 'rogue',
      description: { hostname: 'rogue', labels, capacity: { cpuMilli: 1000, memoryBytes: 1 << 30 } },
      containers: Array.from({ length: containers }, (_, i) => ({ containerId: `c${i}`, taskId: `t${i}`, state: 'running' })),
    },
  });

  it('an oversize message from an agent certificate is refused, naming the limit and the agent; nothing is registered', async () => {
    const rogue = await client('dispatcher', 'Dispatcher', { kind: 'agent', nodeId: 'rogue' }, cluster.controllers[0]!.address);
    const big = session(rogue);
    big.call.write(hello({ junk: 'x'.repeat(300 * 1024) }));
    const err = await big.ended;
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(
      /^Dispatcher\.Session: a message of \d+ bytes from agent rogue; this server takes at most 262144 bytes per message of this method \(--max-agent-message\)$/,
    );

    // Small enough, but a field beyond its limit: INVALID_ARGUMENT naming the field.
    const long = session(rogue);
    long.call.write(hello({ zone: 'z'.repeat(2000) }));
    const invalid = await long.ended;
    expect(invalid.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(invalid.details).toBe('hello.description.labels["zone"]: 2000 characters; at most 1024 (from agent rogue)');

    const nodes = await cluster.client().listNodes();
    expect(nodes.map((n) => n.id)).toEqual(['h1']);
    expect(nodes[0]!.state).toBe('ready');
  }, 30_000);

  it('no server takes 64 MiB from anyone: a method takes what it needs', async () => {
    const address = cluster.controllers[0]!.address;
    const ann = await client('control', 'ControlAPI', admin('ann'), address);
    const raw = (method: string, bytes: number): Promise<grpc.ServiceError | null> =>
      new Promise((resolve) =>
        ann.makeUnaryRequest(
          `/berth.v1.ControlAPI/${method}`,
          (b: Buffer) => b,
          (b: Buffer) => b,
          // Field 99 (unknown, length-delimited): the size is what counts, before any decoding.
          Buffer.concat([Buffer.from([0x9a, 0x06]), varint(bytes), Buffer.alloc(bytes, 0x61)]),
          (e) => resolve(e),
        ),
      );
    const small = await raw('ListNodes', 100 * 1024);
    expect(small?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(small?.details).toMatch(
      /^ControlAPI\.ListNodes: a message of \d+ bytes from ann \(admin\); this server takes at most 65536 bytes/,
    );
    // A manifest's method takes a manifest (1 MiB and its fields).
    expect((await raw('ApplyService', 900 * 1024))?.code).not.toBe(grpc.status.RESOURCE_EXHAUSTED);
    // 16 MiB: beyond every method's limit (the largest, berth plan's, is 8 MiB): refused by the transport.
    const huge = await raw('ApplyService', 16 * 1024 * 1024);
    expect(huge?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  }, 30_000);
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

describe('berth plan rate per identity', () => {
  it('over its rate a caller gets RESOURCE_EXHAUSTED naming the limit; another identity is served', async () => {
    const manifest = JSON.stringify({
      apiVersion: 'berth.dev/v1',
      kind: 'Service',
      metadata: { name: 'planned', namespace: 'default' },
      spec: { image: 'busybox', replicas: 1 },
    });
    const address = cluster.controllers[0]!.address;
    const plan = (c: AnyClient): Promise<grpc.ServiceError | null> =>
      new Promise((resolve) => c['Plan']!.call(c, { manifestsJson: [manifest] }, (e: grpc.ServiceError | null) => resolve(e)));
    const ann = await client('nodes', 'NodeAPI', admin('ann'), address);
    expect(await plan(ann)).toBeNull();
    expect(await plan(ann)).toBeNull();
    const third = await plan(ann);
    expect(third?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(third?.details).toMatch(
      /^ann \(admin\) may make 2 plans at once and 0\.05 a second \(--plan-rate, --plan-burst\); try again in \d+ ms$/,
    );
    const bob = await client('nodes', 'NodeAPI', admin('bob'), address);
    expect(await plan(bob)).toBeNull();
    // The CLI shows the refusal and exits non-zero (the harness's admin: its own bucket, used up here).
    const f = `${cluster.dir}/plan.yaml`;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(f, webManifest({ name: 'planned', replicas: 1 }));
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await cluster.berth(['plan', '-f', f]));
    expect(runs.slice(0, 2).map((r) => r.code)).toEqual([0, 0]);
    expect(runs[2]!.code).not.toBe(0);
    expect(runs[2]!.stderr).toContain('test-admin (admin) may make 2 plans at once');
  }, 60_000);
});

describe('limit flags', () => {
  it('refuses bad values before the daemon starts (exit 2, naming the flag)', async () => {
    const cases: Array<[string[], string]> = [
      [
        ['controller', '--max-streams', '2', '--max-streams-per-identity', '3'],
        "--max-streams-per-identity: 3 is more than --max-streams 2; one identity's share must fit in the total",
      ],
      [['controller', '--plan-rate', '0'], '--plan-rate: must be a number > 0 (calls a second); got "0"'],
      [['controller', '--plan-burst', '1.5'], '--plan-burst: must be a whole number ≥ 1; got "1.5"'],
      [['controller', '--max-agent-message', '1Ki'], '--max-agent-message: must be between 65536 and 67108864 bytes; got 1024'],
      [['agent', '--max-api-streams', '0'], '--max-api-streams: must be a whole number ≥ 1; got "0"'],
      [['agent', '--label', `zone=${'z'.repeat(1025)}`], '--label zone: 1025 characters; at most 1024'],
    ];
    for (const [args, message] of cases) {
      const r = await cluster.berth(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
    }
  }, 60_000);
});
