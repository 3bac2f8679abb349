// Security I on a real cluster (etcd, NATS, two dockerd, a controller, two agents, all with TLS):
// the authorization matrix of every RPC of every service against every kind of caller, the
// attacks the issue names, and what the CLI does with credentials.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { TestCluster, webManifest } from '../harness/cluster.js';
import { CHANNEL_OPTIONS, loadProto } from '../../proto/src/grpc.js';
import { createCa, createCsr, issueCertificate, type Credentials } from '../../proto/src/security/pki.js';
import { type Identity } from '../../proto/src/security/identity.js';
import { channelCredentials, CredentialSource, expectController, TLS_CHANNEL_OPTIONS } from '../../proto/src/security/tls.js';
import { DENIED_METADATA } from '../../proto/src/security/guard.js';
import { RULES } from '../../proto/src/security/authz.js';
import { CertificateClient, TokenClient } from '../../cli/src/security-client.js';
import { NodeClient } from '../../cli/src/node-client.js';

let cluster: TestCluster;
let tmp: string;
const T = (): number => Date.now();

/** A credential of the cluster CA (the harness holds its key) for an identity, valid from `from` to `to`. */
async function credential(id: Identity, from = T() - 60_000, to = T() + 3600_000): Promise<Credentials> {
  const ca = { certPem: readFileSync(cluster.pki.caCertFile, 'utf8'), keyPem: readFileSync(cluster.pki.caKeyFile, 'utf8') };
  const { csrPem, keyPem } = await createCsr('probe');
  const c = await issueCertificate({ ca, csrPem, identity: id, notBefore: new Date(from), notAfter: new Date(to) });
  return { caPem: ca.certPem, certPem: c.certPem, keyPem };
}

type Caller =
  | 'none'
  | 'otherCa'
  | 'expired'
  | 'agentA'
  | 'agentB'
  | 'agentRevoked'
  | 'controller'
  | 'viewerX'
  | 'deployerX'
  | 'deployerY'
  | 'admin'
  | 'monitor';
const CALLERS: Caller[] = [
  'none',
  'otherCa',
  'expired',
  'agentA',
  'agentB',
  'agentRevoked',
  'controller',
  'viewerX',
  'deployerX',
  'deployerY',
  'admin',
  'monitor',
];
const creds = new Map<Caller, grpc.ChannelCredentials>();

const readX: Caller[] = ['viewerX', 'deployerX', 'admin'];
const writeX: Caller[] = ['deployerX', 'admin'];
const clusterRead: Caller[] = ['controller', 'viewerX', 'deployerX', 'deployerY', 'admin'];
const adminOnly: Caller[] = ['admin'];
const agents: Caller[] = ['agentA', 'agentB'];
// A monitor (a scrape credential) calls no API: it may only renew its certificate (and join, as anyone).
const anyIdentity: Caller[] = ['agentA', 'agentB', 'controller', 'viewerX', 'deployerX', 'deployerY', 'admin', 'monitor'];

const svcX = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    apiVersion: 'berth.dev/v1',
    kind: 'Service',
    metadata: { name: 'probe', namespace: 'x' },
    spec: { image: 'busybox', ...extra },
  });

/**
 * Who may call each RPC (the others must be refused by the guard), and the request each probe
 * sends: one in namespace x that changes nothing even when allowed. A service method missing here
 * fails the test.
 */
