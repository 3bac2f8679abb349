// The Store contract: the semantics every Store (EtcdStore, MemoryStore) must have, exactly as
// etcd has them. Run it against an implementation with
//
//   storeContract('MemoryStore', async () => ({ store, cleanup, compact }));
//
// It relies on the Store interface only. Every test writes under its own unique key prefix, so
// the suite can run against a shared etcd; revision assertions assume no other client writes
// to that etcd while a test runs (as in the integration project, which runs one file at a time).
// No commit writes one key twice: etcd refuses such a transaction outright (duplicate key).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../../proto/src/errors.js';
import { CompactedError, type KeyValue, type Store, type Watch, type WatchEvent, type WriteOp } from '../../controller/src/store/store.js';

export interface StoreHarness {
  store: Store;
  cleanup: () => Promise<void>;
  /** Compacts the store's history up to `rev` (etcd's compaction); tests needing it skip without. */
  compact?: (rev: number) => Promise<void>;
}

/** How long a real store may take to deliver a watch event. */
const DELIVERY_TIMEOUT_MS = 5_000;
/** How long to watch for events that must not come. */
const QUIET_MS = 100;

/** Waits (polling) until cond holds. */
async function eventually(cond: () => boolean, what: string, timeoutMs = DELIVERY_TIMEOUT_MS): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Recorder {
  events: WatchEvent[];
  batches: WatchEvent[][];
  errors: Error[];
  watch: Watch;
}

function record(store: Store, prefix: string, fromRevision: number): Recorder {
  const rec = { events: [] as WatchEvent[], batches: [] as WatchEvent[][], errors: [] as Error[] };
  const watch = store.watch(prefix, fromRevision, {
    onEvents: (evs) => {
      rec.batches.push(evs);
      rec.events.push(...evs);
    },
    onError: (err) => rec.errors.push(err),
  });
  return { ...rec, watch };
}

async function conflictOf(p: Promise<unknown>): Promise<ConflictError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ConflictError);
    return err as ConflictError;
  }
  throw new Error('expected a ConflictError, the commit succeeded');
}

const strip = (items: KeyValue[]): Array<[string, string]> => items.map((kv) => [kv.key, kv.value]);

