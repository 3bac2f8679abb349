// The agent's observation parts without an engine: decoding the engine's streams and stats,
// per-slot metrics (newest task per slot, restarts counted once), CPU rates and usage for top.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../proto/src/log.js';
import type { TaskStatus } from '../../proto/src/model.js';
import { FrameDecoder, MAX_LOG_LINE_BYTES, logRecords, parseStats } from '../../agent/src/runtime/docker/docker-streams.js';
import { AgentMetrics } from '../../agent/src/metrics/metrics.js';
import { TaskObserver, cpuRate, type TaskView } from '../../agent/src/observe/task-observer.js';
import type { ContainerStats, ObserveRuntime } from '../../agent/src/runtime/observe.js';
import { advertisedAddress } from '../../agent/src/main.js';
import { T0, mockService, mockTask } from './fixtures.js';

function frame(type: number, text: string): Buffer {
  const body = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = type;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}

describe('FrameDecoder', () => {
  it('reassembles stdout and stderr frames cut anywhere', () => {
    const all = Buffer.concat([frame(1, 'out one\n'), frame(2, 'err\n'), frame(1, 'out two\n')]);
    for (let cut = 1; cut < all.length; cut += 3) {
      const d = new FrameDecoder();
      const frames = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
      expect(frames.map((f) => `${f.stream}:${f.data.toString()}`)).toEqual(['stdout:out one\n', 'stderr:err\n', 'stdout:out two\n']);
    }
  });

  it('passes a stream that is not framed (a terminal) through as stdout', () => {
    const d = new FrameDecoder();
    expect(d.push(Buffer.from('$ hello world\r\n')).map((f) => [f.stream, f.data.toString()])).toEqual([['stdout', '$ hello world\r\n']]);
    expect(d.push(Buffer.from('more')).map((f) => f.data.toString())).toEqual(['more']);
    expect(new FrameDecoder(false).push(frame(2, 'x')).map((f) => f.stream)).toEqual(['stdout']);
  });
});

describe('logRecords', () => {
  it('splits lines, takes each timestamp off, drops CR', () => {
    const recs = logRecords({
      stream: 'stderr',
      data: Buffer.from('2024-05-01T10:00:00.123456789Z first\r\n2024-05-01T10:00:01Z second\n'),
    });
    expect(recs.map((r) => [r.stream, r.timestamp, r.data.toString()])).toEqual([
      ['stderr', '2024-05-01T10:00:00.123456789Z', 'first'],
      ['stderr', '2024-05-01T10:00:01Z', 'second'],
    ]);
  });

  it('keeps a line without a timestamp and an empty line, cuts long lines in pieces', () => {
    expect(logRecords({ stream: 'stdout', data: Buffer.from('no stamp here\n') })[0]).toMatchObject({
      timestamp: '',
      data: Buffer.from('no stamp here'),
    });
    expect(logRecords({ stream: 'stdout', data: Buffer.from('2024-05-01T10:00:00Z \n') }).map((r) => r.data.length)).toEqual([0]);
    const long = logRecords({ stream: 'stdout', data: Buffer.from(`2024-05-01T10:00:00Z ${'x'.repeat(MAX_LOG_LINE_BYTES * 2 + 5)}\n`) });
    expect(long.map((r) => r.data.length)).toEqual([MAX_LOG_LINE_BYTES, MAX_LOG_LINE_BYTES, 5]);
    expect(long.every((r) => r.timestamp === '2024-05-01T10:00:00Z')).toBe(true);
  });
});

describe('parseStats', () => {
  const doc = {
    read: '2024-05-01T10:00:05.000000000Z',
    cpu_stats: { cpu_usage: { total_usage: 2_500_000_000 } },
    memory_stats: { usage: 10_000_000, limit: 64 * 2 ** 20, stats: { total_inactive_file: 4_000_000 } },
    networks: { eth0: { rx_bytes: 100, tx_bytes: 50 }, eth1: { rx_bytes: 1, tx_bytes: 2 } },
    blkio_stats: {
      io_service_bytes_recursive: [
        { op: 'Read', value: 4096 },
        { op: 'Write', value: 512 },
        { op: 'Total', value: 4608 },
      ],
    },
  };

  it('reads cgroup v1 figures: working set, cumulative CPU seconds, summed interfaces', () => {
    expect(parseStats(doc)).toEqual({
      cpuSeconds: 2.5,
      memoryBytes: 6_000_000,
      memoryLimitBytes: 64 * 2 ** 20,
      networkRxBytes: 101,
      networkTxBytes: 52,
      blockReadBytes: 4096,
      blockWriteBytes: 512,
      readAtMs: Date.parse('2024-05-01T10:00:05Z'),
    });
  });

  it('reads cgroup v2 names, and nothing from a container that is not running', () => {
    const v2 = {
      ...doc,
      memory_stats: { usage: 9_000, limit: 1, stats: { inactive_file: 1_000 } },
      blkio_stats: {
        io_service_bytes_recursive: [
          { op: 'read', value: 7 },
          { op: 'write', value: 8 },
        ],
      },
    };
    expect(parseStats(v2)).toMatchObject({ memoryBytes: 8_000, blockReadBytes: 7, blockWriteBytes: 8 });
    expect(parseStats({ read: '0001-01-01T00:00:00Z' })).toBeUndefined();
    expect(parseStats({ ...doc, blkio_stats: { io_service_bytes_recursive: null } })).toMatchObject({ blockReadBytes: 0 });
  });
});

