// Leader election on etcd. A controller holds leadership while its lease-bound key
// `<prefix>leader` exists; the key's create revision is the leader's epoch, carried on every
// command to agents. Leader-only work runs under an AbortSignal that fires when leadership ends:
// on shutdown, when the key disappears, or when keepalives have not succeeded for most of the
// TTL (a process paused past its lease must assume it lost). Every leader write is also fenced
// in etcd (see FencedStore), so even a late write of a deposed leader fails.
import { randomBytes } from 'node:crypto';
import type { Etcd3, Lease } from 'etcd3';
import { monotonicNow, sleep, type MonotonicNow } from '../../proto/src/clock.js';
import type { Logger } from '../../proto/src/log.js';
import type { Keys } from './store/keys.js';
import { leaderCodec, type LeaderRecord } from './store/codecs.js';
import { CompactedError, type Store, type Watch, type WriteOp } from './store/store.js';
import type { ControllerMetrics } from './metrics/metrics.js';

/** Lease TTL: a dead leader is replaced within about this long. */
export const DEFAULT_LEASE_TTL_SEC = 3;
/** Leadership is given up when the last successful keepalive is older than this share of the TTL. */
const LEASE_SAFETY_FRACTION = 0.8;
/** Wait before watching the leader key again after its watch broke. */
const LEADER_REWATCH_MS = 200;

export interface LeaderInfo {
  id: string;
  address: string;
}

export interface Leadership {
  epoch: number;
  signal: AbortSignal;
  /**
   * True while this replica may still act as leader: checked synchronously before anything is
   * said to agents, so a process that wakes from a pause past its lease is silent even before
   * the guard timer aborts `signal`.
   */
  valid: () => boolean;
}

