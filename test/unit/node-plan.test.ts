import { describe, expect, it } from 'vitest';
import { DEFAULT_NODE_TIMINGS, planNodeStates, type Liveness, type NodeTransition } from '../../controller/src/nodes/node-plan.js';
import type { NodeState } from '../../proto/src/types.js';
import { T0 } from './fixtures.js';

const t = DEFAULT_NODE_TIMINGS; // heartbeat grace 6 s, down after 15 s
const LEADER_SINCE = T0 - 3_600_000; // leader for an hour: no start-up grace in play

const node = (state: NodeState, stateChangedAtMs = T0) => ({ id: 'n1', state, stateChangedAtMs });
const live = (l: Liveness): Map<string, Liveness> => new Map([['n1', l]]);

function plan(n: ReturnType<typeof node>, l: Liveness | undefined, nowMs: number, leaderSinceMs = LEADER_SINCE): NodeTransition[] {
  return planNodeStates([n], l ? live(l) : new Map(), nowMs, leaderSinceMs, t);
}

describe('planNodeStates', () => {
  it('timings: heartbeats every 2 s, unknown after 6 s silent, down 15 s later', () => {
    expect(t).toEqual({ heartbeatPeriodMs: 2_000, heartbeatGraceMs: 6_000, downAfterMs: 15_000 });
  });

  it('a ready node with an open session and fresh heartbeats stays as it is', () => {
    expect(plan(node('ready'), { sessions: 1, lastHeartbeatMs: T0 - 1_000 }, T0)).toEqual([]);
    // Exactly at the grace it is still alive.
    expect(plan(node('ready'), { sessions: 1, lastHeartbeatMs: T0 - t.heartbeatGraceMs }, T0)).toEqual([]);
  });

  it('ready → unknown at once when the session closes; closed while the heartbeats were current, the agent exited', () => {
    expect(plan(node('ready'), { sessions: 0, lastHeartbeatMs: T0 - 500, lostAtMs: T0 }, T0)).toEqual([
      { nodeId: 'n1', state: 'unknown', message: 'agent session closed by the agent (its process ended)', agentExited: true },
    ]);
  });

  it('a session closed only after the heartbeats were late (a silent link, closed by the keepalive) is not an exited agent', () => {
    const lastHb = T0 - t.heartbeatGraceMs;
    expect(plan(node('ready'), { sessions: 0, lastHeartbeatMs: lastHb, lostAtMs: T0 }, T0)).toEqual([
      { nodeId: 'n1', state: 'unknown', message: 'agent session closed' },
    ]);
  });

  it('ready → unknown when heartbeats are late although the session is open', () => {
    expect(plan(node('ready'), { sessions: 1, lastHeartbeatMs: T0 - t.heartbeatGraceMs - 1 }, T0)).toEqual([
      { nodeId: 'n1', state: 'unknown', message: 'heartbeats missed' },
    ]);
  });

  it('unknown → down only after downAfterMs', () => {
    const lostAt = T0;
    const l: Liveness = { sessions: 0, lastHeartbeatMs: lostAt - 1_000, lostAtMs: lostAt };
    const unknown = node('unknown', lostAt); // written when it was lost
    expect(plan(unknown, l, lostAt + t.downAfterMs - 1)).toEqual([]);
    expect(plan(unknown, l, lostAt + t.downAfterMs)).toEqual([
      { nodeId: 'n1', state: 'down', message: 'agent session closed by the agent (its process ended); unknown for 15s' },
    ]);
  });

  it('late heartbeats: down counts from when the node became late or was marked unknown, whichever is later', () => {
    const lastHb = T0;
    const l: Liveness = { sessions: 1, lastHeartbeatMs: lastHb };
    const lateSince = lastHb + t.heartbeatGraceMs;
    const markedAt = lateSince + 2_000; // the unknown transition was written a bit later
    const unknown = node('unknown', markedAt);
    expect(plan(unknown, l, markedAt + t.downAfterMs - 1)).toEqual([]);
    expect(plan(unknown, l, markedAt + t.downAfterMs)).toEqual([
      { nodeId: 'n1', state: 'down', message: 'heartbeats missed; unknown for 15s' },
    ]);
  });

  it('a session that breaks after the heartbeats stopped does not push back the down time', () => {
    // A cut link: heartbeats stop at T0, the node is unknown at T0 + grace, and the transport
    // notices the dead connection only 8 s later. Down is still due downAfterMs after unknown.
    const lastHb = T0;
    const markedAt = lastHb + t.heartbeatGraceMs;
    const closedAt = markedAt + 8_000;
    const l: Liveness = { sessions: 0, lastHeartbeatMs: lastHb, lostAtMs: closedAt };
    const unknown = node('unknown', markedAt);
    expect(plan(unknown, l, markedAt + t.downAfterMs - 1)).toEqual([]);
    expect(plan(unknown, l, markedAt + t.downAfterMs)).toEqual([
      { nodeId: 'n1', state: 'down', message: 'agent session closed; unknown for 15s' },
    ]);
  });

  it('a down node stays down while silent', () => {
    expect(plan(node('down'), { sessions: 0, lastHeartbeatMs: 0, lostAtMs: T0 - 60_000 }, T0)).toEqual([]);
    expect(plan(node('down'), undefined, T0)).toEqual([]);
  });

  it.each<NodeState>(['unknown', 'down'])('%s → ready when the agent is alive again', (state) => {
    expect(plan(node(state), { sessions: 1, lastHeartbeatMs: T0 }, T0)).toEqual([
      { nodeId: 'n1', state: 'ready', message: 'agent connected' },
    ]);
  });

  it('a late heartbeat arriving in time keeps the node ready; after unknown it brings it back', () => {
    const n = node('ready');
    const l: Liveness = { sessions: 1, lastHeartbeatMs: T0 };
    expect(plan(n, l, T0 + 5_999)).toEqual([]);
    expect(plan(n, l, T0 + 6_001)).toEqual([{ nodeId: 'n1', state: 'unknown', message: 'heartbeats missed' }]);
    const unknown = node('unknown', T0 + 6_001);
    expect(plan(unknown, { sessions: 1, lastHeartbeatMs: T0 + 7_000 }, T0 + 7_000)).toEqual([
      { nodeId: 'n1', state: 'ready', message: 'agent connected' },
    ]);
  });

  describe('a new leader', () => {
    const leaderSince = T0;

    it('gives nodes it has not heard from the heartbeat grace before marking them unknown', () => {
      expect(plan(node('ready', T0 - 3_600_000), undefined, leaderSince + t.heartbeatGraceMs - 1, leaderSince)).toEqual([]);
      expect(plan(node('ready', T0 - 3_600_000), undefined, leaderSince + t.heartbeatGraceMs, leaderSince)).toEqual([
        { nodeId: 'n1', state: 'unknown', message: 'no agent session since leader start' },
      ]);
    });

    it('does not declare a node down that was unknown long before it took over, before grace + downAfter', () => {
      const longUnknown = node('unknown', T0 - 3_600_000);
      const deadline = leaderSince + t.heartbeatGraceMs + t.downAfterMs;
      expect(plan(longUnknown, undefined, leaderSince + 1, leaderSince)).toEqual([]);
      expect(plan(longUnknown, undefined, deadline - 1, leaderSince)).toEqual([]);
      expect(plan(longUnknown, undefined, deadline, leaderSince)).toEqual([
        { nodeId: 'n1', state: 'down', message: 'no agent session since leader start; unknown for 15s' },
      ]);
    });

    it('counts a session lost before it took over from its own start', () => {
      const l: Liveness = { sessions: 0, lastHeartbeatMs: 0, lostAtMs: leaderSince - 60_000 };
      const unknown = node('unknown', leaderSince - 60_000);
      expect(plan(unknown, l, leaderSince + t.downAfterMs - 1, leaderSince)).toEqual([]);
      expect(plan(unknown, l, leaderSince + t.downAfterMs, leaderSince)).toHaveLength(1);
    });

    it('brings nodes that reconnect right away to ready', () => {
      expect(plan(node('unknown'), { sessions: 1, lastHeartbeatMs: leaderSince + 10 }, leaderSince + 10, leaderSince)).toEqual([
        { nodeId: 'n1', state: 'ready', message: 'agent connected' },
      ]);
    });
  });

  it('plans every node independently', () => {
    const nodes = [
      { id: 'a', state: 'ready' as const, stateChangedAtMs: T0 },
      { id: 'b', state: 'ready' as const, stateChangedAtMs: T0 },
      { id: 'c', state: 'unknown' as const, stateChangedAtMs: T0 - 20_000 },
    ];
    const l = new Map<string, Liveness>([
      ['a', { sessions: 1, lastHeartbeatMs: T0 }],
      ['b', { sessions: 0, lastHeartbeatMs: T0 - 1, lostAtMs: T0 }],
      ['c', { sessions: 0, lastHeartbeatMs: 0, lostAtMs: T0 - 20_000 }],
    ]);
    expect(planNodeStates(nodes, l, T0, LEADER_SINCE, t)).toEqual([
      { nodeId: 'b', state: 'unknown', message: 'agent session closed by the agent (its process ended)', agentExited: true },
      { nodeId: 'c', state: 'down', message: 'agent session closed; unknown for 20s' },
    ]);
  });
});

