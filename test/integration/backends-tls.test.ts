// etcd and NATS with TLS and credentials (Security I, "etcd and NATS"), on a real etcd-server and
// nats-server: both refuse clients without a certificate of their CA (and a certificate of the
// cluster CA, which every agent holds); etcd's own users (--etcd-user, --etcd-password-file)
// and NATS nkey users (--nats-nkey-seed-file) and creds files (--nats-creds, operator mode with
// JWTs made here) carry a controller end to end; bad credentials fail clearly.
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { connect, credsAuthenticator, nkeyAuthenticator, nkeys, type ConnectionOptions } from 'nats';
import { ensureBackendPki, ensureLocalPki, type BackendPki, type LocalPki } from '../../cli/src/local/pki.js';
import { freePort, spawnProc, waitUntil, type Proc } from '../../cli/src/local/process.js';
import { startEtcd, startNats, type Etcd, type Nats } from '../../cli/src/local/services.js';
import { EtcdStore, etcdClient } from '../../controller/src/store/etcd-store.js';
import { ensureKeyFile } from '../../controller/src/secrets/cipher.js';
import { BerthClient } from '../../cli/src/client.js';
import { CredentialSource } from '../../proto/src/security/tls.js';
import { issueCertificate } from '../../proto/src/security/pki.js';
import { BERTH_BIN, PID_REGISTRY, procStartTime } from '../harness/cluster.js';
import { etcdStoreOptions, natsClientOptions } from '../harness/backends.js';
import { operatorModeConfig } from '../harness/nats-jwt.js';

let dir: string;
let backends: BackendPki;
let pki: LocalPki;
let etcd: Etcd;
let nats: Nats;
const procs: Proc[] = [];
const enc = new TextEncoder();

function track(p: Proc): Proc {
  procs.push(p);
  appendFileSync(PID_REGISTRY, `${p.pid} ${procStartTime(p.pid) ?? ''}\n`);
  return p;
}

function secretFile(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text, { mode: 0o600 });
  chmodSync(p, 0o600);
  return p;
}

const user = nkeys.createUser();
const userSeedFile = (): string => secretFile('controller.nk', new TextDecoder().decode(user.getSeed()) + '\n');

beforeAll(async () => {
  dir = mkdtempSync('/tmp/bt-backends-');
  backends = await ensureBackendPki(join(dir, 'backends'));
  pki = await ensureLocalPki(join(dir, 'tls'), { adminUser: 'test-admin' });
  const natsConf = join(dir, 'nats.conf');
  // One nkey user (the controller); no one else may connect.
  writeFileSync(natsConf, `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`);
  const [etcdPort, peerPort, natsPort, natsMon] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  [etcd, nats] = await Promise.all([
    startEtcd({
      dir: join(dir, 'etcd'),
      clientPort: etcdPort,
      peerPort,
      logFile: join(dir, 'etcd.log'),
      tls: { server: backends.etcd, client: backends.client },
    }),
    startNats({
      dir: join(dir, 'nats'),
      port: natsPort,
      monitorPort: natsMon,
      logFile: join(dir, 'nats.log'),
      tls: { server: backends.nats, client: backends.client },
      configFile: natsConf,
    }),
  ]);
  track(etcd.proc);
  track(nats.proc);
}, 60_000);

afterAll(async () => {
  for (const p of procs.reverse()) await p.stop(5_000);
  if (dir && !process.env['BERTH_KEEP_TEST_DIR']) rmSync(dir, { recursive: true, force: true });
});

/** A controller process on these backends with extra flags; resolves once its API answers (or with its exit). */
async function startController(
  name: string,
  flags: string[],
  opts: { waitApi?: boolean } = {},
): Promise<{ proc: Proc; address: string; log: string }> {
  const address = `127.0.0.1:${await freePort()}`;
  const log = join(dir, `controller-${name}.log`);
  const proc = track(
    spawnProc(
      `controller-${name}`,
      process.execPath,
      [
        BERTH_BIN,
        'controller',
        '--listen',
        address,
        '--id',
        name,
        '--secret-key-file',
        secretKey(),
        '--ca-cert',
        pki.caCertFile,
        '--ca-key',
        pki.caKeyFile,
        ...flags,
      ],
      { logFile: log, env: { ...process.env, BERTH_LOG_LEVEL: 'debug' } },
    ),
  );
  if (opts.waitApi !== false) {
    const client = new BerthClient(address, { kind: 'tls', source: new CredentialSource(pki.admin) });
    try {
      await waitUntil(async () => (await client.listNodes(), true), `controller ${name} API`, { proc, timeoutMs: 30_000 });
    } finally {
      client.close();
    }
  }
  return { proc, address, log };
}