const MATRIX: Record<string, { allow: Caller[]; req?: unknown }> = {
  'ControlAPI.ApplyService': { allow: writeX, req: { manifestJson: svcX(), dryRun: true } },
  'ControlAPI.GetService': { allow: readX, req: { namespace: 'x', name: 'nope' } },
  'ControlAPI.ListServices': { allow: readX, req: { namespace: 'x' } },
  'ControlAPI.DeleteService': { allow: writeX, req: { namespace: 'x', name: 'nope' } },
  'ControlAPI.ListTasks': { allow: readX, req: { namespace: 'x' } },
  'ControlAPI.ListNodes': { allow: clusterRead, req: {} },
  'Dispatcher.Session': { allow: agents },
  'ManageAPI.DiffService': { allow: readX, req: { manifestJson: svcX() } },
  'ManageAPI.ScaleService': { allow: writeX, req: { namespace: 'x', name: 'nope', replicas: 1 } },
  'ManageAPI.GetVersion': { allow: clusterRead, req: {} },
  'NodeAPI.LabelNode': { allow: adminOnly, req: { nodeId: 'nope', set: { a: 'b' } } },
  'NodeAPI.SetAvailability': { allow: adminOnly, req: { nodeId: 'nope', availability: 'active' } },
  'NodeAPI.RemoveNode': { allow: adminOnly, req: { nodeId: 'nope' } },
  'NodeAPI.Plan': { allow: readX, req: { manifestsJson: [svcX()] } },
  'ObserveAPI.Events': { allow: readX, req: { namespace: 'x' } },
  'ObserveAPI.Logs': { allow: readX, req: { namespace: 'x', service: 'nope' } },
  'ObserveAPI.Exec': { allow: writeX, req: { start: { namespace: 'x', service: 'nope', command: ['sh'] } } },
  'ObserveAPI.Top': { allow: readX, req: { namespace: 'x' } },
  'AgentAPI.Logs': { allow: ['controller'], req: { taskId: 'nope' } },
  'AgentAPI.Exec': { allow: ['controller'], req: { start: { taskId: 'nope', command: ['sh'] } } },
  'AgentAPI.Stats': { allow: ['controller'], req: {} },
  'RolloutAPI.GetRollout': { allow: readX, req: { namespace: 'x', name: 'nope' } },
  'RolloutAPI.WatchRollout': { allow: readX, req: { namespace: 'x', name: 'nope' } },
  'RolloutAPI.WatchService': { allow: readX, req: { namespace: 'x', name: 'nope' } },
  'RolloutAPI.ListRevisions': { allow: readX, req: { namespace: 'x', name: 'nope' } },
  'RolloutAPI.UndoRollout': { allow: writeX, req: { namespace: 'x', name: 'nope' } },
  'RolloutAPI.RestartRollout': { allow: writeX, req: { namespace: 'x', name: 'nope' } },
  'RolloutAPI.PauseRollout': { allow: writeX, req: { namespace: 'x', name: 'nope' } },
  'RolloutAPI.ResumeRollout': { allow: writeX, req: { namespace: 'x', name: 'nope' } },
  'RolloutAPI.SetRegistryCredential': { allow: writeX, req: { namespace: 'x', name: 'nope', server: '', username: '', password: '' } },
  'RolloutAPI.ListRegistryCredentials': { allow: readX, req: { namespace: 'x' } },
  'RolloutAPI.DeleteRegistryCredential': { allow: writeX, req: { namespace: 'x', name: 'nope' } },
  'SecretAPI.ApplySecret': {
    allow: writeX,
    req: {
      manifestJson: JSON.stringify({ apiVersion: 'berth.dev/v1', kind: 'Secret', metadata: { name: 's', namespace: 'x' }, data: {} }),
      dryRun: true,
    },
  },
  'SecretAPI.GetSecret': { allow: readX, req: { namespace: 'x', name: 'nope' } },
  'SecretAPI.ListSecrets': { allow: readX, req: { namespace: 'x' } },
  'SecretAPI.DeleteSecret': { allow: writeX, req: { namespace: 'x', name: 'nope' } },
  'PolicyAPI.ApplyPolicy': {
    allow: adminOnly,
    req: {
      manifestJson: JSON.stringify({ apiVersion: 'berth.dev/v1', kind: 'Policy', metadata: { name: 'p', namespace: 'x' }, spec: {} }),
      dryRun: true,
    },
  },
  'PolicyAPI.GetPolicy': { allow: readX, req: { namespace: 'x', name: 'nope' } },
  'PolicyAPI.ListPolicies': { allow: readX, req: { namespace: 'x' } },
  'PolicyAPI.DeletePolicy': { allow: adminOnly, req: { namespace: 'x', name: 'nope' } },
  'CertificateAPI.Join': { allow: [...CALLERS], req: { token: 'not-a-token', csrPem: '' } },
  'CertificateAPI.Renew': { allow: anyIdentity, req: { csrPem: '' } },
  'CertificateAPI.RevokeCertificate': { allow: adminOnly, req: { serial: 'not-hex' } },
  'TokenAPI.CreateToken': { allow: adminOnly, req: { role: 'nobody' } },
  'TokenAPI.ListTokens': { allow: adminOnly, req: {} },
  'TokenAPI.RevokeToken': { allow: adminOnly, req: { id: 'nope' } },
  'TokenAPI.RotateToken': { allow: adminOnly, req: { id: 'nope' } },
  'AuditAPI.ListAudit': { allow: adminOnly, req: { limit: 1 } },
};

