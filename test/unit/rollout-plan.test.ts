// The rolling-update planner (controller/src/orchestrator/rollout-plan.ts): table tests of its
// budgets (start-first / stop-first with counts and percentages), the monitor window, the delay
// between batches and the failure actions; then a simulation that drives planReplicated through
// time with random outcomes (fast-check) and checks that ready slots never drop below
// replicas − maxUnavailable, automatic rollbacks included.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planRollout, rolloutStuck, type SlotState } from '../../controller/src/orchestrator/rollout-plan.js';
import { planReplicated } from '../../controller/src/orchestrator/replicated-plan.js';
import { rollbackRecord } from '../../controller/src/store/revisions.js';
import type { ServiceRecord, TaskRecord } from '../../proto/src/model.js';
import type { RolloutRecord } from '../../proto/src/lifecycle-model.js';
import { isReady } from '../../proto/src/lifecycle-model.js';
import { resolveCount, type UpdateSpec } from '../../proto/src/spec/lifecycle.js';
import { isTerminal } from '../../proto/src/types.js';
import { T0, configureProperties, mockService, mockTask } from './fixtures.js';

configureProperties();

const REPLICAS = 10;

/** Revision 1 (image v1) and revision 2 (image v2) of a service with the given update settings. */
function revisions(update: Partial<UpdateSpec>, replicas = REPLICAS): { v1: ServiceRecord; v2: ServiceRecord } {
  const base = mockService({ replicas }).spec.update;
  const v1 = mockService({ replicas, specRevision: 1, spec: { image: 'web:1', update: { ...base, ...update } } });
  const v2 = mockService({ replicas, specRevision: 2, spec: { image: 'web:2', update: { ...base, ...update } } });
  return { v1, v2 };
}

/** The record of revision 2's rollout, under way, coming from revision 1. */
function updating(over: Partial<RolloutRecord> = {}): RolloutRecord {
  return {
    namespace: 'default',
    name: 'web',
    revision: 2,
    previousRevision: 1,
    state: 'updating',
    paused: false,
    failedSlots: [],
    message: 'rolling out revision 2',
    startedAtMs: T0,
    updatedAtMs: T0,
    ...over,
  };
}

type SlotKind =
  /** Only the old task, ready. */
  | 'old'
  /** Only the old task, not ready (e.g. still starting). */
  | 'old-unready'
  /** Old task ready, its start-first successor not ready yet. */
  | 'surging'
  /** Old task ready, successor ready (the old one is stopped now). */
  | 'surged'
  /** Only the new task, not ready yet. */
  | 'new-starting'
  /** Only the new task, ready. */
  | 'new'
  /** Only the new task, which failed. */
  | 'new-failed';

/** Slot states of `v2`'s rollout from `v1`, one per kind, slots numbered from 1. */
function slots(v1: ServiceRecord, v2: ServiceRecord, kinds: SlotKind[], readyAtMs = T0): SlotState[] {
  return kinds.map((kind, i) => {
    const slot = i + 1;
    const old = mockTask(v1, { slot, instance: 0, state: kind === 'old-unready' ? 'starting' : 'running' });
    const fresh = (state: TaskRecord['status']['state']): TaskRecord => mockTask(v2, { slot, instance: 1, state, timestampMs: readyAtMs });
    const live = {
      old: [old],
      'old-unready': [old],
      surging: [old, fresh('starting')],
      surged: [old, fresh('running')],
      'new-starting': [fresh('starting')],
      new: [fresh('running')],
      'new-failed': [fresh('running')],
    }[kind];
    if (kind === 'new-failed') live[0] = { ...live[0]!, status: { ...live[0]!.status, state: 'failed' } };
    return { slot, live, tasks: live };
  });
}

const many = (kind: SlotKind, n: number): SlotKind[] => Array.from({ length: n }, () => kind);
const ids = (s: SlotState[], slotNumbers: number[]): string[] => slotNumbers.map((n) => s[n - 1]!.live[0]!.id);