function secretKey(): string {
  const p = join(dir, 'secret.key');
  ensureKeyFile(p);
  return p;
}

const etcdTlsFlags = (): string[] => [
  '--etcd',
  etcd.endpoint,
  '--etcd-cacert',
  backends.client.caFile,
  '--etcd-cert',
  backends.client.certFile,
  '--etcd-key',
  backends.client.keyFile,
];
const natsTlsFlags = (url = nats.url): string[] => [
  '--nats',
  url,
  '--nats-cacert',
  backends.client.caFile,
  '--nats-cert',
  backends.client.certFile,
  '--nats-key',
  backends.client.keyFile,
];

function berth(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BERTH_BIN, ...args],
      { env: { ...process.env, NO_COLOR: '1', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(input ?? '');
  });
}

const probeManifest = (name: string): string => `apiVersion: berth.dev/v1
kind: Service
metadata: { name: ${name} }
spec: { image: busybox, replicas: 1 }
`;

/** Where a NATS connection attempt ends: 'connected' or its error's text. */
async function natsAttempt(opts: ConnectionOptions): Promise<string> {
  try {
    const nc = await connect({ ...opts, reconnect: false, timeout: 5_000 });
    await nc.close();
    return 'connected';
  } catch (err) {
    return err instanceof Error ? `${err.message} ${String((err as { code?: unknown }).code ?? '')}` : String(err);
  }
}

describe('clients without a certificate of the backends CA are refused', () => {
  it('etcd: plaintext, TLS without a client certificate, and a certificate of the cluster CA', async () => {
    const attempt = async (opts: Parameters<typeof etcdClient>[0]): Promise<string> => {
      const c = etcdClient({ ...opts, callTimeoutMs: 3_000 });
      try {
        await c.get('/probe').string();
        return 'answered';
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      } finally {
        c.close();
      }
    };
    const ca = readFileSync(backends.caFile, 'utf8');
    // An agent's certificate: the cluster CA signed it, etcd does not trust that CA.
    const clusterCa = { certPem: readFileSync(pki.caCertFile, 'utf8'), keyPem: readFileSync(pki.caKeyFile, 'utf8') };
    const agentCert = await issueCertificate({
      ca: clusterCa,
      identity: { kind: 'agent', nodeId: 'h1' },
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3600_000),
    });
    const results = {
      plaintext: await attempt({ endpoints: [etcd.endpoint.replace('https://', 'http://')] }),
      noClientCert: await attempt({ endpoints: [etcd.endpoint], tls: { caPem: ca } }),
      agentCert: await attempt({ endpoints: [etcd.endpoint], tls: { caPem: ca, certPem: agentCert.certPem, keyPem: agentCert.keyPem! } }),
      backendsCert: await attempt(etcdStoreOptions(etcd)),
    };
    expect(results.backendsCert).toBe('answered');
    for (const k of ['plaintext', 'noClientCert', 'agentCert'] as const) expect(results[k], k).not.toBe('answered');
    // etcd saw the TLS handshakes fail for want of a trusted client certificate.
    const log = readFileSync(join(dir, 'etcd.log'), 'utf8');
    expect(log).toContain('rejected connection from "127.0.0.1');
    expect(log).toContain("tls: client didn't provide a certificate");
    expect(log).toContain('x509: certificate signed by unknown authority');
  });

  it('etcd: a controller without a client certificate does not get in, and says etcd is unavailable', async () => {
    const c = await startController('no-cert', ['--etcd', etcd.endpoint, '--etcd-cacert', backends.caFile, '--nats', ''], {
      waitApi: false,
    });
    await waitUntil(
      () => readFileSync(c.log, 'utf8').includes('etcd unavailable: waiting to read the cluster CA'),
      'the controller to wait for etcd',
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    expect(c.proc.isAlive()).toBe(true);
    await c.proc.stop(5_000);
  });

  it('NATS: plaintext, TLS without a client certificate, an agent certificate of the cluster CA, a certificate without the nkey', async () => {
    const ca = readFileSync(backends.caFile, 'utf8');
    const withCert = natsClientOptions(nats);
    const clusterCa = { certPem: readFileSync(pki.caCertFile, 'utf8'), keyPem: readFileSync(pki.caKeyFile, 'utf8') };
    const agentCert = await issueCertificate({
      ca: clusterCa,
      identity: { kind: 'agent', nodeId: 'h1' },
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3600_000),
    });
    const results = {
      // An agent's certificate (and the nkey): the cluster CA is not the one nats-server trusts.
      agentCert: await natsAttempt({
        servers: nats.url,
        tls: { ca, cert: agentCert.certPem, key: agentCert.keyPem! },
        authenticator: nkeyAuthenticator(user.getSeed()),
      }),
      plaintext: await natsAttempt({ servers: nats.url, tls: null }),
      noClientCert: await natsAttempt({ servers: nats.url, tls: { ca } }),
      certNoNkey: await natsAttempt(withCert),
      certAndNkey: await natsAttempt({ ...withCert, authenticator: nkeyAuthenticator(user.getSeed()) }),
      otherNkey: await natsAttempt({ ...withCert, authenticator: nkeyAuthenticator(nkeys.createUser().getSeed()) }),
    };
    expect(results.certAndNkey).toBe('connected');
    for (const k of ['agentCert', 'plaintext', 'noClientCert', 'certNoNkey', 'otherNkey'] as const)
      expect(results[k], k).not.toBe('connected');
    expect(results.certNoNkey).toMatch(/AUTHORIZATION_VIOLATION|Authorization/i);
    const log = readFileSync(join(dir, 'nats.log'), 'utf8');
    expect(log).toContain("TLS handshake error: tls: client didn't provide a certificate");
    expect(log).toContain('certificate signed by unknown authority');
  });
});

