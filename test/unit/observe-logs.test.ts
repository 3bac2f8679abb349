// LogSession (berth logs on the controller) with fake agent streams and the memory store: lines
// merged with slot and node, a replica whose node leaves `ready` is cut off and named while the
// others go on, it resumes when the node returns, replicas that start later join, and everything
// stops when the client leaves.
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../proto/src/log.js';
import type { NodeRecord, TaskRecord } from '../../proto/src/model.js';
import type { LogLine } from '../../proto/gen/berth/v1/LogLine.js';
import type { LogsRequest__Output } from '../../proto/gen/berth/v1/LogsRequest.js';
import type { AgentLogsRequest } from '../../proto/gen/berth/v1/AgentLogsRequest.js';
import { ClusterCache } from '../../controller/src/store/cluster.js';
import { Keys } from '../../controller/src/store/keys.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import type { AgentClients } from '../../controller/src/observe/agent-clients.js';
import { LogSession } from '../../controller/src/observe/logs.js';
import { mockNode, mockService, mockTask } from './fixtures.js';

class FakeCall extends EventEmitter {
  readonly lines: LogLine[] = [];
  ended = false;
  error: Partial<grpc.StatusObject> | undefined;
  constructor(readonly request: LogsRequest__Output) {
    super();
    this.on('error', (e: Partial<grpc.StatusObject>) => (this.error = e));
  }
  write(m: LogLine): boolean {
    this.lines.push(m);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  text(): string[] {
    return this.lines.map((l) => `${l.slot}@${l.node} ${l.notice ? `-- ${l.notice}` : Buffer.from(l.data as Buffer).toString()}`);
  }
}

interface Upstream {
  address: string;
  req: AgentLogsRequest;
  stream: PassThrough & { cancel(): void };
  cancelled: boolean;
}

class FakeAgents {
  readonly opened: Upstream[] = [];
  get(node: { description: { apiAddress?: string } }) {
    const address = node.description.apiAddress!;
    return {
      Logs: (req: AgentLogsRequest) => {
        const stream = new PassThrough({ objectMode: true }) as PassThrough & { cancel(): void };
        const up: Upstream = { address, req, stream, cancelled: false };
        stream.cancel = () => {
          up.cancelled = true;
          stream.destroy(Object.assign(new Error('Cancelled on client'), { code: grpc.status.CANCELLED, details: 'Cancelled on client' }));
        };
        this.opened.push(up);
        return stream;
      },
    };
  }
  of(taskId: string): Upstream[] {
    return this.opened.filter((u) => u.req.taskId === taskId);
  }
}

const line = (data: string) => ({
  taskId: '',
  slot: 0,
  node: '',
  stream: 'stdout',
  data: Buffer.from(data),
  timestamp: '2024-05-01T10:00:00Z',
  notice: '',
});

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out: ${what}`);
}

const svc = mockService({ replicas: 3 });
const nodeWithApi = (id: string, state: NodeRecord['state'] = 'ready'): NodeRecord => {
  const n = mockNode(id, { state });
  return { ...n, description: { ...n.description, apiAddress: `${id}:7071` } };
};

async function world(tasks: TaskRecord[]) {
  const store = new MemoryStore();
  const keys = new Keys();
  await store.commit([
    { op: 'create', key: keys.service('default', 'web'), value: JSON.stringify(svc) },
    { op: 'create', key: keys.node('n1'), value: JSON.stringify(nodeWithApi('n1')) },
    { op: 'create', key: keys.node('n2'), value: JSON.stringify(nodeWithApi('n2')) },
    ...tasks.map((t) => ({ op: 'create' as const, key: keys.task(t.id), value: JSON.stringify(t) })),
  ]);
  const cache = new ClusterCache(store, keys, silentLogger());
  const ac = new AbortController();
  void cache.start(ac.signal);
  await cache.synced;
  const setNode = async (id: string, state: NodeRecord['state']): Promise<void> => {
    const cur = (await store.get(keys.node(id)))!;
    await store.commit([
      { op: 'update', key: keys.node(id), value: JSON.stringify({ ...nodeWithApi(id), state }), modRevision: cur.modRevision },
    ]);
  };
  return { store, keys, cache, stop: () => ac.abort(), setNode };
}

const running = (slot: number, nodeId: string): TaskRecord => mockTask(svc, { slot, nodeId, status: { containerId: `c${slot}` } });

describe('LogSession', () => {
  it('follows: merges replicas, names the one whose node is lost, resumes it, takes new replicas, stops when the client leaves', async () => {
    const w = await world([running(1, 'n1'), running(2, 'n2'), running(3, 'n1')]);
    const agents = new FakeAgents();
    const call = new FakeCall({ namespace: '', service: 'web', slot: 0, node: '', follow: true, sinceMs: 0, tail: 10 });
    const codes: grpc.status[] = [];
    new LogSession({ cache: w.cache, agents: agents as unknown as AgentClients, log: silentLogger() }, call as never, (c) =>
      codes.push(c),
    ).start();
    expect(agents.opened.map((u) => [u.address, u.req.tail, u.req.follow])).toEqual([
      ['n1:7071', 10, true],
      ['n2:7071', 10, true],
      ['n1:7071', 10, true],
    ]);
    const [t1, t2, t3] = [running(1, 'n1'), running(2, 'n2'), running(3, 'n1')];
    for (const [i, t] of [t1, t2, t3].entries()) agents.of(t.id)[0]!.stream.write(line(`hello ${i + 1}`));
    await until(() => call.lines.length === 3, 'three lines');
    expect(call.text().sort()).toEqual(['1@n1 hello 1', '2@n2 hello 2', '3@n1 hello 3']);

    await w.setNode('n2', 'unknown');
    await until(() => call.text().includes('2@n2 -- unavailable: node n2 is unknown'), 'notice for the replica on n2');
    expect(agents.of(t2.id)[0]!.cancelled).toBe(true);
    agents.of(t1.id)[0]!.stream.write(line('still here'));
    await until(() => call.text().includes('1@n1 still here'), 'n1 goes on');

    await w.setNode('n2', 'ready');
    await until(() => agents.of(t2.id).length === 2, 'stream of the replica on n2 reopened');
    expect(call.text()).toContain('2@n2 -- resumed: node n2 is ready again');
    expect(agents.of(t2.id)[1]!.req).toMatchObject({ tail: -1 });
    expect(Number(agents.of(t2.id)[1]!.req.sinceMs)).toBeGreaterThan(0);

    // A replica that starts later joins with its whole log.
    const t4 = mockTask(svc, { slot: 4, nodeId: 'n1', status: { containerId: 'c4' } });
    await w.store.commit([{ op: 'create', key: w.keys.task(t4.id), value: JSON.stringify(t4) }]);
    await until(() => agents.of(t4.id).length === 1, 'new replica joins');
    expect(agents.of(t4.id)[0]!.req).toMatchObject({ sinceMs: 0, tail: -1 });

    // An agent stream that breaks is named; the request goes on.
    agents.of(t3.id)[0]!.stream.destroy(Object.assign(new Error('boom'), { code: grpc.status.UNAVAILABLE, details: 'Connection dropped' }));
    await until(
      () => call.text().some((l) => l.startsWith('3@n1 -- unavailable: the agent on n1 cannot be reached (Connection dropped)')),
      'broken stream named',
    );
    expect(call.ended).toBe(false);

    call.emit('cancelled');
    expect(codes).toEqual([grpc.status.CANCELLED]);
    for (const t of [t1, t4]) expect(agents.of(t.id).at(-1)!.cancelled).toBe(true);
    expect(agents.of(t2.id)[1]!.cancelled).toBe(true);
    const before = agents.opened.length;
    const t5 = mockTask(svc, { slot: 5, nodeId: 'n1', status: { containerId: 'c5' } });
    await w.store.commit([{ op: 'create', key: w.keys.task(t5.id), value: JSON.stringify(t5) }]);
    await new Promise((r) => setTimeout(r, 50));
    expect(agents.opened.length).toBe(before);
    w.stop();
  });

  it('without follow: names a replica on a node that is not ready and ends when the others have', async () => {
    const w = await world([running(1, 'n1'), running(2, 'n2')]);
    await w.setNode('n2', 'down');
    await until(() => w.cache.nodes.get(w.keys.node('n2'))?.value.state === 'down', 'n2 down in the cache');
    const agents = new FakeAgents();
    const call = new FakeCall({ namespace: 'default', service: 'web', slot: 0, node: '', follow: false, sinceMs: 0, tail: -1 });
    const codes: grpc.status[] = [];
    new LogSession({ cache: w.cache, agents: agents as unknown as AgentClients, log: silentLogger() }, call as never, (c) =>
      codes.push(c),
    ).start();
    expect(agents.opened).toHaveLength(1);
    agents.opened[0]!.stream.end(line('the only line'));
    await until(() => call.ended, 'request ends');
    expect(call.text()).toEqual(['2@n2 -- unavailable: node n2 is down', '1@n1 the only line']);
    expect(codes).toEqual([grpc.status.OK]);
    w.stop();
  });

  it("reads only the replica on the node asked for (how a global service's replicas are named)", async () => {
    const w = await world([running(1, 'n1'), running(2, 'n2'), running(3, 'n1')]);
    const agents = new FakeAgents();
    const call = new FakeCall({ namespace: '', service: 'web', slot: 0, node: 'n2', follow: false, sinceMs: 0, tail: -1 });
    new LogSession(
      { cache: w.cache, agents: agents as unknown as AgentClients, log: silentLogger() },
      call as never,
      () => undefined,
    ).start();
    expect(agents.opened.map((u) => [u.address, u.req.taskId])).toEqual([['n2:7071', running(2, 'n2').id]]);
    agents.opened[0]!.stream.end();
    await until(() => call.ended, 'request ends');
    w.stop();
  });

  it('refuses an unknown service', async () => {
    const w = await world([]);
    const call = new FakeCall({ namespace: '', service: 'nope', slot: 0, node: '', follow: false, sinceMs: 0, tail: -1 });
    new LogSession(
      { cache: w.cache, agents: new FakeAgents() as unknown as AgentClients, log: silentLogger() },
      call as never,
      () => undefined,
    ).start();
    expect(call.error).toMatchObject({ code: grpc.status.NOT_FOUND, details: 'service default/nope not found' });
    w.stop();
  });
});