/** A Store whose commits succeed only while the leader key is still the one of `epoch`. */
export class FencedStore implements Store {
  constructor(
    private readonly inner: Store,
    private readonly leaderKey: string,
    private readonly epoch: number,
  ) {}
  get = (key: string) => this.inner.get(key);
  list = (prefix: string) => this.inner.list(prefix);
  watch: Store['watch'] = (prefix, from, handler): Watch => this.inner.watch(prefix, from, handler);
  commit(ops: WriteOp[]): Promise<number> {
    return this.inner.commit([...ops, { op: 'check', key: this.leaderKey, modRevision: this.epoch }]);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

export class LeaderElector {
  private current: LeaderInfo | undefined;
  /** Tells this process's own leader key from another's, even under the same controller id. */
  private readonly incarnation = randomBytes(8).toString('hex');

  constructor(
    private readonly deps: {
      client: Etcd3;
      store: Store;
      keys: Keys;
      self: LeaderInfo;
      ttlSec?: number;
      /** Lease safety is judged on this clock (monotonic by default; injected by tests). */
      monotonic?: MonotonicNow;
      log: Logger;
      metrics?: ControllerMetrics | undefined;
      onLeaderChange?: (leader: LeaderInfo | undefined) => void;
    },
  ) {}

  /** The leader as last seen (undefined while there is none). */
  get leader(): LeaderInfo | undefined {
    return this.current;
  }

  async run(signal: AbortSignal, lead: (l: Leadership) => Promise<void>): Promise<void> {
    const { log } = this.deps;
    while (!signal.aborted) {
      try {
        await this.campaign(signal, lead);
      } catch (err) {
        if (signal.aborted) break;
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'election error; retrying');
        await sleep(500, signal);
      }
    }
  }

  private setLeader(l: LeaderInfo | undefined): void {
    if (this.current?.id === l?.id && this.current?.address === l?.address) return;
    this.current = l;
    this.deps.onLeaderChange?.(l);
  }

  private async campaign(signal: AbortSignal, lead: (l: Leadership) => Promise<void>): Promise<void> {
    const { client, keys, self, log, metrics } = this.deps;
    const ttl = this.deps.ttlSec ?? DEFAULT_LEASE_TTL_SEC;
    const lease: Lease = client.lease(ttl, { autoKeepAlive: true });
    const now = this.deps.monotonic ?? monotonicNow;
    // The lease runs from when etcd received the keepalive, which is after it was sent: measure
    // from the send of the keepalive that succeeded, never from its answer.
    let lastKeepalive = now();
    let fired = lastKeepalive;
    lease.on('keepaliveFired', () => (fired = now()));
    lease.on('keepaliveSucceeded', () => (lastKeepalive = fired));
    let leaseLost = false;
    lease.on('lost', () => (leaseLost = true));
    try {
      const granting = now();
      const leaseId = await lease.grant();
      lastKeepalive = granting;
      while (!signal.aborted && !leaseLost) {
        const res = await client.kv.txn({
          compare: [{ key: Buffer.from(keys.leader), target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [
            {
              request_put: {
                key: Buffer.from(keys.leader),
                value: Buffer.from(leaderCodec.encode({ ...self, incarnation: this.incarnation })),
                lease: leaseId,
              },
            },
          ],
          failure: [{ request_range: { key: Buffer.from(keys.leader) } }],
        });
        if (res.succeeded) {
          const epoch = Number(res.header.revision);
          this.setLeader(self);
          log.info({ epoch }, 'became leader');
          metrics?.isLeader.set(1);
          metrics?.leaderChanges.inc();
          const ac = new AbortController();
          const stopOn = (): void => ac.abort();
          signal.addEventListener('abort', stopOn, { once: true });
          const valid = (): boolean => !ac.signal.aborted && !leaseLost && now() - lastKeepalive <= ttl * 1000 * LEASE_SAFETY_FRACTION;
          const guard = setInterval(() => {
            if (!valid() && !ac.signal.aborted) {
              log.warn({ sinceKeepaliveMs: Math.round(now() - lastKeepalive) }, 'lease not renewed in time; giving up leadership');
              ac.abort();
            }
          }, 100);
          const watch = this.watchLeaderKey(epoch, () => {
            log.warn({ epoch }, 'leader key changed; leadership lost');
            ac.abort();
          });
          try {
            await lead({ epoch, signal: ac.signal, valid });
          } finally {
            ac.abort();
            clearInterval(guard);
            watch.close();
            signal.removeEventListener('abort', stopOn);
            metrics?.isLeader.set(0);
            metrics?.leaderChanges.inc();
            this.setLeader(undefined);
            log.info({ epoch }, 'leadership ended');
          }
          return; // revoke the lease below and campaign afresh
        }
        const kv = res.responses[0]?.response_range?.kvs[0];
        if (kv) {
          let holder: LeaderRecord | undefined;
          try {
            holder = leaderCodec.decode({ key: keys.leader, value: kv.value.toString() });
          } catch {
            holder = undefined; // not a leader record this version can read: wait for the key to go
          }
          if (holder?.incarnation === this.incarnation && kv.lease !== leaseId) {
            // Our own key from an earlier term whose lease could not be revoked (etcd was away):
            // this process knows it is not leading, so clear it instead of waiting out its TTL.
            await client.kv.txn({
              compare: [{ key: Buffer.from(keys.leader), target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
              success: [{ request_delete_range: { key: Buffer.from(keys.leader) } }],
              failure: [],
            });
            log.info({ revision: Number(kv.mod_revision) }, 'removed own stale leader key');
            continue;
          }
          this.setLeader(holder ? { id: holder.id, address: holder.address } : undefined);
          await this.waitForVacancy(Number(kv.mod_revision), signal);
        }
      }
    } finally {
      await lease.revoke().catch(() => undefined);
    }
  }

  /**
   * Calls onChange when the leader key no longer holds this epoch. A watch that breaks (etcd
   * restarting) is opened again from the epoch's revision, so a change made meanwhile is still
   * seen; while the key cannot be watched, the lease guard alone ends leadership if the lease
   * lapses. Only a compacted history (the change cannot be ruled out) ends leadership at once.
   */
  private watchLeaderKey(epoch: number, onChange: () => void): Watch {
    const { store, keys } = this.deps;
    let closed = false;
    let current: Watch | undefined;
    let timer: NodeJS.Timeout | undefined;
    const open = (): void => {
      if (closed) return;
      current = store.watch(keys.leader, epoch, {
        onEvents: (events) => {
          if (events.some((e) => e.key === keys.leader && (e.type === 'delete' || e.createRevision !== epoch))) onChange();
        },
        onError: (err) => {
          if (closed) return;
          if (err instanceof CompactedError) onChange();
          else timer = setTimeout(open, LEADER_REWATCH_MS);
        },
      });
    };
    open();
    return {
      close: () => {
        closed = true;
        if (timer) clearTimeout(timer);
        current?.close();
      },
    };
  }

  /** Resolves when the current leader's key goes away (or after a while, to look again). */
  private waitForVacancy(revision: number, signal: AbortSignal): Promise<void> {
    const { store, keys } = this.deps;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        watch.close();
        resolve();
      };
      const timer = setTimeout(done, 5_000);
      signal.addEventListener('abort', done, { once: true });
      const watch = store.watch(keys.leader, revision, {
        onEvents: (events) => {
          if (events.some((e) => e.key === keys.leader && e.type === 'delete')) {
            this.setLeader(undefined);
            done();
          }
        },
        onError: () => done(),
      });
    });
  }
}