describe('planRollout: budgets', () => {
  const cases: Array<{ name: string; update: Partial<UpdateSpec>; kinds: SlotKind[]; replace: number[]; shutdownSlots: number[] }> = [
    // start-first: slots taken = maxSurge − slots already surging; nothing ready stops early.
    {
      name: 'start-first, maxSurge 3',
      update: { order: 'start-first', maxSurge: 3 },
      kinds: many('old', 10),
      replace: [1, 2, 3],
      shutdownSlots: [],
    },
    {
      name: 'start-first, maxSurge 25% of 10 rounds up to 3',
      update: { order: 'start-first', maxSurge: '25%' },
      kinds: many('old', 10),
      replace: [1, 2, 3],
      shutdownSlots: [],
    },
    {
      name: 'start-first, maxSurge 10% of 10 is 1',
      update: { order: 'start-first', maxSurge: '10%' },
      kinds: many('old', 10),
      replace: [1],
      shutdownSlots: [],
    },
    {
      name: 'start-first, 2 surging of maxSurge 3: one more',
      update: { order: 'start-first', maxSurge: 3 },
      kinds: ['surging', 'surging', ...many('old', 8)],
      replace: [3],
      shutdownSlots: [],
    },
    {
      name: 'start-first, budget used up: nothing',
      update: { order: 'start-first', maxSurge: 2 },
      kinds: ['surging', 'surging', ...many('old', 8)],
      replace: [],
      shutdownSlots: [],
    },
    {
      name: 'start-first, a ready successor stops its predecessor and frees the budget',
      update: { order: 'start-first', maxSurge: 2 },
      kinds: ['surged', 'surging', ...many('old', 8)],
      replace: [3],
      shutdownSlots: [1],
    },
    {
      name: 'start-first, maxUnavailable plays no part',
      update: { order: 'start-first', maxSurge: 1, maxUnavailable: 5 },
      kinds: many('old', 10),
      replace: [1],
      shutdownSlots: [],
    },
    // stop-first: old tasks stop first, while fewer than maxUnavailable slots lack a ready task.
    {
      name: 'stop-first, maxUnavailable 2',
      update: { order: 'stop-first', maxSurge: 0, maxUnavailable: 2 },
      kinds: many('old', 10),
      replace: [1, 2],
      shutdownSlots: [1, 2],
    },
    {
      name: 'stop-first, maxUnavailable 25% of 10 rounds down to 2',
      update: { order: 'stop-first', maxSurge: 0, maxUnavailable: '25%' },
      kinds: many('old', 10),
      replace: [1, 2],
      shutdownSlots: [1, 2],
    },
    {
      name: 'stop-first, maxUnavailable 5% of 10 rounds down to 0, at least 1',
      update: { order: 'stop-first', maxSurge: 0, maxUnavailable: '5%' },
      kinds: many('old', 10),
      replace: [1],
      shutdownSlots: [1],
    },
    {
      name: 'stop-first, a slot still starting its new task uses the budget',
      update: { order: 'stop-first', maxSurge: 0, maxUnavailable: 2 },
      kinds: ['new-starting', ...many('old', 9)],
      replace: [2],
      shutdownSlots: [2],
    },
    {
      name: 'stop-first, a slot unavailable for another reason uses the budget too',
      update: { order: 'stop-first', maxSurge: 0, maxUnavailable: 2 },
      kinds: ['new', 'old-unready', 'old-unready', ...many('old', 7)],
      replace: [2, 3],
      shutdownSlots: [2, 3],
    },
    {
      name: 'stop-first, an old task that is not ready costs nothing to replace',
      update: { order: 'stop-first', maxSurge: 0, maxUnavailable: 1 },
      kinds: ['old-unready', 'old', 'old'],
      replace: [1],
      shutdownSlots: [1],
    },
    {
      name: 'stop-first, maxSurge plays no part',
      update: { order: 'stop-first', maxSurge: 5, maxUnavailable: 1 },
      kinds: many('old', 10),
      replace: [1],
      shutdownSlots: [1],
    },
  ];
  it.each(cases)('$name', ({ update, kinds, replace, shutdownSlots }) => {
    const { v1, v2 } = revisions(update, kinds.length);
    const s = slots(v1, v2, kinds);
    const plan = planRollout({ service: v2, slots: s, record: updating(), nowMs: T0 + 10_000 });
    expect(plan.replace).toEqual(replace);
    expect(plan.shutdown.sort()).toEqual(ids(s, shutdownSlots).sort());
    expect(plan.rollbackTo).toBeUndefined();
  });

  it('a new revision starts a record that remembers where to roll back to', () => {
    const { v1, v2 } = revisions({ maxSurge: 1 });
    const done: RolloutRecord = { ...updating(), revision: 1, previousRevision: 0, state: 'completed' };
    const plan = planRollout({ service: v2, slots: slots(v1, v2, many('old', 10)), record: done, nowMs: T0 });
    expect(plan.record).toMatchObject({ revision: 2, previousRevision: 1, state: 'updating', failedSlots: [] });
    expect(plan.events).toEqual([{ state: 'updating', message: 'rolling out revision 2' }]);
    // A revision that follows an unfinished one rolls back to what last ran everywhere.
    const v3 = { ...v2, specRevision: 3, spec: { ...v2.spec, image: 'web:3' } };
    const next = planRollout({ service: v3, slots: slots(v1, v2, many('old', 10)), record: updating(), nowMs: T0 });
    expect(next.record).toMatchObject({ revision: 3, previousRevision: 1 });
  });
});

