// The informer on a real etcd whose history was compacted while its watch was down: it lists
// again exactly once and carries on watching (issue 6: "watches that hit compaction re-list once").
import { expect, it } from 'vitest';
import { EtcdStore } from '../../controller/src/store/etcd-store.js';
import { Informer } from '../../controller/src/store/informer.js';
import type { Store, Watch, WatchHandler } from '../../controller/src/store/store.js';
import { waitUntil } from '../../cli/src/local/process.js';
import { silentLogger } from '../../proto/src/log.js';
import { useEtcd } from '../harness/etcd.js';

const etcd = useEtcd();

/** A store whose watches can be broken on demand and whose new watches wait for a gate. */
class FlakyStore implements Store {
  private live: WatchHandler | undefined;
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;
  constructor(private readonly inner: EtcdStore) {}
  get = (k: string) => this.inner.get(k);
  list = (p: string) => this.inner.list(p);
  commit: Store['commit'] = (ops) => this.inner.commit(ops);
  close = () => Promise.resolve();
  watch(prefix: string, from: number, handler: WatchHandler): Watch {
    let closed = false;
    let w: Watch | undefined;
    this.live = handler;
    void this.gate.then(() => {
      if (!closed) w = this.inner.watch(prefix, from, handler);
    });
    return { close: () => ((closed = true), w?.close()) };
  }
  /** Breaks the current watch and holds the next one until release(). */
  breakAndHold(): void {
    this.gate = new Promise((r) => (this.open = r));
    this.live?.onError(new Error('stream broken'));
  }
  release(): void {
    this.open();
  }
}

it('lists once after its watch missed a compaction, then watches again', async () => {
  const store = EtcdStore.connect(etcd.options);
  const flaky = new FlakyStore(store);
  const informer = new Informer<string>(flaky, '/t/', (kv) => kv.value, silentLogger());
  const ac = new AbortController();
  const running = informer.start(ac.signal);
  try {
    await store.commit([
      { op: 'put', key: '/t/a', value: '1' },
      { op: 'put', key: '/t/b', value: '2' },
    ]);
    await informer.synced;
    await waitUntil(() => informer.size === 2, 'a and b cached', { timeoutMs: 10_000 });
    expect(informer.relists).toBe(1);

    flaky.breakAndHold();
    await store.commit([{ op: 'put', key: '/t/c', value: '3' }]);
    const rev = await store.commit([{ op: 'delete', key: '/t/a' }]);
    await store.client.kv.compact({ revision: rev, physical: true });
    flaky.release();

    await waitUntil(
      () => informer.relists === 2 && informer.size === 2 && informer.get('/t/c')?.value === '3',
      'relisted after compaction',
      { timeoutMs: 10_000 },
    );
    expect(informer.get('/t/a')).toBeUndefined();
    // Watching again: new changes arrive without another list.
    await store.commit([{ op: 'put', key: '/t/d', value: '4' }]);
    await waitUntil(() => informer.get('/t/d')?.value === '4', 'd via the watch', { timeoutMs: 10_000 });
    expect(informer.relists).toBe(2);
  } finally {
    ac.abort();
    await running;
    await store.close();
  }
});
