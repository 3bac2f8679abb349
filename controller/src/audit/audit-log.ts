// The audit log: one record per mutating call (AUDITED in proto/src/security/authz.ts) and per
// exec, stored in etcd under keys.audit, read with AuditAPI.ListAudit (admin only).
//
// How a record meets the write it describes: the gRPC handlers of audited methods run inside an
// audit scope (AsyncLocalStorage), and the store every API writes through (AuditLog.store) adds
// the scope's record to the first commit the call makes, in the same etcd transaction: a write
// is never without its record, and the record's modRevision is the revision written. A later
// commit of the same call replaces the record in its own transaction. A call that writes nothing
// (refused, invalid, unchanged, dry run) or that fails after writing gets its record right after,
// before the caller hears the answer. Exec writes nothing: its record is written when the command
// starts (or is refused).
//
// What a record holds: time, the caller (identity URI, user, role, certificate serial), the RPC,
// the object's kind, namespace and name, the result (OK or the gRPC code and message) and the
// revision written. Never a value: the object is read from names only, error messages are
// scrubbed of every secret, environment and password value of the request, and an exec records
// its program, not its arguments.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import { sleep } from '../../../proto/src/clock.js';
import { AUDITED, type AuditObject } from '../../../proto/src/security/authz.js';
import { callerOf } from '../../../proto/src/security/caller.js';
import { peerSerial } from '../../../proto/src/security/tls.js';
import { ValidationError } from '../../../proto/src/errors.js';
import type { AuditAPIHandlers } from '../../../proto/gen/berth/v1/AuditAPI.js';
import type { AuditRecord } from '../../../proto/gen/berth/v1/AuditRecord.js';
import type { Keys } from '../store/keys.js';
import { MAX_OPS_PER_TXN } from '../store/ops.js';
import type { KeyValue, Store, Watch, WatchHandler, WriteOp } from '../store/store.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import { unaryFactory } from '../api/control.js';
import {
  AUDIT_LIST_MAX,
  auditDetail,
  auditObject,
  auditPrunePlan,
  callerFields,
  decodeAuditEntry,
  encodeAuditEntry,
  execDetail,
  filterAudit,
  redact,
  sensitiveValues,
  type AuditEntry,
  type AuditFilter,
  type AuditLimits,
  type AuditView,
} from './audit-plan.js';

/** One audited call in flight. */
interface Scope {
  rpc: string;
  spec: AuditObject;
  call: object;
  req: unknown;
  timeMs: number;
  /** Set by exec once its first message names the service. */
  object?: { kind: string; namespace: string; name: string };
  detail: string;
  /** The record's key once a commit of this call carried it. */
  key?: string;
  revision?: number;
  /** The call answered: commits from here on (a timer the call left behind) are not its own. */
  closed: boolean;
}

type GrpcError = { code?: number; details?: string; message?: string } | null | undefined;

function codeName(err: GrpcError): string {
  if (!err) return 'OK';
  const code = err.code ?? grpc.status.UNKNOWN;
  return grpc.status[code] ?? 'UNKNOWN';
}

function serialOf(call: object): string | undefined {
  const c = call as { getAuthContext?: () => unknown };
  if (typeof c.getAuthContext !== 'function') return undefined;
  try {
    return peerSerial(call as Parameters<typeof peerSerial>[0]);
  } catch {
    return undefined;
  }
}

export interface AuditLogDeps {
  /** The store records are written to (and the one AuditLog.store wraps). */
  store: Store;
  keys: Keys;
  clock: Clock;
  log: Logger;
  /** Key suffixes (random by default; tests pass a counter). */
  newId?: () => string;
  metrics?: Pick<ControllerMetrics, 'auditRecords'> | undefined;
}

export class AuditLog {
  private readonly scopes = new AsyncLocalStorage<Scope>();
  /** The store every API writes through: a commit inside an audited call carries its record. */
  readonly store: Store;

  constructor(private readonly deps: AuditLogDeps) {
    this.store = new AuditedStore(deps.store, this);
  }

  private newKey(timeMs: number): string {
    return this.deps.keys.auditRecord(timeMs, this.deps.newId?.() ?? randomBytes(5).toString('hex'));
  }

  private entry(s: Scope, result: { code: string; message: string; res?: unknown }): AuditEntry {
    const object = s.object ?? auditObject(s.spec, s.req, result.res);
    return {
      timeMs: s.timeMs,
      ...callerFields(callerOf(s.call), serialOf(s.call)),
      rpc: s.rpc,
      ...object,
      code: result.code,
      message: result.message ? redact(result.message, sensitiveValues(s.spec, s.req)) : '',
      detail: s.detail,
    };
  }

