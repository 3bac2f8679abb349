// Node loop (leader only) for host ports held outside Berth: when a task on a node fails because
// its host port is taken by some other process (ports.ts reads the engine's error), the node is
// marked, so the scheduler keeps tasks that need the port off it for a while and names the
// port as the reason. Level-triggered on task status; one conditional write per mark.
import type { Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { NodeRecord } from '../../../proto/src/model.js';
import type { ClusterCache } from '../store/cluster.js';
import { updateOp } from '../store/ops.js';
import { retryOnConflict } from '../store/retry.js';
import { nodeCodec } from '../store/codecs.js';
import type { EventSink } from '../events/events.js';
import type { HostPortRequest } from '../scheduler/types.js';
import { holdPort, portConflictOf } from './ports.js';

/** Attempts at marking a node's port busy before giving up (the next failure marks it again). */
const PORT_MARK_ATTEMPTS = 5;

export class BusyPortMarker {
  private marks: Promise<void> = Promise.resolve();

  constructor(private readonly deps: { cache: ClusterCache; clock: Clock; log: Logger; events: EventSink }) {}

  async start(signal: AbortSignal): Promise<void> {
    const off = this.deps.cache.tasks.addHandler({
      onUpsert: (_k, t, old) => {
        // Only a failure seen happening: one found in the initial listing was marked by whoever saw it.
        if (old && t.value.nodeId !== '' && old.value.status.state !== t.value.status.state) {
          const conflict = portConflictOf(t.value);
          if (conflict) this.mark(t.value.nodeId, conflict, t.value.id);
        }
      },
    });
    try {
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      off();
      await this.marks;
    }
  }

  /** Records on the node that a host port is held outside Berth (conditional write, retried on conflict). */
  private mark(nodeId: string, port: HostPortRequest, taskId: string): void {
    const { cache, clock, log, events } = this.deps;
    this.marks = this.marks.then(async () => {
      try {
        await retryOnConflict(
          async () => {
            const cur = cache.nodes.get(cache.keys.node(nodeId));
            if (!cur) return;
            const next: NodeRecord = { ...cur.value, unavailablePorts: holdPort(cur.value, port, clock.now()) };
            await cache.store.commit([updateOp(cache.keys.node(nodeId), nodeCodec, next, cur.modRevision)]);
            log.info(
              { node: nodeId, port: `${port.port}/${port.protocol}`, task: taskId },
              'host port held outside Berth; keeping tasks that need it off the node for a while',
            );
            events.publish({
              type: 'node.state',
              node: nodeId,
              state: cur.value.state,
              message: `port ${port.port}/${port.protocol} in use on the host (not by Berth); task ${taskId} could not bind it`,
            });
          },
          // Read from the cache: after a conflict, give its watch time to bring the newer node.
          { attempts: PORT_MARK_ATTEMPTS, delayMs: (attempt) => 20 * attempt },
        );
      } catch (err) {
        log.warn({ node: nodeId, err: err instanceof Error ? err.message : String(err) }, 'marking a busy port failed');
      }
    });
  }
}
