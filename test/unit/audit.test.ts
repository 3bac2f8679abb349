// The audit log: what is recorded (a mutating call's record rides in its write's transaction; a
// refused or failed call is recorded with its code; exec with its program, not its arguments),
// that no secret value reaches a record, which records the leader prunes, and the listing.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type * as grpc from '@grpc/grpc-js';
import { ManualClock } from '../../proto/src/clock.js';
import { silentLogger } from '../../proto/src/log.js';
import { loadProto } from '../../proto/src/grpc.js';
import { AUDITED, RULES } from '../../proto/src/security/authz.js';
import { Guard, INSECURE_DEV_IDENTITY } from '../../proto/src/security/guard.js';
import { setCaller } from '../../proto/src/security/caller.js';
import type { Identity } from '../../proto/src/security/identity.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { Keys } from '../../controller/src/store/keys.js';
import { SecretApi } from '../../controller/src/api/secrets.js';
import { ServiceApi } from '../../controller/src/api/services.js';
import { secretHandlers } from '../../controller/src/api/secret-handlers.js';
import { SecretCipher } from '../../controller/src/secrets/cipher.js';
import { MemorySink } from '../../controller/src/events/events.js';
import { AuditLog, AuditPruner, auditHandlers } from '../../controller/src/audit/audit-log.js';
import { ControllerMetrics } from '../../controller/src/metrics/metrics.js';
import {
  auditObject,
  auditPrunePlan,
  execDetail,
  filterAudit,
  redact,
  sensitiveValues,
  type AuditView,
} from '../../controller/src/audit/audit-plan.js';

const NOW = 1_800_000_000_000;
const SECRET = 'hunter2-very-secret';
const keys = new Keys();

function setup() {
  const raw = new MemoryStore();
  const clock = new ManualClock(NOW);
  let n = 0;
  const metrics = new ControllerMetrics();
  const audit = new AuditLog({ store: raw, keys, clock, log: silentLogger(), newId: () => String(++n).padStart(4, '0'), metrics });
  const store = audit.store;
  const services = new ServiceApi({ store, keys, clock, events: new MemorySink() });
  const secrets = new SecretApi({ store, keys, clock, cipher: new SecretCipher(Buffer.alloc(32, 7)) });
  const def =
    loadProto<Record<string, Record<string, Record<string, { service: grpc.ServiceDefinition }>>>>('secrets')['berth']!['v1']!['SecretAPI']!
      .service;
  const handlers = audit.wrap(
    'SecretAPI',
    def,
    secretHandlers(secrets, services, { log: silentLogger() }) as unknown as Record<string, grpc.handleUnaryCall<unknown, unknown>>,
  );
  /** One unary call as `who`, the way the guard leaves it (the caller set before the handler runs). */
  const call = (method: string, request: unknown, who: Identity | undefined = INSECURE_DEV_IDENTITY) =>
    new Promise<{ err: grpc.ServiceError | null; res: unknown }>((resolve) => {
      const c = { request, getAuthContext: () => ({}) };
      setCaller(c, who);
      handlers[method]!(c as unknown as grpc.ServerUnaryCall<unknown, unknown>, (err, res) =>
        resolve({ err: err as grpc.ServiceError | null, res }),
      );
    });
  return { raw, clock, audit, call, metrics };
}

const secretManifest = (name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'berth.dev/v1',
    kind: 'Secret',
    metadata: { name, namespace: 'x' },
    stringData: { password: SECRET },
    ...extra,
  });

const deployer: Identity = { kind: 'operator', user: 'dan', role: 'deployer', namespaces: ['x'] };

