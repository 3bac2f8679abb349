// Join tokens, as Docker Swarm's: `BERTH1.<ca digest>.<token id>.<secret>`. The digest (sha256 of
// the cluster CA certificate's DER) lets a joining party check the controller's certificate
// before it sends anything; the id names the stored token record (role, expiry, revocation); the
// secret is stored only as its hash. Pure, apart from the random secret of newToken.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const TOKEN_RE = /^BERTH1\.([0-9a-f]{64})\.([0-9a-f]{12})\.([0-9a-f]{40})$/;

export interface ParsedToken {
  caDigest: string;
  id: string;
  secret: string;
}

export class TokenFormatError extends Error {
  override readonly name = 'TokenFormatError';
}

export function formatToken(t: ParsedToken): string {
  return `BERTH1.${t.caDigest}.${t.id}.${t.secret}`;
}

/** The parts of a token; a malformed one is refused without saying which part (it may be a secret mistyped). */
export function parseToken(s: string): ParsedToken {
  const m = TOKEN_RE.exec(s.trim());
  if (!m) throw new TokenFormatError('not a Berth join token (expected BERTH1.<64 hex>.<12 hex>.<40 hex>, as `berth token create` prints)');
  return { caDigest: m[1]!, id: m[2]!, secret: m[3]! };
}

/** A new token for the CA of this digest. */
export function newToken(caDigest: string): ParsedToken {
  return { caDigest, id: randomBytes(6).toString('hex'), secret: randomBytes(20).toString('hex') };
}

/** What is stored of a secret. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(`berth-token:${secret}`).digest('hex');
}

/** Whether `secret` is the one whose hash is stored (constant time). */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(secretHash(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
