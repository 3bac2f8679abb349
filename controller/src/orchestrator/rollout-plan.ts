// PURE rolling-update planner, called by the replicated planner with the slots it settled. It
// decides which slots running an outdated spec are replaced now, within the budgets of
// spec.update, keeps the rollout record (state, failures) and says when to roll back.
//
// Budgets (docs/lifecycle.md):
// - start-first: a slot being replaced runs its old and its new task side by side until the new
//   one is ready; at most maxSurge such slots at once. Nothing ready is stopped early, so ready
//   tasks never drop below replicas − maxUnavailable because of the update.
// - stop-first: the old task stops, then the new one starts; a slot is taken only while fewer
//   than maxUnavailable slots lack a ready task.
// - delay > 0: slots are taken in batches; the next batch starts `delay` after the last one is ready.
// - A new task that fails (ends, restarts, turns unhealthy, cannot pull) before the rollout is over
//   marks its slot failed; more failed slots than maxFailureRatio · replicas triggers failureAction.
//   The rollout is over `monitor` after its last task turned ready.
// - An update that makes no progress (no new task turns ready, no old one is retired) for
//   progressDeadline fails with what its waiting tasks wait for, and failureAction applies. The
//   time of the last progress is in the record (a new leader counts on from it); waiting for
//   `delay` or for a pause is not a stall. Slots without an outdated task (scale-up, first
//   deployment) are not the update's: their pending tasks wait for capacity as any others.
import type { ServiceRecord, TaskRecord } from '../../../proto/src/model.js';
import {
  describeWaiting,
  hasFailed,
  isOutdated,
  isReady,
  type RolloutRecord,
  type RolloutState,
} from '../../../proto/src/lifecycle-model.js';
import { progressDeadlineOf, resolveCount } from '../../../proto/src/spec/lifecycle.js';
import { formatDuration } from '../../../proto/src/spec/units.js';
import { isTerminal } from '../../../proto/src/types.js';

export interface SlotState {
  slot: number;
  /** Live tasks kept in the slot, oldest first: the current one, or an outdated one and its successor. */
  live: TaskRecord[];
  /** Every task of the slot, oldest first (history included). */
  tasks: TaskRecord[];
  /** The slot is empty and gets a new task once its restart backoff has passed. */
  refillPending?: boolean;
}

export interface RolloutInput {
  service: ServiceRecord;
  /** Slots 1..replicas. */
  slots: SlotState[];
  record: RolloutRecord | undefined;
  nowMs: number;
}

export interface RolloutEvent {
  state: RolloutState | 'failure';
  message: string;
}

export interface RolloutPlan {
  /** Outdated live tasks to stop now. */
  shutdown: string[];
  /** Slots that get a new task now. */
  replace: number[];
  /** The record to store, when it changed. */
  record?: RolloutRecord;
  /** Roll back to this revision (failureAction rollback). */
  rollbackTo?: { revision: number; reason: string };
  requeueAfterMs?: number;
  events: RolloutEvent[];
}

const DONE_STATES: readonly RolloutState[] = ['completed', 'rollback_completed'];

/**
 * The live tasks a slot keeps. `current` is the newest live task that runs the service's spec (or,
 * when none does, the newest live task); `predecessor` is the outdated task that keeps serving
 * while its start-first successor `current` is not ready yet. Every other live task of the slot
 * is surplus (a lost race, or a successor of a revision that was rolled back: after a rollback
 * the older task runs the current spec again and the newer one is the outdated one).
 */
export function slotRoles(
  svc: ServiceRecord,
  live: readonly TaskRecord[],
  isDead: (t: TaskRecord) => boolean,
): { current?: TaskRecord; predecessor?: TaskRecord } {
  const current = [...live].reverse().find((t) => !isOutdated(t, svc)) ?? live[live.length - 1];
  if (!current || isOutdated(current, svc) || (isReady(current) && !isDead(current))) return current ? { current } : {};
  const predecessor = [...live].reverse().find((t) => t !== current && isOutdated(t, svc) && !isDead(t));
  return predecessor ? { current, predecessor } : { current };
}

