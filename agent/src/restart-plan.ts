// PURE restart decisions of the agent: after a container ended (or turned unhealthy), restart it
// in place after a backoff, leave the task ended, or give the slot up on this node so that the
// controller places its replacement elsewhere. No I/O, no clock: times are inputs.
import { restartDelayMs, type RestartSpec } from '../../proto/src/spec/lifecycle.js';
import { formatBytes, humanBytes } from '../../proto/src/spec/units.js';

/**
 * In-place restarts in a row on one node before the task is given up there: the controller then
 * creates the slot's replacement and ranks this node last, so a node-specific fault (a bad disk,
 * a missing device, a port taken) moves the replica instead of looping on it forever. Not when
 * the container's own memory limit killed it: that limit kills it the same way on every node, so
 * moving would only cost a new task and a placement (Kubernetes, too, restarts an OOMKilled
 * container where it is).
 */
export const LOCAL_RESTARTS_BEFORE_MOVE = 3;

export interface EndedRun {
  exitCode: number;
  /** Ended because its health check failed (the agent stopped it). */
  unhealthy: boolean;
  /** Killed by the kernel for exceeding its memory (the engine's OOMKilled, with a non-zero exit code). */
  oomKilled?: boolean;
  /** The container's memory limit (resources.limits.memory); 0 or absent: none. */
  memoryLimitBytes?: number;
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
  /** `note`: why a restart stays on this node although the count would have moved it. */
  | { action: 'restart'; delayMs: number; counters: RestartCounters; reason: string; note?: string }
  /**
   * `reason` says why the policy stops here; the caller names what happened before it.
   * `counters`: the count this ended run is judged on (started over after a healthy period).
   */
  | { action: 'end'; state: 'complete' | 'failed'; reason: string; counters: RestartCounters }
  | { action: 'move'; reason: string; counters: RestartCounters };

/** A size as the manifest writes it (8Mi), or rounded when it is no whole binary unit. */
function sizeOf(bytes: number): string {
  const exact = formatBytes(bytes);
  return typeof exact === 'string' ? exact : humanBytes(bytes);
}

export function describeEnd(run: EndedRun): string {
  if (run.unhealthy) return 'unhealthy';
  if (run.oomKilled) return `killed: out of memory${run.memoryLimitBytes ? ` (limit ${sizeOf(run.memoryLimitBytes)})` : ''}`;
  return `exited with code ${run.exitCode}`;
}

/** The container's own memory limit killed it: any node would kill it the same way. */
export function killedByItsLimit(run: EndedRun): boolean {
  return run.oomKilled === true && (run.memoryLimitBytes ?? 0) > 0;
}

/** Said on each restart that the count would have moved elsewhere, when the limit is the cause. */
export const KEPT_FOR_LIMIT =
  'not moved to another node: its memory limit, not the node, is the cause (every node enforces the same limit; raise resources.limits.memory)';

export function decideRestart(spec: RestartSpec, run: EndedRun, before: RestartCounters): RestartDecision {
  // A healthy period starts the count over.
  const c = run.healthyRunMs >= spec.backoff.resetAfter ? { failuresInRow: 0, localRestarts: 0 } : before;
  const failure = run.unhealthy || run.exitCode !== 0;
  if (spec.policy === 'never')
    return { action: 'end', state: failure ? 'failed' : 'complete', reason: 'restart policy never', counters: c };
  if (spec.policy === 'on-failure' && !failure)
    return { action: 'end', state: 'complete', reason: 'restart policy on-failure', counters: c };
  if (spec.policy === 'on-failure' && spec.maxAttempts !== undefined && c.failuresInRow >= spec.maxAttempts) {
    return {
      action: 'end',
      state: 'failed',
      reason: `gave up after ${c.failuresInRow} restarts in a row (maxAttempts ${spec.maxAttempts})`,
      counters: c,
    };
  }
  const kept = c.localRestarts >= LOCAL_RESTARTS_BEFORE_MOVE && killedByItsLimit(run);
  if (c.localRestarts >= LOCAL_RESTARTS_BEFORE_MOVE && !kept) {
    return { action: 'move', reason: `${c.localRestarts} restarts in a row on this node: replaced, preferring another node`, counters: c };
  }
  const delayMs = restartDelayMs(spec, c.failuresInRow);
  const counters = { failuresInRow: c.failuresInRow + 1, localRestarts: c.localRestarts + 1 };
  return { action: 'restart', delayMs, counters, reason: describeEnd(run), ...(kept ? { note: KEPT_FOR_LIMIT } : {}) };
}
