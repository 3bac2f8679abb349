// Controller membership: each controller keeps a record under `members/<id>` bound to a lease of
// its own, so the record disappears within MEMBER_TTL_SEC of the controller's death. Service
// discovery lists them, so Prometheus finds every controller through any one of them.
import type { Etcd3, Lease } from 'etcd3';
import { sleep, backoffMs } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { Keys } from './keys.js';
import type { Store } from './store.js';
import { memberCodec, type MemberRecord } from './codecs.js';

export type { MemberRecord } from './codecs.js';

/** A dead controller leaves discovery within this long. */
export const MEMBER_TTL_SEC = 10;

export class MemberRegistry {
  constructor(private readonly deps: { client: Etcd3; store: Store; keys: Keys; log: Logger }) {}

  /** Keeps this controller's record alive until the signal aborts, then deletes it. */
  async run(self: MemberRecord, signal: AbortSignal): Promise<void> {
    const { client, keys, log } = this.deps;
    let failures = 0;
    while (!signal.aborted) {
      const lease: Lease = client.lease(MEMBER_TTL_SEC, { autoKeepAlive: true });
      try {
        const lost = new Promise<void>((resolve) => lease.once('lost', () => resolve()));
        await lease.put(keys.member(self.id)).value(memberCodec.encode(self)).exec();
        failures = 0;
        await Promise.race([lost, new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))]);
        if (!signal.aborted) log.warn('membership lease lost; registering again');
      } catch (err) {
        if (!signal.aborted)
          log.warn({ err: err instanceof Error ? err.message : String(err) }, 'membership registration failed; retrying');
      } finally {
        await lease.revoke().catch(() => undefined);
      }
      if (!signal.aborted) await sleep(backoffMs(failures++, 500, 5_000), signal);
    }
  }

  async list(): Promise<MemberRecord[]> {
    const { items } = await this.deps.store.list(this.deps.keys.members);
    const out: MemberRecord[] = [];
    for (const kv of items) {
      try {
        out.push(memberCodec.decode(kv));
      } catch {
        // a record this version cannot read (RecordDecodeError): skip it
      }
    }
    return out;
  }
}
