// Certificate renewal under a short lifetime (--cert-ttl 30s: renewed at about 20 s): agents and
// the controller renew on their own, with no container restarted and no session dropped, and a
// restarted agent comes back with the renewed credential it stored. The /metrics endpoints serve
// the renewed certificates too.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, webManifest } from '../harness/cluster.js';
import { certInfo } from '../../proto/src/security/pki.js';
import { servedSerial } from '../harness/scrape.js';
import { normalSerial } from '../../controller/src/security/certificates.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: 2, certTtl: '30s' });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

const serialOnDisk = (host: number): string =>
  certInfo(readFileSync(join(cluster.hosts[host]!.dir, 'agent-state', 'tls', 'cert.pem'), 'utf8')).serial;
const count = (file: string, re: RegExp): number => (readFileSync(join(cluster.dir, file), 'utf8').match(re) ?? []).length;

describe('certificate rotation', () => {
  it('renews every certificate before it expires: 0 container restarts, 0 sessions dropped, nodes ready throughout', async () => {
    const applied = await cluster.berth(['apply', '-f', '-', '--wait'], { input: webManifest({ name: 'steady', replicas: 2 }) });
    expect(applied.code).toBe(0);
    const started = async (): Promise<string[]> => {
      const out: string[] = [];
      for (const h of cluster.hosts)
        for (const c of await cluster.containers(h.index)) {
          const i = await h.docker.getContainer(c.Id).inspect();
          out.push(`${c.Id} ${i.State.StartedAt} ${i.RestartCount}`);
        }
      return out.sort();
    };
    const before = await started();
    const serials = [serialOnDisk(0), serialOnDisk(1)];
    const closedBefore = count('controller-c1.log', /agent session closed/g);
    // Two renewals of each agent's certificate (at ~20 s and ~40 s), and the certificates they
    // replaced expire meanwhile; the nodes are watched all along.
    const notReady: string[] = [];
    const deadline = Date.now() + 50_000;
    while (Date.now() < deadline) {
      for (const n of await cluster.client().listNodes()) if (n.state !== 'ready') notReady.push(`${n.id} ${n.state}`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    for (const h of cluster.hosts)
      expect(count(`agent-${h.nodeId}.log`, /renewed the node certificate/g), h.nodeId).toBeGreaterThanOrEqual(2);
    expect(count('controller-c1.log', /renewed this controller's certificate/g)).toBeGreaterThanOrEqual(2);
    expect([serialOnDisk(0), serialOnDisk(1)]).not.toEqual(serials);
    expect(notReady).toEqual([]);
    expect(count('controller-c1.log', /agent session closed/g)).toBe(closedBefore);
    expect(await started()).toEqual(before);
    // /metrics follows renewal too: each agent and the controller present their current
    // certificate (the first ones have expired by now) and answer a scrape.
    const nodes = await cluster.client().listNodes();
    for (const h of cluster.hosts) {
      const at = nodes.find((n) => n.id === h.nodeId)!.description!.metricsAddress;
      expect(normalSerial(await servedSerial(at, cluster.pki.admin)), h.nodeId).toBe(normalSerial(serialOnDisk(h.index)));
      expect(await cluster.scrape(at)).toMatch(/berth_agent_/);
    }
    expect(await cluster.scrape(cluster.controllers[0]!.metrics)).toMatch(/berth_controller_/);
    // The certificate in use now is one the agent renewed: it outlives the first one by far.
    expect(
      certInfo(readFileSync(join(cluster.hosts[0]!.dir, 'agent-state', 'tls', 'cert.pem'), 'utf8')).notAfter.getTime(),
    ).toBeGreaterThan(Date.now());
  }, 120_000);

  it('a restarted agent comes back with its renewed credential (no token needed, none used)', async () => {
    await cluster.killAgent(0);
    await cluster.startAgent(0);
    await cluster.waitFor(
      async () => (await cluster.client().listNodes()).find((n) => n.id === 'h1')?.state === 'ready',
      'h1 ready again',
      30_000,
    );
    expect(readFileSync(join(cluster.dir, 'agent-h1.log'), 'utf8')).not.toMatch(/joined the cluster[\s\S]*joined the cluster/);
  }, 60_000);
});
