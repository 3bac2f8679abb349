// An agent follows a leader hint only to a controller of its cluster CA: a follower naming a
// rogue address (a server with an agent certificate of the same CA, or a controller certificate
// of another CA) sends the agent nowhere. Real loopback gRPC with TLS.
import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { LEADER_METADATA, protos } from '../../proto/src/grpc.js';
import { silentLogger } from '../../proto/src/log.js';
import { createCa, createCsr, issueCertificate, type Credentials, type KeyPairPem } from '../../proto/src/security/pki.js';
import type { Identity } from '../../proto/src/security/identity.js';
import { CredentialSource, serverCredentials } from '../../proto/src/security/tls.js';
import { Session } from '../../agent/src/session.js';
import type { NodeDescription } from '../../proto/src/model.js';

const T0 = new Date(Date.now() - 60_000);
const T1 = new Date(Date.now() + 3600_000);

async function creds(ca: KeyPairPem, identity: Identity): Promise<Credentials> {
  const { csrPem, keyPem } = await createCsr('x');
  const c = await issueCertificate({ ca, csrPem, identity, notBefore: T0, notAfter: T1 });
  return { caPem: ca.certPem, certPem: c.certPem, keyPem };
}

/** A Dispatcher that answers every session with `answer`, counting the sessions that reached it. */
async function dispatcher(c: Credentials, answer: (call: grpc.ServerDuplexStream<unknown, unknown>) => void) {
  const server = new grpc.Server();
  const seen = { sessions: 0 };
  server.addService(protos().dispatcher.berth.v1.Dispatcher.service, {
    Session: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      seen.sessions++;
      answer(call);
    },
  });
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', serverCredentials({ kind: 'tls', source: new CredentialSource(c) }), (e, p) => (e ? rej(e) : res(p))),
  );
  return { address: `127.0.0.1:${port}`, seen, close: () => server.forceShutdown() };
}

describe('an agent and a rogue leader hint', () => {
  for (const rogueKind of ['an agent certificate of the cluster CA', 'a controller certificate of another CA'] as const)
    it(`is not followed to a server presenting ${rogueKind}`, async () => {
      const ca = await createCa({ commonName: 'cluster', notBefore: T0, notAfter: T1 });
      const other = await createCa({ commonName: 'rogue', notBefore: T0, notAfter: T1 });
      const rogueCreds =
        rogueKind === 'an agent certificate of the cluster CA'
          ? await creds(ca, { kind: 'agent', nodeId: 'evil' })
          : { ...(await creds(other, { kind: 'controller', id: 'c1' })), caPem: other.certPem };
      const rogue = await dispatcher(rogueCreds, (call) => call.end());
      const follower = await dispatcher(await creds(ca, { kind: 'controller', id: 'c2' }), (call) => {
        const md = new grpc.Metadata();
        md.set(LEADER_METADATA, rogue.address);
        call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'not the leader', metadata: md });
      });
      const states: string[] = [];
      const session = new Session({
        nodeId: 'h1',
        addresses: [follower.address],
        describe: async () => ({}) as NodeDescription,
        containers: async () => [],
        statuses: () => [],
        onAssignments: () => undefined,
        log: silentLogger(),
        transport: { kind: 'tls', source: new CredentialSource(await creds(ca, { kind: 'agent', nodeId: 'h1' })) },
        onState: (s, info) => states.push(`${s} ${info?.address ?? ''}`),
      });
      const ac = new AbortController();
      const run = session.run(ac.signal);
      await new Promise((r) => setTimeout(r, 2_500));
      ac.abort();
      await run;
      follower.close();
      rogue.close();
      expect(follower.seen.sessions).toBeGreaterThanOrEqual(2);
      // It tried the hinted address, but the TLS handshake failed its check: no session, no Hello.
      expect(states).toContain(`connecting ${rogue.address}`);
      expect(rogue.seen.sessions).toBe(0);
      expect(session.connected).toBe(false);
    });
});
