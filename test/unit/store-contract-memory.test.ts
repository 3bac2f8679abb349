import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { CompactedError, type WatchEvent } from '../../controller/src/store/store.js';
import { storeContract } from '../contract/store-contract.js';
import { flushMicrotasks } from './fixtures.js';

storeContract('MemoryStore', async () => {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close(), compact: async (rev) => store.compact(rev) };
});

describe('MemoryStore extras (test hooks)', () => {
  it('breakWatches ends every open watch with the given error and delivers nothing after', async () => {
    const store = new MemoryStore();
    const errors: Error[] = [];
    const events: WatchEvent[] = [];
    store.watch('/a/', 1, { onEvents: (e) => events.push(...e), onError: (e) => errors.push(e) });
    store.watch('/b/', 1, { onEvents: (e) => events.push(...e), onError: (e) => errors.push(e) });
    const boom = new Error('stream reset');
    store.breakWatches(boom);
    expect(errors).toEqual([boom, boom]);
    await store.commit([{ op: 'put', key: '/a/1', value: '' }]);
    await flushMicrotasks();
    expect(events).toEqual([]);
  });

  it('events queued before close() are dropped', async () => {
    const store = new MemoryStore();
    const events: WatchEvent[] = [];
    const w = store.watch('/', store.currentRevision, { onEvents: (e) => events.push(...e), onError: () => undefined });
    const committed = store.commit([{ op: 'put', key: '/x', value: '' }]); // applied synchronously
    w.close(); // before the delivery microtask ran
    await committed;
    await flushMicrotasks();
    expect(events).toEqual([]);
  });

  it('delivers the events of back-to-back commits in one ordered batch', async () => {
    const store = new MemoryStore();
    const batches: WatchEvent[][] = [];
    store.watch('/', store.currentRevision, { onEvents: (e) => batches.push(e), onError: () => undefined });
    const r1 = await store.commit([{ op: 'put', key: '/a', value: '1' }]);
    const r2 = await store.commit([{ op: 'put', key: '/b', value: '2' }]);
    await flushMicrotasks();
    expect(batches.flat().map((e) => e.modRevision)).toEqual([r1, r2]);
  });

  it('hands out copies: mutating a returned value or event changes nothing stored', async () => {
    const store = new MemoryStore();
    const events: WatchEvent[] = [];
    store.watch('/', 1, { onEvents: (e) => events.push(...e), onError: () => undefined });
    await store.commit([{ op: 'put', key: '/k', value: 'v' }]);
    await flushMicrotasks();
    const got = await store.get('/k');
    got!.value = 'mutated';
    events[0]!.value = 'mutated';
    (await store.list('/')).items[0]!.value = 'mutated';
    expect((await store.get('/k'))!.value).toBe('v');
  });

  it('compact() defaults to the current revision; a watch from exactly there still works', async () => {
    const store = new MemoryStore();
    await store.commit([{ op: 'put', key: '/k', value: '1' }]);
    const r = await store.commit([{ op: 'put', key: '/k', value: '2' }]);
    store.compact();
    const errors: Error[] = [];
    store.watch('/', r - 1, { onEvents: () => undefined, onError: (e) => errors.push(e) });
    const events: WatchEvent[] = [];
    store.watch('/', r, { onEvents: (e) => events.push(...e), onError: (e) => errors.push(e) });
    await flushMicrotasks();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(CompactedError);
    expect((errors[0] as CompactedError).compactRevision).toBe(r);
    await store.commit([{ op: 'put', key: '/k', value: '3' }]);
    await flushMicrotasks();
    expect(events.map((e) => e.value)).toEqual(['3']);
  });

  it('refuses calls after close()', async () => {
    const store = new MemoryStore();
    await store.close();
    await expect(store.get('/x')).rejects.toThrow(/closed/);
    await expect(store.commit([{ op: 'put', key: '/x', value: '' }])).rejects.toThrow(/closed/);
  });
});
