// The cluster CA, run by the controllers. Its certificate and its key, sealed with the cluster's
// key-encryption key (--secret-key-file, which etcd never holds), live at one etcd key: the first
// controller creates it (or imports the pair --ca-cert/--ca-key names), every later one reads it.
// A controller holds the opened key in memory only, to issue certificates: its own, agents'
// (joining and renewal) and operators'.
import type { Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { SealedValue } from '../../../proto/src/model.js';
import {
  certDigest,
  certInfo,
  checkPair,
  createCa,
  issueCertificate,
  type Credentials,
  type Issued,
  type KeyPairPem,
} from '../../../proto/src/security/pki.js';
import type { Identity } from '../../../proto/src/security/identity.js';
import { CONTROLLER_TLS_NAME } from '../../../proto/src/security/tls.js';
import type { SecretCipher } from '../secrets/cipher.js';
import { ConflictError, type Store } from '../store/store.js';
import type { Keys } from '../store/keys.js';

/** The CA's lifetime when a controller creates it. */
export const CA_VALIDITY_MS = 10 * 365 * 24 * 3600_000;
/**
 * Certificates start this long before they are issued (clocks of peers differ a little), at most
 * a tenth of their lifetime, so that renewal at two thirds still falls after the issue.
 */
const BACKDATE_MS = 5 * 60_000;
const backdate = (ttlMs: number): number => Math.min(BACKDATE_MS, Math.floor(ttlMs / 10));
const AAD = 'berth-cluster-ca';

interface StoredCa {
  certPem: string;
  sealedKey: SealedValue;
  createdAtMs: number;
}

export class CaMismatchError extends Error {
  override readonly name = 'CaMismatchError';
}

export class ClusterCa {
  readonly digest: string;

  private constructor(
    private readonly pair: KeyPairPem,
    private readonly clock: Clock,
  ) {
    this.digest = certDigest(pair.certPem);
  }

  get certPem(): string {
    return this.pair.certPem;
  }

  /** Reads the CA from etcd, or stores one (imported, else new) when there is none yet. */
  static async open(deps: {
    store: Store;
    keys: Keys;
    cipher: SecretCipher;
    clock: Clock;
    log: Logger;
    /** --ca-cert / --ca-key: used only when etcd holds no CA yet; must match it otherwise. */
    importPair?: KeyPairPem | undefined;
  }): Promise<ClusterCa> {
    const { store, keys, cipher, clock, log, importPair } = deps;
    if (importPair) await checkPair(importPair, importPair.certPem);
    for (let attempt = 0; attempt < 3; attempt++) {
      const kv = await store.get(keys.ca);
      if (kv) {
        const stored = JSON.parse(kv.value) as StoredCa;
        if (importPair && certDigest(importPair.certPem) !== certDigest(stored.certPem))
          throw new CaMismatchError(
            `--ca-cert: etcd already holds another cluster CA (digest ${certDigest(stored.certPem).slice(0, 16)}…); drop --ca-cert/--ca-key, or use a fresh etcd prefix`,
          );
        const keyPem = cipher.open(stored.sealedKey, AAD).toString();
        return new ClusterCa({ certPem: stored.certPem, keyPem }, clock);
      }
      const now = clock.now();
      const pair =
        importPair ??
        (await createCa({
          commonName: 'berth cluster CA',
          notBefore: new Date(now - BACKDATE_MS),
          notAfter: new Date(now + CA_VALIDITY_MS),
        }));
      const stored: StoredCa = { certPem: pair.certPem, sealedKey: cipher.seal(Buffer.from(pair.keyPem), AAD), createdAtMs: now };
      try {
        await store.commit([{ op: 'create', key: keys.ca, value: JSON.stringify(stored) }]);
        log.info({ digest: certDigest(pair.certPem), imported: importPair !== undefined }, 'stored the cluster CA');
        return new ClusterCa(pair, clock);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        // Another controller stored one first: read it.
      }
    }
    throw new Error('could not read or store the cluster CA (it kept changing)');
  }

  /** A certificate for `identity`, valid from now for ttlMs (never past the CA). */
  issue(identity: Identity, ttlMs: number, opts: { csrPem?: string; dnsNames?: string[]; ips?: string[] } = {}): Promise<Issued> {
    const now = this.clock.now();
    return issueCertificate({
      ca: this.pair,
      identity,
      csrPem: opts.csrPem,
      dnsNames: opts.dnsNames,
      ips: opts.ips,
      notBefore: new Date(now - backdate(ttlMs)),
      notAfter: new Date(now + ttlMs),
    });
  }

  /** Credentials for this controller itself (a key made here). */
  async selfCredentials(id: string, ttlMs: number, ips: string[]): Promise<Credentials> {
    const issued = await this.issue({ kind: 'controller', id }, ttlMs, { ips, dnsNames: ['localhost', CONTROLLER_TLS_NAME] });
    return { caPem: this.pair.certPem, certPem: issued.certPem, keyPem: issued.keyPem! };
  }
}

/** When a certificate should be renewed: after two thirds of its lifetime (as kubelet and Swarm do, roughly). */
export function renewAtMs(certPem: string): number {
  const { notBefore, notAfter } = certInfo(certPem);
  return notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3;
}
