// PURE restart decisions of the agent: after a container ended (or turned unhealthy), restart it
// in place after a backoff, leave the task ended, or give the slot up on this node so that the
// controller places its replacement elsewhere. No I/O, no clock: times are inputs.
import { restartDelayMs, type RestartSpec } from '../../proto/src/spec/lifecycle.js';

/**
 * In-place restarts in a row on one node before the task is given up there: the controller then
 * creates the slot's replacement and ranks this node last, so a node-specific fault (a bad disk,
 * a missing device, a port taken) moves the replica instead of looping on it forever.
 */
export const LOCAL_RESTARTS_BEFORE_MOVE = 3;

export interface EndedRun {
  exitCode: number;
  /** Ended because its health check failed (the agent stopped it). */
  unhealthy: boolean;
  /** How long the container ran (or was healthy, when it has a check). */
  healthyRunMs: number;
}

export interface RestartCounters {
  /** Failures in a row of the slot (backoff exponent and on-failure attempts). */
  failuresInRow: number;
  /** Restarts in a row on this node. */
  localRestarts: number;
}

export type RestartDecision =
  | { action: 'restart'; delayMs: number; counters: RestartCounters; reason: string }
  /**
   * `reason` says why the policy stops here; the caller names what happened before it.
   * `counters`: the count this ended run is judged on (started over after a healthy period).
   */
  | { action: 'end'; state: 'complete' | 'failed'; reason: string; counters: RestartCounters }
  | { action: 'move'; reason: string; counters: RestartCounters };

export function describeEnd(run: EndedRun): string {
  return run.unhealthy ? 'unhealthy' : run.exitCode === 0 ? 'exited with code 0' : `exited with code ${run.exitCode}`;
}

export function decideRestart(spec: RestartSpec, run: EndedRun, before: RestartCounters): RestartDecision {
  // A healthy period starts the count over.
  const c = run.healthyRunMs >= spec.backoff.resetAfter ? { failuresInRow: 0, localRestarts: 0 } : before;
  const failure = run.unhealthy || run.exitCode !== 0;
  if (spec.policy === 'never') return { action: 'end', state: failure ? 'failed' : 'complete', reason: 'restart policy never', counters: c };
  if (spec.policy === 'on-failure' && !failure) return { action: 'end', state: 'complete', reason: 'restart policy on-failure', counters: c };
  if (spec.policy === 'on-failure' && spec.maxAttempts !== undefined && c.failuresInRow >= spec.maxAttempts) {
    return { action: 'end', state: 'failed', reason: `gave up after ${c.failuresInRow} restarts in a row (maxAttempts ${spec.maxAttempts})`, counters: c };
  }
  if (c.localRestarts >= LOCAL_RESTARTS_BEFORE_MOVE) {
    return { action: 'move', reason: `${c.localRestarts} restarts in a row on this node: replaced, preferring another node`, counters: c };
  }
  const delayMs = restartDelayMs(spec, c.failuresInRow);
  return { action: 'restart', delayMs, counters: { failuresInRow: c.failuresInRow + 1, localRestarts: c.localRestarts + 1 }, reason: describeEnd(run) };
}
