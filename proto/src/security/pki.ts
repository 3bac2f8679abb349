// The cluster's certificates: a CA (ECDSA P-256), certificates it issues for one identity (a
// controller, an agent, an operator: proto/src/security/identity.ts), certificate requests, and
// the CA digest that join tokens pin. Built on @peculiar/x509 over node's WebCrypto; keys and
// certificates travel as PEM, the form TLS and grpc-js take. Times are given by the caller (no
// clock here); keys and serials are random.
import 'reflect-metadata'; // @peculiar/x509's dependency injection (tsyringe) needs it loaded first
import { createHash, randomBytes, webcrypto, X509Certificate } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type EcKeyAlgorithm = webcrypto.EcKeyAlgorithm;
import * as x509 from '@peculiar/x509';
import { identityUri, type Identity } from './identity.js';

x509.cryptoProvider.set(webcrypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** A certificate and its private key, PEM. */
export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

/** The credentials one party presents: its certificate and key, and the CA it trusts. */
export interface Credentials extends KeyPairPem {
  caPem: string;
}

export class PkiError extends Error {
  override readonly name = 'PkiError';
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
}

async function keyToPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`.replace(
    /\n\n/g,
    '\n',
  );
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const b64 = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  try {
    return await webcrypto.subtle.importKey('pkcs8', Buffer.from(b64, 'base64'), ALG, true, ['sign']);
  } catch (err) {
    throw new PkiError(`not an ECDSA P-256 private key (PKCS#8 PEM): ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A positive random serial (16 bytes, hex), as RFC 5280 asks. */
function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

/** sha256 of a certificate's DER, hex: what a join token pins. */
export function certDigest(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

export interface CaOptions {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/** A self-signed CA certificate and its key. */
export async function createCa(opts: CaOptions): Promise<KeyPairPem> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${opts.commonName}, O=berth`,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    signingAlgorithm: SIGN,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await keyToPem(keys.privateKey) };
}

/** A new key and a certificate request for it (the requester keeps the key; the CA sees only the request). */
export async function createCsr(commonName: string): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await generateKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${cn(commonName)}`, keys, signingAlgorithm: SIGN });
  return { csrPem: csr.toString('pem') + '\n', keyPem: await keyToPem(keys.privateKey) };
}

/** A CN is informative only (the identity is the URI SAN); keep it to characters a DN takes unquoted. */
function cn(s: string): string {
  return s.replace(/[^A-Za-z0-9._@-]/g, '_').slice(0, 64) || 'berth';
}

/** The largest request a CA reads (a P-256 request is ~400 bytes). */
const MAX_CSR_BYTES = 8192;

/** The public key of a certificate request whose signature verifies; anything else is refused. */
async function csrPublicKey(csrPem: string): Promise<CryptoKey> {
  if (Buffer.byteLength(csrPem) > MAX_CSR_BYTES) throw new PkiError(`csr: larger than ${MAX_CSR_BYTES} bytes`);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new PkiError(`csr: not a PKCS#10 certificate request: ${err instanceof Error ? err.message : String(err)}`);
  }
  let key: CryptoKey;
  try {
    if (!(await csr.verify())) throw new PkiError('csr: its signature does not verify');
    key = await csr.publicKey.export(webcrypto);
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError(`csr: its key or signature is not valid: ${err instanceof Error ? err.message : String(err)}`);
  }
  const algo = key.algorithm as EcKeyAlgorithm;
  if (algo.name !== 'ECDSA' || algo.namedCurve !== 'P-256') throw new PkiError('csr: the key must be ECDSA P-256');
  return key;
}

export interface IssueOptions {
  ca: KeyPairPem;
  /** A certificate request (its key stays with the requester), or omit to have a key made here. */
  csrPem?: string | undefined;
  identity: Identity;
  notBefore: Date;
  notAfter: Date;
  /** Names and addresses a server certificate is also valid for (informative: peers check the identity). */
  dnsNames?: string[] | undefined;
  ips?: string[] | undefined;
}

export interface Issued {
  certPem: string;
  /** Only when no request was given: the key made for the certificate. */
  keyPem?: string | undefined;
  serial: string;
  notAfter: Date;
}

/** A certificate for one identity, signed by the CA: client and server use, identity in a URI SAN. */
export async function issueCertificate(opts: IssueOptions): Promise<Issued> {
  const names: x509.JsonGeneralName[] = [{ type: 'url', value: identityUri(opts.identity) }];
  return sign(opts, cn(identityName(opts.identity)), names);
}

export interface ServiceIssueOptions {
  ca: KeyPairPem;
  /** What the certificate is for: informative (a CN), e.g. "etcd", "berth-controller". */
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  dnsNames?: string[] | undefined;
  ips?: string[] | undefined;
}

