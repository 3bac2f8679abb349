// PURE node liveness: from what the leader knows in memory (sessions, heartbeats) and the stored
// node states, which transitions to write. ready → unknown at once when the session breaks or
// heartbeats are late; unknown → down after the grace period; back to ready when alive again.
import type { NodeRecord } from '../../../proto/src/model.js';
import type { NodeState } from '../../../proto/src/types.js';

export interface NodeTimings {
  /** How often agents send heartbeats (told to them in Welcome). */
  heartbeatPeriodMs: number;
  /** No heartbeat for this long: the node is unknown. */
  heartbeatGraceMs: number;
  /** Unknown for this long: the node is down and its tasks are replaced. */
  downAfterMs: number;
}

export const DEFAULT_NODE_TIMINGS: NodeTimings = {
  heartbeatPeriodMs: 2_000,
  heartbeatGraceMs: 6_000,
  downAfterMs: 15_000,
};

export interface Liveness {
  /** Open sessions of the node on this leader. */
  sessions: number;
  lastHeartbeatMs: number;
  /** When the node stopped being alive (session closed / became late). */
  lostAtMs?: number;
}

export interface NodeTransition {
  nodeId: string;
  state: NodeState;
  message: string;
  /**
   * Leaving ready: the session closed while the heartbeats were current (the agent process
   * ended, the host did not go silent). See NodeRecord.agentExited.
   */
  agentExited?: boolean;
}

/**
 * Mass node loss (node-loss-plan.ts): while `suspended`, no node is declared down (nothing is
 * replaced); once it ends, nodes still unknown get the full down-after period again, counted from
 * `resumedAtMs`, so the first node to come back does not get the others' tasks replaced at once.
 */
export interface MassLossHold {
  suspended: boolean;
  resumedAtMs: number;
}

export function planNodeStates(
  nodes: ReadonlyArray<Pick<NodeRecord, 'id' | 'state' | 'stateChangedAtMs'>>,
  live: ReadonlyMap<string, Liveness>,
  nowMs: number,
  leaderSinceMs: number,
  t: NodeTimings,
  hold: MassLossHold = { suspended: false, resumedAtMs: 0 },
): NodeTransition[] {
  const out: NodeTransition[] = [];
  for (const n of nodes) {
    const l = live.get(n.id);
    const alive = !!l && l.sessions > 0 && nowMs - l.lastHeartbeatMs <= t.heartbeatGraceMs;
    if (alive) {
      if (n.state !== 'ready') out.push({ nodeId: n.id, state: 'ready', message: 'agent connected' });
      continue;
    }
    // Since when is it not alive, as far as this leader can tell?
    let since: number;
    let why: string;
    let agentExited = false;
    if (l && l.sessions > 0) {
      since = l.lastHeartbeatMs + t.heartbeatGraceMs;
      why = 'heartbeats missed';
    } else if (l?.lostAtMs !== undefined) {
      // The session may break long after the heartbeats stopped (a cut link is noticed by the
      // transport's keepalive only later): the node was lost at the earlier of the two, and a
      // late close must not restart the down-after count of a node already unknown.
      since = Math.min(l.lostAtMs, l.lastHeartbeatMs + t.heartbeatGraceMs);
      // Closed before the heartbeats were late: the agent's end closed it (its process ended; a
      // silent link is closed only later, by the transport's keepalive, from this end).
      agentExited = l.lostAtMs - l.lastHeartbeatMs < t.heartbeatGraceMs;
      why = agentExited ? 'agent session closed by the agent (its process ended)' : 'agent session closed';
    } else {
      // Never seen by this leader: give it the heartbeat grace from the start of leadership.
      since = leaderSinceMs + t.heartbeatGraceMs;
      why = 'no agent session since leader start';
      if (nowMs < since) continue;
    }
    since = Math.max(since, leaderSinceMs);
    if (n.state === 'ready') out.push({ nodeId: n.id, state: 'unknown', message: why, ...(agentExited ? { agentExited } : {}) });
    else if (n.state === 'unknown' && !hold.suspended && nowMs - Math.max(since, n.stateChangedAtMs, hold.resumedAtMs) >= t.downAfterMs) {
      out.push({
        nodeId: n.id,
        state: 'down',
        message: `${why}; unknown for ${Math.round((nowMs - Math.max(since, n.stateChangedAtMs)) / 1000)}s`,
      });
    }
  }
  return out;
}
