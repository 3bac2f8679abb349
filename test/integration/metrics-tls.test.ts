// /metrics and /sd over mTLS (docs/security.md, "Metrics and service discovery").
//
// First the endpoint alone (proto/src/metrics-http.ts, real TLS on loopback, certificates of a
// CA made here): no client certificate, another CA's and an expired one end at the handshake; a
// revoked one, an agent and a viewer of one namespace are refused; a monitor, an admin and a
// viewer of every namespace scrape; any identity reads /healthz; a renewed certificate is served
// from the next handshake on. Then a real cluster: a monitor credential made with `berth token
// create --role monitor` and `berth login --out`, scraping the controller's /metrics and /sd and
// the agent's /metrics, and refused by both once `berth ca revoke` revoked its serial (the agent
// learns it from the leader over its Dispatcher session).
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Registry, Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveMetrics, type HttpEndpoint } from '../../proto/src/metrics-http.js';
import { certInfo, createCa, issueCertificate, type Credentials, type KeyPairPem } from '../../proto/src/security/pki.js';
import type { Identity } from '../../proto/src/security/identity.js';
import { CredentialSource } from '../../proto/src/security/tls.js';
import { httpGet } from '../harness/scrape.js';
import { TestCluster } from '../harness/cluster.js';
import { normalSerial } from '../../controller/src/security/certificates.js';

const T = (): number => Date.now();

async function issue(ca: KeyPairPem, identity: Identity, from = T() - 60_000, to = T() + 3600_000): Promise<Credentials> {
  const c = await issueCertificate({ ca, identity, notBefore: new Date(from), notAfter: new Date(to), dnsNames: ['localhost'] });
  return { caPem: ca.certPem, certPem: c.certPem, keyPem: c.keyPem! };
}

/** The serial of the certificate a TLS server presents to `client`. */
function servedSerial(address: string, client: Credentials): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const s = connect(
      { host, port, ca: client.caPem, cert: client.certPem, key: client.keyPem, servername: 'localhost', rejectUnauthorized: true },
      () => {
        const serial = s.getPeerCertificate().serialNumber.toLowerCase();
        s.destroy();
        resolve(serial);
      },
    );
    s.on('error', reject);
  });
}