describe('the audit table', () => {
  it('every write and exec rule and every admin change is audited; every audited method has a rule', () => {
    const reads = new Set(['TokenAPI.ListTokens', 'AuditAPI.ListAudit']);
    for (const [method, rule] of Object.entries(RULES)) {
      const changes =
        (rule.who === 'operator' && 'verb' in rule && rule.verb !== 'read') ||
        (rule.who === 'operator' && 'scope' in rule && rule.scope === 'admin' && !reads.has(method));
      if (changes) expect(AUDITED[method], `${method} changes state: it needs an AUDITED entry`).toBeDefined();
    }
    for (const method of Object.keys(AUDITED)) expect(RULES[method], method).toBeDefined();
  });

  it('reads the object from names only', () => {
    expect(auditObject(AUDITED['SecretAPI.ApplySecret']!, { manifestJson: secretManifest('db') })).toEqual({
      kind: 'Secret',
      namespace: 'x',
      name: 'db',
    });
    expect(auditObject(AUDITED['ManageAPI.ScaleService']!, { name: 'web', namespace: '' })).toEqual({
      kind: 'Service',
      namespace: 'default',
      name: 'web',
    });
    expect(auditObject(AUDITED['NodeAPI.RemoveNode']!, { nodeId: 'h1' })).toEqual({ kind: 'Node', namespace: '', name: 'h1' });
    expect(auditObject(AUDITED['TokenAPI.CreateToken']!, { role: 'agent' }, { token: { id: 'abc' }, secret: 'S' })).toEqual({
      kind: 'Token',
      namespace: '',
      name: 'abc',
    });
  });

  it('scrubs every sensitive value of the request from a message; exec records the program, not its arguments', () => {
    const spec = AUDITED['SecretAPI.ApplySecret']!;
    const req = { manifestJson: secretManifest('db', { data: { k: Buffer.from('another-secret').toString('base64') } }) };
    const s = sensitiveValues(spec, req);
    const msg = redact(`bad "${SECRET}" and another-secret and ${JSON.stringify('quo"te-secret')}`, s);
    expect(msg).not.toContain(SECRET);
    expect(msg).not.toContain('another-secret');
    expect(redact('x', sensitiveValues(AUDITED['RolloutAPI.SetRegistryCredential'], { password: 'pa55word' }))).toBe('x');
    expect(redact('login pa55word', sensitiveValues(AUDITED['RolloutAPI.SetRegistryCredential'], { password: 'pa55word' }))).toBe(
      'login [redacted]',
    );
    expect(execDetail({ command: ['mysql', '-pPASS', 'db'], slot: 0, node: '', tty: true }, { slot: 2, node: 'h1' })).toBe(
      'mysql (+2 args) tty on replica 2@h1',
    );
  });
});

