// Secrets: the manifest's validation, sealing at rest (AES-256-GCM), and SecretApi's apply
// semantics on the memory store (create, unchanged writes nothing, optimistic concurrency,
// dry run, key rotation, tampering, no key → refused), list/get without values, delete.
import { describe, expect, it } from 'vitest';
import { SecretApi } from '../../controller/src/api/secrets.js';
import { SecretCipher, SecretKeyMismatchError } from '../../controller/src/secrets/cipher.js';
import { Keys } from '../../controller/src/store/keys.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { ManualClock } from '../../proto/src/clock.js';
import { ConflictError, FailedPreconditionError, NotFoundError, ValidationError } from '../../proto/src/errors.js';
import type { SecretRecord } from '../../proto/src/model.js';
import { MAX_SECRET_BYTES, secretValues, validateSecretManifest } from '../../proto/src/spec/secret.js';

const keyA = new SecretCipher(Buffer.alloc(32, 1));
const keyB = new SecretCipher(Buffer.alloc(32, 2));
const b64 = (s: string): string => Buffer.from(s).toString('base64');

const secret = (over: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'berth.dev/v1',
  kind: 'Secret',
  metadata: { name: 'db', ...metadata },
  data: { password: b64('s3cr3t-value') },
  stringData: { user: 'admin' },
  ...over,
});

function setup(cipher: SecretCipher | null = keyA) {
  const store = new MemoryStore();
  const keys = new Keys();
  const clock = new ManualClock(1_000);
  return { store, keys, clock, api: new SecretApi({ store, keys, clock, cipher: cipher ?? undefined }) };
}

describe('Secret manifest validation', () => {
  it('accepts data (base64) and stringData and merges them into bytes', () => {
    const r = validateSecretManifest(secret());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(Object.fromEntries(Object.entries(secretValues(r.value)).map(([k, v]) => [k, v.toString()]))).toEqual({
      password: 's3cr3t-value',
      user: 'admin',
    });
  });

  it.each([
    ['bad base64', { data: { password: 'not base64!' } }, 'data.password', /not valid base64/],
    ['base64 with a line break', { data: { password: 'YWJj\nZA==' } }, 'data.password', /no spaces or line breaks/],
    ['a key with "/"', { data: { 'bad/key': b64('x') } }, 'data.bad/key', /secret keys are letters, digits/],
    ['the key ".."', { data: { '..': b64('x') } }, 'data...', /must not be "\." or "\.\."/],
    ['a key in data and stringData', { stringData: { password: 'twice' } }, 'stringData.password', /also in data/],
    [
      'one value over 512Ki',
      { data: { big: Buffer.alloc(MAX_SECRET_BYTES + 1).toString('base64') } },
      'data',
      /a secret holds at most 524288/,
    ],
    [
      'a base64 text longer than 512Ki allows',
      { data: { big: 'A'.repeat(MAX_SECRET_BYTES * 2) } },
      'data.big',
      /must be at most 699052 characters/,
    ],
    [
      'values totalling over 512Ki',
      { data: { a: Buffer.alloc(MAX_SECRET_BYTES / 2 + 1).toString('base64'), b: Buffer.alloc(MAX_SECRET_BYTES / 2).toString('base64') } },
      'data',
      /a secret holds at most 524288/,
    ],
    ['an unknown field', { value: 'x' }, 'value', /unknown field \(known: apiVersion, kind, metadata, data, stringData\)/],
    ['another kind', { kind: 'Secrets' }, 'kind', /must be one of "Secret"/],
  ])('refuses %s', (_what, over, path, message) => {
    const r = validateSecretManifest(secret(over));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.find((i) => i.path === path)?.message, JSON.stringify(r.issues)).toMatch(message);
  });

  it('refuses a bad name at metadata.name', () => {
    const r = validateSecretManifest(secret({}, { name: 'DB_1' }));
    expect(!r.ok && r.issues.map((i) => i.path)).toEqual(['metadata.name']);
  });
});