describe('planRollout: monitor window and delay', () => {
  const { v1, v2 } = revisions({ maxSurge: 2, monitor: 1_000 });

  it('is over only `monitor` after the last task turned ready', () => {
    const s = slots(v1, v2, many('new', 10), T0);
    const during = planRollout({
      service: v2,
      slots: s,
      record: updating({ progressMark: { updated: 10, outdated: 0 } }),
      nowMs: T0 + 400,
    });
    expect(during.requeueAfterMs).toBe(600);
    expect(during.record).toBeUndefined();
    expect(during.events).toEqual([]);
    const after = planRollout({ service: v2, slots: s, record: updating(), nowMs: T0 + 1_000 });
    expect(after.record).toMatchObject({ state: 'completed', message: 'revision 2 runs on every replica' });
    expect(after.events).toEqual([{ state: 'completed', message: 'revision 2 runs on every replica' }]);
  });

  it('a first deployment has no monitor window', () => {
    const s = slots(v1, v1, many('new', 10), T0);
    const first: RolloutRecord = { ...updating(), revision: 1, previousRevision: 0 };
    expect(planRollout({ service: v1, slots: s, record: first, nowMs: T0 }).record?.state).toBe('completed');
  });

  it('a failure inside the window counts; after completion it does not', () => {
    const s = slots(v1, v2, [...many('new', 9), 'new-failed'], T0);
    const inWindow = planRollout({ service: v2, slots: s, record: updating(), nowMs: T0 + 500 });
    expect(inWindow.rollbackTo).toEqual({ revision: 1, reason: '1 of 10 new tasks failed (maxFailureRatio 0)' });
    const completed = updating({ state: 'completed' });
    const later = planRollout({ service: v2, slots: s, record: completed, nowMs: T0 + 60_000 });
    expect(later.rollbackTo).toBeUndefined();
    expect(later.record).toBeUndefined();
  });

  describe('delay between batches', () => {
    const d = revisions({ maxSurge: 2, delay: 2_000 });

    it('takes a batch of maxSurge slots, then nothing while it is in flight', () => {
      expect(planRollout({ service: d.v2, slots: slots(d.v1, d.v2, many('old', 10)), record: updating(), nowMs: T0 }).replace).toEqual([
        1, 2,
      ]);
      const inFlight = planRollout({
        service: d.v2,
        slots: slots(d.v1, d.v2, ['surging', 'new', ...many('old', 8)]),
        record: updating(),
        nowMs: T0 + 5_000,
      });
      expect(inFlight.replace).toEqual([]);
    });

    it('waits `delay` after the batch is ready, then takes the next one', () => {
      const s = slots(d.v1, d.v2, ['new', 'new', ...many('old', 8)], T0);
      const early = planRollout({ service: d.v2, slots: s, record: updating(), nowMs: T0 + 500 });
      expect(early.replace).toEqual([]);
      expect(early.requeueAfterMs).toBe(1_500);
      expect(planRollout({ service: d.v2, slots: s, record: updating(), nowMs: T0 + 2_000 }).replace).toEqual([3, 4]);
    });
  });
});

