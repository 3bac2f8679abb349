// Has a service converged? A pure reading of a service and its tasks (history included), shared
// by `berth apply --wait`, `berth scale --wait` and `berth describe`, and meant to be extended
// by rollout-aware status (`berth rollout status`).
//
// Converged: every slot 1..replicas has a task that runs the current spec (healthy, when the
// container has a health check), and no task of an older spec or a removed slot is still meant
// to run. Containers still stopping do not hold convergence back. A scale-only change keeps its
// tasks (they run the same task spec), so they count as current. A caller that watches over time
// (apply --wait) passes isStable, so a container that runs for a moment and exits is not taken
// for a converged service.
//
// Failed: some slot's task at the current spec ended CRASH_LOOP_FAILURES times (failed, rejected
// or exited) and the slot is not running now: waiting longer will not help. A task that cannot
// be placed is not a failure (capacity may come); it is progress that a timeout ends, with the
// scheduler's reason.
import type { TaskRecord } from './model.js';
import { taskSpecKey, type ServiceSpec } from './spec/service.js';
import { isTerminal } from './types.js';

/** Ends of one slot at the current spec that make it a crash loop rather than bad luck. */
export const CRASH_LOOP_FAILURES = 3;

export interface ServiceView {
  uid: string;
  specRevision: number;
  spec: ServiceSpec;
  deleting: boolean;
}

export type ConvergencePhase = 'converged' | 'progressing' | 'failed';

export interface ConvergenceOptions {
  /** Whether a running task has been seen running long enough to count (default: always). */
  isStable?: (t: TaskRecord) => boolean;
}

export interface Convergence {
  phase: ConvergencePhase;
  desired: number;
  /** Slots running the current spec (and healthy, when checked). */
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
  /** Newest end of a current-spec task (failed, rejected, exited), when there is one. */
  lastFailure?: string;
  /** Why the service failed (phase failed). */
  reason?: string;
  /** One line for people: "2/3 running, 1 pending (no suitable node: ...)". */
  summary: string;
}

const ENDED: ReadonlySet<string> = new Set(['failed', 'rejected', 'complete']);

function endMessage(t: TaskRecord): string {
  const detail = t.status.err && !t.status.message.includes(t.status.err) ? `: ${t.status.err}` : '';
  return `${t.service}.${t.slot} ${t.status.state}: ${t.status.message || t.status.state}${detail}`;
}

/** A running task counts once its health check (if any) says healthy. */
function isReady(t: TaskRecord): boolean {
  return t.status.state === 'running' && t.status.health !== 'starting' && t.status.health !== 'unhealthy';
}

export function evaluateConvergence(svc: ServiceView, allTasks: readonly TaskRecord[], opts: ConvergenceOptions = {}): Convergence {
  const tasks = allTasks.filter((t) => t.serviceUid === svc.uid);
  const desired = svc.deleting ? 0 : svc.spec.replicas;
  const want = taskSpecKey(svc.spec);
  const current = (t: TaskRecord): boolean => t.specRevision === svc.specRevision || taskSpecKey(t.spec) === want;
  const newestFirst = [...tasks].sort((a, b) => b.createdAtMs - a.createdAtMs || b.id.localeCompare(a.id));

  let ready = 0;
  let settling = 0;
  let starting = 0;
  let pending = 0;
  let outdated = 0;
  let surplus = 0;
  const reasons = new Set<string>();
  let crash: TaskRecord | undefined;
  let lastFailure: TaskRecord | undefined;

  for (const t of newestFirst) {
    if (current(t) && ENDED.has(t.status.state) && !lastFailure) lastFailure = t;
  }
  const live = newestFirst.filter((t) => t.desiredState === 'running' && !isTerminal(t.status.state));
  const liveBySlot = new Map<number, TaskRecord>();
  for (const t of live) {
    if (t.slot > desired) {
      surplus++;
      continue;
    }
    if (liveBySlot.has(t.slot)) continue; // an older duplicate: the planner stops it
    liveBySlot.set(t.slot, t);
    if (!current(t)) outdated++;
    else if (isReady(t)) {
      ready++;
      if (opts.isStable && !opts.isStable(t)) settling++;
    }
    else if (t.nodeId === '' || t.status.state === 'pending') {
      pending++;
      if (t.status.message) reasons.add(t.status.message);
    } else starting++;
  }
  for (let slot = 1; slot <= desired; slot++) {
    const now = liveBySlot.get(slot);
    if (now && current(now) && isReady(now)) continue;
    const ends = newestFirst.filter((t) => t.slot === slot && current(t) && ENDED.has(t.status.state));
    if (ends.length >= CRASH_LOOP_FAILURES && !crash) crash = ends[0];
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
  if (lastFailure) out.lastFailure = endMessage(lastFailure);

  if (svc.deleting) {
    out.phase = 'failed';
    out.reason = 'the service is being deleted';
  } else if (crash) {
    out.phase = 'failed';
    out.reason = `crash loop: ${endMessage(crash)} (ended ${CRASH_LOOP_FAILURES} or more times at this revision)`;
  } else if (ready === desired && settling === 0 && outdated === 0 && surplus === 0 && starting === 0 && pending === 0) {
    out.phase = 'converged';
  }
  return out;
}
