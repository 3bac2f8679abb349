// Has a service converged? A pure reading of a service and its tasks (history included), shared
// by `berth apply --wait`, `berth scale --wait` and `berth describe`. The rollout's own state
// (`berth rollout status`, RolloutAPI) is folded in by judgeRollout below.
//
// A replica is a slot 1..replicas, or for a global service a node it has a task meant to run on.
// Converged: every slot 1..replicas has a ready task (running; healthy when it has a health
// check) that runs what the service asks for now, and no task of an older spec or a removed slot
// is still meant to run. Containers still stopping do not hold convergence back. A scale-only
// change keeps its tasks (they run the same task spec), so they count as current. A caller that
// watches over time (apply --wait) passes isStable, so a container that runs for a moment and
// exits is not taken for a converged service.
//
// Failed: waiting longer will not help.
// - A crash loop: a slot's container at the current spec failed CRASH_LOOP_FAILURES times in a
//   row (restarted in place, or replaced: the counts the agent and the orchestrator carry) and the
//   slot is not ready now.
// - A slot the restart policy gave up on: it ended and will not be refilled (policy never;
//   on-failure after a clean exit or maxAttempts failures).
// - The service is being deleted.
// A task that cannot be placed is not a failure (capacity may come): it is progress that a
// timeout ends, with the scheduler's reason.
import { failuresInRow, isOutdated, isReady, taskName } from './lifecycle-model.js';
import type { TaskRecord } from './model.js';
import { modeOf } from './spec/placement.js';
import type { ServiceSpec } from './spec/service.js';
import { isTerminal } from './types.js';
import { formatDuration } from './spec/units.js';

/** Failures in a row of one slot at the current spec that make it a crash loop rather than bad luck. */
export const CRASH_LOOP_FAILURES = 3;

export interface ServiceView {
  uid: string;
  specRevision: number;
  spec: ServiceSpec;
  deleting: boolean;
  restartGeneration?: number;
}

export interface ConvergenceOptions {
  /** Whether a running task has been seen running long enough to count (default: always). */
  isStable?: (t: TaskRecord) => boolean;
}

export type ConvergencePhase = 'converged' | 'progressing' | 'failed';

export interface Convergence {
  phase: ConvergencePhase;
  desired: number;
  /** Slots with a ready task of the current spec. */
  ready: number;
  /** Of those, the ones not yet watched long enough (isStable false). */
  settling: number;
  /** Current-spec tasks placed but not ready yet. */
  starting: number;
  /** Current-spec tasks waiting for placement. */
  pending: number;
  /** Live tasks of an older spec, waiting to be replaced. */
  outdated: number;
  /** Live tasks in slots above the replica count, waiting to be stopped. */
  surplus: number;
  /** Distinct scheduler reasons of the pending tasks. */
  pendingReasons: string[];
  /** Newest failure of a current-spec task (ended, or restarted in place), when there is one. */
  lastFailure?: string;
  /** Why the service failed (phase failed). */
  reason?: string;
  /** One line for people: "2/3 running, 1 pending (no suitable node: ...)". */
  summary: string;
}

const ENDED: ReadonlySet<string> = new Set(['failed', 'rejected', 'complete']);

function failureMessage(t: TaskRecord): string {
  const detail = t.status.err && !t.status.message.includes(t.status.err) ? `: ${t.status.err}` : '';
  return `${taskName(t)} ${t.status.state}: ${t.status.message || t.status.state}${detail}`;
}

/** Failures in a row behind a task: those before it (carried by the orchestrator), its restarts, its own end. */
function failuresOf(t: TaskRecord): number {
  return failuresInRow(t) + (ENDED.has(t.status.state) && t.status.state !== 'complete' ? 1 : 0);
}

/** Why the restart policy will not refill a slot whose newest task ended, or undefined when it will. */
function givenUp(spec: ServiceSpec, last: TaskRecord): string | undefined {
  const r = spec.restart;
  if (r.policy === 'never') return 'restart policy never';
  if (r.policy === 'on-failure' && last.status.state === 'complete') return 'completed (restart policy on-failure)';
  if (r.policy === 'on-failure' && r.maxAttempts !== undefined && failuresOf(last) > r.maxAttempts)
    return `gave up after ${r.maxAttempts} restarts (maxAttempts)`;
  return undefined;
}