describe('SecretCipher', () => {
  it('seals and opens; the ciphertext is bound to the secret and the key', () => {
    const sealed = keyA.seal(Buffer.from('hello'), 'secrets/default/db');
    expect(sealed.alg).toBe('aes-256-gcm');
    expect(sealed.keyId).toBe(keyA.keyId);
    expect(Buffer.from(sealed.ciphertext, 'base64').toString()).not.toContain('hello');
    expect(keyA.open(sealed, 'secrets/default/db').toString()).toBe('hello');
    expect(() => keyA.open(sealed, 'secrets/default/other')).toThrow(SecretKeyMismatchError);
    expect(() => keyB.open(sealed, 'secrets/default/db')).toThrow(`sealed with key ${keyA.keyId}; this controller's key is ${keyB.keyId}`);
    const flipped = {
      ...sealed,
      ciphertext: Buffer.from(Buffer.from(sealed.ciphertext, 'base64').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64'),
    };
    expect(() => keyA.open(flipped, 'secrets/default/db')).toThrow(SecretKeyMismatchError);
    // A fresh IV every time: equal values do not give equal ciphertexts.
    expect(keyA.seal(Buffer.from('hello'), 'x').ciphertext).not.toBe(keyA.seal(Buffer.from('hello'), 'x').ciphertext);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => new SecretCipher(Buffer.alloc(16))).toThrow('a secret key is 32 bytes, got 16');
  });
});