describe('the HTTP endpoint over mTLS (serveMetrics alone)', () => {
  let ca: KeyPairPem;
  let endpoint: HttpEndpoint;
  let source: CredentialSource;
  const revoked = new Set<string>();
  const who = new Map<string, Credentials>();
  const url = (path: string): string => `https://${endpoint.address}${path}`;

  beforeAll(async () => {
    const now = T();
    ca = await createCa({ commonName: 'test CA', notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000) });
    const other = await createCa({ commonName: 'other CA', notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000) });
    source = new CredentialSource(await issue(ca, { kind: 'controller', id: 'c1' }));
    who.set('monitor', await issue(ca, { kind: 'monitor', name: 'prometheus' }));
    who.set('admin', await issue(ca, { kind: 'operator', user: 'ann', role: 'admin', namespaces: ['*'] }));
    who.set('viewerAll', await issue(ca, { kind: 'operator', user: 'vic', role: 'viewer', namespaces: ['*'] }));
    who.set('viewerX', await issue(ca, { kind: 'operator', user: 'vera', role: 'viewer', namespaces: ['x'] }));
    who.set('agent', await issue(ca, { kind: 'agent', nodeId: 'h1' }));
    who.set('revokedMonitor', await issue(ca, { kind: 'monitor', name: 'old-prometheus' }));
    who.set('otherCa', { ...(await issue(other, { kind: 'monitor', name: 'prometheus' })), caPem: ca.certPem });
    who.set('expired', await issue(ca, { kind: 'monitor', name: 'prometheus' }, now - 7200_000, now - 3600_000));
    revoked.add(normalSerial(certInfo(who.get('revokedMonitor')!.certPem).serial));
    const registry = new Registry();
    new Counter({ name: 'probe_total', help: 'a probe', registers: [registry] }).inc();
    endpoint = await serveMetrics(
      '127.0.0.1:0',
      registry,
      () => true,
      { '/sd/agents': () => [200, 'application/json', '[]'] },
      {
        source,
        revocations: { refused: (_id, serial) => (serial && revoked.has(normalSerial(serial)) ? 'certificate revoked' : undefined) },
      },
    );
  });
  afterAll(async () => {
    await endpoint?.close();
  });

  it('speaks https', () => {
    expect(endpoint.scheme).toBe('https');
  });

  it('a request without a client certificate, or with one of another CA, or an expired one, fails at the handshake', async () => {
    await expect(httpGet(url('/metrics'), { caPem: ca.certPem })).rejects.toThrow();
    await expect(httpGet(url('/sd/agents'), { caPem: ca.certPem })).rejects.toThrow();
    await expect(httpGet(url('/healthz'), { caPem: ca.certPem })).rejects.toThrow();
    await expect(httpGet(url('/metrics'), who.get('otherCa'))).rejects.toThrow();
    await expect(httpGet(url('/metrics'), who.get('expired'))).rejects.toThrow();
    // Plain HTTP is not answered at all.
    await expect(httpGet(`http://${endpoint.address}/metrics`)).rejects.toThrow();
  });

  it('a revoked certificate of the cluster CA is refused (401), on /metrics, /sd and /healthz alike', async () => {
    for (const path of ['/metrics', '/sd/agents', '/healthz']) {
      const r = await httpGet(url(path), who.get('revokedMonitor'));
      expect(r.status, path).toBe(401);
      expect(r.body).toMatch(/certificate revoked/);
    }
  });

  it('a monitor, an admin and a viewer of every namespace scrape /metrics and /sd', async () => {
    for (const name of ['monitor', 'admin', 'viewerAll']) {
      const m = await httpGet(url('/metrics'), who.get(name));
      expect(m.status, name).toBe(200);
      expect(m.body).toMatch(/^probe_total 1$/m);
      expect((await httpGet(url('/sd/agents'), who.get(name))).status, name).toBe(200);
    }
  });

  it('an agent and a viewer of one namespace are refused /metrics and /sd (403), but may read /healthz and /readyz', async () => {
    for (const name of ['agent', 'viewerX']) {
      for (const path of ['/metrics', '/sd/agents', '/nowhere']) {
        const r = await httpGet(url(path), who.get(name));
        expect(r.status, `${name} ${path}`).toBe(403);
      }
      for (const path of ['/healthz', '/readyz']) expect((await httpGet(url(path), who.get(name))).status, `${name} ${path}`).toBe(200);
    }
    expect((await httpGet(url('/metrics'), who.get('viewerX'))).body).toMatch(/shows every namespace.*vera \(viewer of x\)/);
  });

  it('a renewed certificate is served from the next handshake on', async () => {
    const before = await servedSerial(endpoint.address, who.get('monitor')!);
    expect(before).toBe(certInfo(source.current.certPem).serial.toLowerCase());
    const renewed = await issue(ca, { kind: 'controller', id: 'c1' });
    source.update(renewed);
    const after = await servedSerial(endpoint.address, who.get('monitor')!);
    expect(after).toBe(certInfo(renewed.certPem).serial.toLowerCase());
    expect(after).not.toBe(before);
    expect((await httpGet(url('/metrics'), who.get('monitor'))).status).toBe(200);
  });
});