export function evaluateConvergence(svc: ServiceView, allTasks: readonly TaskRecord[], opts: ConvergenceOptions = {}): Convergence {
  const tasks = allTasks.filter((t) => t.serviceUid === svc.uid);
  const current = (t: TaskRecord): boolean => !isOutdated(t, svc);
  const newestFirst = [...tasks].sort((a, b) => b.createdAtMs - a.createdAtMs || b.id.localeCompare(a.id));
  // What a replica is: a slot 1..replicas, or for a global service a node (one task per eligible
  // node; the nodes it wants are those it has a task meant to run on).
  const global = modeOf(svc.spec) === 'global';
  const keyOf = (t: TaskRecord): string => (global ? `node ${t.targetNodeId || t.nodeId}` : `slot ${t.slot}`);
  const wanted: string[] = svc.deleting
    ? []
    : global
      ? [...new Set(tasks.filter((t) => t.desiredState === 'running').map(keyOf))].sort()
      : Array.from({ length: svc.spec.replicas }, (_, i) => `slot ${i + 1}`);
  const wantedSet = new Set(wanted);
  const desired = wanted.length;

  let ready = 0;
  let settling = 0;
  let starting = 0;
  let pending = 0;
  let outdated = 0;
  let surplus = 0;
  const reasons = new Set<string>();
  let failure: string | undefined;
  // A task restarted in place is a failure while its container waits for the restart (its message
  // says why it ended); once up again, the failure is history and its message says "running".
  const lastFailure = newestFirst.find((t) => current(t) && (ENDED.has(t.status.state) || t.status.container === 'backoff'));

  const live = newestFirst.filter((t) => t.desiredState === 'running' && !isTerminal(t.status.state));
  const liveByKey = new Map<string, TaskRecord>();
  for (const t of live) {
    const key = keyOf(t);
    if (!wantedSet.has(key)) {
      surplus++;
      continue;
    }
    if (liveByKey.has(key)) continue; // an older one of the same replica: the planner stops it (or hands over)
    liveByKey.set(key, t);
    if (!current(t)) outdated++;
    else if (isReady(t)) {
      ready++;
      if (opts.isStable && !opts.isStable(t)) settling++;
    } else if (t.nodeId === '' || t.status.state === 'pending') {
      pending++;
      if (t.status.message) reasons.add(t.status.message);
    } else starting++;
  }
  for (const key of wanted) {
    if (failure) break;
    const now = liveByKey.get(key);
    if (now && current(now) && isReady(now)) continue;
    const mine = newestFirst.filter((t) => keyOf(t) === key && current(t));
    const ended = mine.filter((t) => ENDED.has(t.status.state) && t.status.state !== 'complete').length;
    const inRow = Math.max(ended, ...mine.map(failuresOf));
    const newest = mine[0];
    if (inRow >= CRASH_LOOP_FAILURES && newest) {
      const shown = mine.find((t) => ENDED.has(t.status.state) || (t.status.restarts ?? 0) > 0) ?? newest;
      failure = `crash loop: ${failureMessage(shown)} (failed ${inRow} times in a row at this revision)`;
    } else if (!now && newest && ENDED.has(newest.status.state)) {
      const why = givenUp(svc.spec, newest);
      if (why) failure = `${failureMessage(newest)}; not restarted: ${why}`;
    }
  }

  const parts = [`${ready}/${desired} running${settling ? ` (${settling} just started)` : ''}`];
  if (starting) parts.push(`${starting} starting`);
  if (pending) parts.push(`${pending} pending${reasons.size ? ` (${[...reasons].join('; ')})` : ''}`);
  if (outdated) parts.push(`${outdated} outdated`);
  if (surplus) parts.push(`${surplus} to stop`);
  const out: Convergence = {
    phase: 'progressing',
    desired,
    ready,
    settling,
    starting,
    pending,
    outdated,
    surplus,
    pendingReasons: [...reasons],
    summary: parts.join(', '),
  };
  if (lastFailure) out.lastFailure = failureMessage(lastFailure);

  if (svc.deleting) {
    out.phase = 'failed';
    out.reason = 'the service is being deleted';
  } else if (failure) {
    out.phase = 'failed';
    out.reason = failure;
  } else if (ready === desired && settling === 0 && outdated === 0 && surplus === 0 && starting === 0 && pending === 0) {
    out.phase = 'converged';
  }
  return out;
}

/** What a wait needs of the rollout state (RolloutAPI's RolloutStatus). */
export interface RolloutView {
  /** The revision being rolled out. */
  revision: number;
  state: string;
  /** Nothing more happens without a person (completed, paused, rolled back). */
  done: boolean;
  /** Set on an automatic rollback: the revision that failed. */
  rollbackOf: number;
  message: string;
  /** Why every new task of the current step cannot be placed ('' or absent: it can move). */
  stuck?: string;
  /** update.progressDeadline (ms). */
  progressDeadlineMs?: number;
  /** The progress deadline passed; failureAction continue keeps the rollout going. */
  deadlineExceeded?: boolean;
}

/**
 * "stuck: web.2 pending: no suitable node: … (the rollout fails after 2m without progress:
 * update.progressDeadline)" while every new task of the rollout's step cannot be placed;
 * undefined otherwise.
 */
export function stuckNote(r: Pick<RolloutView, 'stuck' | 'progressDeadlineMs'>): string | undefined {
  if (!r.stuck) return undefined;
  const ms = r.progressDeadlineMs ?? 0;
  return `stuck: ${r.stuck}${ms > 0 ? ` (the rollout fails after ${formatDuration(ms)} without progress: update.progressDeadline)` : ''}`;
}

/**
 * Why a wait for `expected` (the revision an apply or scale wrote) has failed by the rollout's
 * account, or undefined: the revision was rolled back, or its rollout stopped (paused) and waits
 * for a person.
 */
export function judgeRollout(expected: number, r: RolloutView): string | undefined {
  if (r.rollbackOf && r.rollbackOf >= expected) return `rollout of revision ${r.rollbackOf} failed and was rolled back: ${r.message}`;
  if (r.revision >= expected && r.done && r.state !== 'completed' && r.state !== 'rollback_completed')
    return `rollout of revision ${r.revision} ${r.state}: ${r.message}`;
  if (r.revision >= expected && r.deadlineExceeded) return `rollout of revision ${r.revision} failed: ${r.message}`;
  return undefined;
}

/**
 * Folds the rollout's account into a convergence judgement of the revision `expected`: a rollout
 * that failed (judgeRollout) fails it; a stuck one says so first in its summary.
 */
export function foldRollout(c: Convergence, expected: number, r: RolloutView): void {
  const failed = judgeRollout(expected, r);
  if (failed && c.phase !== 'failed')
    Object.assign(c, { phase: 'failed', reason: c.lastFailure ? `${failed}; last failure: ${c.lastFailure}` : failed });
  const stuck = r.revision >= expected ? stuckNote(r) : undefined;
  if (stuck && c.phase === 'progressing') c.summary = `${stuck}; ${c.summary}`;
}