  /** The op a commit made inside scope `s` adds (called by AuditedStore); undefined outside one. */
  carry(): { op: WriteOp; done(revision: number): void } | undefined {
    const s = this.scopes.getStore();
    if (!s || s.closed) return undefined;
    const value = encodeAuditEntry({ ...this.entry(s, { code: 'OK', message: '' }), inTxn: true });
    // The first commit creates the record; a later one replaces it (unconditionally: two commits
    // of one call in parallel must not fail each other on the record).
    const key = s.key ?? this.newKey(s.timeMs);
    const op: WriteOp = s.key ? { op: 'put', key, value } : { op: 'create', key, value };
    return {
      op,
      done: (revision) => {
        if (!s.key) this.deps.metrics?.auditRecords.labels('txn').inc();
        s.key = key;
        s.revision = revision;
      },
    };
  }

  /** Writes the call's final record unless its write already carried one that stands. */
  private async finish(s: Scope, err: GrpcError, res?: unknown): Promise<void> {
    s.closed = true;
    const code = codeName(err);
    const late = s.spec.nameFromResponse !== undefined;
    if (code === 'OK' && s.key && !late) return;
    const e = this.entry(s, { code, message: err ? (err.details ?? err.message ?? '') : '', res });
    if (s.revision !== undefined) e.revision = s.revision;
    try {
      await this.deps.store.commit([
        s.key
          ? { op: 'put', key: s.key, value: encodeAuditEntry(e) }
          : { op: 'create', key: this.newKey(s.timeMs), value: encodeAuditEntry(e) },
      ]);
      if (!s.key) this.deps.metrics?.auditRecords.labels('after').inc();
    } catch (error) {
      this.deps.metrics?.auditRecords.labels('error').inc();
      this.deps.log.error({ rpc: s.rpc, err: error instanceof Error ? error.message : String(error) }, 'audit record not written');
    }
  }

  private open(rpc: string, spec: AuditObject, call: object, req: unknown): Scope {
    return { rpc, spec, call, req, timeMs: this.deps.clock.now(), detail: req === undefined ? '' : auditDetail(req), closed: false };
  }

  /**
   * The handlers of one service with every AUDITED method recorded. Wrap the guarded handlers
   * (guard.wrap), so that refusals are recorded too.
   */
  wrap<H extends object>(service: string, definition: grpc.ServiceDefinition, handlers: H): H {
    const out: Record<string, unknown> = { ...(handlers as Record<string, unknown>) };
    for (const [name, def] of Object.entries(definition)) {
      const rpc = `${service}.${name}`;
      const spec = AUDITED[rpc];
      const h = (handlers as Record<string, unknown>)[name];
      if (!spec || typeof h !== 'function') continue;
      const fn = h as (...args: unknown[]) => unknown;
      if (!def.requestStream && !def.responseStream) {
        out[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
          const s = this.open(rpc, spec, call, call.request);
          const answer = (err: GrpcError, res?: unknown, ...rest: unknown[]): void => {
            void this.finish(s, err, res).finally(() => (cb as (...a: unknown[]) => void)(err ?? null, res ?? null, ...rest));
          };
          this.scopes.run(s, () => fn.call(handlers, call, answer));
        };
      } else if (def.requestStream && def.responseStream && spec.stream) {
        out[name] = (call: grpc.ServerDuplexStream<unknown, unknown>) => this.wrapExec(rpc, spec, call, fn, handlers);
      } else {
        throw new Error(`${rpc}: the audit log records unary calls and exec streams only`);
      }
    }
    return out as H;
  }

  /** Exec: the record is written when the command starts, or when the stream is refused or fails before. */
  private wrapExec(
    rpc: string,
    spec: AuditObject,
    call: grpc.ServerDuplexStream<unknown, unknown>,
    fn: (...a: unknown[]) => unknown,
    self: object,
  ): void {
    const s = this.open(rpc, spec, call, undefined);
    let start: { namespace: string; service: string; command: string[]; slot: number; node: string; tty?: boolean } | undefined;
    let recorded = false;
    const record = (err: GrpcError, started?: { slot: number; node: string }): void => {
      if (recorded) return;
      recorded = true;
      if (start) s.detail = execDetail(start, started);
      void this.finish(s, err);
    };
    call.on('data', (m: { start?: typeof start } | undefined) => {
      if (start || !m?.start) return;
      start = m.start;
      s.object = { kind: spec.kind, namespace: start.namespace || 'default', name: start.service };
    });
    const c = call as unknown as Record<string, (...a: unknown[]) => unknown>;
    const write = c['write']!.bind(call);
    const emit = c['emit']!.bind(call);
    const end = c['end']!.bind(call);
    c['write'] = (chunk: unknown, ...rest: unknown[]) => {
      const started = (chunk as { started?: { slot: number; node: string } } | undefined)?.started;
      if (started) record(null, started);
      return write(chunk, ...rest);
    };
    c['emit'] = (event: unknown, ...args: unknown[]) => {
      if (event === 'error') record(args[0] as GrpcError);
      return emit(event, ...args);
    };
    c['end'] = (...args: unknown[]) => {
      record(null);
      return end(...args);
    };
    this.scopes.run(s, () => fn.call(self, call));
  }