describe('a cluster: a monitor credential from a token, scraping controller and agent over mTLS', () => {
  let cluster: TestCluster;
  let tmp: string;
  let monitor: Credentials;
  let loginOut = '';

  beforeAll(async () => {
    cluster = await TestCluster.start({ hosts: 1 });
    tmp = mkdtempSync(join(tmpdir(), 'bt-mtls-'));
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('berth token create --role monitor + berth login --out write a credential Prometheus can use', async () => {
    const t = await cluster.berth(['token', 'create', '--role', 'monitor', '--user', 'prometheus', '--ttl', '10m']);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toMatch(/prometheus: monitor/);
    const out = join(tmp, 'prom');
    const login = await cluster.berth(['login', '--token', t.stdout.trim(), '--out', out], { env: { BERTH_CREDENTIALS: '' } });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toMatch(/credential of monitor prometheus in /);
    loginOut = login.stdout;
    expect(statSync(join(out, 'key.pem')).mode & 0o777).toBe(0o600);
    monitor = {
      caPem: readFileSync(join(out, 'ca.pem'), 'utf8'),
      certPem: readFileSync(join(out, 'cert.pem'), 'utf8'),
      keyPem: readFileSync(join(out, 'key.pem'), 'utf8'),
    };
    expect(certInfo(monitor.certPem).uris).toEqual(['berth://monitor/prometheus']);
  });

  it('a monitor token is not a CLI login, and bad token requests name the field', async () => {
    const t = await cluster.berth(['token', 'create', '--role', 'monitor', '--user', 'p2']);
    const login = await cluster.berth(['login', '--token', t.stdout.trim()], {
      env: { BERTH_CREDENTIALS: '', BERTH_CONFIG: join(tmp, 'cfg.yaml') },
    });
    expect(login.code).not.toBe(0);
    expect(login.stderr).toMatch(/--out DIR/);
    const noUser = await cluster.berth(['token', 'create', '--role', 'monitor']);
    expect(noUser.code).not.toBe(0);
    expect(noUser.stderr).toMatch(/user/);
    const withNs = await cluster.berth(['token', 'create', '--role', 'monitor', '--user', 'p3', '-n', 'x']);
    expect(withNs.code).not.toBe(0);
    expect(withNs.stderr).toMatch(/namespaces/);
  });

  it('the monitor scrapes the controller (/metrics, /sd/agents) and the agent; without a certificate nothing answers', async () => {
    const ctl = cluster.controllers[0]!.metrics;
    const m = await httpGet(`https://${ctl}/metrics`, monitor);
    expect(m.status).toBe(200);
    expect(m.body).toMatch(/^berth_controller_is_leader 1$/m);
    const sd = await httpGet(`https://${ctl}/sd/agents`, monitor);
    expect(sd.status).toBe(200);
    const agents = JSON.parse(sd.body) as Array<{ targets: string[]; labels: Record<string, string> }>;
    expect(agents.map((a) => a.labels['node'])).toEqual(['h1']);
    const a = await httpGet(`https://${agents[0]!.targets[0]}/metrics`, monitor);
    expect(a.status).toBe(200);
    expect(a.body).toMatch(/berth_agent_/);
    await expect(httpGet(`https://${ctl}/metrics`, { caPem: monitor.caPem })).rejects.toThrow();
    await expect(httpGet(`https://${agents[0]!.targets[0]}/metrics`, { caPem: monitor.caPem })).rejects.toThrow();
    await expect(httpGet(`http://${ctl}/metrics`)).rejects.toThrow();
  });

  it('berth ca revoke SERIAL: the controller and the agent (told by the leader over its session) refuse the monitor (401)', async () => {
    const serial = normalSerial(certInfo(monitor.certPem).serial);
    expect(loginOut).toContain(`certificate serial ${serial}`);
    const bad = await cluster.berth(['ca', 'revoke', 'xyz']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/<serial>: "xyz" is not a certificate serial/);
    const res = await cluster.berth(['ca', 'revoke', serial.toUpperCase()]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`certificate ${serial} revoked`);
    const ctl = cluster.controllers[0]!.metrics;
    await cluster.waitFor(async () => (await httpGet(`https://${ctl}/metrics`, monitor)).status === 401, 'revocation seen', 10_000);
    expect((await httpGet(`https://${ctl}/sd/agents`, monitor)).status).toBe(401);
    const agent = (await cluster.client().listNodes())[0]!.description!.metricsAddress;
    await cluster.waitFor(async () => (await httpGet(`https://${agent}/metrics`, monitor)).status === 401, 'the agent refuses it', 10_000);
    expect((await httpGet(`https://${agent}/metrics`, monitor)).body).toMatch(/certificate revoked/);
    // The agent keeps the list in its state dir (a restart refuses it before the session is back).
    expect(readFileSync(join(cluster.hosts[0]!.dir, 'agent-state', 'tls', 'revoked.json'), 'utf8')).toContain(
      normalSerial(certInfo(monitor.certPem).serial),
    );
    // The admin still scrapes both.
    expect((await cluster.httpGet(ctl, '/metrics')).status).toBe(200);
    expect((await cluster.httpGet(agent, '/metrics')).status).toBe(200);
  });
});