/** Every service of the cluster: proto file, service name, where it is served. */
const SERVICES: Array<{ file: string; name: string; at: 'controller' | 'agent' }> = [
  { file: 'control', name: 'ControlAPI', at: 'controller' },
  { file: 'dispatcher', name: 'Dispatcher', at: 'controller' },
  { file: 'manage', name: 'ManageAPI', at: 'controller' },
  { file: 'nodes', name: 'NodeAPI', at: 'controller' },
  { file: 'observe', name: 'ObserveAPI', at: 'controller' },
  { file: 'observe', name: 'AgentAPI', at: 'agent' },
  { file: 'rollout', name: 'RolloutAPI', at: 'controller' },
  { file: 'secrets', name: 'SecretAPI', at: 'controller' },
  { file: 'policy', name: 'PolicyAPI', at: 'controller' },
  { file: 'security', name: 'CertificateAPI', at: 'controller' },
  { file: 'security', name: 'TokenAPI', at: 'controller' },
  { file: 'audit', name: 'AuditAPI', at: 'controller' },
];

type Outcome = 'allowed' | 'denied';

/** One call; `denied` only when the guard refused it (its trailer), whatever the handler would say. */
function probe(
  address: string,
  file: string,
  service: string,
  method: string,
  def: grpc.MethodDefinition<unknown, unknown>,
  c: grpc.ChannelCredentials,
  req: unknown,
): Promise<Outcome | string> {
  const Ctor = loadProto<Record<string, Record<string, Record<string, grpc.ServiceClientConstructor>>>>(file)['berth']!['v1']![service]!;
  const client = new Ctor(address, c, { ...CHANNEL_OPTIONS, ...TLS_CHANNEL_OPTIONS });
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: Outcome | string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.close();
      resolve(o);
    };
    const judge = (err: grpc.ServiceError | null): void => {
      if (!err) return finish('allowed');
      if (err.metadata?.get(DENIED_METADATA)[0] === 'denied') return finish('denied');
      // Not answered in time is neither: the cell fails and says so (a loaded machine, not a verdict).
      if (err.code === grpc.status.DEADLINE_EXCEEDED) return finish(`no answer within the deadline: ${err.details}`);
      // No TLS session at all (the server refused the handshake's certificate): nothing was served.
      if (err.code === grpc.status.UNAVAILABLE && /No connection established|handshake|certificate/i.test(err.details))
        return finish(`no connection: ${err.details}`);
      finish('allowed');
    };
    const md = new grpc.Metadata();
    const opts = { deadline: Date.now() + 30_000 };
    // A unary call is judged by its answer alone. An open stream the guard did not close within
    // this long was let through (the guard answers before any handler runs; under load 30 on 2
    // cores a refusal took over 2.5 s, so the wait is generous).
    const streaming = def.requestStream || def.responseStream;
    const timer = setTimeout(() => (streaming ? finish('allowed') : undefined), 6_000);
    const fn = (
      client as unknown as Record<
        string,
        (...a: unknown[]) => grpc.ClientReadableStream<unknown> & grpc.ClientDuplexStream<unknown, unknown>
      >
    )[method]!.bind(client);
    if (!def.requestStream && !def.responseStream) fn(req, md, opts, (err: grpc.ServiceError | null) => judge(err));
    else {
      const call = def.requestStream ? fn(md, opts) : fn(req, md, opts);
      call.on('error', (err: grpc.ServiceError) => judge(err));
      call.on('data', () => finish('allowed'));
      call.on('status', (s: grpc.StatusObject) => (s.code === grpc.status.OK ? finish('allowed') : undefined));
      if (def.requestStream && req !== undefined) call.write(req);
    }
  });
}

