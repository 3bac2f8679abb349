// Store on etcd (etcd3 client). Lists page through large prefixes at one pinned revision; commits
// are single transactions whose failure branch reads back the keys that moved, so a conflict
// reports their current revisions; watches resume from their last revision and report
// compaction as CompactedError.
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, type IBackoff } from 'cockatiel';
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  EtcdUserNotFoundError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  isRecoverableError,
  type IOptions,
} from 'etcd3';
import { ConflictError, UnavailableError } from '../../../proto/src/errors.js';
import { CompactedError, type KeyValue, type Store, type Watch, type WatchEvent, type WatchHandler, type WriteOp } from './store.js';

/** Keys per page when listing: bounds each response while the whole list stays one snapshot. */
const LIST_PAGE_SIZE = 1000;
/** A unary etcd call that takes longer fails: the API answers UNAVAILABLE fast during an outage. */
export const ETCD_CALL_TIMEOUT_MS = 5_000;
/**
 * After three failures in a row calls to an etcd endpoint fail at once (UNAVAILABLE, fast) and
 * the endpoint is tried again this soon: short, so the leader and the loops resume within about
 * a second of etcd's return (the client's default is five).
 */
const ETCD_BREAKER_HALF_OPEN_MS = 1_000;
/** Longest wait between attempts to re-open broken watch streams (the client's default is 30 s). */
const ETCD_WATCH_BACKOFF_MAX_MS = 2_000;

/** TLS to etcd (PEM): the CA that signed etcd's certificate, and this client's certificate and key. */
export interface EtcdTls {
  caPem: string;
  certPem?: string | undefined;
  keyPem?: string | undefined;
}

export interface EtcdStoreOptions {
  endpoints: string[];
  callTimeoutMs?: number;
  tls?: EtcdTls | undefined;
  /** etcd's own users (`etcdctl user add`, `auth enable`): exchanged for a token on connect. */
  auth?: { username: string; password: string } | undefined;
}

export function etcdClient(opts: EtcdStoreOptions): Etcd3 {
  const timeout = opts.callTimeoutMs ?? ETCD_CALL_TIMEOUT_MS;
  const options: IOptions = {
    hosts: opts.endpoints,
    dialTimeout: timeout,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    faultHandling: {
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: ETCD_BREAKER_HALF_OPEN_MS, breaker: new ConsecutiveBreaker(3) }),
      // The client calls .next() on this (a backoff factory) although its typings ask for an
      // IBackoff instance, which is what its own default passes too.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: ETCD_WATCH_BACKOFF_MAX_MS }) as unknown as IBackoff<unknown>,
    },
    grpcOptions: {
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      'grpc.max_send_message_length': 16 * 1024 * 1024,
    },
  };
  if (opts.tls) {
    options.credentials = {
      rootCertificate: Buffer.from(opts.tls.caPem),
      ...(opts.tls.keyPem !== undefined ? { privateKey: Buffer.from(opts.tls.keyPem) } : {}),
      ...(opts.tls.certPem !== undefined ? { certChain: Buffer.from(opts.tls.certPem) } : {}),
    };
  }
  if (opts.auth) options.auth = { ...opts.auth, callOptions: () => ({ deadline: Date.now() + timeout }) };
  return new Etcd3(options);
}

function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i] = end[i]! + 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

function toKv(kv: { key: Buffer; value: Buffer; create_revision: string; mod_revision: string }): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
  };
}

/**
 * etcd refused who this client is (wrong user or password, no user while auth is enabled, a
 * user without permission): terminal, retrying changes nothing until the operator does.
 */
export class EtcdAccessError extends Error {
  override readonly name = 'EtcdAccessError';
}

