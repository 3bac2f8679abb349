import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../proto/src/clock.js';
import { silentLogger } from '../../proto/src/log.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { Keys } from '../../controller/src/store/keys.js';
import { ClusterCache } from '../../controller/src/store/cluster.js';
import { ServiceApi } from '../../controller/src/api/services.js';
import { ServiceOrchestrator, replicatedStrategy } from '../../controller/src/orchestrator/service-orchestrator.js';
import { SchedulerLoop } from '../../controller/src/scheduler/shell.js';
import { MemorySink } from '../../controller/src/events/events.js';
import type { NodeRecord, TaskRecord } from '../../proto/src/model.js';

const manifest = (replicas: number) => ({
  apiVersion: 'berth.dev/v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { image: 'berth-local/busybox:1', replicas, resources: { cpu: 0.1, memory: '16Mi' } },
});

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('orchestrator + scheduler on the memory store', () => {
  it('creates and places every replica', async () => {
    const store = new MemoryStore();
    const keys = new Keys();
    const log = silentLogger();
    const cache = new ClusterCache(store, keys, log);
    const events = new MemorySink();
    const api = new ServiceApi({ store, keys, clock: systemClock, events });
    const node: NodeRecord = { id: 'n1', description: { hostname: 'h', capacity: { cpuMilli: 2000, memoryBytes: 2 ** 30 }, engineVersion: '', os: 'linux', arch: 'amd64', labels: {}, address: '127.0.0.1', agentVersion: '' }, state: 'ready', availability: 'active', labels: {}, stateChangedAtMs: 0, message: '' };
    await store.commit([{ op: 'create', key: keys.node('n1'), value: JSON.stringify(node) }]);
    const ac = new AbortController();
    const run = Promise.all([
      cache.start(ac.signal),
      new ServiceOrchestrator({ cache, clock: new ManualClock(), log, events }, replicatedStrategy).start(ac.signal),
      new SchedulerLoop({ cache, clock: systemClock, log, events }).start(ac.signal),
    ]);
    await api.apply(manifest(3));
    const tasks = (): TaskRecord[] => cache.tasks.list().map((t) => t.value);
    await until(() => tasks().length === 3 && tasks().every((t) => t.nodeId === 'n1')).catch((e) => { console.log(JSON.stringify(tasks().map((t) => [t.id, t.nodeId, t.status]))); throw e; });
    expect(tasks().map((t) => t.status.state)).toEqual(['assigned', 'assigned', 'assigned']);
    ac.abort();
    await run;
  });
});