describe('planRollout: failure actions', () => {
  const failedIn = (n: number): SlotKind[] => [...many('new-failed', n), ...many('surging', 0), ...many('old', REPLICAS - n)];

  const cases: Array<{ name: string; update: Partial<UpdateSpec>; failures: number; expect: 'rollback' | 'pause' | 'go on' }> = [
    { name: 'rollback (default) after one failure with ratio 0', update: {}, failures: 1, expect: 'rollback' },
    { name: 'ratio 0.2 of 10 tolerates 2 failures', update: { maxFailureRatio: 0.2 }, failures: 2, expect: 'go on' },
    { name: 'ratio 0.2 of 10: the third failure rolls back', update: { maxFailureRatio: 0.2 }, failures: 3, expect: 'rollback' },
    { name: 'pause', update: { failureAction: 'pause' }, failures: 1, expect: 'pause' },
    { name: 'pause, within the tolerated ratio', update: { failureAction: 'pause', maxFailureRatio: 0.5 }, failures: 5, expect: 'go on' },
    { name: 'continue, whatever fails', update: { failureAction: 'continue' }, failures: 8, expect: 'go on' },
  ];
  it.each(cases)('$name', ({ update, failures, expect: outcome }) => {
    const { v1, v2 } = revisions({ maxSurge: 3, ...update });
    const plan = planRollout({ service: v2, slots: slots(v1, v2, failedIn(failures)), record: updating(), nowMs: T0 });
    expect(plan.events).toContainEqual({
      state: 'failure',
      message: `new task failed in slot ${Array.from({ length: failures }, (_, i) => i + 1).join(', ')} (${failures} of 10)`,
    });
    if (outcome === 'rollback') {
      expect(plan.rollbackTo).toEqual({
        revision: 1,
        reason: `${failures} of 10 new tasks failed (maxFailureRatio ${v2.spec.update.maxFailureRatio})`,
      });
      expect(plan.replace).toEqual([]);
    } else if (outcome === 'pause') {
      expect(plan.rollbackTo).toBeUndefined();
      expect(plan.replace).toEqual([]);
      expect(plan.record).toMatchObject({ state: 'paused', paused: true });
      expect(plan.record!.message).toMatch(/^paused: 1 of 10 new tasks failed/);
    } else {
      expect(plan.rollbackTo).toBeUndefined();
      expect(plan.replace.length).toBe(Math.min(3, REPLICAS - failures));
      expect(plan.record).toMatchObject({ state: 'updating', failedSlots: Array.from({ length: failures }, (_, i) => i + 1) });
    }
  });

  it('failures already counted are not reported again', () => {
    const { v1, v2 } = revisions({ failureAction: 'continue', maxSurge: 1 });
    const plan = planRollout({ service: v2, slots: slots(v1, v2, failedIn(2)), record: updating({ failedSlots: [1, 2] }), nowMs: T0 });
    expect(plan.events).toEqual([]);
  });

  it('rollback with no earlier revision pauses and says why', () => {
    const { v1, v2 } = revisions({});
    const plan = planRollout({ service: v2, slots: slots(v1, v2, failedIn(1)), record: updating({ previousRevision: 0 }), nowMs: T0 });
    expect(plan.rollbackTo).toBeUndefined();
    expect(plan.record).toMatchObject({ state: 'paused', paused: true });
    expect(plan.record!.message).toContain('no earlier revision to roll back to');
  });

  it('a rollback that fails itself pauses (no rollback of a rollback)', () => {
    const { v1, v2 } = revisions({});
    const rec = rollbackRecord({ ...v2, specRevision: 3 }, 4, 1, 'x', T0);
    const v4 = { ...v2, specRevision: 4 };
    const plan = planRollout({ service: v4, slots: slots(v1, v4, failedIn(1)), record: rec, nowMs: T0 });
    expect(plan.rollbackTo).toBeUndefined();
    expect(plan.record).toMatchObject({ state: 'rollback_paused', paused: true });
    expect(plan.events.map((e) => e.state)).toEqual(['failure', 'rollback_paused']);
  });

  it('a paused rollout replaces nothing until resumed', () => {
    const { v1, v2 } = revisions({ maxSurge: 3 });
    const s = slots(v1, v2, many('old', 10));
    const paused = planRollout({ service: v2, slots: s, record: updating({ paused: true }), nowMs: T0 });
    expect(paused.replace).toEqual([]);
    expect(paused.record).toMatchObject({ state: 'paused', message: 'paused by the user (berth rollout resume)' });
    expect(planRollout({ service: v2, slots: s, record: updating(), nowMs: T0 }).replace).toEqual([1, 2, 3]);
  });
});

describe('rollback uses the same mechanism', () => {
  it('the rollback revision replaces the slots that run the failed spec, within the same budget, and completes as rollback_completed', () => {
    // Revision 3 re-applies revision 1's spec after revision 2 failed: slots 1–3 run revision 2.
    const { v1, v2 } = revisions({ maxSurge: 2, monitor: 1_000 });
    const v3: ServiceRecord = { ...v1, specRevision: 3 };
    const rec = rollbackRecord(v2, 3, 1, '1 of 10 new tasks failed', T0);
    const kinds: SlotKind[] = [...many('new', 3), ...many('old', 7)];
    const s = slots(v1, v2, kinds); // "new" = revision 2, "old" = revision 1
    const plan = planRollout({ service: v3, slots: s, record: rec, nowMs: T0 });
    // Revision 1's tasks run v3's spec already (same spec): only slots 1–3 are replaced, 2 at a time.
    expect(plan.replace).toEqual([1, 2]);
    expect(plan.shutdown).toEqual([]);
    // Once every slot runs the spec again and the monitor window passed: rollback_completed.
    const back = slots(v2, v3, many('new', 10), T0);
    const done = planRollout({ service: v3, slots: back, record: rec, nowMs: T0 + 1_000 });
    expect(done.record).toMatchObject({
      state: 'rollback_completed',
      message: 'rolled back to the spec of revision 1 (revision 3) after revision 2 failed (1 of 10 new tasks failed)',
    });
  });
});

