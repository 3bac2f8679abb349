import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Informer } from '../../controller/src/store/informer.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import type { KeyValue } from '../../controller/src/store/store.js';
import { silentLogger } from '../../proto/src/log.js';

/** The informer's first re-watch delay after a broken watch (informer.ts REWATCH_INITIAL_MS). */
const REWATCH_MS = 100;
const P = '/berth/v1/tasks/';

interface Obj {
  node: string;
  v: number;
}

const val = (node: string, v = 0): string => JSON.stringify({ node, v });
const decode = (kv: KeyValue): Obj => JSON.parse(kv.value) as Obj;

interface Seen {
  upserts: Array<{ key: string; v: number; old: number | undefined; rev: number }>;
  deletes: string[];
}

function setup(store = new MemoryStore()) {
  const inf = new Informer<Obj>(store, P, decode, silentLogger());
  const seen: Seen = { upserts: [], deletes: [] };
  inf.addHandler({
    onUpsert: (key, obj, old) => seen.upserts.push({ key, v: obj.value.v, old: old?.value.v, rev: obj.modRevision }),
    onDelete: (key) => seen.deletes.push(key),
  });
  inf.addIndex('node', (o) => [o.node]);
  const ac = new AbortController();
  let running: Promise<void> | undefined;
  return {
    store,
    inf,
    seen,
    start: () => (running = inf.start(ac.signal)),
    stop: async () => {
      ac.abort();
      await running;
    },
  };
}

/** Advances fake time and runs every promise continuation and microtask due by then. */
const tick = (ms = 0): Promise<void> => vi.advanceTimersByTimeAsync(ms).then(() => undefined);

const keysOf = (xs: Array<{ key: string }>): string[] => xs.map((x) => x.key);

