// The leader's housekeeping of revocation and token records: what may go, and that a pass on a
// store (etcd's revision semantics) deletes exactly that and keeps a record changed since read.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../proto/src/clock.js';
import { silentLogger } from '../../proto/src/log.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { Keys } from '../../controller/src/store/keys.js';
import {
  EXPIRED_TOKEN_RETENTION_MS,
  REVOCATION_RETENTION_MS,
  SecurityJanitor,
  securityGarbage,
} from '../../controller/src/security/janitor.js';

const NOW = 1_800_000_000_000;
const rec = (key: string, untilMs: number) => ({ key, modRevision: 1, untilMs });

describe('securityGarbage', () => {
  it.each([
    ['a revocation of a certificate still valid', 'revoked', NOW + 1000, false],
    ['a revocation of a certificate expired within the retention', 'revoked', NOW - REVOCATION_RETENTION_MS + 1, false],
    ['a revocation of a certificate expired before the retention', 'revoked', NOW - REVOCATION_RETENTION_MS - 1, true],
    ['a token that never expires', 'tokens', 0, false],
    ['a token not yet expired', 'tokens', NOW + 1000, false],
    ['a token expired within a day', 'tokens', NOW - EXPIRED_TOKEN_RETENTION_MS + 1, false],
    ['a token expired more than a day ago', 'tokens', NOW - EXPIRED_TOKEN_RETENTION_MS - 1, true],
  ] as const)('%s: removed %s', (_what, kind, untilMs, removed) => {
    const records = { revoked: [] as ReturnType<typeof rec>[], tokens: [] as ReturnType<typeof rec>[] };
    records[kind].push(rec('k', untilMs));
    expect(securityGarbage(records, NOW).map((r) => r.key)).toEqual(removed ? ['k'] : []);
  });
});

describe('SecurityJanitor', () => {
  it('deletes expired revocations and long-expired tokens, keeps the rest and what changed since it read', async () => {
    const store = new MemoryStore();
    const keys = new Keys();
    const clock = new ManualClock(NOW);
    const put = (key: string, value: object) => store.commit([{ op: 'put', key, value: JSON.stringify(value) }]);
    await put(keys.revokedCert('aa'), { notAfterMs: NOW - 2 * REVOCATION_RETENTION_MS, identity: 'berth://agent/n1', revokedAtMs: 0 });
    await put(keys.revokedCert('bb'), { notAfterMs: NOW + 3600_000, identity: 'berth://agent/n2', revokedAtMs: 0 });
    await put(keys.token('old'), { id: 'old', expiresAtMs: NOW - 2 * EXPIRED_TOKEN_RETENTION_MS });
    await put(keys.token('never'), { id: 'never', expiresAtMs: 0 });
    await put(keys.revokedCert('cc'), { notAfterMs: 'garbage' });

    const janitor = new SecurityJanitor({ store, keys, clock, log: silentLogger() });
    expect(await janitor.pass()).toBe(2);
    const left = [...(await store.list(keys.revokedCerts)).items, ...(await store.list(keys.tokens)).items].map((kv) => kv.key).sort();
    expect(left).toEqual([keys.revokedCert('bb'), keys.revokedCert('cc'), keys.token('never')].sort());

    // A record rewritten between the read and the delete (here: the clock moved the old one past
    // its retention, but it was renewed meanwhile) is kept: deletes are conditional.
    clock.advance(2 * 3600_000 + REVOCATION_RETENTION_MS);
    const stale = new SecurityJanitor({
      store: {
        ...store,
        list: store.list.bind(store),
        commit: async (ops) => {
          await put(keys.revokedCert('bb'), { notAfterMs: NOW + 99 * 3600_000, identity: 'berth://agent/n2', revokedAtMs: 0 });
          return store.commit(ops);
        },
      } as MemoryStore,
      keys,
      clock,
      log: silentLogger(),
    });
    expect(await stale.pass()).toBe(0);
    expect((await store.get(keys.revokedCert('bb')))?.value).toContain(String(NOW + 99 * 3600_000));
  });
});