describe('planNodeStates under a mass node loss', () => {
  const lost: Liveness = { sessions: 0, lastHeartbeatMs: T0 - 1_000, lostAtMs: T0 };
  const unknown = node('unknown', T0);

  it('declares no node down while replacement is suspended', () => {
    expect(planNodeStates([unknown], live(lost), T0 + 3_600_000, LEADER_SINCE, t, { suspended: true, resumedAtMs: 0 })).toEqual([]);
  });

  it('gives nodes still unknown the whole down-after period again once it ends', () => {
    const resumed = T0 + 60_000;
    const hold = { suspended: false, resumedAtMs: resumed };
    expect(planNodeStates([unknown], live(lost), resumed + t.downAfterMs - 1, LEADER_SINCE, t, hold)).toEqual([]);
    expect(planNodeStates([unknown], live(lost), resumed + t.downAfterMs, LEADER_SINCE, t, hold)).toEqual([
      { nodeId: 'n1', state: 'down', message: 'agent session closed by the agent (its process ended); unknown for 75s' },
    ]);
  });

  it('still marks nodes unknown and brings them back to ready', () => {
    const hold = { suspended: true, resumedAtMs: 0 };
    expect(planNodeStates([node('ready')], live(lost), T0, LEADER_SINCE, t, hold)).toEqual([
      { nodeId: 'n1', state: 'unknown', message: 'agent session closed by the agent (its process ended)', agentExited: true },
    ]);
    expect(planNodeStates([unknown], live({ sessions: 1, lastHeartbeatMs: T0 }), T0, LEADER_SINCE, t, hold)).toEqual([
      { nodeId: 'n1', state: 'ready', message: 'agent connected' },
    ]);
  });
});