const stats = (cpuSeconds: number, readAtMs: number, memoryBytes = 1000): ContainerStats => ({
  cpuSeconds,
  memoryBytes,
  memoryLimitBytes: 0,
  networkRxBytes: 0,
  networkTxBytes: 0,
  blockReadBytes: 0,
  blockWriteBytes: 0,
  readAtMs,
});

describe('cpuRate', () => {
  it('is CPUs used between two samples, 0 without two', () => {
    expect(cpuRate(stats(1, T0), stats(1.5, T0 + 2000))).toBe(0.25);
    expect(cpuRate(undefined, stats(1.5, T0))).toBe(0);
    expect(cpuRate(stats(2, T0), stats(1, T0 + 1000))).toBe(0); // a new container under the same id: no rate
  });
});

class FakeObserve implements ObserveRuntime {
  samples = new Map<string, ContainerStats>();
  async stats(id: string): Promise<ContainerStats | undefined> {
    return this.samples.get(id);
  }
  async *logs(): AsyncIterable<never> {
    // no logs in these tests
  }
  exec(): never {
    throw new Error('not in these tests');
  }
}

function setup(): { views: TaskView[]; observe: FakeObserve; metrics: AgentMetrics; observer: TaskObserver } {
  const views: TaskView[] = [];
  const observe = new FakeObserve();
  const metrics = new AgentMetrics();
  const observer = new TaskObserver({ tasks: () => views, runtime: observe, metrics, log: silentLogger() });
  return { views, observe, metrics, observer };
}