  /** Records by filter, oldest first. */
  async list(filter: AuditFilter): Promise<AuditView[]> {
    const { store, keys } = this.deps;
    const { items } = await store.list(keys.audit);
    const views: AuditView[] = [];
    for (const kv of items) {
      const v = decodeAuditEntry(kv.key, kv.value, kv.modRevision, keys.audit);
      if (v) views.push(v);
    }
    return filterAudit(views, filter);
  }
}

/** A Store whose commits inside an audited call carry the call's record (AuditLog.carry). */
class AuditedStore implements Store {
  constructor(
    private readonly inner: Store,
    private readonly audit: AuditLog,
  ) {}
  get(key: string): Promise<KeyValue | undefined> {
    return this.inner.get(key);
  }
  list(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    return this.inner.list(prefix);
  }
  async commit(ops: WriteOp[]): Promise<number> {
    const carried = this.audit.carry();
    if (!carried) return this.inner.commit(ops);
    const revision = await this.inner.commit([...ops, carried.op]);
    carried.done(revision);
    return revision;
  }
  watch(prefix: string, fromRevision: number, handler: WatchHandler): Watch {
    return this.inner.watch(prefix, fromRevision, handler);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function toPb(v: AuditView): AuditRecord {
  return { ...v };
}

/** AuditAPI: ListAudit (admin only, by the authorization rules). */
export function auditHandlers(audit: AuditLog, deps: { log: Logger; metrics?: ControllerMetrics | undefined }): AuditAPIHandlers {
  const unary = unaryFactory(deps);
  return {
    ListAudit: unary('ListAudit', async (req: { sinceMs: number; user: string; limit: number }) => {
      const issues = [];
      if (!Number.isFinite(req.sinceMs) || req.sinceMs < 0)
        issues.push({ path: 'sinceMs', message: 'must be a time in ms since the epoch, or 0' });
      if (!Number.isInteger(req.limit) || req.limit < 0 || req.limit > AUDIT_LIST_MAX)
        issues.push({ path: 'limit', message: `must be between 0 (the default, 1000) and ${AUDIT_LIST_MAX}` });
      if (issues.length > 0) throw new ValidationError(issues, 'audit request');
      const records = await audit.list({ sinceMs: req.sinceMs, user: req.user, limit: req.limit });
      return { records: records.map(toPb) };
    }),
  };
}

/** How often the leader prunes the audit log, and what it keeps. */
export interface AuditRetention extends AuditLimits {
  intervalMs: number;
}

/** The leader's pruning of the audit log: by age, then by count, every intervalMs. */
export class AuditPruner {
  constructor(
    private readonly deps: {
      store: Store;
      keys: Keys;
      clock: Clock;
      log: Logger;
      retention: AuditRetention;
      metrics?: Pick<ControllerMetrics, 'auditPruned'> | undefined;
    },
  ) {}

  async start(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.pass();
      } catch (err) {
        this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'audit pruning failed');
      }
      await sleep(this.deps.retention.intervalMs, signal);
    }
  }

  /** One pass: deletes what auditPrunePlan names, oldest first, in batches. Returns how many went. */
  async pass(): Promise<number> {
    const { store, keys, clock, log, retention } = this.deps;
    const { items } = await store.list(keys.audit);
    const doomed = auditPrunePlan(
      items.map((kv) => kv.key),
      keys.audit,
      clock.now(),
      retention,
    );
    for (let i = 0; i < doomed.length; i += MAX_OPS_PER_TXN) {
      const batch = doomed.slice(i, i + MAX_OPS_PER_TXN);
      await store.commit(batch.map((key): WriteOp => ({ op: 'delete', key })));
      this.deps.metrics?.auditPruned.inc(batch.length);
    }
    if (doomed.length > 0) log.info({ removed: doomed.length, kept: items.length - doomed.length }, 'pruned the audit log');
    return doomed.length;
  }
}