export function storeContract(name: string, make: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    // Unique per run and per test, so a shared etcd never sees two tests on one prefix.
    const run = `${process.pid}-${Date.now().toString(36)}`;
    let seq = 0;
    let h: StoreHarness;
    let store: Store;
    let p: string;
    const open: Watch[] = [];
    const watchRec = (prefix: string, from: number): Recorder => {
      const r = record(store, prefix, from);
      open.push(r.watch);
      return r;
    };

    beforeEach(async () => {
      h = await make();
      store = h.store;
      p = `/contract/${run}/${++seq}/`;
    });

    afterEach(async () => {
      for (const w of open.splice(0)) w.close();
      await h.cleanup();
    });

    describe('revisions', () => {
      it('start at 1 or more and grow by exactly one per commit that changes something', async () => {
        const { revision: r0 } = await store.list(p);
        expect(r0).toBeGreaterThanOrEqual(1);
        const r1 = await store.commit([{ op: 'create', key: `${p}a`, value: '1' }]);
        expect(r1).toBe(r0 + 1);
        const r2 = await store.commit([{ op: 'create', key: `${p}b`, value: '1' }]);
        expect(r2).toBe(r1 + 1);
        const r3 = await store.commit([{ op: 'update', key: `${p}a`, value: '2', modRevision: r1 }]);
        expect(r3).toBe(r2 + 1);
        const r4 = await store.commit([{ op: 'put', key: `${p}c`, value: 'x' }]);
        expect(r4).toBe(r3 + 1);
        const r5 = await store.commit([{ op: 'delete', key: `${p}a` }]);
        expect(r5).toBe(r4 + 1);
        expect((await store.list(p)).revision).toBe(r5);
      });

      it('one commit of many ops is one revision', async () => {
        const r0 = (await store.list(p)).revision;
        const ops: WriteOp[] = ['a', 'b', 'c', 'd'].map((k) => ({ op: 'create', key: `${p}${k}`, value: k }));
        const r = await store.commit(ops);
        expect(r).toBe(r0 + 1);
        const { items } = await store.list(p);
        expect(items.map((kv) => kv.modRevision)).toEqual([r, r, r, r]);
        expect(items.map((kv) => kv.createRevision)).toEqual([r, r, r, r]);
      });

      it('createRevision stays while modRevision moves; re-creating starts over', async () => {
        const key = `${p}k`;
        const r1 = await store.commit([{ op: 'create', key, value: 'v1' }]);
        const r2 = await store.commit([{ op: 'update', key, value: 'v2', modRevision: r1 }]);
        const r3 = await store.commit([{ op: 'put', key, value: 'v3' }]);
        expect(await store.get(key)).toEqual({ key, value: 'v3', createRevision: r1, modRevision: r3 });
        expect(r3).toBeGreaterThan(r2);
        await store.commit([{ op: 'delete', key, modRevision: r3 }]);
        const r5 = await store.commit([{ op: 'create', key, value: 'again' }]);
        expect(await store.get(key)).toEqual({ key, value: 'again', createRevision: r5, modRevision: r5 });
      });
    });

    describe('get', () => {
      it('returns undefined for a missing key and the stored revisions for a present one', async () => {
        expect(await store.get(`${p}missing`)).toBeUndefined();
        const r = await store.commit([{ op: 'create', key: `${p}x`, value: 'hello' }]);
        expect(await store.get(`${p}x`)).toEqual({ key: `${p}x`, value: 'hello', createRevision: r, modRevision: r });
      });
    });

    describe('create', () => {
      it('fails with ConflictError when the key exists, naming it with its modRevision', async () => {
        const key = `${p}k`;
        const r1 = await store.commit([{ op: 'create', key, value: 'first' }]);
        const r2 = await store.commit([{ op: 'update', key, value: 'second', modRevision: r1 }]);
        const err = await conflictOf(store.commit([{ op: 'create', key, value: 'third' }]));
        expect(err.keys).toEqual([key]);
        expect(err.currentRevision).toBe(r2);
        expect(await store.get(key)).toMatchObject({ value: 'second', modRevision: r2 });
        expect((await store.list(p)).revision).toBe(r2);
      });
    });

    describe('update', () => {
      it('succeeds only at the modRevision it read', async () => {
        const key = `${p}k`;
        const r1 = await store.commit([{ op: 'create', key, value: 'v1' }]);

        const wrong = await conflictOf(store.commit([{ op: 'update', key, value: 'x', modRevision: r1 + 1000 }]));
        expect(wrong.keys).toEqual([key]);
        expect(wrong.currentRevision).toBe(r1);

        const r2 = await store.commit([{ op: 'update', key, value: 'v2', modRevision: r1 }]);
        expect(r2).toBe(r1 + 1);

        const stale = await conflictOf(store.commit([{ op: 'update', key, value: 'lost', modRevision: r1 }]));
        expect(stale.currentRevision).toBe(r2);
        expect(await store.get(key)).toMatchObject({ value: 'v2', modRevision: r2 });
      });

      it('fails on a missing key (current revision 0)', async () => {
        const key = `${p}absent`;
        const err = await conflictOf(store.commit([{ op: 'update', key, value: 'x', modRevision: 5 }]));
        expect(err.keys).toEqual([key]);
        expect(err.currentRevision).toBe(0);
        expect(await store.get(key)).toBeUndefined();
      });
    });

    describe('delete', () => {
      it('with modRevision deletes only at that revision', async () => {
        const key = `${p}k`;
        const r1 = await store.commit([{ op: 'create', key, value: 'v1' }]);
        const r2 = await store.commit([{ op: 'update', key, value: 'v2', modRevision: r1 }]);
        const err = await conflictOf(store.commit([{ op: 'delete', key, modRevision: r1 }]));
        expect(err.keys).toEqual([key]);
        expect(err.currentRevision).toBe(r2);
        expect(await store.get(key)).toBeDefined();
        const r3 = await store.commit([{ op: 'delete', key, modRevision: r2 }]);
        expect(r3).toBe(r2 + 1);
        expect(await store.get(key)).toBeUndefined();
      });

      it('with modRevision fails on a key that is already gone', async () => {
        const err = await conflictOf(store.commit([{ op: 'delete', key: `${p}gone`, modRevision: 7 }]));
        expect(err.currentRevision).toBe(0);
      });

      it('without modRevision deletes a present key', async () => {
        const key = `${p}k`;
        await store.commit([{ op: 'create', key, value: 'v' }]);
        await store.commit([{ op: 'delete', key }]);
        expect(await store.get(key)).toBeUndefined();
      });

      it('without modRevision is fine on a missing key and changes nothing (no new revision)', async () => {
        const before = (await store.list(p)).revision;
        const r = await store.commit([{ op: 'delete', key: `${p}never` }]);
        expect(r).toBe(before);
        expect((await store.list(p)).revision).toBe(before);
        // The next change is still exactly one revision later.
        expect(await store.commit([{ op: 'put', key: `${p}x`, value: '1' }])).toBe(before + 1);
      });
    });

    describe('put', () => {
      it('creates or replaces without a condition', async () => {
        const key = `${p}k`;
        const r1 = await store.commit([{ op: 'put', key, value: 'a' }]);
        expect(await store.get(key)).toEqual({ key, value: 'a', createRevision: r1, modRevision: r1 });
        const r2 = await store.commit([{ op: 'put', key, value: 'b' }]);
        expect(await store.get(key)).toEqual({ key, value: 'b', createRevision: r1, modRevision: r2 });
      });
    });

    describe('deletePrefix', () => {
      it('removes every key under the prefix and nothing else, in one revision', async () => {
        await store.commit([
          { op: 'create', key: `${p}a/1`, value: '' },
          { op: 'create', key: `${p}a/2`, value: '' },
          { op: 'create', key: `${p}a/sub/3`, value: '' },
          { op: 'create', key: `${p}ab`, value: 'sibling' },
          { op: 'create', key: `${p}b/1`, value: '' },
        ]);
        const before = (await store.list(p)).revision;
        const r = await store.commit([{ op: 'deletePrefix', prefix: `${p}a/` }]);
        expect(r).toBe(before + 1);
        expect((await store.list(p)).items.map((kv) => kv.key)).toEqual([`${p}ab`, `${p}b/1`]);
      });

      it('on an empty prefix changes nothing (no new revision)', async () => {
        await store.commit([{ op: 'create', key: `${p}keep`, value: '' }]);
        const before = (await store.list(p)).revision;
        expect(await store.commit([{ op: 'deletePrefix', prefix: `${p}nothing/` }])).toBe(before);
        expect((await store.list(p)).items).toHaveLength(1);
      });
    });

    describe('check', () => {
      it('guards the other ops of the commit', async () => {
        const guard = `${p}guard`;
        const g1 = await store.commit([{ op: 'create', key: guard, value: 'g' }]);
        await store.commit([
          { op: 'check', key: guard, modRevision: g1 },
          { op: 'create', key: `${p}ok`, value: '1' },
        ]);
        expect(await store.get(`${p}ok`)).toBeDefined();

        const g2 = await store.commit([{ op: 'update', key: guard, value: 'g2', modRevision: g1 }]);
        const err = await conflictOf(
          store.commit([
            { op: 'check', key: guard, modRevision: g1 },
            { op: 'create', key: `${p}no`, value: '1' },
          ]),
        );
        expect(err.keys).toEqual([guard]);
        expect(err.currentRevision).toBe(g2);
        expect(await store.get(`${p}no`)).toBeUndefined();
      });

      it('modRevision 0 means absent', async () => {
        await store.commit([
          { op: 'check', key: `${p}absent`, modRevision: 0 },
          { op: 'create', key: `${p}made`, value: '' },
        ]);
        expect(await store.get(`${p}made`)).toBeDefined();
        const err = await conflictOf(
          store.commit([
            { op: 'check', key: `${p}made`, modRevision: 0 },
            { op: 'put', key: `${p}other`, value: '' },
          ]),
        );
        expect(err.keys).toEqual([`${p}made`]);
        expect(await store.get(`${p}other`)).toBeUndefined();
      });

      it('a commit of checks only writes nothing and keeps the revision', async () => {
        const r1 = await store.commit([{ op: 'create', key: `${p}k`, value: '' }]);
        expect(await store.commit([{ op: 'check', key: `${p}k`, modRevision: r1 }])).toBe(r1);
        expect((await store.list(p)).revision).toBe(r1);
      });
    });

    describe('atomic commits', () => {
      it('refuse a commit that names one key twice, and write nothing', async () => {
        const r1 = await store.commit([{ op: 'create', key: `${p}a`, value: 'a1' }]);
        await expect(
          store.commit([
            { op: 'put', key: `${p}b`, value: 'b1' },
            { op: 'update', key: `${p}a`, value: 'a2', modRevision: r1 },
            { op: 'delete', key: `${p}a` },
          ]),
        ).rejects.toThrow(/duplicate key/);
        const { items, revision } = await store.list(p);
        expect(revision).toBe(r1);
        expect(items.map((kv) => kv.key)).toEqual([`${p}a`]);
      });

      it('apply every op at one revision when all conditions hold', async () => {
        const r1 = await store.commit([
          { op: 'create', key: `${p}a`, value: 'a1' },
          { op: 'create', key: `${p}b`, value: 'b1' },
          { op: 'create', key: `${p}z/1`, value: '' },
        ]);
        const r2 = await store.commit([
          { op: 'update', key: `${p}a`, value: 'a2', modRevision: r1 },
          { op: 'delete', key: `${p}b`, modRevision: r1 },
          { op: 'create', key: `${p}c`, value: 'c1' },
          { op: 'put', key: `${p}d`, value: 'd1' },
          { op: 'deletePrefix', prefix: `${p}z/` },
        ]);
        expect(r2).toBe(r1 + 1);
        const { items, revision } = await store.list(p);
        expect(revision).toBe(r2);
        expect(items).toEqual([
          { key: `${p}a`, value: 'a2', createRevision: r1, modRevision: r2 },
          { key: `${p}c`, value: 'c1', createRevision: r2, modRevision: r2 },
          { key: `${p}d`, value: 'd1', createRevision: r2, modRevision: r2 },
        ]);
      });

      it('change nothing when one condition fails: no op applied, no new revision, no event', async () => {
        const r1 = await store.commit([
          { op: 'create', key: `${p}a`, value: 'a1' },
          { op: 'create', key: `${p}b`, value: 'b1' },
          { op: 'create', key: `${p}guard`, value: '' },
          { op: 'create', key: `${p}z/1`, value: '' },
        ]);
        const before = await store.list(p);
        const rec = watchRec(p, r1);
        // (etcd refuses a transaction that writes one key twice, so every op names its own key.)
        const err = await conflictOf(
          store.commit([
            { op: 'update', key: `${p}a`, value: 'a2', modRevision: r1 },
            { op: 'put', key: `${p}d`, value: 'd1' },
            { op: 'deletePrefix', prefix: `${p}z/` },
            { op: 'delete', key: `${p}b` },
            { op: 'create', key: `${p}c`, value: 'c1' },
            { op: 'check', key: `${p}guard`, modRevision: r1 + 100 }, // fails
          ]),
        );
        expect(err.keys).toEqual([`${p}guard`]);
        expect(err.currentRevision).toBe(r1);
        const after = await store.list(p);
        expect(after).toEqual(before);
        expect(after.revision).toBe(r1);
        // The next commit gets the next revision: the failed one used none.
        const r2 = await store.commit([{ op: 'put', key: `${p}marker`, value: '' }]);
        expect(r2).toBe(r1 + 1);
        await eventually(() => rec.events.length > 0, 'marker event');
        expect(rec.events.map((e) => e.key)).toEqual([`${p}marker`]);
      });

      it('report every key whose condition failed', async () => {
        const r1 = await store.commit([{ op: 'create', key: `${p}a`, value: '' }]);
        const err = await conflictOf(
          store.commit([
            { op: 'create', key: `${p}a`, value: '' }, // exists
            { op: 'create', key: `${p}fresh`, value: '' }, // fine
            { op: 'update', key: `${p}missing`, value: '', modRevision: r1 }, // absent
          ]),
        );
        expect([...err.keys].sort()).toEqual([`${p}a`, `${p}missing`]);
        expect(await store.get(`${p}fresh`)).toBeUndefined();
      });
    });

    describe('list', () => {
      it('returns the keys under the prefix, sorted, with the revision it was read at', async () => {
        await store.commit([{ op: 'create', key: `${p.slice(0, -1)}-outside`, value: '' }]);
        for (const k of ['m', 'b', 'z/1', 'a', 'b/c']) await store.commit([{ op: 'create', key: `${p}${k}`, value: k }]);
        const last = await store.commit([{ op: 'put', key: `${p}c`, value: 'c' }]);
        const { items, revision } = await store.list(p);
        expect(revision).toBe(last);
        expect(strip(items)).toEqual([
          [`${p}a`, 'a'],
          [`${p}b`, 'b'],
          [`${p}b/c`, 'b/c'],
          [`${p}c`, 'c'],
          [`${p}m`, 'm'],
          [`${p}z/1`, 'z/1'],
        ]);
        for (const kv of items) expect(kv.createRevision).toBeGreaterThan(0);
      });

      it('of an empty prefix is empty, at the current revision', async () => {
        const r = await store.commit([{ op: 'put', key: `${p}x`, value: '' }]);
        expect(await store.list(`${p}none/`)).toEqual({ items: [], revision: r });
      });

      it('pages past 1000 keys and returns all of them at one revision', async () => {
        const total = 1200;
        const chunk = 100;
        let last = 0;
        for (let i = 0; i < total; i += chunk) {
          const ops: WriteOp[] = [];
          for (let j = i; j < i + chunk; j++) ops.push({ op: 'create', key: `${p}${String(j).padStart(5, '0')}`, value: `v${j}` });
          last = await store.commit(ops);
        }
        const { items, revision } = await store.list(p);
        expect(revision).toBe(last);
        expect(items).toHaveLength(total);
        expect(new Set(items.map((kv) => kv.key)).size).toBe(total);
        items.forEach((kv, j) => {
          expect(kv.key).toBe(`${p}${String(j).padStart(5, '0')}`);
          expect(kv.value).toBe(`v${j}`);
        });
        // Each chunk was one commit: 12 distinct create revisions, 100 keys each.
        const perRev = new Map<number, number>();
        for (const kv of items) perRev.set(kv.createRevision, (perRev.get(kv.createRevision) ?? 0) + 1);
        expect([...perRev.values()]).toEqual(Array(total / chunk).fill(chunk));
      }, 60_000);
    });

    describe('watch', () => {
      it('delivers later changes (after fromRevision, exclusive) in order', async () => {
        const r0 = await store.commit([{ op: 'create', key: `${p}a`, value: 'a0' }]);
        const rec = watchRec(p, r0);
        const r1 = await store.commit([{ op: 'update', key: `${p}a`, value: 'a1', modRevision: r0 }]);
        const r2 = await store.commit([{ op: 'create', key: `${p}b`, value: 'b1' }]);
        const r3 = await store.commit([{ op: 'delete', key: `${p}a` }]);
        await eventually(() => rec.events.length >= 3, '3 events');
        expect(rec.events.map((e) => [e.type, e.key, e.value, e.modRevision])).toEqual([
          ['put', `${p}a`, 'a1', r1],
          ['put', `${p}b`, 'b1', r2],
          ['delete', `${p}a`, '', r3],
        ]);
        expect(rec.events[0]!.createRevision).toBe(r0);
        expect(rec.events[1]!.createRevision).toBe(r2);
        expect(rec.errors).toEqual([]);
      });

      it('delivers every event of one transaction, sharing its revision', async () => {
        const r0 = await store.commit([{ op: 'create', key: `${p}old`, value: '' }]);
        const rec = watchRec(p, r0);
        const r = await store.commit([
          { op: 'create', key: `${p}t1`, value: '1' },
          { op: 'create', key: `${p}t2`, value: '2' },
          { op: 'put', key: `${p}t3`, value: '3' },
          { op: 'delete', key: `${p}old`, modRevision: r0 },
        ]);
        await eventually(() => rec.events.length >= 4, '4 events of one commit');
        await pause(QUIET_MS);
        expect(rec.events).toHaveLength(4);
        expect(rec.events.every((e) => e.modRevision === r)).toBe(true);
        expect(rec.events.map((e) => `${e.type} ${e.key}`).sort()).toEqual([`delete ${p}old`, `put ${p}t1`, `put ${p}t2`, `put ${p}t3`]);
      });

      it('from an old revision replays the history, then continues live', async () => {
        const r1 = await store.commit([{ op: 'create', key: `${p}a`, value: '1' }]);
        const r2 = await store.commit([{ op: 'update', key: `${p}a`, value: '2', modRevision: r1 }]);
        const r3 = await store.commit([{ op: 'create', key: `${p}b`, value: '1' }]);
        const r4 = await store.commit([{ op: 'delete', key: `${p}a`, modRevision: r2 }]);
        const rec = watchRec(p, r1);
        await eventually(() => rec.events.length >= 3, 'replayed history');
        const r5 = await store.commit([{ op: 'put', key: `${p}c`, value: 'live' }]);
        await eventually(() => rec.events.length >= 4, 'live event');
        expect(rec.events.map((e) => [e.type, e.key, e.modRevision])).toEqual([
          ['put', `${p}a`, r2],
          ['put', `${p}b`, r3],
          ['delete', `${p}a`, r4],
          ['put', `${p}c`, r5],
        ]);
        const revs = rec.batches.flat().map((e) => e.modRevision);
        expect(revs).toEqual([...revs].sort((x, y) => x - y));
      });

      it('sees only keys under its prefix', async () => {
        const r0 = (await store.list(p)).revision;
        const rec = watchRec(`${p}in/`, r0);
        await store.commit([{ op: 'put', key: `${p}out/1`, value: '' }]);
        await store.commit([{ op: 'put', key: `${p}in`, value: '' }]); // a prefix of the prefix, not under it
        const r = await store.commit([{ op: 'put', key: `${p}in/1`, value: 'x' }]);
        await eventually(() => rec.events.length >= 1, 'event under the prefix');
        await pause(QUIET_MS);
        expect(rec.events.map((e) => [e.key, e.modRevision])).toEqual([[`${p}in/1`, r]]);
      });

      it('stops delivering once closed', async () => {
        const r0 = (await store.list(p)).revision;
        const rec = record(store, p, r0);
        await store.commit([{ op: 'put', key: `${p}1`, value: '' }]);
        await eventually(() => rec.events.length === 1, 'first event');
        rec.watch.close();
        await store.commit([{ op: 'put', key: `${p}2`, value: '' }]);
        await store.commit([{ op: 'put', key: `${p}3`, value: '' }]);
        await pause(QUIET_MS);
        expect(rec.events.map((e) => e.key)).toEqual([`${p}1`]);
        expect(rec.errors).toEqual([]);
      });

      it('from before the compaction point fails with CompactedError; from after it works', async (ctx) => {
        if (!h.compact) {
          ctx.skip();
          return;
        }
        const r1 = await store.commit([{ op: 'create', key: `${p}a`, value: '1' }]);
        let rev = r1;
        for (let i = 2; i <= 4; i++) rev = await store.commit([{ op: 'update', key: `${p}a`, value: String(i), modRevision: rev }]);
        await h.compact(rev);

        const old = watchRec(p, r1 - 1);
        await eventually(() => old.errors.length > 0, 'compaction error');
        expect(old.errors[0]).toBeInstanceOf(CompactedError);
        expect(old.events).toEqual([]);

        const fresh = watchRec(p, rev);
        const next = await store.commit([{ op: 'update', key: `${p}a`, value: '5', modRevision: rev }]);
        await eventually(() => fresh.events.length >= 1, 'event after compaction');
        expect(fresh.events.map((e) => [e.key, e.value, e.modRevision])).toEqual([[`${p}a`, '5', next]]);
        expect(fresh.errors).toEqual([]);
      });
    });
  });
}
