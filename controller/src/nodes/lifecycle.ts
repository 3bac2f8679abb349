// Node lifecycle (leader only): heartbeats and sessions live in memory; only transitions
// (ready → unknown → down, and back) are written to the store. It also runs the busy-port
// marks (busy-ports.ts): a node is marked when a task failed to bind a host port held outside Berth.
import { sleep, type Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { NodeRecord } from '../../../proto/src/model.js';
import { ConflictError } from '../../../proto/src/errors.js';
import type { ClusterCache } from '../store/cluster.js';
import { updateOp } from '../store/ops.js';
import { clearOutage } from '../model/node-attributes.js';
import { nodeCodec } from '../store/codecs.js';
import type { EventSink } from '../events/events.js';
import { planNodeStates, type Liveness, type NodeTimings } from './node-plan.js';
import { assessNodeLoss } from '../orchestrator/node-loss-plan.js';
import { BusyPortMarker } from './busy-ports.js';

/** How often liveness is evaluated: bounds how late a transition is written. */
export const NODE_TICK_MS = 100;

export class NodeLifecycle {
  private live = new Map<string, Liveness>();
  private leaderSinceMs: number;

  constructor(
    private readonly deps: {
      cache: ClusterCache;
      clock: Clock;
      log: Logger;
      timings: NodeTimings;
      events: EventSink;
      valid?: () => boolean;
    },
  ) {
    this.leaderSinceMs = deps.clock.now();
  }

  get timings(): NodeTimings {
    return this.deps.timings;
  }

  sessionOpened(nodeId: string): void {
    const l = this.live.get(nodeId) ?? { sessions: 0, lastHeartbeatMs: 0 };
    l.sessions++;
    l.lastHeartbeatMs = this.deps.clock.now();
    delete l.lostAtMs;
    this.live.set(nodeId, l);
  }

  sessionClosed(nodeId: string): void {
    const l = this.live.get(nodeId);
    if (!l) return;
    l.sessions = Math.max(0, l.sessions - 1);
    if (l.sessions === 0) l.lostAtMs = this.deps.clock.now();
    this.tick();
  }

  heartbeat(nodeId: string): void {
    const l = this.live.get(nodeId);
    if (l) l.lastHeartbeatMs = this.deps.clock.now();
  }

  isConnected(nodeId: string): boolean {
    return (this.live.get(nodeId)?.sessions ?? 0) > 0;
  }

  async start(signal: AbortSignal): Promise<void> {
    this.leaderSinceMs = this.deps.clock.now();
    const ports = new BusyPortMarker(this.deps).start(signal);
    try {
      await this.deps.cache.synced;
      while (!signal.aborted) {
        this.tick();
        await sleep(NODE_TICK_MS, signal);
      }
    } finally {
      await ports;
    }
  }

  private writing = false;

  /** Evaluates liveness and writes transitions (one pass at a time). */
  tick(): void {
    // A leader that woke from a pause sees every heartbeat late: it must not judge nodes.
    if (this.writing || this.deps.valid?.() === false) return;
    const { cache, clock, timings } = this.deps;
    const nodes = cache.nodes.list();
    this.assessMassLoss(nodes.map((n) => n.value));
    const hold = { suspended: this.suspended, resumedAtMs: this.resumedAtMs };
    const transitions = planNodeStates(
      nodes.map((n) => n.value),
      this.live,
      clock.now(),
      this.leaderSinceMs,
      timings,
      hold,
    );
    if (transitions.length === 0) return;
    this.writing = true;
    void (async () => {
      try {
        for (const tr of transitions) {
          const cur = cache.nodes.get(cache.keys.node(tr.nodeId));
          if (!cur || cur.value.state === tr.state) continue;
          const next: NodeRecord = { ...cur.value, state: tr.state, message: tr.message, stateChangedAtMs: clock.now() };
          if (tr.state === 'ready') clearOutage(next);
          else if (cur.value.state === 'ready') {
            next.lastContactMs = this.lastContact(tr.nodeId);
            if (tr.agentExited) next.agentExited = true;
            else delete next.agentExited;
          }
          try {
            await cache.store.commit([updateOp(cache.keys.node(tr.nodeId), nodeCodec, next, cur.modRevision)]);
            this.deps.log.info({ node: tr.nodeId, from: cur.value.state, to: tr.state, reason: tr.message }, 'node state changed');
            this.deps.events.publish({ type: 'node.state', node: tr.nodeId, state: tr.state, message: tr.message });
          } catch (err) {
            if (!(err instanceof ConflictError)) throw err;
          }
        }
      } catch (err) {
        this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'node transition write failed');
      } finally {
        this.writing = false;
      }
    })();
  }

  /**
   * The last time this leader heard from the node's agent; for a node it never heard from, when
   * it took over (a deposed leader stops talking to agents before its lease ends, so no leader
   * was in contact with the node after that).
   */
  private lastContact(nodeId: string): number {
    return Math.max(this.live.get(nodeId)?.lastHeartbeatMs ?? 0, this.leaderSinceMs);
  }

  private suspended = false;
  private resumedAtMs = 0;

  /**
   * Whether most nodes are lost at once (then no node is declared down); says once when that
   * starts and once when it ends.
   */
  private assessMassLoss(nodes: readonly NodeRecord[]): void {
    const { log, events, clock } = this.deps;
    const a = assessNodeLoss(new Map(nodes.map((n) => [n.id, n])));
    if (a.suspended === this.suspended) return;
    this.suspended = a.suspended;
    if (!a.suspended) this.resumedAtMs = clock.now();
    if (a.suspended) log.warn({ reason: a.reason }, 'mass node loss: replacement suspended');
    else log.info('replacement of lost nodes resumed');
    events.publish({ type: 'node.state', message: a.suspended ? a.reason : 'replacement of lost nodes resumed' });
  }
}
