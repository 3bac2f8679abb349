// Encryption of secret values at rest: AES-256-GCM with a key the controller reads from a file
// (--secret-key-file; `berth up` generates one in .berth/). Every controller of a cluster needs
// the same key. Each value gets a fresh 96-bit IV; the secret's namespace/name is authenticated
// data, so a sealed value copied to another secret's key fails to open. etcd (and its backups)
// never hold a value in the clear.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SealedValue } from '../../../proto/src/model.js';

const KEY_BYTES = 32;
/** GCM's recommended IV size. */
const IV_BYTES = 12;

/** The stored value cannot be opened with this key (another key sealed it, or it was altered). */
export class SecretKeyMismatchError extends Error {
  override readonly name = 'SecretKeyMismatchError';
}

export class SecretCipher {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`a secret key is ${KEY_BYTES} bytes, got ${key.length}`);
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  /**
   * Reads a key file: 32 bytes as base64 or hex text (what `berth up` and
   * `openssl rand -base64 32` write), or 32 raw bytes.
   */
  static fromFile(path: string): SecretCipher {
    let raw: Buffer;
    try {
      raw = readFileSync(path);
    } catch (err) {
      throw new Error(`--secret-key-file ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const text = raw.toString('utf8').trim();
    const key = /^[0-9a-fA-F]{64}$/.test(text)
      ? Buffer.from(text, 'hex')
      : /^[A-Za-z0-9+/]{43}=$/.test(text)
        ? Buffer.from(text, 'base64')
        : raw;
    if (key.length !== KEY_BYTES)
      throw new Error(
        `--secret-key-file ${path}: expected ${KEY_BYTES} bytes (base64, hex or raw); generate one with: openssl rand -base64 32`,
      );
    return new SecretCipher(key);
  }

  seal(plaintext: Buffer, aad: string): SealedValue {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
    return {
      alg: 'aes-256-gcm',
      keyId: this.keyId,
      iv: iv.toString('base64'),
      tag: c.getAuthTag().toString('base64'),
      ciphertext: ciphertext.toString('base64'),
    };
  }

  open(sealed: SealedValue, aad: string): Buffer {
    if (sealed.alg !== 'aes-256-gcm') throw new SecretKeyMismatchError(`unknown algorithm ${JSON.stringify(sealed.alg)}`);
    if (sealed.keyId !== this.keyId)
      throw new SecretKeyMismatchError(`sealed with key ${sealed.keyId}; this controller's key is ${this.keyId}`);
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(sealed.iv, 'base64'));
      d.setAAD(Buffer.from(aad, 'utf8'));
      d.setAuthTag(Buffer.from(sealed.tag, 'base64'));
      return Buffer.concat([d.update(Buffer.from(sealed.ciphertext, 'base64')), d.final()]);
    } catch {
      throw new SecretKeyMismatchError('the sealed value does not authenticate (altered, or moved from another secret)');
    }
  }
}

/** Creates a key file (mode 0600) unless one exists; returns true when it wrote one. */
export function ensureKeyFile(path: string): boolean {
  if (existsSync(path)) {
    // Readable by others: tighten it rather than leave the key exposed.
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    return false;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, randomBytes(KEY_BYTES).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  return true;
}