/**
 * A certificate with no Berth identity (no berth:// URI SAN), for the backends and their clients:
 * etcd's and nats-server's server certificates and the controller's client certificate for them.
 * Berth's own listeners treat its holder as anonymous; its key is made here.
 */
export async function issueServiceCertificate(opts: ServiceIssueOptions): Promise<Issued & { keyPem: string }> {
  const issued = await sign({ ...opts, csrPem: undefined }, cn(opts.commonName), []);
  return { ...issued, keyPem: issued.keyPem! };
}

async function sign(opts: Omit<IssueOptions, 'identity'>, commonName: string, names: x509.JsonGeneralName[]): Promise<Issued> {
  const caCert = new x509.X509Certificate(opts.ca.certPem);
  const caKey = await importPrivateKey(opts.ca.keyPem);
  let publicKey: CryptoKey;
  let keyPem: string | undefined;
  if (opts.csrPem !== undefined) publicKey = await csrPublicKey(opts.csrPem);
  else {
    const keys = await generateKeys();
    publicKey = keys.publicKey;
    keyPem = await keyToPem(keys.privateKey);
  }
  for (const d of opts.dnsNames ?? []) names.push({ type: 'dns', value: d });
  for (const ip of opts.ips ?? []) names.push({ type: 'ip', value: ip });
  const sn = serial();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(caCert));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: sn,
    subject: `CN=${commonName}, O=berth`,
    issuer: caCert.subject,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter > caCert.notAfter ? caCert.notAfter : opts.notAfter,
    signingAlgorithm: SIGN,
    publicKey,
    signingKey: caKey,
    extensions,
  });
  return { certPem: cert.toString('pem') + '\n', keyPem, serial: sn, notAfter: cert.notAfter };
}

function identityName(i: Identity): string {
  switch (i.kind) {
    case 'controller':
      return i.id;
    case 'agent':
      return i.nodeId;
    case 'operator':
      return i.user;
    case 'monitor':
      return i.name;
  }
}

export interface CertInfo {
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** The berth:// URI SANs (one, for a certificate Berth issued). */
  uris: string[];
  /** sha256 of the DER, hex. */
  fingerprint: string;
}

/** What a certificate says, for renewal decisions and listings. */
export function certInfo(certPem: string): CertInfo {
  const c = new x509.X509Certificate(certPem);
  const san = c.getExtension(x509.SubjectAlternativeNameExtension);
  return {
    serial: c.serialNumber,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    uris: (san?.names.items ?? []).filter((n) => n.type === 'url').map((n) => n.value),
    fingerprint: certDigest(certPem),
  };
}

/**
 * The URI SANs of a DER certificate (what a TLS peer presented), read by node's own X.509 parser:
 * this runs at every handshake a client checks, and @peculiar/x509's parse took 25 ms a
 * certificate on the loaded 2-core machine where node's takes 0.4 ms. Node lists the names as
 * `TYPE:value` joined by ", ", a value with characters that need it as a JSON string
 * (`URI:"berth://operator/deployer/al?ns=a\u002cb"`). A list that does not parse in full yields
 * no name at all: the peer then has no identity.
 */
export function certUris(der: Buffer): string[] {
  const san = new X509Certificate(der).subjectAltName;
  if (!san) return [];
  const entry = /([A-Za-z][A-Za-z ]*):("(?:[^"\\]|\\.)*"|[^",]*)(, |$)/y;
  const out: string[] = [];
  let at = 0;
  while (at < san.length) {
    entry.lastIndex = at;
    const m = entry.exec(san);
    if (!m || (m[3] === '' && entry.lastIndex !== san.length)) return [];
    let value = m[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        return [];
      }
    }
    if (m[1] === 'URI') out.push(value);
    at = entry.lastIndex;
  }
  return out;
}

/** Checks that a certificate was signed by the CA and that the key belongs to it (for imported or stored material). */
export async function checkPair(pair: KeyPairPem, caPem?: string): Promise<void> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(pair.certPem);
  } catch (err) {
    throw new PkiError(`not a PEM certificate: ${err instanceof Error ? err.message : String(err)}`);
  }
  const key = await importPrivateKey(pair.keyPem);
  const probe = Buffer.from('berth-key-check');
  const sig = await webcrypto.subtle.sign(SIGN, key, probe);
  const pub = await cert.publicKey.export(webcrypto);
  if (!(await webcrypto.subtle.verify(SIGN, pub, sig, probe))) throw new PkiError('the private key does not belong to the certificate');
  if (caPem !== undefined) {
    const ca = new x509.X509Certificate(caPem);
    if (!(await cert.verify({ publicKey: ca.publicKey, signatureOnly: true })))
      throw new PkiError('the certificate was not issued by the CA');
  }
}