export function classifyEtcdError(err: unknown): Error {
  if (err instanceof ConflictError || err instanceof UnavailableError || err instanceof EtcdAccessError) return err;
  if (
    err instanceof EtcdAuthenticationFailedError ||
    err instanceof EtcdPermissionDeniedError ||
    err instanceof EtcdUserNotFoundError ||
    /user name is empty|authentication failed|permission denied/i.test(err instanceof Error ? err.message : String(err))
  ) {
    return new EtcdAccessError(`etcd refused this client: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError) {
    return new UnavailableError(`etcd unavailable: ${err.message}`, { cause: err });
  }
  const msg = err instanceof Error ? err.message : String(err);
  if (/unavailable|deadline|ECONNREFUSED|No connection established|circuit/i.test(msg)) {
    return new UnavailableError(`etcd unavailable: ${msg}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(msg);
}

export class EtcdStore implements Store {
  constructor(readonly client: Etcd3) {}

  static connect(opts: EtcdStoreOptions): EtcdStore {
    return new EtcdStore(etcdClient(opts));
  }

  async get(key: string): Promise<KeyValue | undefined> {
    try {
      const res = await this.client.kv.range({ key: Buffer.from(key) });
      const kv = res.kvs[0];
      return kv ? toKv(kv) : undefined;
    } catch (err) {
      throw classifyEtcdError(err);
    }
  }

  async list(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    try {
      const end = prefixEnd(prefix);
      const items: KeyValue[] = [];
      let start = Buffer.from(prefix);
      let revision = 0;
      for (;;) {
        const res = await this.client.kv.range({
          key: start,
          range_end: end,
          limit: LIST_PAGE_SIZE,
          ...(revision > 0 ? { revision } : {}),
        });
        if (revision === 0) revision = Number(res.header.revision);
        for (const kv of res.kvs) items.push(toKv(kv));
        const last = res.kvs[res.kvs.length - 1];
        if (!res.more || !last) break;
        start = Buffer.concat([last.key, Buffer.from([0])]);
      }
      return { items, revision };
    } catch (err) {
      throw classifyEtcdError(err);
    }
  }

  async commit(ops: WriteOp[]): Promise<number> {
    const compare = [];
    const success = [];
    const readBack = [];
    for (const op of ops) {
      const key = op.op === 'deletePrefix' ? Buffer.from(op.prefix) : Buffer.from(op.key);
      switch (op.op) {
        case 'create':
          compare.push({ key, target: 'Create' as const, result: 'Equal' as const, create_revision: 0 });
          success.push({ request_put: { key, value: Buffer.from(op.value), ...(op.leaseId ? { lease: op.leaseId } : {}) } });
          readBack.push({ request_range: { key } });
          break;
        case 'update':
          compare.push({ key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: op.modRevision });
          success.push({ request_put: { key, value: Buffer.from(op.value) } });
          readBack.push({ request_range: { key } });
          break;
        case 'put':
          success.push({ request_put: { key, value: Buffer.from(op.value) } });
          break;
        case 'delete':
          if (op.modRevision !== undefined) {
            compare.push({ key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: op.modRevision });
            readBack.push({ request_range: { key } });
          }
          success.push({ request_delete_range: { key } });
          break;
        case 'deletePrefix':
          success.push({ request_delete_range: { key, range_end: prefixEnd(op.prefix) } });
          break;
        case 'check':
          compare.push({ key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: op.modRevision });
          readBack.push({ request_range: { key } });
          break;
      }
    }
    let res;
    try {
      res = await this.client.kv.txn({ compare, success, failure: readBack });
    } catch (err) {
      throw classifyEtcdError(err);
    }
    if (res.succeeded) return Number(res.header.revision);
    // Find which conditions failed from the values read back in the failure branch.
    const moved: string[] = [];
    let current: number | undefined;
    const conditional = ops.filter(
      (op) => op.op !== 'deletePrefix' && op.op !== 'put' && !(op.op === 'delete' && op.modRevision === undefined),
    );
    conditional.forEach((op, i) => {
      const kv = res.responses[i]?.response_range?.kvs[0];
      const have = kv ? Number(kv.mod_revision) : 0;
      const want = op.op === 'create' ? 0 : 'modRevision' in op ? (op.modRevision ?? have) : have;
      const ok = op.op === 'create' ? have === 0 : have === want;
      if (!ok && 'key' in op) {
        moved.push(op.key);
        current ??= have;
      }
    });
    throw new ConflictError(`conflict on ${moved.join(', ') || 'write'}`, moved, current);
  }

  watch(prefix: string, fromRevision: number, handler: WatchHandler): Watch {
    let closed = false;
    let lastRevision = fromRevision;
    let watcher: Awaited<ReturnType<ReturnType<Etcd3['watch']>['create']>> | undefined;
    const fail = (err: Error): void => {
      if (closed) return;
      closed = true;
      void watcher?.cancel().catch(() => undefined);
      handler.onError(err);
    };
    this.client
      .watch()
      .prefix(prefix)
      .startRevision(String(fromRevision + 1))
      .create()
      .then((w) => {
        watcher = w;
        if (closed) {
          void w.cancel().catch(() => undefined);
          return;
        }
        w.on('data', (res) => {
          if (closed) return;
          const events: WatchEvent[] = res.events.map((ev) => ({
            type: ev.type === 'Delete' ? 'delete' : 'put',
            key: ev.kv.key.toString(),
            value: ev.type === 'Delete' ? '' : ev.kv.value.toString(),
            createRevision: Number(ev.kv.create_revision),
            modRevision: Number(ev.kv.mod_revision),
          }));
          for (const e of events) lastRevision = Math.max(lastRevision, e.modRevision);
          if (events.length > 0) handler.onEvents(events);
        });
        // The client would re-open the stream by itself, resuming from a revision it advances on
        // reconnect, which can skip changes when two breaks come close together: end the watch
        // instead, so that its owner resumes from the last revision it really saw.
        w.on('disconnected', (err: Error) => fail(classifyEtcdError(err)));
        w.on('error', (err: Error) => {
          // etcd cancels a watch whose start revision was compacted, but the client library
          // drops the compact revision from the error: ask etcd whether the next revision we
          // need is still there.
          void this.compactedSince(prefix, lastRevision + 1).then((compactedAt) => {
            fail(compactedAt !== undefined ? new CompactedError(compactedAt) : classifyEtcdError(err));
          });
        });
      })
      .catch((err: unknown) => fail(classifyEtcdError(err)));
    return {
      close: () => {
        closed = true;
        void watcher?.cancel().catch(() => undefined);
      },
    };
  }

  /** If `revision` of prefix has been compacted away, a revision at which it was; else undefined. */
  private async compactedSince(prefix: string, revision: number): Promise<number | undefined> {
    try {
      await this.client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix), revision, limit: 1, count_only: true });
      return undefined;
    } catch (err) {
      return /compacted/i.test(err instanceof Error ? err.message : String(err)) ? revision : undefined;
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
