// Informer.refresh(): a new leader lists again before acting, which repairs a cache whose watch
// silently missed changes.
import { describe, expect, it } from 'vitest';
import { Informer } from '../../controller/src/store/informer.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import type { Store, WatchHandler } from '../../controller/src/store/store.js';
import { silentLogger } from '../../proto/src/log.js';
import { idle, settle } from './fixtures.js';

/** A store whose watches drop every event while `deaf` is set (a watch that missed changes). */
function deafStore(inner: MemoryStore): Store & { deaf: boolean } {
  const s = {
    deaf: false,
    get: (k: string) => inner.get(k),
    list: (p: string) => inner.list(p),
    commit: (ops: Parameters<Store['commit']>[0]) => inner.commit(ops),
    close: () => inner.close(),
    watch: (p: string, from: number, h: WatchHandler) =>
      inner.watch(p, from, { onEvents: (e) => (s.deaf ? undefined : h.onEvents(e)), onError: (e) => h.onError(e) }),
  };
  return s;
}

describe('Informer.refresh', () => {
  it('lists again, repairs what the watch missed, then keeps watching', async () => {
    const inner = new MemoryStore();
    const store = deafStore(inner);
    const informer = new Informer<string>(store, '/t/', (kv) => kv.value, silentLogger());
    const ac = new AbortController();
    const running = informer.start(ac.signal);
    await inner.commit([{ op: 'put', key: '/t/a', value: '1' }]);
    await informer.synced;
    await settle(() => informer.size === 1, 'a cached');
    expect(informer.relists).toBe(1);

    store.deaf = true;
    await inner.commit([
      { op: 'put', key: '/t/b', value: '2' },
      { op: 'delete', key: '/t/a' },
    ]);
    await idle(); // the events went by
    expect(informer.get('/t/b')).toBeUndefined(); // missed
    store.deaf = false;

    await informer.refresh();
    expect(informer.relists).toBe(2);
    expect(informer.get('/t/b')?.value).toBe('2');
    expect(informer.get('/t/a')).toBeUndefined();

    await inner.commit([{ op: 'put', key: '/t/c', value: '3' }]);
    await settle(() => informer.get('/t/c')?.value === '3', 'c via the watch');
    expect(informer.relists).toBe(2);
    ac.abort();
    await running;
  });
});
