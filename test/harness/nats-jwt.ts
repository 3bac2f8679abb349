// nats-server in operator (decentralised JWT) mode for tests, without nsc: an operator, a system
// account, an account with JetStream and a user, as nkeys (nats.js bundles nkeys.js) and JWTs
// signed with them the way nats-jwt v2 writes them (header {typ: JWT, alg: ed25519-nkey}, claims
// with jti, iat, iss, sub, name, nats: {type, version: 2, ...}). The accounts are preloaded in a
// memory resolver; the user's JWT and seed make a creds file as nsc writes one.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nkeys } from 'nats';

interface KeyPair {
  getPublicKey(): string;
  getSeed(): Uint8Array;
  sign(data: Uint8Array): Uint8Array;
}

const b64url = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

/** RFC 4648 base32 without padding (what nats-jwt uses for jti). */
function base32(b: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of b) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

function jwt(signer: KeyPair, sub: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = { jti: '', iat: Math.floor(Date.now() / 1000), iss: signer.getPublicKey(), name, sub, nats };
  claims['jti'] = base32(createHash('sha256').update(JSON.stringify(claims)).digest());
  const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const body = b64url(JSON.stringify(claims));
  const sig = signer.sign(new TextEncoder().encode(`${head}.${body}`));
  return `${head}.${body}.${b64url(sig)}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const JETSTREAM = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

function creds(userJwt: string, seed: Uint8Array): string {
  return `-----BEGIN NATS USER JWT-----
${userJwt}
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.
NKEYs are sensitive and should be treated as secrets.

-----BEGIN USER NKEY SEED-----
${new TextDecoder().decode(seed)}
------END USER NKEY SEED------
`;
}

function userCreds(account: KeyPair, name: string): string {
  const user = nkeys.createUser() as KeyPair;
  const userJwt = jwt(account, user.getPublicKey(), name, { type: 'user', version: 2, pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
  return creds(userJwt, user.getSeed());
}

/** A nats-server configuration for operator mode in `dir`, and creds files: one of its account, one of an unknown account. */
export function operatorModeConfig(dir: string): { configFile: string; userCreds: string; foreignCreds: string } {
  const operator = nkeys.createOperator() as KeyPair;
  const system = nkeys.createAccount() as KeyPair;
  const account = nkeys.createAccount() as KeyPair;
  const operatorJwt = jwt(operator, operator.getPublicKey(), 'berth-test', {
    type: 'operator',
    version: 2,
    system_account: system.getPublicKey(),
  });
  const systemJwt = jwt(operator, system.getPublicKey(), 'SYS', { type: 'account', version: 2, limits: UNLIMITED });
  const accountJwt = jwt(operator, account.getPublicKey(), 'berth', {
    type: 'account',
    version: 2,
    limits: { ...UNLIMITED, ...JETSTREAM },
  });
  const configFile = join(dir, 'nats-operator.conf');
  writeFileSync(
    configFile,
    `operator: "${operatorJwt}"
system_account: ${system.getPublicKey()}
resolver: MEMORY
resolver_preload: {
  ${system.getPublicKey()}: "${systemJwt}"
  ${account.getPublicKey()}: "${accountJwt}"
}
`,
  );
  return {
    configFile,
    userCreds: userCreds(account, 'berth-controller'),
    foreignCreds: userCreds(nkeys.createAccount() as KeyPair, 'stranger'),
  };
}