async function series(metrics: AgentMetrics, name: string): Promise<string[]> {
  return (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

const running = (containerId: string, extra: Partial<TaskStatus> = {}): TaskStatus => ({
  state: 'running',
  message: '',
  timestampMs: T0,
  containerId,
  ...extra,
});

describe('TaskObserver', () => {
  const svc = mockService({ replicas: 2, spec: { resources: { cpu: 250, memory: 64 * 2 ** 20 } } });

  it('serves per-slot series of the newest running task, bounded to namespace, service and slot', async () => {
    const { views, observe, metrics, observer } = setup();
    const old = mockTask(svc, { slot: 1, instance: 0 });
    const newer = { ...mockTask(svc, { slot: 1, instance: 1 }), createdAtMs: T0 + 10 };
    const two = mockTask(svc, { slot: 2 });
    views.push(
      { task: old, status: running('c-old') },
      { task: newer, status: running('c-new', { health: 'healthy' }) },
      { task: two, status: running('c-two') },
    );
    observe.samples.set('c-old', stats(1, T0, 111));
    observe.samples.set('c-new', stats(2, T0, 222));
    observe.samples.set('c-two', stats(3, T0, 333));
    await observer.sample();
    expect(await series(metrics, 'berth_task_memory_working_set_bytes')).toEqual([
      'berth_task_memory_working_set_bytes{namespace="default",service="web",slot="1"} 222',
      'berth_task_memory_working_set_bytes{namespace="default",service="web",slot="2"} 333',
    ]);
    expect(await series(metrics, 'berth_task_cpu_seconds_total')).toContain(
      'berth_task_cpu_seconds_total{namespace="default",service="web",slot="2"} 3',
    );
    expect(await series(metrics, 'berth_task_health')).toContain(
      'berth_task_health{namespace="default",service="web",slot="1",status="healthy"} 1',
    );
    expect(await series(metrics, 'berth_task_health')).toContain(
      'berth_task_health{namespace="default",service="web",slot="2",status="none"} 1',
    );
    expect(await series(metrics, 'berth_node_allocated_cpus')).toEqual(['berth_node_allocated_cpus 0.75']);

    // The slot-2 task stops: its series go.
    views[2] = { task: two, status: { ...running('c-two'), state: 'shutdown' } };
    await observer.sample();
    expect((await series(metrics, 'berth_task_memory_working_set_bytes')).map((l) => l.split('slot=')[1])).toEqual(['"1"} 222']);
    expect(await series(metrics, 'berth_node_allocated_cpus')).toEqual(['berth_node_allocated_cpus 0.5']);
  });

  it('gives top a CPU rate from two samples of the same container', async () => {
    const { views, observe, observer } = setup();
    views.push({ task: mockTask(svc, { slot: 1 }), status: running('c1') });
    observe.samples.set('c1', stats(10, T0));
    await observer.sample();
    expect(observer.usage()[0]).toMatchObject({ slot: 1, cpuCores: 0, memoryBytes: 1000 });
    observe.samples.set('c1', stats(12, T0 + 4000, 2000));
    await observer.sample();
    expect(observer.usage()[0]).toMatchObject({ cpuCores: 0.5, memoryBytes: 2000, sampledAtMs: T0 + 4000 });
  });

  it('counts restarts per slot and reason: in place once each, a replacement once, from zero', async () => {
    const { views, metrics, observer } = setup();
    const first = mockTask(svc, { slot: 1, instance: 0, state: 'preparing' });
    views.push({ task: first, status: undefined });
    await observer.sample();
    // Summed over the reasons (as the dashboards and alerts do).
    const restarts = async (): Promise<string[]> => {
      const sums = new Map<string, number>();
      for (const l of await series(metrics, 'berth_task_restarts_total')) {
        const m = /^(.*),reason="[a-z_]+"\} (\d+)$/.exec(l);
        if (!m) throw new Error(`no reason label: ${l}`);
        sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + Number(m[2]));
      }
      return [...sums].map(([k, v]) => `${k}} ${v}`);
    };
    const byReason = async (slot: number): Promise<Record<string, number>> => {
      const out: Record<string, number> = {};
      for (const l of await series(metrics, 'berth_task_restarts_total')) {
        const m = new RegExp(`slot="${slot}",reason="([a-z_]+)"\\} (\\d+)$`).exec(l);
        if (m) out[m[1]!] = Number(m[2]);
      }
      return out;
    };
    expect(await restarts()).toEqual(['berth_task_restarts_total{namespace="default",service="web",slot="1"} 0']);
    expect(await byReason(1)).toEqual({ exited: 0, oom_killed: 0, unhealthy: 0, replaced: 0 });

    observer.onStatus(first, running('c1'));
    observer.onStatus(first, { ...running('c1'), container: 'backoff', exitCode: 137, oomKilled: true, restarts: 1 });
    observer.onStatus(first, { ...running('c1'), container: 'backoff', exitCode: 137, oomKilled: true, restarts: 1 }); // the same report again
    observer.onStatus(first, { ...running('c1'), state: 'running', restarts: 1 });
    observer.onStatus(first, { ...running('c1'), container: 'backoff', health: 'unhealthy', restarts: 2 });
    expect(await restarts()).toEqual(['berth_task_restarts_total{namespace="default",service="web",slot="1"} 2']);
    expect(await byReason(1)).toEqual({ exited: 0, oom_killed: 1, unhealthy: 1, replaced: 0 });

    // Given up on this node; the replacement (priorFailures > 0) starts here: one restart more.
    observer.onStatus(first, { ...running('c1'), state: 'failed', restarts: 3 });
    const replacement = { ...mockTask(svc, { slot: 1, instance: 1, state: 'assigned' }), priorFailures: 4 };
    views.push({ task: replacement, status: undefined });
    observer.onStatus(replacement, { state: 'preparing', message: '', timestampMs: T0 });
    observer.onStatus(replacement, { state: 'starting', message: '', timestampMs: T0, containerId: 'c2' });
    observer.onStatus(replacement, { state: 'starting', message: '', timestampMs: T0, containerId: 'c2' });
    expect(await restarts()).toEqual(['berth_task_restarts_total{namespace="default",service="web",slot="1"} 4']);
    expect(await byReason(1)).toEqual({ exited: 1, oom_killed: 1, unhealthy: 1, replaced: 1 });

    // A task adopted after an agent restart starts from the count the controller has stored.
    const adopted = { ...mockTask(svc, { slot: 2, state: 'running', status: { restarts: 5 } }) };
    observer.onStatus(adopted, { ...running('c3'), restarts: 5 });
    observer.onStatus(adopted, { ...running('c3'), state: 'starting', restarts: 6 });
    expect(await restarts()).toContain('berth_task_restarts_total{namespace="default",service="web",slot="2"} 1');

    // Slots this node holds no task of any more lose their series.
    views.length = 0;
    await observer.sample();
    expect(await restarts()).toEqual([]);
  });
});

describe('advertisedAddress', () => {
  it('names the node address for a wildcard bind, the bound address otherwise', () => {
    expect(advertisedAddress('0.0.0.0:7071', '10.0.0.5')).toBe('10.0.0.5:7071');
    expect(advertisedAddress('[::]:7071', 'fd00::5')).toBe('[fd00::5]:7071');
    expect(advertisedAddress('127.0.0.2:4000', '10.0.0.5')).toBe('127.0.0.2:4000');
  });
});