beforeAll(async () => {
  tmp = mkdtempSync('/tmp/bt-sec-');
  cluster = await TestCluster.start({ hosts: 2 });
  const otherCa = await createCa({ commonName: 'rogue', notBefore: new Date(T() - 60_000), notAfter: new Date(T() + 3600_000) });
  const rogue = await issueCertificate({
    ca: otherCa,
    identity: { kind: 'operator', user: 'eve', role: 'admin', namespaces: ['*'] },
    notBefore: new Date(T() - 60_000),
    notAfter: new Date(T() + 3600_000),
  });
  const caPem = readFileSync(cluster.pki.caCertFile, 'utf8');
  const tls = (c: Credentials): grpc.ChannelCredentials =>
    channelCredentials({ kind: 'tls', source: new CredentialSource(c) }, () => undefined);
  creds.set(
    'none',
    channelCredentials({ kind: 'ca-only', caPem }, () => undefined),
  );
  creds.set('otherCa', tls({ caPem, certPem: rogue.certPem, keyPem: rogue.keyPem! }));
  creds.set(
    'expired',
    tls(await credential({ kind: 'operator', user: 'old', role: 'admin', namespaces: ['*'] }, T() - 7200_000, T() - 3600_000)),
  );
  creds.set('agentA', tls(await credential({ kind: 'agent', nodeId: 'probe-a' })));
  creds.set('agentB', tls(await credential({ kind: 'agent', nodeId: 'probe-b' })));
  creds.set('controller', tls(await credential({ kind: 'controller', id: 'probe-c' })));
  creds.set('viewerX', tls(await credential({ kind: 'operator', user: 'vera', role: 'viewer', namespaces: ['x'] })));
  creds.set('deployerX', tls(await credential({ kind: 'operator', user: 'dan', role: 'deployer', namespaces: ['x'] })));
  creds.set('deployerY', tls(await credential({ kind: 'operator', user: 'yan', role: 'deployer', namespaces: ['y'] })));
  creds.set('admin', tls(cluster.pki.admin));
  creds.set('monitor', tls(await credential({ kind: 'monitor', name: 'prom' })));
  // A revoked agent: joined with a real token (its serial recorded), then removed.
  const tokens = new TokenClient(cluster.controllers[0]!.address, cluster.transport);
  const token = (await tokens.create({ role: 'agent', ttlMs: 600_000 })).secret;
  tokens.close();
  const { csrPem, keyPem } = await createCsr('probe-r');
  const joiner = new CertificateClient(cluster.controllers[0]!.address, { kind: 'ca-only', caPem });
  const joined = await joiner.join(token, csrPem, 'probe-r');
  joiner.close();
  const nodes = new NodeClient(cluster.controllers[0]!.address, cluster.transport);
  await nodes.removeNode('probe-r', false);
  nodes.close();
  creds.set('agentRevoked', tls({ caPem, certPem: joined.certPem, keyPem }));
  // The removal reaches the controller's revocation list through its etcd watch.
  await new Promise((r) => setTimeout(r, 500));
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('authorization matrix (generated: every RPC × every kind of caller)', () => {
  it('every method of every service has a rule and a row; each cell allows or refuses as the table says', async () => {
    const agentApi = (await cluster.client().listNodes()).find((n) => n.id === 'h1')!.description!.apiAddress;
    const wrong: string[] = [];
    const seen = new Set<string>();
    for (const s of SERVICES) {
      const def = loadProto<Record<string, Record<string, Record<string, { service: grpc.ServiceDefinition }>>>>(s.file)['berth']!['v1']![
        s.name
      ]!.service;
      for (const [name, md] of Object.entries(def)) {
        const key = `${s.name}.${name}`;
        seen.add(key);
        expect(RULES[key], `${key} has no rule in proto/src/security/authz.ts`).toBeDefined();
        const row = MATRIX[key];
        expect(row, `${key} has no row in this test's MATRIX`).toBeDefined();
        const address = s.at === 'agent' ? agentApi : cluster.controllers[0]!.address;
        const outcomes = await Promise.all(
          CALLERS.map(
            async (who) =>
              [
                who,
                await probe(address, s.file, s.name, name, md as grpc.MethodDefinition<unknown, unknown>, creds.get(who)!, row!.req),
              ] as const,
          ),
        );
        for (const [who, got] of outcomes) {
          const want = row!.allow.includes(who) ? 'allowed' : 'denied';
          if (got !== want) wrong.push(`${key} × ${who}: ${got}, expected ${want}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    // Rows of the table name real methods.
    for (const key of Object.keys(MATRIX)) expect(seen.has(key), key).toBe(true);
  }, 300_000);

  it('listing every namespace needs a role that covers them; a deployer of x sees only x', async () => {
    const ListServices = SERVICES[0]!;
    const def =
      loadProto<Record<string, Record<string, Record<string, { service: grpc.ServiceDefinition }>>>>('control')['berth']!['v1']![
        'ControlAPI'
      ]!.service;
    const all = (who: Caller) =>
      probe(
        cluster.controllers[0]!.address,
        ListServices.file,
        'ControlAPI',
        'ListServices',
        def['ListServices'] as grpc.MethodDefinition<unknown, unknown>,
        creds.get(who)!,
        { namespace: '' },
      );
    expect(await all('deployerX')).toBe('denied');
    expect(await all('viewerX')).toBe('denied');
    expect(await all('admin')).toBe('allowed');
  });
});

describe('the attacks of the issue, each now harmless', () => {
  it('apply from an unauthenticated client: refused, nothing stored', async () => {
    const f = join(tmp, 'evil.yaml');
    writeFileSync(f, webManifest({ name: 'evil', replicas: 1 }));
    // No credential at all: the CLI says what to do and sends nothing.
    const noCred = await cluster.berth(['apply', '-f', f], { env: { BERTH_CREDENTIALS: '', BERTH_CONFIG: join(tmp, 'none.yaml') } });
    expect(noCred.code).not.toBe(0);
    expect(noCred.stderr).toMatch(/no credential: log in with `berth login/);
    // Plaintext against the TLS listener.
    const plain = await cluster.berth(['apply', '-f', f, '--insecure-dev'], { env: { BERTH_CREDENTIALS: '' } });
    expect(plain.code).not.toBe(0);
    // A certificate of another CA.
    const rogueDir = join(tmp, 'rogue');
    const otherCa = await createCa({ commonName: 'rogue', notBefore: new Date(T() - 60_000), notAfter: new Date(T() + 3600_000) });
    const rogue = await issueCertificate({
      ca: otherCa,
      identity: { kind: 'operator', user: 'eve', role: 'admin', namespaces: ['*'] },
      notBefore: new Date(T() - 60_000),
      notAfter: new Date(T() + 3600_000),
    });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(rogueDir);
    writeFileSync(join(rogueDir, 'ca.pem'), readFileSync(cluster.pki.caCertFile));
    writeFileSync(join(rogueDir, 'cert.pem'), rogue.certPem);
    writeFileSync(join(rogueDir, 'key.pem'), rogue.keyPem!, { mode: 0o600 });
    const other = await cluster.berth(['apply', '-f', f], { env: { BERTH_CREDENTIALS: rogueDir } });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/no client certificate of this cluster/);
    expect((await cluster.client().listServices()).map((s) => s.meta?.name)).not.toContain('evil');
  });

  it('a Dispatcher session opened with another node id (impersonating live h1) is refused; h1 keeps its session and nothing is sent', async () => {
    const dispatcher =
      loadProto<Record<string, Record<string, Record<string, grpc.ServiceClientConstructor>>>>('dispatcher')['berth']!['v1']![
        'Dispatcher'
      ]!;
    const c = new dispatcher(cluster.controllers[0]!.address, creds.get('agentB')!, { ...CHANNEL_OPTIONS, ...TLS_CHANNEL_OPTIONS });
    const received: unknown[] = [];
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      const s = (c as unknown as { Session(): grpc.ClientDuplexStream<unknown, unknown> }).Session();
      s.on('data', (m) => received.push(m));
      s.on('error', (e: grpc.ServiceError) => resolve(e));
      s.write({ hello: { nodeId: 'h1', description: {}, containers: [], epochSeen: 0 } });
    });
    c.close();
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toMatch(/certificate of agent probe-b cannot open the session of node h1/);
    expect(received).toEqual([]); // no Welcome, no assignments (and so no registry password)
    const h1 = (await cluster.client().listNodes()).find((n) => n.id === 'h1')!;
    expect(h1.state).toBe('ready');
    expect(readFileSync(join(cluster.dir, 'agent-h1.log'), 'utf8')).not.toMatch(/controller closed the session/);
  });

  it("exec through an agent's AgentAPI: an operator, even admin, and a stranger are refused", async () => {
    await cluster.berth(['apply', '-f', '-', '--wait'], { input: webManifest({ name: 'target', replicas: 1 }) });
    const node = (await cluster.client().listNodes()).find((n) => n.id === 'h1')!;
    const task = (await cluster.client().listTasks({ namespace: 'default', service: 'target' })).find(
      (t) => t.status?.state === 'running',
    )!;
    const agentApi =
      node.id === task.nodeId
        ? node.description!.apiAddress
        : (await cluster.client().listNodes()).find((n) => n.id === task.nodeId)!.description!.apiAddress;
    const def =
      loadProto<Record<string, Record<string, Record<string, { service: grpc.ServiceDefinition }>>>>('observe')['berth']!['v1']![
        'AgentAPI'
      ]!.service;
    for (const who of ['admin', 'none', 'agentA'] as const)
      expect(
        await probe(agentApi, 'observe', 'AgentAPI', 'Exec', def['Exec'] as grpc.MethodDefinition<unknown, unknown>, creds.get(who)!, {
          start: { taskId: task.id, command: ['id'] },
        }),
        who,
      ).toBe('denied');
    // Through the controller, the admin may (it is the controller that reaches the agent).
    const ok = await cluster.berth(['exec', 'target', '--', 'echo', 'via-controller']);
    expect(ok.stdout).toContain('via-controller');
  });

  it('a client that expects a controller refuses a server presenting an agent certificate of the same CA', async () => {
    // The agent's own AgentAPI serves an agent certificate: a CLI pointed at it must not talk.
    const node = (await cluster.client().listNodes()).find((n) => n.id === 'h1')!;
    const r = await cluster.berth(['get', 'services', '--controller', node.description!.apiAddress]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not a Berth controller/);
    void expectController;
  });
});

describe('tokens and nodes', () => {
  it('a revoked or rotated token is refused; a removed node is refused', async () => {
    const caPem = readFileSync(cluster.pki.caCertFile, 'utf8');
    const create = await cluster.berth(['token', 'create', '--role', 'agent', '--ttl', '10m']);
    expect(create.code).toBe(0);
    const token = create.stdout.trim();
    const id = token.split('.')[2]!;
    const rotated = await cluster.berth(['token', 'rotate', id]);
    expect(rotated.code).toBe(0);
    const joiner = new CertificateClient(cluster.controllers[0]!.address, { kind: 'ca-only', caPem });
    const { csrPem } = await createCsr('x');
    await expect(joiner.join(token, csrPem, 'late-node')).rejects.toThrow(/revoked/);
    // The new token works.
    const fresh = await joiner.join(rotated.stdout.trim(), csrPem, 'late-node');
    expect(fresh.identity).toBe('berth://agent/late-node');
    joiner.close();
    const ls = await cluster.berth(['token', 'ls', '-o', 'json']);
    const list = JSON.parse(ls.stdout) as Array<{ id: string; revoked: boolean; uses: number }>;
    expect(list.find((t) => t.id === id)).toMatchObject({ revoked: true, uses: 0 });
    // A live node cannot be removed by accident; a forced removal revokes its certificate.
    const live = await cluster.berth(['nodes', 'rm', 'h2']);
    expect(live.code).not.toBe(0);
    expect(live.stderr).toMatch(/node h2 is ready: drain it/);
    expect((await cluster.berth(['nodes', 'rm', 'h2', '--force'])).code).toBe(0);
    await cluster.waitFor(
      async () => /certificate revoked|UNAUTHENTICATED|no client certificate/.test(readFileSync(join(cluster.dir, 'agent-h2.log'), 'utf8')),
      'agent h2 refused',
      30_000,
    );
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await cluster.client().listNodes()).map((n) => n.id)).not.toContain('h2');
  });

  it('bad token requests name the field', async () => {
    const r = await cluster.berth(['token', 'create', '--role', 'operator', '--operator-role', 'deployer', '--user', 'ann']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/namespaces: required for deployer/);
    const bad = await cluster.berth(['token', 'create', '--role', 'king']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--role: must be agent, operator or monitor/);
  });
});