/** The record of a rollout that starts now (a new revision of the service). */
export function startRecord(svc: ServiceRecord, prev: RolloutRecord | undefined, nowMs: number): RolloutRecord {
  const stable = prev ? (DONE_STATES.includes(prev.state) ? prev.revision : prev.previousRevision) : 0;
  const paused = prev?.paused ?? false;
  return {
    namespace: svc.meta.namespace,
    name: svc.meta.name,
    revision: svc.specRevision,
    previousRevision: stable,
    state: paused ? 'paused' : 'updating',
    paused,
    failedSlots: [],
    message: paused
      ? `revision ${svc.specRevision} waits: rollouts are paused (berth rollout resume)`
      : `rolling out revision ${svc.specRevision}`,
    startedAtMs: nowMs,
    updatedAtMs: nowMs,
    progressAtMs: nowMs,
  };
}

/** Slots of the update: they run, or ran, an outdated task (history included). */
function replacing(svc: ServiceRecord, s: SlotState): boolean {
  return s.tasks.some((t) => isOutdated(t, svc)) || s.live.some((t) => isOutdated(t, svc));
}

/**
 * Where the update of `svc` stands for a person: what its unfinished slots wait for, and whether
 * every new task of the step is unplaceable ("stuck"). The tasks are those of the service
 * (history included); undefined when no slot of the update is unfinished.
 */
export function rolloutWaiting(svc: ServiceRecord, slots: readonly SlotState[]): { stuck: boolean; reason: string } | undefined {
  const waiting: TaskRecord[] = [];
  let unfinished = 0;
  for (const s of slots) {
    if (!replacing(svc, s)) continue;
    const newest = s.live[s.live.length - 1];
    const fresh = newest && !isOutdated(newest, svc) ? newest : undefined;
    if (fresh && isReady(fresh)) continue;
    unfinished++;
    if (fresh) waiting.push(fresh);
    else if (s.live.length === 0 && s.tasks.length > 0) waiting.push(s.tasks[s.tasks.length - 1]!); // waits for its refill
  }
  if (unfinished === 0) return undefined;
  return waiting.length > 0 ? describeWaiting(waiting) : { stuck: false, reason: 'outdated tasks wait for their turn' };
}

