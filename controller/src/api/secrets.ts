// The secret API's logic, free of gRPC: apply (create-or-update with the same optimistic
// concurrency as services; unchanged input writes nothing), get, list (names, keys and sizes,
// never values) and delete. A dry run never reads the stored values: its answer for an existing
// secret is always `updated`, so it cannot serve as an oracle for guessing them. Values are sealed with the controller's key before they reach the
// store; without a key the controller refuses to store secrets rather than keep them in the clear.
import type { Clock } from '../../../proto/src/clock.js';
import { ConflictError, FailedPreconditionError, NotFoundError, ValidationError } from '../../../proto/src/errors.js';
import type { SecretKeyInfo, SecretRecord, Versioned } from '../../../proto/src/model.js';
import { secretValues, validateSecretManifest } from '../../../proto/src/spec/secret.js';
import { canonicalJson } from '../../../proto/src/spec/service.js';
import { SecretKeyMismatchError, type SecretCipher } from '../secrets/cipher.js';
import type { Keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { decodeVersioned, secretCodec } from '../store/codecs.js';
import { createOp, deleteOp, updateOp } from '../store/ops.js';
import { newUid, sameLabels } from './services.js';
import { namespaceRules, usageGuard } from './policy-grants.js';
import { NO_USAGE, quotaViolations } from '../../../proto/src/security/quota.js';

export type SecretApplyResult = 'created' | 'updated' | 'unchanged';

/** Authenticated data of a sealed value: the secret it belongs to. */
const aadOf = (namespace: string, name: string): string => `secrets/${namespace}/${name}`;

export class SecretApi {
  constructor(private readonly deps: { store: Store; keys: Keys; clock: Clock; cipher: SecretCipher | undefined }) {}

  private cipher(): SecretCipher {
    if (!this.deps.cipher) {
      throw new FailedPreconditionError(
        'this controller has no secret key, and Berth stores secrets only encrypted: start every controller with --secret-key-file (berth up makes one in .berth/secret.key)',
      );
    }
    return this.deps.cipher;
  }

  async apply(
    doc: unknown,
    opts: { expectedRevision?: number; dryRun?: boolean } = {},
  ): Promise<{ secret: Versioned<SecretRecord>; result: SecretApplyResult }> {
    const { store, keys, clock } = this.deps;
    const v = validateSecretManifest(doc);
    if (!v.ok) throw new ValidationError(v.issues);
    const cipher = this.cipher();
    const { metadata } = v.value;
    const labels = metadata.labels ?? {};
    const values = secretValues(v.value);
    const plaintext = Buffer.from(
      canonicalJson(Object.fromEntries(Object.entries(values).map(([k, b]) => [k, b.toString('base64')]))),
      'utf8',
    );
    const keyInfo: SecretKeyInfo[] = Object.entries(values).map(([name, b]) => ({ name, sizeBytes: b.length }));
    const key = keys.secret(metadata.namespace, metadata.name);
    const aad = aadOf(metadata.namespace, metadata.name);
    const cur = await store.get(key);
    if (opts.expectedRevision && (cur?.modRevision ?? 0) !== opts.expectedRevision) {
      throw new ConflictError(
        `secret ${metadata.namespace}/${metadata.name} changed since revision ${opts.expectedRevision}`,
        [key],
        cur?.modRevision ?? 0,
      );
    }
    const now = clock.now();
    if (!cur) {
      // A new secret counts against the namespace's secrets quota (the guard serializes creations).
      const rules = await namespaceRules(store, keys, metadata.namespace);
      const guard = rules.quotas.length > 0 ? await usageGuard(store, keys, metadata.namespace, now) : undefined;
      if (guard) {
        const n = (await store.list(`${keys.secrets}${metadata.namespace}/`)).items.length;
        const over = quotaViolations(metadata.namespace, { ...NO_USAGE, secrets: n }, { ...NO_USAGE, secrets: n + 1 }, rules.quotas);
        if (over.length > 0)
          throw new ValidationError(
            over.map((v) => ({ path: 'metadata.name', message: v.message })),
            'secret (over quota)',
          );
      }
      const record: SecretRecord = {
        meta: { name: metadata.name, namespace: metadata.namespace, labels, uid: newUid(), createdAtMs: now, updatedAtMs: now },
        keys: keyInfo,
        version: 1,
        sealed: cipher.seal(plaintext, aad),
      };
      if (opts.dryRun) return { secret: { value: record, modRevision: 0, createRevision: 0 }, result: 'created' };
      const r = await store.commit([createOp(key, secretCodec, record), ...(guard ? [guard] : [])]);
      return { secret: { value: record, modRevision: r, createRevision: r }, result: 'created' };
    }
    const old = decodeVersioned(secretCodec, cur);
    if (opts.dryRun) {
      // Independent of the stored values (no decryption, no comparison): `unchanged` here would
      // tell a caller who may apply but not read whether a guessed value is the stored one.
      const record: SecretRecord = {
        meta: { ...old.value.meta, labels, updatedAtMs: now },
        keys: keyInfo,
        version: old.value.version + 1,
        sealed: cipher.seal(plaintext, aad),
      };
      return { secret: { ...old, value: record }, result: 'updated' };
    }
    if (old.value.sealed.keyId === cipher.keyId && sameLabels(labels, old.value.meta.labels)) {
      let stored: Buffer;
      try {
        stored = cipher.open(old.value.sealed, aad);
      } catch (err) {
        if (err instanceof SecretKeyMismatchError)
          throw new FailedPreconditionError(
            `stored secret ${metadata.namespace}/${metadata.name} cannot be decrypted (${err.message}); delete it and apply it again`,
          );
        throw err;
      }
      if (stored.equals(plaintext)) return { secret: old, result: 'unchanged' };
    }
    // Changed values or labels, or sealed with an earlier key: applying re-seals with this one.
    const record: SecretRecord = {
      meta: { ...old.value.meta, labels, updatedAtMs: now },
      keys: keyInfo,
      version: old.value.version + 1,
      sealed: cipher.seal(plaintext, aad),
    };
    const r = await store.commit([updateOp(key, secretCodec, record, cur.modRevision)]);
    return { secret: { value: record, modRevision: r, createRevision: old.createRevision }, result: 'updated' };
  }

  async get(namespace: string, name: string): Promise<Versioned<SecretRecord>> {
    const kv = await this.deps.store.get(this.deps.keys.secret(namespace, name));
    if (!kv) throw new NotFoundError(`secret ${namespace}/${name}`);
    return decodeVersioned(secretCodec, kv);
  }

  async list(namespace?: string): Promise<Array<Versioned<SecretRecord>>> {
    const { keys } = this.deps;
    const { items } = await this.deps.store.list(namespace ? `${keys.secrets}${namespace}/` : keys.secrets);
    return items.map((kv) => decodeVersioned(secretCodec, kv));
  }

  /** Deletes at once (nothing uses secrets yet); with expectedRevision, only if still at it. */
  async delete(namespace: string, name: string, expectedRevision?: number): Promise<Versioned<SecretRecord>> {
    const cur = await this.get(namespace, name);
    if (expectedRevision && expectedRevision !== cur.modRevision) {
      throw new ConflictError(
        `secret ${namespace}/${name} changed since revision ${expectedRevision}`,
        [this.deps.keys.secret(namespace, name)],
        cur.modRevision,
      );
    }
    await this.deps.store.commit([deleteOp(this.deps.keys.secret(namespace, name), cur.modRevision)]);
    return cur;
  }
}
