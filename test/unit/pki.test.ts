// The cluster PKI and the TLS glue: certificates carry exactly one identity, requests must
// verify, tokens parse strictly, and over real loopback gRPC a server sees the caller's identity
// only when the cluster CA verified its certificate.
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import type { AuthContext } from '@grpc/grpc-js/build/src/auth-context.js';
import { Guard } from '../../proto/src/security/guard.js';
import * as x509 from '@peculiar/x509';
import {
  certDigest,
  certInfo,
  certUris,
  checkPair,
  createCa,
  createCsr,
  issueCertificate,
  issueServiceCertificate,
  PkiError,
  type Credentials,
} from '../../proto/src/security/pki.js';
import { describeIdentity, identityOf, identityUri, parseIdentityUri, type Identity } from '../../proto/src/security/identity.js';
import { formatToken, newToken, parseToken, secretHash, secretMatches, TokenFormatError } from '../../proto/src/security/tokens.js';
import {
  channelCredentials,
  CredentialSource,
  expectAgent,
  expectController,
  fetchPinnedCa,
  peerIdentity,
  serverCredentials,
  TLS_CHANNEL_OPTIONS,
} from '../../proto/src/security/tls.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const YEAR = new Date('2036-01-01T00:00:00Z');

async function creds(ca: { certPem: string; keyPem: string }, identity: Identity, notAfter = YEAR, notBefore = T0): Promise<Credentials> {
  const { csrPem, keyPem } = await createCsr('x');
  const issued = await issueCertificate({ ca, csrPem, identity, notBefore, notAfter });
  return { caPem: ca.certPem, certPem: issued.certPem, keyPem };
}

describe('identity URIs', () => {
  it('round-trip every kind and refuse anything else', () => {
    const ids: Identity[] = [
      { kind: 'controller', id: 'c1' },
      { kind: 'agent', nodeId: 'h1' },
      { kind: 'operator', user: 'root', role: 'admin', namespaces: ['*'] },
      { kind: 'operator', user: 'ann@example.com', role: 'deployer', namespaces: ['x', 'y'] },
      { kind: 'operator', user: 'v', role: 'viewer', namespaces: ['*'] },
    ];
    for (const i of ids) expect(parseIdentityUri(identityUri(i))).toEqual(i);
    for (const bad of [
      'berth://agent/h1/extra',
      'berth://agent/',
      'berth://root/x',
      'berth://operator/owner/x?ns=a',
      'berth://operator/deployer/x',
      'berth://operator/deployer/x?ns=',
      'berth://operator/deployer/x?ns=A_B',
      'berth://operator/admin/x?ns=a',
      'https://agent/h1',
      'berth://agent/-h1',
    ])
      expect(parseIdentityUri(bad), bad).toBeUndefined();
    expect(identityOf(['berth://agent/a', 'berth://agent/b'])).toBeUndefined();
    expect(describeIdentity(undefined)).toBe('anonymous');
  });
});