describe('a controller over TLS', () => {
  it('stores and publishes over TLS to etcd and to NATS with its nkey seed', async () => {
    const c = await startController('nkey', [...etcdTlsFlags(), ...natsTlsFlags(), '--nats-nkey-seed-file', userSeedFile()]);
    const env = { BERTH_CONTROLLER: c.address, BERTH_CREDENTIALS: pki.adminDir };
    expect((await berth(['apply', '-f', '-'], env, probeManifest('probe'))).code).toBe(0);
    // Written to etcd (read back over TLS) ...
    const store = EtcdStore.connect(etcdStoreOptions(etcd));
    try {
      expect(await store.get('/berth/v1/services/default/probe')).toBeDefined();
    } finally {
      await store.close();
    }
    // ... and published to NATS and read back by the controller (`berth events`), both with the nkey.
    let out = '';
    await waitUntil(
      async () => {
        const r = await berth(['events'], env);
        out = r.stdout + r.stderr;
        return r.code === 0 && out.includes('probe');
      },
      'the apply event through NATS',
      { timeoutMs: 20_000, intervalMs: 300 },
    );
    expect(readFileSync(c.log, 'utf8')).not.toMatch(/NATS unavailable/);
    await c.proc.stop(5_000);
  });

  it('refuses a half-given pair, an unreadable file and a seed readable by others, naming the flag', async () => {
    const loose = join(dir, 'loose.nk');
    writeFileSync(loose, new TextDecoder().decode(user.getSeed()), { mode: 0o644 });
    chmodSync(loose, 0o644);
    const cases: Array<[string[], RegExp]> = [
      [
        ['--etcd', etcd.endpoint, '--etcd-cacert', backends.caFile, '--etcd-cert', backends.client.certFile],
        /--etcd-cert and --etcd-key: give both or neither/,
      ],
      [['--etcd', etcd.endpoint, '--etcd-cacert', join(dir, 'missing.pem')], /--etcd-cacert .*missing\.pem: cannot read/],
      [[...etcdTlsFlags(), '--etcd-user', 'root'], /--etcd-user and --etcd-password-file: give both or neither/],
      [['--etcd', etcd.endpoint.replace('https', 'http'), '--etcd-cacert', backends.caFile], /--etcd http:\/\/.*every endpoint is https/],
      [[...etcdTlsFlags(), ...natsTlsFlags(), '--nats-nkey-seed-file', loose], /--nats-nkey-seed-file .*loose\.nk: readable by others/],
      [[...etcdTlsFlags(), '--nats', nats.url, '--nats-key', backends.client.keyFile], /--nats-cert and --nats-key: give both or neither/],
    ];
    const results = await Promise.all(
      cases.map(async ([flags]) =>
        berth(['controller', '--listen', `127.0.0.1:${await freePort()}`, '--secret-key-file', secretKey(), ...flags], {}),
      ),
    );
    cases.forEach(([flags, message], i) => {
      expect(results[i]!.code, flags.join(' ')).toBe(1);
      expect(results[i]!.stderr, flags.join(' ')).toMatch(message);
    });
  });
});