// ---- Simulation: planReplicated applied step by step, the agent's outcomes chosen at random ----

interface World {
  svc: ServiceRecord;
  /** Specs of every revision so far (where a rollback goes). */
  specs: Map<number, ServiceRecord['spec']>;
  tasks: TaskRecord[];
  record: RolloutRecord | undefined;
  nowMs: number;
}

/** Applies one plan as the orchestrator and the scheduler would (every task placed on n1). */
function applyPlan(w: World): void {
  const plan = planReplicated({
    service: w.svc,
    tasks: w.tasks,
    nodes: new Map([['n1', { state: 'ready' as const }]]),
    nowMs: w.nowMs,
    rollout: w.record,
  });
  const byId = new Map(w.tasks.map((t) => [t.id, t]));
  for (const u of plan.update) {
    const t = byId.get(u.taskId)!;
    byId.set(t.id, { ...t, desiredState: u.desiredState, ...(u.status ? { status: u.status } : {}) });
  }
  for (const id of plan.delete) byId.delete(id);
  for (const t of plan.create) byId.set(t.id, { ...t, nodeId: 'n1', status: { ...t.status, state: 'starting', timestampMs: w.nowMs } });
  w.tasks = [...byId.values()];
  if (plan.rollout && !plan.rollbackTo) w.record = plan.rollout;
  if (plan.rollbackTo) {
    // As rollbackService does: the earlier spec becomes the next revision.
    const next = w.svc.specRevision + 1;
    const spec = { ...w.specs.get(plan.rollbackTo.revision)!, replicas: w.svc.spec.replicas };
    w.record = rollbackRecord(w.svc, next, plan.rollbackTo.revision, plan.rollbackTo.reason, w.nowMs);
    w.svc = { ...w.svc, spec, specRevision: next };
    w.specs.set(next, spec);
  }
}

/** Slots 1..replicas that have a ready task. */
const readySlots = (w: World): number =>
  new Set(w.tasks.filter((t) => t.slot <= w.svc.spec.replicas && isReady(t)).map((t) => t.slot)).size;

type Outcome = 'wait' | 'ready' | 'fail';

/** The agent: stopped tasks end; each starting task waits, turns ready or fails, as `pick` says. */
function agentStep(w: World, pick: () => Outcome): void {
  w.tasks = w.tasks.map((t) => {
    if (t.desiredState !== 'running')
      return isTerminal(t.status.state) ? t : { ...t, status: { ...t.status, state: 'shutdown', timestampMs: w.nowMs } };
    if (t.status.state !== 'starting') return t;
    const o = pick();
    if (o === 'wait') return t;
    return { ...t, status: { ...t.status, state: o === 'ready' ? 'running' : 'failed', timestampMs: w.nowMs } };
  });
}

