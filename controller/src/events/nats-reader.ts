// Reads the event stream (NATS JetStream BERTH_EVENTS) for `berth events`: an ordered consumer
// per request, filtered by subject as far as possible and then by content. History is the
// stream's (bounded by age and count); at most `limit` of its newest matching events are sent,
// oldest first, then, with follow, every new one. One NATS connection per controller, opened on
// the first request.
import { connect, consumerOpts, type NatsConnection } from 'nats';
import { UnavailableError } from '../../../proto/src/errors.js';
import type { Logger } from '../../../proto/src/log.js';
import { eventCodec, type BerthEvent } from './events.js';
import { filterSubject, matchesEvent, type EventFilter } from './filter.js';
import type { NatsConnect } from './nats-publisher.js';

/** Events sent from history when the request names no limit. */
export const DEFAULT_EVENTS_LIMIT = 100;
/** Most events one request gets from history. */
export const MAX_EVENTS_LIMIT = 10_000;
/** A NATS server that does not answer this soon is unavailable. */
const CONNECT_TIMEOUT_MS = 5_000;

export interface StoredEvent extends BerthEvent {
  timeMs: number;
  /** Stream sequence: increasing in publication order. */
  seq: number;
}

export interface ReadOptions {
  sinceMs: number;
  limit: number;
  follow: boolean;
}

export interface EventReader {
  read(filter: EventFilter, opts: ReadOptions, emit: (e: StoredEvent) => Promise<void>, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export class NatsEventReader implements EventReader {
  private conn: Promise<NatsConnection> | undefined;

  constructor(
    private readonly servers: string[],
    private readonly log: Logger,
    private readonly connectOptions: NatsConnect = {},
  ) {}

  private connection(): Promise<NatsConnection> {
    if (!this.conn) {
      const c = connect({
        ...this.connectOptions,
        servers: this.servers,
        name: 'berth-controller-events-reader',
        timeout: CONNECT_TIMEOUT_MS,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
      });
      this.conn = c;
      c.then(
        (nc) =>
          void nc.closed().then(() => {
            if (this.conn === c) this.conn = undefined;
          }),
        () => {
          if (this.conn === c) this.conn = undefined;
        },
      );
    }
    return this.conn;
  }

  async read(filter: EventFilter, opts: ReadOptions, emit: (e: StoredEvent) => Promise<void>, signal: AbortSignal): Promise<void> {
    let nc: NatsConnection;
    try {
      nc = await this.connection();
    } catch (err) {
      throw new UnavailableError(`event stream unavailable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const co = consumerOpts();
    co.orderedConsumer();
    if (opts.sinceMs > 0) co.startTime(new Date(opts.sinceMs));
    else co.deliverAll();
    let sub;
    try {
      sub = await nc.jetstream().subscribe(filterSubject(filter), co);
    } catch (err) {
      throw new UnavailableError(`event stream unavailable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const stop = (): void => sub.unsubscribe();
    signal.addEventListener('abort', stop, { once: true });
    const limit = Math.min(MAX_EVENTS_LIMIT, opts.limit > 0 ? opts.limit : DEFAULT_EVENTS_LIMIT);
    const dec = new TextDecoder();
    try {
      const info = await sub.consumerInfo();
      // Nothing matched so far: history is empty.
      let live = info.num_pending + info.delivered.consumer_seq === 0;
      if (live && !opts.follow) return;
      // The newest `limit` matches of the history, in a ring.
      const recent: StoredEvent[] = [];
      let next = 0;
      for await (const m of sub) {
        let e: StoredEvent | undefined;
        try {
          const body = eventCodec.decode({ key: `${m.subject} #${m.seq}`, value: dec.decode(m.data) });
          e = { ...body, timeMs: body.timeMs ?? m.info.timestampNanos / 1e6, seq: m.seq };
        } catch {
          this.log.debug({ seq: m.seq }, 'unreadable event skipped');
        }
        const match = e !== undefined && matchesEvent(filter, e);
        if (live) {
          if (match) await emit(e!);
          continue;
        }
        if (match) {
          recent[next % limit] = e!;
          next++;
        }
        if (m.info.pending === 0) {
          live = true;
          for (let i = Math.max(0, next - limit); i < next; i++) await emit(recent[i % limit]!);
          recent.length = 0;
          if (!opts.follow) return;
        }
      }
    } finally {
      signal.removeEventListener('abort', stop);
      sub.unsubscribe();
    }
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    if (c)
      await c
        .then(
          (nc) => nc.close(),
          () => undefined,
        )
        .catch(() => undefined);
  }
}
