// Publishes events to NATS JetStream (stream BERTH_EVENTS, bounded by age and count). Publishing
// never blocks a loop: events wait in a bounded buffer, and when NATS is away the oldest are
// dropped (and counted) rather than slowing the control plane.
import {
  connect,
  RetentionPolicy,
  DiscardPolicy,
  StorageType,
  type ConnectionOptions,
  type NatsConnection,
  type JetStreamClient,
} from 'nats';
import type { Logger } from '../../../proto/src/log.js';
import { sleep, backoffMs, Notifier } from '../../../proto/src/clock.js';
import { eventCodec, type BerthEvent, type EventSink } from './events.js';
import { EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, eventSubject } from './subject.js';

/** Events kept by the stream: a day, at most 100k messages. */
export const EVENTS_MAX_AGE_MS = 24 * 3600 * 1000;
export const EVENTS_MAX_MSGS = 100_000;
/** Events buffered while NATS is unreachable. */
const BUFFER_MAX = 10_000;

/** What every NATS connection of the controller adds to its own options: TLS and credentials (controller/src/connections.ts). */
export type NatsConnect = Pick<ConnectionOptions, 'tls' | 'authenticator'>;

export class NatsEventPublisher implements EventSink {
  private buffer: BerthEvent[] = [];
  private wake = new Notifier();
  dropped = 0;
  published = 0;

  constructor(
    private readonly servers: string[],
    private readonly log: Logger,
    private readonly connectOptions: NatsConnect = {},
  ) {}

  publish(e: BerthEvent): void {
    if (this.buffer.length >= BUFFER_MAX) {
      this.buffer.shift();
      this.dropped++;
    }
    this.buffer.push({ ...e, timeMs: e.timeMs ?? Date.now() });
    this.wake.notify();
  }

  async start(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      let nc: NatsConnection | undefined;
      try {
        nc = await connect({
          ...this.connectOptions,
          servers: this.servers,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          name: 'berth-controller',
        });
        const jsm = await nc.jetstreamManager();
        await jsm.streams
          .add({
            name: EVENTS_STREAM,
            subjects: [`${EVENTS_SUBJECT_PREFIX}.>`],
            retention: RetentionPolicy.Limits,
            discard: DiscardPolicy.Old,
            storage: StorageType.File,
            max_age: EVENTS_MAX_AGE_MS * 1_000_000,
            max_msgs: EVENTS_MAX_MSGS,
          })
          .catch(async (err: unknown) => {
            // Exists with other settings: keep it (an operator may have tuned it).
            if (!/already in use|exists/i.test(String(err))) throw err;
          });
        this.log.info({ servers: this.servers }, 'event stream ready');
        failures = 0;
        await this.drain(nc.jetstream(), signal);
      } catch (err) {
        if (!signal.aborted)
          this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'NATS unavailable; events are buffered');
      } finally {
        await nc?.close().catch(() => undefined);
      }
      await sleep(backoffMs(failures++, 500, 10_000), signal);
    }
  }

  private async drain(js: JetStreamClient, signal: AbortSignal): Promise<void> {
    const enc = new TextEncoder();
    while (!signal.aborted) {
      const e = this.buffer[0];
      if (!e) {
        await this.wake.wait(signal);
        continue;
      }
      await js.publish(eventSubject(e), enc.encode(eventCodec.encode(e)), { timeout: 5_000 });
      this.buffer.shift();
      this.published++;
    }
  }
}