describe('pki', () => {
  it('issues a certificate for a request, naming the identity; the key stays with the requester', async () => {
    const ca = await createCa({ commonName: 'test', notBefore: T0, notAfter: YEAR });
    const c = await creds(ca, { kind: 'agent', nodeId: 'h1' });
    const info = certInfo(c.certPem);
    expect(info.uris).toEqual(['berth://agent/h1']);
    expect(info.notAfter.getTime()).toBe(YEAR.getTime());
    await checkPair({ certPem: c.certPem, keyPem: c.keyPem }, ca.certPem);
    expect(certDigest(ca.certPem)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('never issues past the CA, refuses a tampered request and a key of another certificate', async () => {
    const ca = await createCa({ commonName: 'test', notBefore: T0, notAfter: new Date('2027-01-01T00:00:00Z') });
    const c = await creds(ca, { kind: 'controller', id: 'c1' });
    expect(certInfo(c.certPem).notAfter.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    const { csrPem } = await createCsr('x');
    const lines = csrPem.split('\n');
    lines[3] = lines[3]!.replace(/^./, (ch) => (ch === 'A' ? 'B' : 'A'));
    await expect(
      issueCertificate({ ca, csrPem: lines.join('\n'), identity: { kind: 'agent', nodeId: 'h' }, notBefore: T0, notAfter: YEAR }),
    ).rejects.toThrow(PkiError);
    const other = await creds(ca, { kind: 'agent', nodeId: 'h2' });
    await expect(checkPair({ certPem: c.certPem, keyPem: other.keyPem })).rejects.toThrow(/does not belong/);
    const ca2 = await createCa({ commonName: 'other', notBefore: T0, notAfter: YEAR });
    await expect(checkPair({ certPem: c.certPem, keyPem: c.keyPem }, ca2.certPem)).rejects.toThrow(/not issued by the CA/);
  });
});

describe('join tokens', () => {
  it('parse strictly and match their secret only', () => {
    const t = newToken('ab'.repeat(32));
    const s = formatToken(t);
    expect(parseToken(s)).toEqual(t);
    expect(secretMatches(t.secret, secretHash(t.secret))).toBe(true);
    expect(
      secretMatches(
        t.secret.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
        secretHash(t.secret),
      ),
    ).toBe(false);
    for (const bad of ['', s.slice(1), s + '0', s.replace('BERTH1', 'BERTH2'), s.toUpperCase()])
      expect(() => parseToken(bad)).toThrow(TokenFormatError);
  });
});

// A one-method service over real loopback TLS: what the server sees of its callers.
const whoAmI: grpc.ServiceDefinition = {
  WhoAmI: {
    path: '/test.Who/WhoAmI',
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: string) => Buffer.from(v),
    requestDeserialize: (b: Buffer) => b.toString(),
    responseSerialize: (v: string) => Buffer.from(v),
    responseDeserialize: (b: Buffer) => b.toString(),
  },
};
const Client = grpc.makeGenericClientConstructor(whoAmI, 'Who');

async function serve(server: Credentials): Promise<{ address: string; close: () => void }> {
  const s = new grpc.Server();
  s.addService(whoAmI, {
    WhoAmI: (call: grpc.ServerUnaryCall<string, string>, cb: grpc.sendUnaryData<string>) => cb(null, describeIdentity(peerIdentity(call))),
  });
  const port = await new Promise<number>((res, rej) =>
    s.bindAsync('127.0.0.1:0', serverCredentials({ kind: 'tls', source: new CredentialSource(server) }), (e, p) => (e ? rej(e) : res(p))),
  );
  return { address: `127.0.0.1:${port}`, close: () => s.forceShutdown() };
}

function ask(address: string, creds: grpc.ChannelCredentials): Promise<string> {
  const c = new Client(address, creds, TLS_CHANNEL_OPTIONS);
  return new Promise<string>((res, rej) =>
    c.makeUnaryRequest(
      '/test.Who/WhoAmI',
      (v: string) => Buffer.from(v),
      (b: Buffer) => b.toString(),
      'who?',
      { deadline: Date.now() + 5000 },
      (err, v) => (c.close(), err ? rej(err) : res(v!)),
    ),
  );
}

describe('TLS between Berth peers (real loopback gRPC)', () => {
  it('names verified callers, treats others as anonymous, and lets clients check the server identity', async () => {
    const ca = await createCa({ commonName: 'cluster', notBefore: T0, notAfter: YEAR });
    const rogueCa = await createCa({ commonName: 'rogue', notBefore: T0, notAfter: YEAR });
    const ctl = await creds(ca, { kind: 'controller', id: 'c1' });
    const srv = await serve(ctl);
    try {
      const agent = new CredentialSource(await creds(ca, { kind: 'agent', nodeId: 'h1' }));
      expect(await ask(srv.address, channelCredentials({ kind: 'tls', source: agent }, expectController))).toBe('agent h1');
      // Without a certificate (a joiner that pinned the CA): anonymous.
      expect(await ask(srv.address, channelCredentials({ kind: 'ca-only', caPem: ca.certPem }, expectController))).toBe('anonymous');
      // A certificate of another CA, and an expired one, are not identities.
      const rogue = await creds(rogueCa, { kind: 'operator', user: 'eve', role: 'admin', namespaces: ['*'] });
      expect(
        await ask(
          srv.address,
          channelCredentials({ kind: 'tls', source: new CredentialSource({ ...rogue, caPem: ca.certPem }) }, expectController),
        ),
      ).toBe('anonymous');
      const expired = await creds(
        ca,
        { kind: 'operator', user: 'old', role: 'admin', namespaces: ['*'] },
        new Date('2026-01-02T00:00:00Z'),
      );
      expect(await ask(srv.address, channelCredentials({ kind: 'tls', source: new CredentialSource(expired) }, expectController))).toBe(
        'anonymous',
      );
      // A client that expects an agent refuses a controller, and one pinning another CA refuses the server.
      await expect(ask(srv.address, channelCredentials({ kind: 'tls', source: agent }, expectAgent('h1')))).rejects.toThrow(/UNAVAILABLE/);
      await expect(ask(srv.address, channelCredentials({ kind: 'ca-only', caPem: rogueCa.certPem }, expectController))).rejects.toThrow(
        /UNAVAILABLE/,
      );
      // The joiner's first step: the CA read off the server's chain, checked against the digest.
      expect(await fetchPinnedCa(srv.address, certDigest(ca.certPem))).toBe(ca.certPem);
      await expect(fetchPinnedCa(srv.address, certDigest(rogueCa.certPem))).rejects.toThrow(/refusing to join/);
    } finally {
      srv.close();
    }
  });

  it('a renewed certificate is presented at the next handshake without restarting the server', async () => {
    const ca = await createCa({ commonName: 'cluster', notBefore: T0, notAfter: YEAR });
    const source = new CredentialSource(await creds(ca, { kind: 'controller', id: 'c1' }));
    const s = new grpc.Server();
    s.addService(whoAmI, { WhoAmI: (_c: unknown, cb: grpc.sendUnaryData<string>) => cb(null, 'ok') });
    const port = await new Promise<number>((res, rej) =>
      s.bindAsync('127.0.0.1:0', serverCredentials({ kind: 'tls', source }), (e, p) => (e ? rej(e) : res(p))),
    );
    try {
      const address = `127.0.0.1:${port}`;
      source.update(await creds(ca, { kind: 'controller', id: 'c1-renewed' }));
      const seen: string[] = [];
      const check = (id: Identity | undefined): undefined => void seen.push(describeIdentity(id));
      expect(await ask(address, channelCredentials({ kind: 'ca-only', caPem: ca.certPem }, check))).toBe('ok');
      expect(seen).toEqual(['controller c1-renewed']);
    } finally {
      s.forceShutdown();
    }
  });

  it('the channels one process opens to one server share a TLS connection (as plaintext ones do)', async () => {
    const ca = await createCa({ commonName: 'cluster', notBefore: T0, notAfter: YEAR });
    const s = new grpc.Server();
    // Answers with the caller's address: one connection, one client port.
    s.addService(whoAmI, { WhoAmI: (c: grpc.ServerUnaryCall<string, string>, cb: grpc.sendUnaryData<string>) => cb(null, c.getPeer()) });
    const server = serverCredentials({ kind: 'tls', source: new CredentialSource(await creds(ca, { kind: 'controller', id: 'c1' })) });
    const port = await new Promise<number>((res, rej) => s.bindAsync('127.0.0.1:0', server, (e, p) => (e ? rej(e) : res(p))));
    const t = { kind: 'tls' as const, source: new CredentialSource(await creds(ca, { kind: 'agent', nodeId: 'h1' })) };
    // Two stubs open at once, as `berth apply --wait` holds ControlAPI and RolloutAPI ones.
    const stubs = [0, 1].map(() => new Client(`127.0.0.1:${port}`, channelCredentials(t, expectController), TLS_CHANNEL_OPTIONS));
    try {
      const peers = await Promise.all(
        stubs.map(
          (c) =>
            new Promise<string>((res, rej) =>
              c.makeUnaryRequest(
                '/test.Who/WhoAmI',
                (v: string) => Buffer.from(v),
                (b: Buffer) => b.toString(),
                'who?',
                { deadline: Date.now() + 5000 },
                (err, v) => (err ? rej(err) : res(v!)),
              ),
            ),
        ),
      );
      expect(peers[0]).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(peers[1]).toBe(peers[0]);
    } finally {
      for (const c of stubs) c.close();
      s.forceShutdown();
    }
  });
});

describe('Guard.identify', () => {
  it("reads the caller's certificate once per call (grpc-js decodes it anew at each getAuthContext) and honours revocations", async () => {
    const ca = await createCa({ commonName: 'cluster', notBefore: T0, notAfter: YEAR });
    const agent = await creds(ca, { kind: 'agent', nodeId: 'h1' });
    const x = new X509Certificate(agent.certPem);
    let reads = 0;
    const call = {
      getAuthContext: () => {
        reads++;
        return {
          transportSecurityType: 'ssl',
          sslPeerCertificate: { raw: x.raw, fingerprint256: x.fingerprint256, valid_from: x.validFrom, serialNumber: x.serialNumber },
        } as unknown as AuthContext;
      },
    };
    const refusedSerials: Array<string | undefined> = [];
    const guard = new Guard({
      insecureDev: false,
      revocations: {
        refused: (_id, serial) => {
          refusedSerials.push(serial);
          return serial === x.serialNumber.toLowerCase() ? 'revoked' : undefined;
        },
      },
    });
    expect(guard.identify(call)).toBeUndefined();
    expect(reads).toBe(1);
    expect(refusedSerials).toEqual([x.serialNumber.toLowerCase()]);
    expect(new Guard({ insecureDev: false }).identify(call)).toEqual({ kind: 'agent', nodeId: 'h1' });
    expect(reads).toBe(2);
  });
});

describe('certUris', () => {
  it('reads the URI names as @peculiar/x509 does, a quoted one (a namespace list has a comma) included', async () => {
    const ca = await createCa({ commonName: 'cluster', notBefore: T0, notAfter: YEAR });
    const ids: Identity[] = [
      { kind: 'agent', nodeId: 'h1' },
      { kind: 'controller', id: 'c-1.x' },
      { kind: 'operator', user: 'al.ice@example', role: 'deployer', namespaces: ['team-a', 'b2'] },
      { kind: 'operator', user: 'root', role: 'admin', namespaces: ['*'] },
    ];
    for (const identity of ids) {
      const { csrPem } = await createCsr('x');
      const { certPem } = await issueCertificate({ ca, csrPem, identity, notBefore: T0, notAfter: YEAR, dnsNames: ['berth', 'a.b'] });
      const der = new X509Certificate(certPem).raw;
      const peculiar = new x509.X509Certificate(der).getExtension(x509.SubjectAlternativeNameExtension)!;
      const expected = peculiar.names.items.filter((n) => n.type === 'url').map((n) => n.value);
      expect(certUris(der)).toEqual(expected);
      expect(identityOf(certUris(der))).toEqual(identity);
    }
    // The CA's own certificate has no SAN: no names.
    expect(certUris(new X509Certificate(ca.certPem).raw)).toEqual([]);
  });
});

describe('service certificates (etcd, nats-server, their clients)', () => {
  it('carry no Berth identity, hold the names asked for, and were signed by the CA with the key made for them', async () => {
    const ca = await createCa({ commonName: 'backends', notBefore: T0, notAfter: YEAR });
    const issued = await issueServiceCertificate({
      ca,
      commonName: 'etcd',
      notBefore: T0,
      notAfter: YEAR,
      dnsNames: ['localhost'],
      ips: ['127.0.0.1'],
    });
    await checkPair({ certPem: issued.certPem, keyPem: issued.keyPem }, ca.certPem);
    const info = certInfo(issued.certPem);
    expect(info.uris).toEqual([]);
    expect(identityOf(info.uris)).toBeUndefined();
    const x = new X509Certificate(issued.certPem);
    expect(x.subject).toContain('CN=etcd');
    expect(x.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    // A client certificate names nothing but its CN.
    const client = await issueServiceCertificate({ ca, commonName: 'berth-controller', notBefore: T0, notAfter: YEAR });
    expect(new X509Certificate(client.certPem).subjectAltName).toBeUndefined();
  });
});