describe('planRollout: progress deadline (update.progressDeadline)', () => {
  const DEADLINE = 5_000;
  const TAKEN = 'no suitable node: 1 node: port 8081/tcp taken by default/web';
  /**
   * The issue's case: replicas 2 on one fixed host port, start-first. Slot 1 runs its new task;
   * slot 2's old task keeps serving while its successor cannot be placed (the port is taken).
   */
  function stuckCase(update: Partial<UpdateSpec> = {}): { v1: ServiceRecord; v2: ServiceRecord; s: SlotState[] } {
    const { v1, v2 } = revisions({ progressDeadline: DEADLINE, ...update }, 2);
    const s = slots(v1, v2, ['new', 'surging']);
    const unplaced = mockTask(v2, { slot: 2, instance: 1, nodeId: '', state: 'pending', status: { message: TAKEN } });
    s[1] = { slot: 2, live: [s[1]!.live[0]!, unplaced], tasks: [s[1]!.live[0]!, unplaced] };
    return { v1, v2, s };
  }
  /** Stored by the pass that saw slot 1's old task retired, at T0. */
  const stalled = (over: Partial<RolloutRecord> = {}): RolloutRecord =>
    updating({ progressAtMs: T0, progressMark: { updated: 1, outdated: 1 }, ...over });
  const WHY = `no progress for 5s (update.progressDeadline): web.2 pending: ${TAKEN}`;

  it('before the deadline: nothing changes, and the planner looks again when it passes', () => {
    const { v2, s } = stuckCase();
    const plan = planRollout({ service: v2, slots: s, record: stalled(), nowMs: T0 + 4_000 });
    expect(plan.rollbackTo).toBeUndefined();
    expect(plan.record).toBeUndefined(); // no write while nothing changes
    expect(plan.requeueAfterMs).toBe(1_000);
  });

  it('at the deadline, failureAction rollback rolls back with the reason of the pending task', () => {
    const { v2, s } = stuckCase();
    const plan = planRollout({ service: v2, slots: s, record: stalled(), nowMs: T0 + DEADLINE });
    expect(plan.rollbackTo).toEqual({ revision: 1, reason: WHY });
  });

  it('the deadline counts from the stored progress time: a new leader (a first pass) does not start it over', () => {
    const { v2, s } = stuckCase();
    // Nothing in memory: only the record, as a controller that just became leader reads it.
    const plan = planRollout({ service: v2, slots: s, record: stalled(), nowMs: T0 + 60_000 });
    expect(plan.rollbackTo?.reason).toBe(WHY);
  });

  it('failureAction pause pauses with the reason', () => {
    const { v2, s } = stuckCase({ failureAction: 'pause' });
    const plan = planRollout({ service: v2, slots: s, record: stalled(), nowMs: T0 + DEADLINE });
    expect(plan.rollbackTo).toBeUndefined();
    expect(plan.replace).toEqual([]);
    expect(plan.record).toMatchObject({ state: 'paused', paused: true, message: `paused: ${WHY}` });
    expect(plan.events).toEqual([{ state: 'paused', message: `paused: ${WHY}` }]);
  });

  it('failureAction continue reports it once and goes on; progress clears it and starts the clock over', () => {
    const { v1, v2, s } = stuckCase({ failureAction: 'continue' });
    const plan = planRollout({ service: v2, slots: s, record: stalled(), nowMs: T0 + DEADLINE });
    expect(plan.rollbackTo).toBeUndefined();
    const message = `${WHY}; the rollout goes on (failureAction continue)`;
    expect(plan.record).toMatchObject({ state: 'updating', paused: false, deadlineExceeded: true, message });
    expect(plan.events).toEqual([{ state: 'failure', message }]);
    // Later passes: nothing new to say, no write.
    const again = planRollout({ service: v2, slots: s, record: plan.record, nowMs: T0 + 3 * DEADLINE });
    expect(again.record).toBeUndefined();
    expect(again.events).toEqual([]);
    // The port frees up: slot 2's new task runs. Progress: the flag goes, the clock starts over.
    const moving = slots(v1, v2, ['new', 'surged']);
    const after = planRollout({ service: v2, slots: moving, record: plan.record, nowMs: T0 + 4 * DEADLINE });
    expect(after.record).toMatchObject({
      progressAtMs: T0 + 4 * DEADLINE,
      progressMark: { updated: 2, outdated: 1 },
      message: 'rolling out revision 2: progressing again',
    });
    expect(after.record!.deadlineExceeded).toBeUndefined();
  });

  it('a new task turning ready or an old one retired is progress: the clock starts over', () => {
    const { v1, v2 } = revisions({ progressDeadline: DEADLINE }, 3);
    // Stored when slot 1 was surging (0 updated, 3 outdated); now slot 1's new task is ready.
    const rec = updating({ progressAtMs: T0, progressMark: { updated: 0, outdated: 3 } });
    const ready = planRollout({ service: v2, slots: slots(v1, v2, ['surged', 'old', 'old']), record: rec, nowMs: T0 + 60_000 });
    expect(ready.rollbackTo).toBeUndefined();
    expect(ready.record).toMatchObject({ progressAtMs: T0 + 60_000, progressMark: { updated: 1, outdated: 3 } });
    // Its old task retired (outdated 3 → 2).
    const retired = planRollout({
      service: v2,
      slots: slots(v1, v2, ['new', 'surging', 'old']),
      record: ready.record,
      nowMs: T0 + 120_000,
    });
    expect(retired.rollbackTo).toBeUndefined();
    expect(retired.record).toMatchObject({ progressAtMs: T0 + 120_000, progressMark: { updated: 1, outdated: 2 } });
  });

  it('a task that starts but never turns ready is a stall too, with its state as the reason', () => {
    const { v1, v2 } = revisions({ progressDeadline: DEADLINE }, 2);
    const s = slots(v1, v2, ['new', 'surging']);
    const plan = planRollout({ service: v2, slots: s, record: stalled(), nowMs: T0 + DEADLINE });
    expect(plan.rollbackTo?.reason).toBe(
      `no progress for 5s (update.progressDeadline): web.2 starting: ${s[1]!.live[1]!.status.message || 'starting'}`,
    );
  });

  it('a spec stored before progressDeadline existed gets its default (2m)', () => {
    const { v2, s } = stuckCase();
    const { progressDeadline: _, ...legacy } = v2.spec.update;
    const old = { ...v2, spec: { ...v2.spec, update: legacy as UpdateSpec } };
    expect(planRollout({ service: old, slots: s, record: stalled(), nowMs: T0 + 60_000 }).requeueAfterMs).toBe(60_000);
    expect(planRollout({ service: old, slots: s, record: stalled(), nowMs: T0 + 120_000 }).rollbackTo?.reason).toMatch(
      /^no progress for 2m \(update\.progressDeadline\)/,
    );
  });

  it('a paused rollout has no deadline', () => {
    const { v2, s } = stuckCase();
    const plan = planRollout({ service: v2, slots: s, record: stalled({ paused: true, state: 'paused' }), nowMs: T0 + 60_000 });
    expect(plan.rollbackTo).toBeUndefined();
    expect(plan.requeueAfterMs).toBeUndefined();
  });

  it('waiting for the next batch (delay) is not a stall: the clock runs from when the batch opens', () => {
    const { v1, v2 } = revisions({ progressDeadline: DEADLINE, delay: 10_000, maxSurge: 1 }, 3);
    const s = slots(v1, v2, ['new', 'old', 'old'], T0);
    const rec = updating({ progressAtMs: T0, progressMark: { updated: 1, outdated: 2 } });
    const waiting = planRollout({ service: v2, slots: s, record: rec, nowMs: T0 + 8_000 });
    expect(waiting.rollbackTo).toBeUndefined();
    expect(waiting.requeueAfterMs).toBe(2_000); // the batch opens at T0 + 10s
  });

  it('slots without an outdated task (a scale-up, a first deployment) are not held to it', () => {
    const { v2 } = revisions({ progressDeadline: DEADLINE }, 2);
    const pending = (slot: number): TaskRecord => mockTask(v2, { slot, nodeId: '', state: 'pending', status: { message: TAKEN } });
    const s: SlotState[] = [
      { slot: 1, live: [mockTask(v2, { slot: 1 })], tasks: [mockTask(v2, { slot: 1 })] },
      { slot: 2, live: [pending(2)], tasks: [pending(2)] },
    ];
    const plan = planRollout({
      service: v2,
      slots: s,
      record: updating({ progressAtMs: T0, progressMark: { updated: 1, outdated: 0 } }),
      nowMs: T0 + 60_000,
    });
    expect(plan.rollbackTo).toBeUndefined();
    expect(plan.record?.paused ?? false).toBe(false);
    expect(plan.requeueAfterMs).toBeUndefined();
  });

  it('a rollback that cannot progress pauses (no rollback of a rollback)', () => {
    const { v2, s } = stuckCase();
    const rec = { ...rollbackRecord({ ...v2, specRevision: 1 }, 2, 1, 'x', T0), progressMark: { updated: 1, outdated: 1 } };
    const plan = planRollout({ service: v2, slots: s, record: rec, nowMs: T0 + DEADLINE });
    expect(plan.rollbackTo).toBeUndefined();
    expect(plan.record).toMatchObject({ state: 'rollback_paused', paused: true, message: `paused: ${WHY} during the rollback` });
  });
});