describe('AuditLog', () => {
  it("a write's record rides in the same transaction (one revision), names the caller, and holds no secret value", async () => {
    const { raw, call } = setup();
    const before = raw.currentRevision;
    const { err } = await call('ApplySecret', { manifestJson: secretManifest('db') }, deployer);
    expect(err).toBeNull();
    expect(raw.currentRevision).toBe(before + 1); // the secret and its record: one commit
    const { items } = await raw.list(keys.audit);
    expect(items).toHaveLength(1);
    const secretKv = (await raw.get(keys.secret('x', 'db')))!;
    expect(items[0]!.modRevision).toBe(secretKv.modRevision);
    for (const kv of items) expect(kv.value).not.toContain(SECRET);
    const rec = JSON.parse(items[0]!.value) as Record<string, unknown>;
    expect(rec).toMatchObject({
      rpc: 'SecretAPI.ApplySecret',
      user: 'dan',
      role: 'deployer',
      identity: 'berth://operator/deployer/dan?ns=x',
      kind: 'Secret',
      namespace: 'x',
      name: 'db',
      code: 'OK',
      timeMs: NOW,
    });
  });

  it('a call that writes nothing or fails is recorded after, with its code; the message is scrubbed', async () => {
    const { audit, call, metrics } = setup();
    // Unchanged input: no write, still a record (revision 0).
    await call('ApplySecret', { manifestJson: secretManifest('db') });
    await call('ApplySecret', { manifestJson: secretManifest('db') });
    // Invalid: the error message would name the value if it quoted it.
    const bad = await call('ApplySecret', { manifestJson: secretManifest('Bad_Name') });
    expect(bad.err?.code).toBeDefined();
    const missing = await call('DeleteSecret', { namespace: 'x', name: 'nope' });
    expect(missing.err).not.toBeNull();
    const list = await audit.list({});
    expect(list.map((r) => [r.rpc, r.code, r.revision > 0])).toEqual([
      ['SecretAPI.ApplySecret', 'OK', true],
      ['SecretAPI.ApplySecret', 'OK', false],
      ['SecretAPI.ApplySecret', 'INVALID_ARGUMENT', false],
      ['SecretAPI.DeleteSecret', 'NOT_FOUND', false],
    ]);
    for (const r of list) expect(JSON.stringify(r)).not.toContain(SECRET);
    const counts = Object.fromEntries((await metrics.auditRecords.get()).values.map((v) => [v.labels['result'], v.value]));
    expect(counts).toEqual({ txn: 1, after: 3, error: 0 });
  });

  it('a call the guard refuses is recorded with the code, as anonymous when the caller has no identity', async () => {
    const raw = new MemoryStore();
    const audit = new AuditLog({ store: raw, keys, clock: new ManualClock(NOW), log: silentLogger() });
    const def =
      loadProto<Record<string, Record<string, Record<string, { service: grpc.ServiceDefinition }>>>>('secrets')['berth']!['v1']![
        'SecretAPI'
      ]!.service;
    const guard = new Guard({ insecureDev: false });
    const inner = { DeleteSecret: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}) };
    const h = audit.wrap('SecretAPI', def, guard.wrap('SecretAPI', def, inner)) as Record<string, grpc.handleUnaryCall<unknown, unknown>>;
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      h['DeleteSecret']!(
        { request: { namespace: 'x', name: 's' }, getAuthContext: () => ({}) } as unknown as grpc.ServerUnaryCall<unknown, unknown>,
        (e) => resolve(e as grpc.ServiceError | null),
      ),
    );
    expect(err?.code).toBe(16); // UNAUTHENTICATED
    const [rec] = await audit.list({});
    expect(rec).toMatchObject({ rpc: 'SecretAPI.DeleteSecret', role: 'anonymous', code: 'UNAUTHENTICATED', name: 's', revision: 0 });
  });

  it('exec is recorded when the command starts, with the service, program and replica', async () => {
    const raw = new MemoryStore();
    const audit = new AuditLog({ store: raw, keys, clock: new ManualClock(NOW), log: silentLogger() });
    const def =
      loadProto<Record<string, Record<string, Record<string, { service: grpc.ServiceDefinition }>>>>('observe')['berth']!['v1']![
        'ObserveAPI'
      ]!.service;
    const written: unknown[] = [];
    const inner = {
      Exec: (call: EventEmitter & { write(m: unknown): boolean }) => {
        call.on('data', (m: { start?: unknown }) => {
          if (m.start) call.write({ started: { taskId: 't', slot: 1, node: 'h2' } });
        });
      },
    };
    const h = audit.wrap('ObserveAPI', def, inner) as unknown as Record<string, (c: unknown) => void>;
    const call = Object.assign(new EventEmitter(), {
      write: (m: unknown) => (written.push(m), true),
      end: () => undefined,
      getAuthContext: () => ({}),
    });
    setCaller(call, deployer);
    h['Exec']!(call);
    call.emit('data', {
      msg: 'start',
      start: { namespace: 'x', service: 'web', command: ['sh', '-c', `echo ${SECRET}`], slot: 0, node: '' },
    });
    await new Promise((r) => setTimeout(r, 20));
    const list = await audit.list({});
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ rpc: 'ObserveAPI.Exec', kind: 'Service', namespace: 'x', name: 'web', code: 'OK', user: 'dan' });
    expect(list[0]!.detail).toBe('sh (+2 args) on replica 1@h2');
    expect(JSON.stringify(list)).not.toContain(SECRET);
    expect(written).toHaveLength(1);
  });

  it('ListAudit filters by time and user, keeps the newest `limit`, and names a bad field', async () => {
    const { audit, call, clock } = setup();
    await call('ApplySecret', { manifestJson: secretManifest('a') }, deployer);
    clock.advance(60_000);
    await call('ApplySecret', { manifestJson: secretManifest('b') });
    clock.advance(60_000);
    await call('ApplySecret', { manifestJson: secretManifest('c') }, deployer);
    const h = auditHandlers(audit, { log: silentLogger() });
    const list = (req: unknown) =>
      new Promise<{ err: grpc.ServiceError | null; res: { records: AuditView[] } }>((resolve) =>
        h.ListAudit({ request: req } as unknown as grpc.ServerUnaryCall<never, never>, (err, res) =>
          resolve({ err: err as grpc.ServiceError | null, res: res as unknown as { records: AuditView[] } }),
        ),
      );
    expect((await list({ sinceMs: 0, user: 'dan', limit: 0 })).res.records.map((r) => r.name)).toEqual(['a', 'c']);
    expect((await list({ sinceMs: NOW + 30_000, user: '', limit: 0 })).res.records.map((r) => r.name)).toEqual(['b', 'c']);
    expect((await list({ sinceMs: 0, user: '', limit: 1 })).res.records.map((r) => r.name)).toEqual(['c']);
    const bad = await list({ sinceMs: -5, user: '', limit: 20_000 });
    expect(bad.err?.details).toMatch(/sinceMs: must be a time/);
    expect(bad.err?.details).toMatch(/limit: must be between 0/);
  });
});