export function planRollout(input: RolloutInput): RolloutPlan {
  const { service: svc, slots, nowMs } = input;
  const plan: RolloutPlan = { shutdown: [], replace: [], events: [] };
  const replicas = svc.spec.replicas;
  const u = svc.spec.update;
  let rec: RolloutRecord;
  if (!input.record || input.record.revision !== svc.specRevision) {
    rec = startRecord(svc, input.record, nowMs);
    plan.events.push({ state: rec.state, message: rec.message });
  } else rec = { ...input.record, failedSlots: [...input.record.failedSlots] };
  const rollingBack = rec.rollbackOf !== undefined;
  const over = DONE_STATES.includes(rec.state);

  let unavailable = 0;
  let surge = 0;
  let inFlight = 0;
  let lastReadyAt = 0;
  let refilling = 0;
  let updated = 0;
  let outdatedLive = 0;
  let deadlineRequeue: number | undefined;
  const pending: SlotState[] = [];
  const failed = new Set(rec.failedSlots);
  for (const s of slots) {
    // Failures of this revision's tasks count until the rollout is over.
    if (!over && s.tasks.some((t) => t.specRevision === svc.specRevision && !isOutdated(t, svc) && hasFailed(t))) failed.add(s.slot);
    const newest = s.live[s.live.length - 1];
    const old = s.live.find((t) => isOutdated(t, svc));
    const fresh = newest && !isOutdated(newest, svc) ? newest : undefined;
    if (!s.live.some(isReady)) unavailable++;
    if (s.live.length === 0 && s.refillPending) refilling++;
    outdatedLive += s.live.filter((t) => isOutdated(t, svc)).length;
    if (fresh && isReady(fresh)) {
      updated++;
      lastReadyAt = Math.max(lastReadyAt, fresh.status.timestampMs);
      if (old) plan.shutdown.push(old.id); // start-first: the successor is ready
      continue;
    }
    if (fresh) {
      inFlight++;
      if (old) surge++;
    } else if (old) pending.push(s);
  }

  // Failures beyond the tolerated ratio.
  const newFailures = [...failed].filter((x) => !rec.failedSlots.includes(x)).sort((a, b) => a - b);
  if (newFailures.length > 0) {
    rec.failedSlots = [...failed].sort((a, b) => a - b);
    plan.events.push({
      state: 'failure',
      message: `new task failed in slot ${newFailures.join(', ')} (${rec.failedSlots.length} of ${replicas})`,
    });
  }
  /** failureAction rollback or pause; true when the rollout rolls back (nothing else happens now). */
  const fail = (why: string): boolean => {
    if (u.failureAction === 'rollback' && !rollingBack && rec.previousRevision > 0) {
      plan.rollbackTo = { revision: rec.previousRevision, reason: why };
      return true;
    }
    rec.paused = true;
    rec.state = rollingBack ? 'rollback_paused' : 'paused';
    rec.message = `paused: ${why}${rollingBack ? ' during the rollback' : u.failureAction === 'rollback' ? '; no earlier revision to roll back to' : ''}`;
    plan.events.push({ state: rec.state, message: rec.message });
    return false;
  };
  const tooMany = !over && rec.failedSlots.length > u.maxFailureRatio * replicas;
  if (tooMany && !rec.paused && u.failureAction !== 'continue') {
    if (fail(`${rec.failedSlots.length} of ${replicas} new tasks failed (maxFailureRatio ${u.maxFailureRatio})`))
      return finish(plan, input.record, rec, nowMs);
  }

  // Progress: a new task turned ready (more slots updated) or an old one was retired.
  const mark = { updated, outdated: outdatedLive };
  const before = over ? mark : rec.progressMark;
  if (!before || mark.updated > before.updated || mark.outdated < before.outdated) {
    rec.progressAtMs = nowMs;
    if (rec.deadlineExceeded) {
      delete rec.deadlineExceeded;
      rec.message = `${rollingBack ? 'rolling back' : 'rolling out'} revision ${rec.revision}: progressing again`;
    }
  }
  if (!before || before.updated !== mark.updated || before.outdated !== mark.outdated) rec.progressMark = mark;
  // The deadline: no progress for progressDeadline while slots of the update are unfinished.
  const deadlineMs = progressDeadlineOf(u);
  const waiting = over || rec.paused ? undefined : rolloutWaiting(svc, slots);
  if (waiting && !rec.deadlineExceeded) {
    // Waiting for the next batch (delay) is not a stall: the clock runs from when it opens.
    const since = Math.max(rec.progressAtMs ?? rec.startedAtMs, u.delay > 0 && lastReadyAt > 0 ? lastReadyAt + u.delay : 0);
    const left = since + deadlineMs - nowMs;
    if (left > 0) deadlineRequeue = left;
    else {
      const why = `no progress for ${formatDuration(deadlineMs)} (update.progressDeadline): ${waiting.reason}`;
      if (u.failureAction === 'continue') {
        rec.deadlineExceeded = true;
        rec.message = `${why}; the rollout goes on (failureAction continue)`;
        plan.events.push({ state: 'failure', message: rec.message });
      } else if (fail(why)) return finish(plan, input.record, rec, nowMs);
    }
  }

  // An empty slot waiting for its refill is not done: the rollout is not over before it runs.
  const work = pending.length + inFlight + plan.shutdown.length + refilling;
  if (rec.paused && work > 0) {
    const pausedState: RolloutState = rollingBack ? 'rollback_paused' : 'paused';
    if (rec.state !== pausedState) {
      rec.state = pausedState;
      rec.message = rec.message.startsWith('paused') ? rec.message : 'paused by the user (berth rollout resume)';
      plan.events.push({ state: rec.state, message: rec.message });
    }
    return finish(plan, input.record, rec, nowMs);
  }

  if (deadlineRequeue !== undefined) plan.requeueAfterMs = deadlineRequeue;
  // Take outdated slots within the budget (with a delay, only between batches).
  const batchOpen = u.delay === 0 || (inFlight === 0 && nowMs >= lastReadyAt + u.delay);
  if (!batchOpen && inFlight === 0 && pending.length > 0)
    plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, lastReadyAt + u.delay - nowMs);
  if (batchOpen && u.order === 'start-first') {
    const budget = Math.max(1, resolveCount(u.maxSurge, replicas, 'up')) - surge;
    for (const s of pending.slice(0, Math.max(0, budget))) plan.replace.push(s.slot);
  } else if (batchOpen) {
    let budget = Math.max(1, resolveCount(u.maxUnavailable, replicas, 'down')) - unavailable;
    for (const s of pending) {
      const old = s.live.find((t) => isOutdated(t, svc))!;
      const cost = s.live.some(isReady) ? 1 : 0;
      if (cost > budget) break;
      budget -= cost;
      plan.shutdown.push(old.id);
      plan.replace.push(s.slot);
    }
  }

  // Over: every slot runs the revision, ready, and the monitor window has passed.
  if (!over && work === 0) {
    // The monitor window guards updates; a first deployment has nothing to roll back to.
    const monitorLeft = rec.previousRevision > 0 ? lastReadyAt + u.monitor - nowMs : 0;
    if (monitorLeft > 0) plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, monitorLeft);
    else {
      rec.state = rollingBack ? 'rollback_completed' : 'completed';
      const failures =
        rec.failedSlots.length > 0 ? ` (${rec.failedSlots.length} failed task${rec.failedSlots.length === 1 ? '' : 's'} tolerated)` : '';
      const why = rec.rollbackReason ? ` after revision ${rec.rollbackOf} failed (${rec.rollbackReason})` : '';
      rec.message = rollingBack
        ? `rolled back to the spec of revision ${rec.previousRevision} (revision ${rec.revision})${why}${failures}`
        : `revision ${rec.revision} runs on every replica${failures}`;
      plan.events.push({ state: rec.state, message: rec.message });
    }
  } else if (!over && !rec.paused && rec.state !== 'updating' && rec.state !== 'rollback_started') {
    rec.state = rollingBack ? 'rollback_started' : 'updating';
  }
  return finish(plan, input.record, rec, nowMs);
}