describe('rolloutStuck (rollout status, apply --wait)', () => {
  const TAKEN = 'no suitable node: 1 node: port 8081/tcp taken by default/web';
  const { v1, v2 } = revisions({}, 2);
  const old = (slot: number): TaskRecord => mockTask(v1, { slot });
  const newReady = mockTask(v2, { slot: 1, instance: 1 });
  const retired = { ...old(1), desiredState: 'shutdown' as const, status: { ...old(1).status, state: 'shutdown' as const } };
  const unplaced = mockTask(v2, { slot: 2, instance: 1, nodeId: '', state: 'pending', status: { message: TAKEN } });

  it('says what every new task of the step waits for once none of them can be placed', () => {
    expect(rolloutStuck(v2, [retired, newReady, old(2), unplaced])).toBe(`web.2 pending: ${TAKEN}`);
  });

  it('is not stuck while a new task is still waiting for its first placement or starting', () => {
    const fresh = { ...unplaced, status: { ...unplaced.status, message: 'waiting for placement' } };
    expect(rolloutStuck(v2, [retired, newReady, old(2), fresh])).toBeUndefined();
    const starting = mockTask(v2, { slot: 2, instance: 1, state: 'starting' });
    expect(rolloutStuck(v2, [retired, newReady, old(2), starting])).toBeUndefined();
    expect(rolloutStuck(v2, [retired, newReady, old(2)])).toBeUndefined();
  });

  it("a pending task of a scale-up is not the update's", () => {
    const scaled = mockTask(v2, { slot: 2, nodeId: '', state: 'pending', status: { message: TAKEN } });
    expect(rolloutStuck(v2, [mockTask(v2, { slot: 1 }), scaled])).toBeUndefined();
  });
});