describe('etcd with its own users (auth enable)', () => {
  it('works with --etcd-user and --etcd-password-file; a wrong password stops it with a clear error', async () => {
    const admin = etcdClient(etcdStoreOptions(etcd));
    try {
      await admin.role('root').create();
      await admin.user('root').create('root-secret');
      await admin.user('root').addRole('root');
      await admin.auth.authEnable({});
    } finally {
      admin.close();
    }
    // A certificate alone no longer reads: etcd wants a user.
    const anon = etcdClient({ ...etcdStoreOptions(etcd), callTimeoutMs: 3_000 });
    await expect(anon.get('/berth/v1/services/default/probe').string()).rejects.toThrow();
    anon.close();

    const good = await startController('auth', [
      ...etcdTlsFlags(),
      '--etcd-user',
      'root',
      '--etcd-password-file',
      secretFile('etcd-password', 'root-secret\n'),
      '--nats',
      '',
    ]);
    const env = { BERTH_CONTROLLER: good.address, BERTH_CREDENTIALS: pki.adminDir };
    expect((await berth(['apply', '-f', '-'], env, probeManifest('probe-auth'))).code).toBe(0);
    const got = await berth(['get', 'services'], env);
    expect(got.stdout).toContain('probe-auth');
    await good.proc.stop(5_000);

    // With TLS on the API (it reads the cluster CA first) and under --insecure-dev (nothing else reads etcd at start).
    const wrong = secretFile('etcd-wrong', 'not-it\n');
    const bad = await Promise.all(
      [[], ['--insecure-dev']].map((extra, i) =>
        startController(
          `auth-bad-${i}`,
          [...etcdTlsFlags(), '--etcd-user', 'root', '--etcd-password-file', wrong, '--nats', '', ...extra],
          {
            waitApi: false,
          },
        ),
      ),
    );
    for (const b of bad) {
      const code = await Promise.race([b.proc.exited, new Promise((r) => setTimeout(() => r('still running'), 20_000))]);
      expect(code, b.log).toBe(1);
      expect(readFileSync(b.log, 'utf8')).toMatch(
        /--etcd-user root and --etcd-password-file: etcd refused this client: .*authentication failed/,
      );
    }
  });
});

describe('NATS in operator mode (JWTs), a creds file', () => {
  it('the controller publishes with --nats-creds; a creds file of another account is refused', async () => {
    const conf = operatorModeConfig(dir);
    const [port, mon] = await Promise.all([freePort(), freePort()]);
    const op = track(
      (
        await startNats({
          dir: join(dir, 'nats-op'),
          port,
          monitorPort: mon,
          logFile: join(dir, 'nats-op.log'),
          tls: { server: backends.nats, client: backends.client },
          configFile: conf.configFile,
        })
      ).proc,
    );
    const url = `tls://127.0.0.1:${port}`;
    const credsFile = secretFile('controller.creds', conf.userCreds);
    // No creds, or a user of an account the operator never signed: refused.
    expect(await natsAttempt(natsClientOptions({ ...nats, url }))).toMatch(/AUTHORIZATION_VIOLATION|Authorization/i);
    expect(
      await natsAttempt({ ...natsClientOptions({ ...nats, url }), authenticator: credsAuthenticator(enc.encode(conf.foreignCreds)) }),
    ).toMatch(/AUTHORIZATION_VIOLATION|Authorization/i);
    expect(
      await natsAttempt({ ...natsClientOptions({ ...nats, url }), authenticator: credsAuthenticator(enc.encode(conf.userCreds)) }),
    ).toBe('connected');
    const c = await startController('creds', [...etcdTlsFlagsWithAuth(), ...natsTlsFlags(url), '--nats-creds', credsFile]);
    const env = { BERTH_CONTROLLER: c.address, BERTH_CREDENTIALS: pki.adminDir };
    expect((await berth(['apply', '-f', '-'], env, probeManifest('probe-creds'))).code).toBe(0);
    await waitUntil(
      async () => {
        const r = await berth(['events'], env);
        return r.code === 0 && r.stdout.includes('probe-creds');
      },
      'the apply event through NATS in operator mode',
      { timeoutMs: 20_000, intervalMs: 300 },
    );
    await c.proc.stop(5_000);
    await op.stop(5_000);
  });
});

/** etcd has auth enabled from the test above on: later controllers log in. */
function etcdTlsFlagsWithAuth(): string[] {
  return [...etcdTlsFlags(), '--etcd-user', 'root', '--etcd-password-file', secretFile('etcd-password', 'root-secret\n')];
}