function finish(plan: RolloutPlan, before: RolloutRecord | undefined, rec: RolloutRecord, nowMs: number): RolloutPlan {
  const strip = (r: RolloutRecord | undefined): string => JSON.stringify(r ? { ...r, updatedAtMs: 0 } : null);
  if (strip(before) !== strip(rec)) plan.record = { ...rec, updatedAtMs: nowMs };
  return plan;
}

/** "3/10 updated, 9 ready" — the progress line of `berth rollout status`. */
export interface RolloutProgress {
  replicas: number;
  /** Slots whose live task runs the current spec and is ready. */
  updated: number;
  /** Slots with at least one ready task. */
  ready: number;
  /** Live tasks still running an outdated spec. */
  outdated: number;
}

export function rolloutProgress(svc: ServiceRecord, tasks: readonly TaskRecord[]): RolloutProgress {
  // A global service's "slots" are its nodes (tasks pinned with targetNodeId).
  const global = svc.spec.mode === 'global';
  const bySlot = new Map<number | string, TaskRecord[]>();
  for (const t of tasks) {
    if (t.serviceUid !== svc.meta.uid || t.desiredState !== 'running') continue;
    const key = global ? t.targetNodeId : t.slot >= 1 && t.slot <= svc.spec.replicas ? t.slot : undefined;
    if (key === undefined) continue;
    bySlot.set(key, [...(bySlot.get(key) ?? []), t]);
  }
  let updated = 0;
  let ready = 0;
  let outdated = 0;
  for (const live of bySlot.values()) {
    if (live.some(isReady)) ready++;
    if (live.some((t) => isReady(t) && !isOutdated(t, svc))) updated++;
    outdated += live.filter((t) => isOutdated(t, svc)).length;
  }
  return { replicas: global ? bySlot.size : svc.spec.replicas, updated, ready, outdated };
}

/**
 * "stuck": why every new task of the update's current step cannot be placed, or undefined while
 * anything can still move (`berth rollout status` and `apply --wait` say so before the deadline).
 * From the service's tasks, history included, grouped by slot (by node for a global service).
 */
export function rolloutStuck(svc: ServiceRecord, tasks: readonly TaskRecord[]): string | undefined {
  const global = svc.spec.mode === 'global';
  const bySlot = new Map<number | string, TaskRecord[]>();
  for (const t of tasks) {
    if (t.serviceUid !== svc.meta.uid) continue;
    const key = global ? t.targetNodeId : t.slot >= 1 && t.slot <= svc.spec.replicas ? t.slot : undefined;
    if (key === undefined) continue;
    bySlot.set(key, [...(bySlot.get(key) ?? []), t]);
  }
  const slots: SlotState[] = [...bySlot.values()].map((list) => {
    const sorted = [...list].sort((a, b) => a.createdAtMs - b.createdAtMs || a.id.localeCompare(b.id));
    return {
      slot: sorted[0]!.slot,
      tasks: sorted,
      live: sorted.filter((t) => t.desiredState === 'running' && !isTerminal(t.status.state)),
    };
  });
  const w = rolloutWaiting(svc, slots);
  return w?.stuck ? w.reason : undefined;
}