describe('property: an update never drops below replicas − maxUnavailable ready slots', () => {
  const updateArb = fc.record({
    order: fc.constantFrom('start-first' as const, 'stop-first' as const),
    surge: fc.oneof(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 100 }).map((p) => `${p}%`),
    ),
    unavailable: fc.oneof(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 100 }).map((p) => `${p}%`),
    ),
    monitor: fc.constantFrom(0, 300, 1_000),
    delay: fc.constantFrom(0, 0, 500),
    failureAction: fc.constantFrom('rollback' as const, 'pause' as const, 'continue' as const),
    maxFailureRatio: fc.constantFrom(0, 0.1, 0.3, 1),
  });

  it('holds for random settings and random healthy / failing new tasks, rollbacks included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        updateArb,
        fc.array(fc.constantFrom<Outcome>('wait', 'ready', 'ready', 'ready', 'fail'), { minLength: 1, maxLength: 400 }),
        (replicas, u, outcomes) => {
          const update: UpdateSpec = {
            order: u.order,
            maxSurge: u.surge,
            maxUnavailable: u.unavailable,
            monitor: u.monitor,
            delay: u.delay,
            failureAction: u.failureAction,
            maxFailureRatio: u.maxFailureRatio,
            progressDeadline: 120_000,
          };
          const { v1, v2 } = revisions(update, replicas);
          // Revision 1 runs and is ready everywhere; its rollout is complete.
          const w: World = {
            svc: v2,
            specs: new Map([
              [1, v1.spec],
              [2, v2.spec],
            ]),
            tasks: Array.from({ length: replicas }, (_, i) => mockTask(v1, { slot: i + 1 })),
            record: { ...updating(), revision: 1, previousRevision: 0, state: 'completed' },
            nowMs: T0,
          };
          const floor = replicas - (u.order === 'stop-first' ? Math.max(1, resolveCount(u.unavailable, replicas, 'down')) : 0);
          let i = 0;
          const pick = (): Outcome => outcomes[i++ % outcomes.length]!;
          for (let step = 0; step < 150; step++) {
            applyPlan(w);
            expect(readySlots(w), `step ${step}, revision ${w.svc.specRevision}, ${w.record?.state}`).toBeGreaterThanOrEqual(floor);
            agentStep(w, pick);
            expect(readySlots(w)).toBeGreaterThanOrEqual(floor);
            w.nowMs += 250;
          }
          // Liveness, once tasks stop failing: within the longest restart backoff (5 min) the
          // rollout ends, or it waits for a human where a failure paused it.
          const settled = (): boolean => ['completed', 'rollback_completed'].includes(w.record?.state ?? '') && readySlots(w) === replicas;
          for (let step = 0; step < 200 && !settled(); step++) {
            applyPlan(w);
            expect(readySlots(w)).toBeGreaterThanOrEqual(floor);
            agentStep(w, () => 'ready');
            w.nowMs += 2_000;
          }
          const rec = w.record!;
          if (rec.state === 'completed' || rec.state === 'rollback_completed') {
            // Over means over: every slot ready on the current spec.
            expect(readySlots(w)).toBe(replicas);
            expect(w.tasks.filter((t) => t.desiredState === 'running' && t.spec.image !== w.svc.spec.image)).toEqual([]);
          } else {
            expect(['paused', 'rollback_paused']).toContain(rec.state);
            // Only a failure action stops an update half way: pause, or a rollback that failed too.
            expect(u.failureAction === 'pause' || rec.rollbackOf !== undefined, rec.message).toBe(true);
          }
        },
      ),
    );
  }, 300_000); // FC_RUNS=… explores further
});
