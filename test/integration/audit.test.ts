// The audit log on a real cluster (etcd, NATS, dockerd, a controller, an agent, TLS): a deployer
// applies, scales, stores a secret and execs; a refused call is recorded with its code; the
// secret's value is in no record (read raw from etcd too); `berth audit` filters by user, prints
// a table and JSON, refuses a bad --since and non-admins; the leader prunes by count.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, webManifest } from '../harness/cluster.js';
import { etcdClient } from '../../controller/src/store/etcd-store.js';
import type { AuditView } from '../../controller/src/audit/audit-plan.js';
import { etcdStoreOptions } from '../harness/backends.js';
import { TokenClient } from '../../cli/src/security-client.js';

/** Small limits, so that pruning by count shows within the test. */
const MAX_RECORDS = 40;
const SECRET = 'zebra-4c9f-not-for-audit';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A record as `berth audit -o json` prints it. */
type Rec = AuditView;

let cluster: TestCluster;
let tmp: string;
let env: NodeJS.ProcessEnv;

async function rawAudit(): Promise<Array<{ key: string; value: string }>> {
  const etcd = etcdClient(etcdStoreOptions(cluster.etcd));
  try {
    const all = await etcd.getAll().prefix('/berth/v1/audit/').strings();
    return Object.entries(all).map(([key, value]) => ({ key, value }));
  } finally {
    etcd.close();
  }
}