describe('Informer over MemoryStore', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lists first (synced resolves), then watches from the listed revision', async () => {
    const t = setup();
    await t.store.commit([
      { op: 'create', key: `${P}a`, value: val('n1', 1) },
      { op: 'create', key: `${P}b`, value: val('n2', 1) },
      { op: 'create', key: '/berth/v1/nodes/n1', value: '{}' }, // outside the prefix
    ]);
    expect(t.inf.hasSynced).toBe(false);
    let synced = false;
    void t.inf.synced.then(() => (synced = true));
    void t.start();
    await tick();
    expect(synced).toBe(true);
    expect(t.inf.hasSynced).toBe(true);
    expect(t.inf.relists).toBe(1);
    expect(t.inf.revision).toBe(t.store.currentRevision);
    expect(t.inf.keys().sort()).toEqual([`${P}a`, `${P}b`]);
    expect(t.seen.upserts.map((u) => [u.key, u.old])).toEqual([
      [`${P}a`, undefined],
      [`${P}b`, undefined],
    ]);

    const r = await t.store.commit([{ op: 'put', key: `${P}c`, value: val('n1', 1) }]);
    await tick();
    expect(t.inf.get(`${P}c`)).toEqual({ value: { node: 'n1', v: 1 }, modRevision: r, createRevision: r });
    expect(t.inf.revision).toBe(r);
    await t.stop();
  });

  it('delivers creates, updates (with the old object) and deletes to handlers, and keeps indexes', async () => {
    const t = setup();
    void t.start();
    await tick();
    const r1 = await t.store.commit([{ op: 'create', key: `${P}a`, value: val('n1', 1) }]);
    await tick();
    expect(t.inf.byIndex('node', 'n1').map((o) => o.value.v)).toEqual([1]);

    await t.store.commit([{ op: 'update', key: `${P}a`, value: val('n2', 2), modRevision: r1 }]);
    await tick();
    expect(t.seen.upserts.at(-1)).toMatchObject({ key: `${P}a`, v: 2, old: 1 });
    expect(t.inf.byIndex('node', 'n1')).toEqual([]);
    expect(t.inf.byIndex('node', 'n2').map((o) => o.value.v)).toEqual([2]);
    expect(t.inf.indexValues('node')).toEqual(['n2']);

    await t.store.commit([{ op: 'delete', key: `${P}a` }]);
    await tick();
    expect(t.seen.deletes).toEqual([`${P}a`]);
    expect(t.inf.get(`${P}a`)).toBeUndefined();
    expect(t.inf.byIndex('node', 'n2')).toEqual([]);
    expect(t.inf.indexValues('node')).toEqual([]);
    expect(t.inf.size).toBe(0);
    expect(() => t.inf.byIndex('nope', 'x')).toThrow(/no index nope/);
    await t.stop();
  });

  it('an index added after sync covers what is cached already', async () => {
    const t = setup();
    await t.store.commit([{ op: 'create', key: `${P}a`, value: val('n7') }]);
    void t.start();
    await tick();
    t.inf.addIndex('v', (o) => [String(o.v)]);
    expect(t.inf.byIndex('v', '0').map((o) => o.value.node)).toEqual(['n7']);
    await t.stop();
  });

  it('receives every create of one commit', async () => {
    const t = setup();
    void t.start();
    await tick();
    const keys = Array.from({ length: 50 }, (_, i) => `${P}t${String(i).padStart(2, '0')}`);
    const r = await t.store.commit(keys.map((key) => ({ op: 'create' as const, key, value: val('n1') })));
    await tick();
    expect(keysOf(t.seen.upserts)).toEqual(keys);
    expect(t.seen.upserts.every((u) => u.rev === r)).toBe(true);
    expect(t.inf.byIndex('node', 'n1')).toHaveLength(50);
    expect(t.inf.revision).toBe(r);
    await t.stop();
  });

  it('skips objects it cannot decode and goes on', async () => {
    const t = setup();
    void t.start();
    await tick();
    await t.store.commit([
      { op: 'create', key: `${P}bad`, value: '{not json' },
      { op: 'create', key: `${P}good`, value: val('n1') },
    ]);
    await tick();
    expect(t.inf.keys()).toEqual([`${P}good`]);
    await t.stop();
  });

  it('after a broken watch resumes from its last revision without missing or repeating events', async () => {
    const t = setup();
    await t.store.commit([{ op: 'create', key: `${P}a`, value: val('n1', 1) }]);
    void t.start();
    await tick();
    t.store.breakWatches(new Error('stream reset'));
    // Changes while the informer waits to watch again.
    const r = await t.store.commit([{ op: 'put', key: `${P}a`, value: val('n1', 2) }]);
    await t.store.commit([{ op: 'create', key: `${P}b`, value: val('n2', 1) }]);
    await t.store.commit([{ op: 'delete', key: `${P}a`, modRevision: r }]);
    await tick(REWATCH_MS - 1);
    expect(t.inf.get(`${P}b`)).toBeUndefined();
    await tick(1);
    expect(t.inf.relists).toBe(1); // resumed, not re-listed
    expect(t.seen.upserts.map((u) => [u.key, u.v])).toEqual([
      [`${P}a`, 1],
      [`${P}a`, 2],
      [`${P}b`, 1],
    ]);
    expect(t.seen.deletes).toEqual([`${P}a`]);
    expect(t.inf.revision).toBe(t.store.currentRevision);
    await t.stop();
  });

  it('a watch that worked and then broke is resumed after the initial delay every time', async () => {
    const t = setup();
    void t.start();
    await tick();
    for (let i = 0; i < 5; i++) {
      await t.store.commit([{ op: 'put', key: `${P}k`, value: val('n1', i) }]);
      await tick();
      expect(t.inf.get(`${P}k`)?.value.v).toBe(i); // the watch delivers
      t.store.breakWatches(new Error(`reset ${i}`));
      await t.store.commit([{ op: 'put', key: `${P}during${i}`, value: val('n1') }]);
      await tick(REWATCH_MS);
      expect(t.inf.get(`${P}during${i}`), `resumed after break ${i}`).toBeDefined();
    }
    await t.stop();
  });

  it('consecutive failures back off exponentially', async () => {
    const t = setup();
    void t.start();
    await tick();
    // Each re-watch fails at once, without delivering anything.
    const breakAgain = (): void => t.store.breakWatches(new Error('flapping'));
    breakAgain();
    await tick(REWATCH_MS);
    breakAgain();
    await t.store.commit([{ op: 'put', key: `${P}x`, value: val('n1') }]);
    await tick(2 * REWATCH_MS - 1);
    expect(t.inf.get(`${P}x`)).toBeUndefined();
    await tick(1);
    expect(t.inf.get(`${P}x`)).toBeDefined();
    await t.stop();
  });

  it('after compaction and a broken watch it lists again and turns the difference into events', async () => {
    const t = setup();
    await t.store.commit([
      { op: 'create', key: `${P}a`, value: val('n1', 1) },
      { op: 'create', key: `${P}b`, value: val('n2', 1) },
      { op: 'create', key: `${P}c`, value: val('n3', 1) },
    ]);
    void t.start();
    await tick();
    t.seen.upserts.length = 0;
    t.store.breakWatches(new Error('stream reset'));
    await t.store.commit([{ op: 'delete', key: `${P}b` }]);
    await t.store.commit([{ op: 'put', key: `${P}a`, value: val('n9', 2) }]);
    await t.store.commit([{ op: 'create', key: `${P}d`, value: val('n1', 1) }]);
    await t.store.commit([{ op: 'put', key: `${P}b2`, value: val('n1', 1) }]);
    await t.store.commit([{ op: 'delete', key: `${P}b2` }]); // came and went: never seen
    t.store.compact();
    await tick(REWATCH_MS);
    expect(t.inf.relists).toBe(2);
    expect(t.seen.deletes).toEqual([`${P}b`]);
    expect(t.seen.upserts.map((u) => [u.key, u.v, u.old])).toEqual([
      [`${P}a`, 2, 1],
      [`${P}d`, 1, undefined],
    ]);
    expect(t.inf.keys().sort()).toEqual([`${P}a`, `${P}c`, `${P}d`]);
    expect(t.inf.byIndex('node', 'n2')).toEqual([]);
    expect(t.inf.byIndex('node', 'n9').map((o) => o.value.v)).toEqual([2]);
    expect(t.inf.revision).toBe(t.store.currentRevision);
    // And it watches again from there.
    await t.store.commit([{ op: 'put', key: `${P}e`, value: val('n1') }]);
    await tick();
    expect(t.inf.get(`${P}e`)).toBeDefined();
    await t.stop();
  });

  it('a handler can be removed again', async () => {
    const t = setup();
    const extra: string[] = [];
    const off = t.inf.addHandler({ onUpsert: (k) => extra.push(k) });
    void t.start();
    await tick();
    await t.store.commit([{ op: 'put', key: `${P}1`, value: val('n1') }]);
    await tick();
    off();
    await t.store.commit([{ op: 'put', key: `${P}2`, value: val('n1') }]);
    await tick();
    expect(extra).toEqual([`${P}1`]);
    expect(keysOf(t.seen.upserts)).toEqual([`${P}1`, `${P}2`]);
    await t.stop();
  });

  it('retries a failed list and resolves synced once it succeeds', async () => {
    const store = new MemoryStore();
    let fail = 2;
    const list = store.list.bind(store);
    store.list = async (prefix: string) => {
      if (fail-- > 0) throw new Error('etcd unavailable');
      return list(prefix);
    };
    const t = setup(store);
    let synced = false;
    void t.inf.synced.then(() => (synced = true));
    void t.start();
    await tick();
    expect(synced).toBe(false);
    await tick(REWATCH_MS + 2 * REWATCH_MS);
    expect(synced).toBe(true);
    expect(t.inf.relists).toBe(1);
    await t.stop();
  });

  it('start() resolves when the signal aborts', async () => {
    const t = setup();
    void t.start();
    await tick();
    await t.stop(); // would hang if the watch kept it alive
    await t.store.commit([{ op: 'put', key: `${P}after`, value: val('n1') }]);
    await tick();
    expect(t.inf.get(`${P}after`)).toBeUndefined();
  });
});
