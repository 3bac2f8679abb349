// Composition root of the controller: real etcd, NATS and clock are chosen here, nowhere else.
import { hostname } from 'node:os';
import { monotonicNow, systemClock } from '../../proto/src/clock.js';
import type { ControllerLimits } from '../../proto/src/limits/defaults.js';
import { logger } from '../../proto/src/log.js';
import { NatsEventPublisher } from './events/nats-publisher.js';
import { NatsEventReader } from './events/nats-reader.js';
import { ControllerMetrics } from './metrics/metrics.js';
import { InstrumentedStore } from './store/instrumented-store.js';
import { nullSink } from './events/events.js';
import { Manager } from './manager.js';
import { SecretCipher } from './secrets/cipher.js';
import { DEFAULT_NODE_TIMINGS, type NodeTimings } from './nodes/node-plan.js';
import { EtcdAccessError, EtcdStore, etcdClient } from './store/etcd-store.js';
import { etcdConnection, natsConnection, readFlagFile, type EtcdConnectionFlags, type NatsConnectionFlags } from './connections.js';
import { DEFAULT_PREFIX, Keys } from './store/keys.js';
import { isIP } from 'node:net';
import type { Logger } from '../../proto/src/log.js';
import { UnavailableError } from '../../proto/src/errors.js';
import { CredentialSource } from '../../proto/src/security/tls.js';
import { certInfo } from '../../proto/src/security/pki.js';
import type { Store } from './store/store.js';
import type { ControllerSecurity } from './manager.js';
import { ClusterCa, renewAtMs } from './security/cluster-ca.js';
import { CertificateService, DEFAULT_NODE_CERT_TTL_MS, DEFAULT_OPERATOR_CERT_TTL_MS, RevocationList } from './security/certificates.js';
import { TokenStore } from './security/tokens.js';
import { AuditLog, type AuditRetention } from './audit/audit-log.js';
import { DEFAULT_AUDIT_MAX_AGE_MS, DEFAULT_AUDIT_MAX_RECORDS, DEFAULT_AUDIT_PRUNE_INTERVAL_MS } from './audit/audit-plan.js';

export interface ControllerOptions {
  id?: string | undefined;
  listen: string;
  advertise?: string | undefined;
  etcd: string[];
  nats: string[];
  metricsListen?: string | undefined;
  prefix?: string | undefined;
  timings?: Partial<NodeTimings> | undefined;
  leaseTtlSec?: number | undefined;
  fenceAfterMs?: number | undefined;
  /** Key for secrets at rest (controller/src/secrets/cipher.ts); without it secrets are refused. */
  secretKeyFile?: string | undefined;
  /** Plaintext and no identities (--insecure-dev): for development only. */
  insecureDev?: boolean | undefined;
  /** A CA to store when etcd holds none yet (--ca-cert, --ca-key). */
  caCertFile?: string | undefined;
  caKeyFile?: string | undefined;
  /** Lifetime of agents' and controllers' certificates (--cert-ttl). */
  certTtlMs?: number | undefined;
  /** Lifetime of operators' certificates (--operator-cert-ttl). */
  operatorCertTtlMs?: number | undefined;
  /** What the audit log keeps (--audit-max-records, --audit-max-age) and how often the leader prunes it. */
  audit?: Partial<AuditRetention> | undefined;
  /** --max-streams, --max-streams-per-identity, --plan-rate, --plan-burst, --max-agent-message. */
  limits?: ControllerLimits | undefined;
  /** TLS and credentials for etcd (--etcd-cacert, --etcd-cert, --etcd-key, --etcd-user, --etcd-password-file). */
  etcdConnection?: EtcdConnectionFlags | undefined;
  /** TLS and credentials for NATS (--nats-cacert, --nats-cert, --nats-key, --nats-nkey-seed-file, --nats-creds). */
  natsConnection?: NatsConnectionFlags | undefined;
}

