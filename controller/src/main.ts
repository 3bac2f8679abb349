// Composition root of the controller: real etcd, NATS and clock are chosen here, nowhere else.
import { hostname } from 'node:os';
import { systemClock } from '../../proto/src/clock.js';
import { logger } from '../../proto/src/log.js';
import { NatsEventPublisher } from './events/nats-publisher.js';
import { NatsEventReader } from './events/nats-reader.js';
import { ControllerMetrics } from './metrics/metrics.js';
import { InstrumentedStore } from './store/instrumented-store.js';
import { nullSink } from './events/events.js';
import { Manager } from './manager.js';
import { SecretCipher } from './secrets/cipher.js';
import { DEFAULT_NODE_TIMINGS, type NodeTimings } from './nodes/node-plan.js';
import { EtcdStore, etcdClient } from './store/etcd-store.js';
import { DEFAULT_PREFIX, Keys } from './store/keys.js';

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
}

export async function runController(opts: ControllerOptions, signal: AbortSignal): Promise<void> {
  const id = opts.id ?? `${hostname()}-${process.pid}`;
  const log = logger('controller', { controller: id });
  const secretCipher = opts.secretKeyFile ? SecretCipher.fromFile(opts.secretKeyFile) : undefined;
  if (secretCipher) log.info({ keyId: secretCipher.keyId }, 'secrets are sealed with the key of --secret-key-file');
  else log.warn('no --secret-key-file: this controller refuses to store secrets');
  const client = etcdClient({ endpoints: opts.etcd });
  const metrics = new ControllerMetrics({ processMetrics: true });
  const store = new InstrumentedStore(new EtcdStore(client), metrics);
  const publisher = opts.nats.length > 0 ? new NatsEventPublisher(opts.nats, log.child({ loop: 'events' })) : undefined;
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
    },
    store,
    etcd: client,
    keys: new Keys(opts.prefix ?? DEFAULT_PREFIX),
    clock: systemClock,
    log,
    events: publisher ?? nullSink,
    eventReader: opts.nats.length > 0 ? new NatsEventReader(opts.nats, log.child({ loop: 'events-reader' })) : undefined,
    metrics,
    secretCipher,
  });
  try {
    await manager.start(signal);
  } finally {
    client.close();
    log.info('controller stopped');
  }
}