async function audit(args: string[] = []): Promise<Rec[]> {
  const r = await cluster.berth(['audit', '-o', 'json', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Rec[];
}

beforeAll(async () => {
  tmp = mkdtempSync('/tmp/bt-audit-');
  cluster = await TestCluster.start({
    hosts: 1,
    controllerArgs: ['--audit-max-records', String(MAX_RECORDS), '--audit-prune-interval', '1s'],
  });
  // A deployer of namespace x, logged in with a token as an operator would be.
  const t = await cluster.berth(['token', 'create', '--role', 'operator', '--operator-role', 'deployer', '-n', 'x', '--user', 'dan']);
  expect(t.code, t.stderr).toBe(0);
  env = { BERTH_CREDENTIALS: '', BERTH_CONFIG: join(tmp, 'dan.yaml') };
  const login = await cluster.berth(['login', '--token', t.stdout.trim()], { env });
  expect(login.code, login.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('berth audit', () => {
  it("records a deployer's apply, scale, secret and exec (with the revisions written) and a refusal with its code; no secret value anywhere", async () => {
    const svc = join(tmp, 'web.yaml');
    writeFileSync(svc, webManifest({ name: 'web', replicas: 1 }).replace('  name: web\n', '  name: web\n  namespace: x\n'));
    expect((await cluster.berth(['apply', '-f', svc, '--wait'], { env })).code).toBe(0);
    expect((await cluster.berth(['scale', 'web=2', '-n', 'x', '--wait'], { env })).code).toBe(0);
    const sec = join(tmp, 'secret.yaml');
    writeFileSync(
      sec,
      `apiVersion: berth.dev/v1\nkind: Secret\nmetadata: { name: db, namespace: x }\nstringData: { password: ${SECRET} }\n`,
    );
    const applied = await cluster.berth(['apply', '-f', sec], { env });
    expect(applied.code, applied.stderr).toBe(0);
    const ex = await cluster.berth(['exec', 'web', '-n', 'x', '--', 'echo', 'audited-exec'], { env });
    expect(ex.stdout).toContain('audited-exec');
    // Outside its namespace: refused by the guard, recorded with the code.
    const refused = await cluster.berth(['apply', '-f', '-'], { env, input: webManifest({ name: 'elsewhere', replicas: 1 }) });
    expect(refused.code).not.toBe(0);

    let mine: Rec[] = [];
    await cluster.waitFor(
      async () => (mine = await audit(['--user', 'dan'])).some((r) => r.rpc === 'ObserveAPI.Exec'),
      'exec record',
      15_000,
    );
    expect(mine.every((r) => r.user === 'dan' && r.role === 'deployer' && r.identity === 'berth://operator/deployer/dan?ns=x')).toBe(true);
    expect(mine.every((r) => /^[0-9a-f]+$/.test(r.serial))).toBe(true);
    const find = (rpc: string, code = 'OK') => mine.find((r) => r.rpc === rpc && r.code === code);
    const apply = find('ControlAPI.ApplyService')!;
    expect(apply).toMatchObject({ kind: 'Service', namespace: 'x', name: 'web' });
    expect(apply.revision).toBeGreaterThan(0);
    expect(find('ManageAPI.ScaleService')).toMatchObject({ kind: 'Service', namespace: 'x', name: 'web', detail: 'replicas=2' });
    expect(find('ManageAPI.ScaleService')!.revision).toBeGreaterThan(apply.revision);
    const secret = find('SecretAPI.ApplySecret')!;
    expect(secret).toMatchObject({ kind: 'Secret', namespace: 'x', name: 'db' });
    expect(find('ObserveAPI.Exec')).toMatchObject({ kind: 'Service', namespace: 'x', name: 'web', revision: 0 });
    expect(find('ObserveAPI.Exec')!.detail).toMatch(/^echo \(\+1 args\) on replica \d+@h1$/);
    const denied = find('ControlAPI.ApplyService', 'PERMISSION_DENIED')!;
    expect(denied).toMatchObject({ namespace: 'default', name: 'elsewhere', revision: 0 });
    expect(denied.message).toMatch(/in namespace "default": you are dan \(deployer of x\)/);

    // The record rode in the write's transaction: etcd at that revision changed the secret.
    const etcd = etcdClient(etcdStoreOptions(cluster.etcd));
    try {
      const res = await etcd.kv.range({ key: Buffer.from('/berth/v1/secrets/x/db'), revision: String(secret.revision) });
      expect(Number(res.kvs[0]!.mod_revision)).toBe(secret.revision);
    } finally {
      etcd.close();
    }
    // The value is in no record, as the API returns them or as etcd stores them.
    const raw = await rawAudit();
    expect(raw.length).toBeGreaterThan(0);
    for (const { value } of raw) for (const s of [SECRET, b64(SECRET)]) expect(value).not.toContain(s);
    expect(JSON.stringify(await audit())).not.toContain(SECRET);
  }, 180_000);

  it('filters by user, prints a table, refuses a bad --since (exit 2) and non-admins', async () => {
    const all = await audit();
    expect(new Set(all.map((r) => r.user))).toContain('test-admin');
    // The deployer's login: an anonymous join (the token vouches), naming the certificate it got.
    expect(all.find((r) => r.rpc === 'CertificateAPI.Join' && r.name === 'berth://operator/deployer/dan?ns=x')).toMatchObject({
      role: 'anonymous',
      kind: 'Certificate',
      code: 'OK',
    });
    expect(all.find((r) => r.rpc === 'CertificateAPI.Join' && r.name === 'berth://agent/h1')!.revision).toBeGreaterThan(0);
    expect(all.find((r) => r.rpc === 'TokenAPI.CreateToken' && r.user === 'test-admin')!.name).toMatch(/^[0-9a-f]+$/);
    expect((await audit(['--user', 'nobody-here'])).length).toBe(0);
    expect((await audit(['--since', '1h', '--user', 'dan'])).length).toBeGreaterThan(0);
    const table = await cluster.berth(['audit', '--user', 'dan']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^TIME\s+WHO\s+RPC\s+OBJECT\s+RESULT\s+REVISION\s+DETAIL/);
    expect(table.stdout).toMatch(/dan \(deployer\)\s+ObserveAPI\.Exec\s+Service\/x\/web\s+OK/);
    expect(table.stdout).toMatch(/ControlAPI\.ApplyService\s+Service\/default\/elsewhere\s+PERMISSION_DENIED/);
    const bad = await cluster.berth(['audit', '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since: "yesterday" is neither a duration/);
    // The controller's limits are checked before it starts.
    const zero = await cluster.berth(['controller', '--audit-max-records', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--audit-max-records: must be a whole number ≥ 1, got "0"/);
    const age = await cluster.berth(['controller', '--audit-max-age', 'forever']);
    expect(age.code).toBe(2);
    expect(age.stderr).toMatch(/--audit-max-age: "forever" is not a duration/);
    const notAdmin = await cluster.berth(['audit'], { env });
    expect(notAdmin.code).not.toBe(0);
    expect(notAdmin.stderr).toMatch(/needs the admin role/);
  }, 60_000);

  it(`the leader prunes by count: at most ${MAX_RECORDS} records, the newest kept`, async () => {
    const tokens = new TokenClient(cluster.controllers[0]!.address, cluster.transport);
    try {
      for (let i = 0; i < MAX_RECORDS + 20; i++) await tokens.revoke(`nope-${i}`).catch(() => undefined);
    } finally {
      tokens.close();
    }
    await cluster.waitFor(async () => (await rawAudit()).length <= MAX_RECORDS, 'audit log pruned', 20_000);
    const kept = await audit();
    expect(kept.length).toBeLessThanOrEqual(MAX_RECORDS);
    const revokes = kept.filter((r) => r.rpc === 'TokenAPI.RevokeToken');
    expect(revokes.at(-1)).toMatchObject({ name: `nope-${MAX_RECORDS + 19}`, code: 'NOT_FOUND', user: 'test-admin' });
    // The oldest went first: none of the deployer's records (all older) is left.
    expect(kept.some((r) => r.name === 'nope-0')).toBe(false);
  }, 60_000);

  it('the leader prunes by age: restarted with --audit-max-age 8s, every record older goes and new ones are kept', async () => {
    const keyTime = (key: string): number => Number(/\/audit\/(\d+)-/.exec(key)![1]);
    const before = await rawAudit();
    const newest = Math.max(...before.map(({ key }) => keyTime(key)));
    expect(before.length).toBeLessThanOrEqual(MAX_RECORDS); // the count alone would keep them all
    cluster.opts.controllerArgs = ['--audit-max-records', String(MAX_RECORDS), '--audit-max-age', '8s', '--audit-prune-interval', '500ms'];
    await cluster.controllers[0]!.proc.stop();
    await cluster.startController(0);
    await cluster.waitFor(
      async () => (await rawAudit()).every(({ key }) => keyTime(key) > newest),
      'audit records older than 8s pruned',
      40_000,
    );
    const tokens = new TokenClient(cluster.controllers[0]!.address, cluster.transport);
    try {
      await tokens.revoke('fresh').catch(() => undefined);
    } finally {
      tokens.close();
    }
    expect((await rawAudit()).some(({ value }) => value.includes('"name":"fresh"'))).toBe(true);
  }, 90_000);
});