describe('SecretApi', () => {
  it('creates a secret: the store holds names and sizes in the clear, values only sealed', async () => {
    const { api, store, keys } = setup();
    const { secret: s, result } = await api.apply(secret());
    expect(result).toBe('created');
    expect(s.value.keys).toEqual([
      { name: 'password', sizeBytes: 12 },
      { name: 'user', sizeBytes: 5 },
    ]);
    expect(s.value.version).toBe(1);
    const raw = (await store.get(keys.secret('default', 'db')))!.value;
    expect(raw).not.toContain('s3cr3t');
    expect(raw).not.toContain(b64('s3cr3t-value'));
    expect(raw).not.toContain('admin');
    const stored = JSON.parse(raw) as SecretRecord;
    expect(JSON.parse(keyA.open(stored.sealed, 'secrets/default/db').toString())).toEqual({
      password: b64('s3cr3t-value'),
      user: b64('admin'),
    });
  });

  it('re-applying the same values writes nothing; a change is a new version', async () => {
    const { api, store, clock } = setup();
    await api.apply(secret());
    const rev = store.currentRevision;
    // Same bytes written the other way round (data ↔ stringData) are the same secret.
    const same = await api.apply(secret({ data: { user: b64('admin') }, stringData: { password: 's3cr3t-value' } }));
    expect(same.result).toBe('unchanged');
    expect(store.currentRevision).toBe(rev);
    clock.advance(5);
    const changed = await api.apply(secret({ stringData: { user: 'root' } }));
    expect(changed.result).toBe('updated');
    expect(changed.secret.value.version).toBe(2);
    expect(changed.secret.value.meta.updatedAtMs).toBe(1_005);
    const labelled = await api.apply(secret({ stringData: { user: 'root' } }, { labels: { team: 'db' } }));
    expect(labelled.result).toBe('updated');
    expect(labelled.secret.value.version).toBe(3);
  });

  it('a stale expected revision is a conflict naming the current one; a dry run writes nothing', async () => {
    const { api, store } = setup();
    const first = await api.apply(secret());
    await api.apply(secret({ stringData: { user: 'x' } }));
    const err = await api
      .apply(secret({ stringData: { user: 'y' } }), { expectedRevision: first.secret.modRevision })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).currentRevision).toBe(store.currentRevision);
    const rev = store.currentRevision;
    expect((await api.apply(secret({ stringData: { user: 'z' } }), { dryRun: true })).result).toBe('updated');
    expect((await api.apply(secret({}, { name: 'new' }), { dryRun: true })).result).toBe('created');
    expect(store.currentRevision).toBe(rev);
  });

  it('a dry run of an existing secret answers `updated` whatever the stored values are (no oracle for guesses)', async () => {
    const { api, store } = setup();
    await api.apply(secret());
    const rev = store.currentRevision;
    // The stored values exactly, and a wrong guess: the same answer, and nothing written.
    const right = await api.apply(secret(), { dryRun: true });
    const wrong = await api.apply(secret({ data: { password: b64('guess') } }), { dryRun: true });
    expect(right.result).toBe('updated');
    expect(wrong.result).toBe('updated');
    expect(right.secret.value.version).toBe(wrong.secret.value.version);
    expect(store.currentRevision).toBe(rev);
    // A real apply of the same values still writes nothing.
    expect((await api.apply(secret())).result).toBe('unchanged');
    expect(store.currentRevision).toBe(rev);
  });

  it('invalid input is a ValidationError and writes nothing', async () => {
    const { api, store } = setup();
    const rev = store.currentRevision;
    await expect(api.apply(secret({ data: { a: '!!!' } }))).rejects.toThrow(ValidationError);
    expect(store.currentRevision).toBe(rev);
  });

  it('without a key the controller refuses to store secrets (and says how to give it one)', async () => {
    const { api, store } = setup(null);
    await expect(api.apply(secret())).rejects.toThrow(FailedPreconditionError);
    await expect(api.apply(secret())).rejects.toThrow(/--secret-key-file/);
    expect(await api.list()).toEqual([]);
    expect(store.currentRevision).toBe(1);
  });

  it('a new key re-seals on the next apply (rotation); a tampered record is refused', async () => {
    const { store, keys, clock } = setup();
    await new SecretApi({ store, keys, clock, cipher: keyA }).apply(secret());
    const rotated = await new SecretApi({ store, keys, clock, cipher: keyB }).apply(secret());
    expect(rotated.result).toBe('updated');
    expect(rotated.secret.value.sealed.keyId).toBe(keyB.keyId);
    // Move the sealed value of db into another secret's record: it no longer authenticates.
    const api = new SecretApi({ store, keys, clock, cipher: keyB });
    await api.apply(secret({}, { name: 'other' }));
    const db = (await api.get('default', 'db')).value;
    const other = await store.get(keys.secret('default', 'other'));
    await store.commit([
      {
        op: 'update',
        key: keys.secret('default', 'other'),
        value: JSON.stringify({ ...(JSON.parse(other!.value) as SecretRecord), sealed: db.sealed }),
        modRevision: other!.modRevision,
      },
    ]);
    await expect(api.apply(secret({}, { name: 'other' }))).rejects.toThrow(/cannot be decrypted \(the sealed value does not authenticate/);
  });

  it('get, list (by namespace) and delete; never a value', async () => {
    const { api } = setup();
    await api.apply(secret());
    await api.apply(secret({}, { name: 'api', namespace: 'team' }));
    expect((await api.list()).map((s) => `${s.value.meta.namespace}/${s.value.meta.name}`)).toEqual(['default/db', 'team/api']);
    expect((await api.list('team')).map((s) => s.value.meta.name)).toEqual(['api']);
    const got = await api.get('team', 'api');
    expect(JSON.stringify(got)).not.toContain('admin');
    const deleted = await api.delete('team', 'api');
    expect(deleted.value.meta.name).toBe('api');
    await expect(api.get('team', 'api')).rejects.toThrow(NotFoundError);
    await expect(api.delete('team', 'api')).rejects.toThrow(NotFoundError);
    const db = await api.get('default', 'db');
    await expect(api.delete('default', 'db', db.modRevision + 100)).rejects.toThrow(ConflictError);
  });
});