describe('berth ca init', () => {
  it('writes a CA and an admin credential (keys mode 600), reuses them on a second run, refuses a bad name', async () => {
    const dir = join(tmp, 'bootstrap');
    const first = await cluster.berth(['ca', 'init', dir, '--admin', 'root']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/--ca-cert .*ca\.pem --ca-key .*ca-key\.pem/);
    const { statSync } = await import('node:fs');
    expect(statSync(join(dir, 'ca-key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'admin', 'key.pem')).mode & 0o777).toBe(0o600);
    const ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
    expect((await cluster.berth(['ca', 'init', dir])).code).toBe(0);
    expect(readFileSync(join(dir, 'ca.pem'), 'utf8')).toBe(ca);
    const bad = await cluster.berth(['ca', 'init', join(tmp, 'b2'), '--admin', '-x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--admin: "-x"/);
  });
});

describe('berth login', () => {
  it('stores a deployer credential in a context (mode 600) that works in its namespace only; a readable file is refused', async () => {
    const cfg = join(tmp, 'login.yaml');
    const t = await cluster.berth(['token', 'create', '--role', 'operator', '--operator-role', 'deployer', '-n', 'x', '--user', 'ann']);
    expect(t.code).toBe(0);
    const env = { BERTH_CREDENTIALS: '', BERTH_CONFIG: cfg };
    const login = await cluster.berth(['login', '--token', t.stdout.trim()], { env });
    expect(login.stdout).toMatch(/logged in as ann \(deployer of x\)/);
    const f = join(tmp, 'x.yaml');
    writeFileSync(f, webManifest({ name: 'inx', replicas: 1 }).replace('  name: inx\n', '  name: inx\n  namespace: x\n'));
    expect((await cluster.berth(['apply', '-f', f], { env })).code).toBe(0);
    const other = await cluster.berth(['apply', '-f', '-'], { env, input: webManifest({ name: 'iny', replicas: 1 }) });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/in namespace "default": you are ann \(deployer of x\)/);
    expect((await cluster.berth(['delete', 'service', 'inx', '-n', 'x'], { env })).code).toBe(0);
    chmodSync(cfg, 0o644);
    const loose = await cluster.berth(['get', 'services', '-n', 'x'], { env });
    expect(loose.code).not.toBe(0);
    expect(loose.stderr).toMatch(/other users can read it .*chmod 600/);
  });
});