describe('pruning', () => {
  const key = (t: number, s: string) => keys.auditRecord(t, s);

  it('auditPrunePlan: by age first, then the oldest beyond the count; keys without a time go', () => {
    const all = [key(NOW - 10_000, 'a'), key(NOW - 5_000, 'b'), key(NOW - 3_000, 'c'), key(NOW - 1_000, 'd'), `${keys.audit}junk`];
    expect(auditPrunePlan(all, keys.audit, NOW, { maxRecords: 10, maxAgeMs: 6_000 })).toEqual([`${keys.audit}junk`, all[0]]);
    expect(auditPrunePlan(all, keys.audit, NOW, { maxRecords: 2, maxAgeMs: 60_000 })).toEqual([`${keys.audit}junk`, all[0], all[1]]);
    expect(auditPrunePlan(all.slice(0, 4).reverse(), keys.audit, NOW, { maxRecords: 1, maxAgeMs: 4_000 })).toEqual(all.slice(0, 3));
    expect(auditPrunePlan([], keys.audit, NOW, { maxRecords: 1, maxAgeMs: 1 })).toEqual([]);
  });

  it('filterAudit keeps the newest, oldest first', () => {
    const v = (id: string, timeMs: number, user: string) => ({ id, timeMs, user }) as AuditView;
    expect(filterAudit([v('2', 2, 'a'), v('1', 1, 'b'), v('3', 3, 'a')], { limit: 2 }).map((r) => r.id)).toEqual(['2', '3']);
    expect(filterAudit([v('2', 2, 'a'), v('1', 1, 'b')], { user: 'b' }).map((r) => r.id)).toEqual(['1']);
  });

  it('AuditPruner (injected clock) deletes by age and by count, in batches, as time passes', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(NOW);
    for (let i = 0; i < 250; i++) await store.commit([{ op: 'create', key: key(NOW - 250_000 + i * 1000, `r${i}`), value: '{}' }]);
    const pruner = new AuditPruner({
      store,
      keys,
      clock,
      log: silentLogger(),
      retention: { maxRecords: 120, maxAgeMs: 3600_000, intervalMs: 1000 },
    });
    expect(await pruner.pass()).toBe(130); // two batches: 100 + 30
    let { items } = await store.list(keys.audit);
    expect(items).toHaveLength(120);
    expect(items[0]!.key).toBe(key(NOW - 250_000 + 130 * 1000, 'r130'));
    expect(await pruner.pass()).toBe(0);
    clock.advance(3600_000 - 20_000); // the 20 newest stay within the age
    expect(await pruner.pass()).toBe(100);
    ({ items } = await store.list(keys.audit));
    expect(items.map((kv) => kv.key)).toEqual(Array.from({ length: 20 }, (_, j) => key(NOW - 20_000 + j * 1000, `r${230 + j}`)));
  });
});
