// Who may read what on a component's HTTP endpoint (decideHttp), and the monitor identity's URI.
import { describe, expect, it } from 'vitest';
import { decideHttp, decide, RULES } from '../../proto/src/security/authz.js';
import { identityUri, parseIdentityUri, type Identity } from '../../proto/src/security/identity.js';

const monitor: Identity = { kind: 'monitor', name: 'prometheus' };
const callers: Record<string, Identity | undefined> = {
  anonymous: undefined,
  monitor,
  admin: { kind: 'operator', user: 'ann', role: 'admin', namespaces: ['*'] },
  viewerAll: { kind: 'operator', user: 'vic', role: 'viewer', namespaces: ['*'] },
  deployerAll: { kind: 'operator', user: 'dee', role: 'deployer', namespaces: ['*'] },
  viewerX: { kind: 'operator', user: 'vera', role: 'viewer', namespaces: ['x'] },
  agent: { kind: 'agent', nodeId: 'h1' },
  controller: { kind: 'controller', id: 'c1' },
};
const scrapers = ['monitor', 'admin', 'viewerAll', 'deployerAll'];

describe('decideHttp', () => {
  it.each(['/metrics', '/sd/controllers', '/sd/agents', '/sd/tasks', '/other'])('%s: monitors, admins and roles over * only', (path) => {
    for (const [name, id] of Object.entries(callers)) {
      const d = decideHttp(path, id);
      expect(d.ok, `${name} ${path}`).toBe(scrapers.includes(name));
      if (!d.ok) expect(d.code).toBe(id ? 'PERMISSION_DENIED' : 'UNAUTHENTICATED');
    }
  });
  it.each(['/healthz', '/readyz'])('%s: any identity of the cluster', (path) => {
    for (const [name, id] of Object.entries(callers)) expect(decideHttp(path, id).ok, name).toBe(id !== undefined);
  });
});

describe('the monitor identity', () => {
  it('round-trips as berth://monitor/NAME; malformed forms are none', () => {
    expect(identityUri(monitor)).toBe('berth://monitor/prometheus');
    expect(parseIdentityUri('berth://monitor/prometheus')).toEqual(monitor);
    for (const bad of ['berth://monitor/', 'berth://monitor/a/b', 'berth://monitor/p?ns=x', 'berth://monitor/-x'])
      expect(parseIdentityUri(bad), bad).toBeUndefined();
  });
  it('calls no API but renewing its certificate (and joining, as anyone)', () => {
    for (const [method, rule] of Object.entries(RULES))
      expect(decide(method, rule, monitor, 'default').ok, method).toBe(
        method === 'CertificateAPI.Renew' || method === 'CertificateAPI.Join',
      );
  });
});