/** The controller's PKI: the cluster CA from etcd, its own certificate (renewed), tokens, revocations. */
async function openSecurity(
  opts: ControllerOptions,
  deps: { id: string; advertise: string; store: Store; keys: Keys; cipher: SecretCipher | undefined; log: Logger },
  signal: AbortSignal,
): Promise<ControllerSecurity | undefined> {
  const { id, store, keys, cipher, log } = deps;
  if (opts.insecureDev) {
    log.warn('--insecure-dev: plaintext gRPC, and every caller acts as admin; never use this on a network');
    return undefined;
  }
  if (!cipher)
    throw new Error('--secret-key-file: required: it seals the cluster CA key in etcd (or run a development cluster with --insecure-dev)');
  if ((opts.caCertFile === undefined) !== (opts.caKeyFile === undefined)) throw new Error('--ca-cert and --ca-key: give both or neither');
  const importPair =
    opts.caCertFile && opts.caKeyFile
      ? { certPem: readFlagFile(opts.caCertFile, '--ca-cert', false), keyPem: readFlagFile(opts.caKeyFile, '--ca-key', true) }
      : undefined;
  // etcd may still be starting: wait for it as the informers do.
  let ca: ClusterCa | undefined;
  for (let delay = 200; !ca; delay = Math.min(delay * 2, 5_000)) {
    try {
      ca = await ClusterCa.open({ store, keys, cipher, clock: systemClock, log, importPair });
    } catch (err) {
      if (!(err instanceof UnavailableError) || signal.aborted) throw err;
      log.warn({ err: err.message }, 'etcd unavailable: waiting to read the cluster CA');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  const nodeTtl = opts.certTtlMs ?? DEFAULT_NODE_CERT_TTL_MS;
  const host = deps.advertise.slice(0, deps.advertise.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  const ips = isIP(host) ? [host] : [];
  const source = new CredentialSource(await ca.selfCredentials(id, nodeTtl, ips));
  // Renewed at two thirds of its lifetime; a failure is retried a minute later.
  const renew = (): void => {
    const wait = Math.max(1_000, renewAtMs(source.current.certPem) - Date.now());
    const t = setTimeout(() => {
      ca.selfCredentials(id, nodeTtl, ips).then(
        (c) => {
          source.update(c);
          log.info({ notAfter: certInfo(c.certPem).notAfter.toISOString() }, "renewed this controller's certificate");
          renew();
        },
        (err: unknown) => {
          log.error({ err: String(err) }, "renewing this controller's certificate failed");
          setTimeout(renew, 60_000).unref();
        },
      );
    }, wait);
    signal.addEventListener('abort', () => clearTimeout(t), { once: true });
  };
  renew();
  log.info({ ca: ca.digest.slice(0, 16) }, 'TLS on every listener; callers are authenticated by the cluster CA');
  const tokens = new TokenStore({ store, keys, clock: systemClock, caDigest: ca.digest });
  return {
    ca,
    source,
    tokens,
    certificates: new CertificateService({
      ca,
      tokens,
      store,
      keys,
      clock: systemClock,
      nodeCertTtlMs: nodeTtl,
      operatorCertTtlMs: opts.operatorCertTtlMs ?? DEFAULT_OPERATOR_CERT_TTL_MS,
    }),
    revocations: new RevocationList(store, keys, log.child({ loop: 'revocations' })),
  };
}

/** One read, retried while etcd is unavailable: an EtcdAccessError (wrong user or password) ends it. */
async function loginToEtcd(store: Store, keys: Keys, log: Logger, signal: AbortSignal): Promise<void> {
  for (let delay = 200; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      await store.get(keys.leader);
      return;
    } catch (err) {
      if (!(err instanceof UnavailableError) || signal.aborted) throw err;
      log.warn({ err: err.message }, 'etcd unavailable: waiting to log in');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export async function runController(opts: ControllerOptions, signal: AbortSignal): Promise<void> {
  const id = opts.id ?? `${hostname()}-${process.pid}`;
  const log = logger('controller', { controller: id });
  const secretCipher = opts.secretKeyFile ? SecretCipher.fromFile(opts.secretKeyFile) : undefined;
  if (secretCipher) log.info({ keyId: secretCipher.keyId }, 'secrets are sealed with the key of --secret-key-file');
  else log.warn('no --secret-key-file: this controller refuses to store secrets');
  // Every file a flag names is read (and checked) before anything connects.
  const etcdAccess = etcdConnection(opts.etcd, opts.etcdConnection ?? {});
  const natsAccess = natsConnection(opts.natsConnection ?? {});
  log.info(
    {
      etcdTls: !!etcdAccess.tls,
      etcdClientCert: !!etcdAccess.tls?.certPem,
      etcdUser: etcdAccess.auth?.username,
      natsTls: !!natsAccess.tls,
    },
    'connections to etcd and NATS',
  );
  const client = etcdClient({ endpoints: opts.etcd, ...etcdAccess });
  const metrics = new ControllerMetrics({ processMetrics: true });
  const keys = new Keys(opts.prefix ?? DEFAULT_PREFIX);
  // Every API (and the PKI's tokens and certificates) writes through the audit log's store, so an
  // audited call's record rides in the transaction of its write.
  const audit = new AuditLog({
    store: new InstrumentedStore(new EtcdStore(client), metrics),
    keys,
    clock: systemClock,
    log: log.child({ loop: 'audit' }),
    metrics,
  });
  const store = audit.store;
  let security: ControllerSecurity | undefined;
  try {
    // Credentials are checked before anything serves (openSecurity reads etcd first anyway; under
    // --insecure-dev nothing else would, and a wrong password would only show in the loops' logs).
    if (etcdAccess.auth && opts.insecureDev) await loginToEtcd(store, keys, log, signal);
    security = await openSecurity(opts, { id, advertise: opts.advertise ?? opts.listen, store, keys, cipher: secretCipher, log }, signal);
  } catch (err) {
    client.close();
    if (err instanceof EtcdAccessError)
      throw new Error(
        `${etcdAccess.auth ? `--etcd-user ${etcdAccess.auth.username} and --etcd-password-file` : 'no --etcd-user given'}: ${err.message}`,
        { cause: err },
      );
    throw err;
  }
  const publisher = opts.nats.length > 0 ? new NatsEventPublisher(opts.nats, log.child({ loop: 'events' }), natsAccess) : undefined;
  if (publisher) metrics.observeEvents(() => ({ published: publisher.published, dropped: publisher.dropped }));
  const manager = new Manager({
    config: {
      id,
      listen: opts.listen,
      advertise: opts.advertise ?? opts.listen,
      metricsListen: opts.metricsListen,
      timings: { ...DEFAULT_NODE_TIMINGS, ...opts.timings },
      leaseTtlSec: opts.leaseTtlSec,
      fenceAfterMs: opts.fenceAfterMs,
      limits: opts.limits,
    },
    store,
    etcd: client,
    keys,
    security,
    clock: systemClock,
    log,
    events: publisher ?? nullSink,
    eventReader: opts.nats.length > 0 ? new NatsEventReader(opts.nats, log.child({ loop: 'events-reader' }), natsAccess) : undefined,
    metrics,
    secretCipher,
    audit,
    auditRetention: {
      maxRecords: opts.audit?.maxRecords ?? DEFAULT_AUDIT_MAX_RECORDS,
      maxAgeMs: opts.audit?.maxAgeMs ?? DEFAULT_AUDIT_MAX_AGE_MS,
      intervalMs: opts.audit?.intervalMs ?? DEFAULT_AUDIT_PRUNE_INTERVAL_MS,
    },
    monotonicNow,
  });
  try {
    await manager.start(signal);
  } finally {
    client.close();
    log.info('controller stopped');
  }
}
