// evaluateConvergence: when `apply --wait` may say converged, when it must say failed, and the
// summary line people read.
import { describe, expect, it } from 'vitest';
import { CRASH_LOOP_FAILURES, evaluateConvergence, foldRollout, judgeRollout, stuckNote } from '../../proto/src/convergence.js';
import type { ServiceRecord, TaskRecord } from '../../proto/src/model.js';
import { mockService, mockTask, T0 } from './fixtures.js';

const view = (s: ServiceRecord) => ({ uid: s.meta.uid, specRevision: s.specRevision, spec: s.spec, deleting: s.deleting });
const at = (t: TaskRecord, createdAtMs: number): TaskRecord => ({ ...t, createdAtMs });

describe('evaluateConvergence', () => {
  it('converged when every slot runs the current spec', () => {
    const svc = mockService({ replicas: 3 });
    const c = evaluateConvergence(
      view(svc),
      [1, 2, 3].map((slot) => mockTask(svc, { slot })),
    );
    expect(c).toMatchObject({ phase: 'converged', desired: 3, ready: 3, summary: '3/3 running' });
  });

  it('progressing while a task is pending, with the scheduler reason', () => {
    const svc = mockService({ replicas: 2 });
    const tasks = [
      mockTask(svc, { slot: 1 }),
      mockTask(svc, { slot: 2, nodeId: '', state: 'pending', status: { message: 'no suitable node: n1: memory short by 200Mi' } }),
    ];
    const c = evaluateConvergence(view(svc), tasks);
    expect(c.phase).toBe('progressing');
    expect(c.pending).toBe(1);
    expect(c.pendingReasons).toEqual(['no suitable node: n1: memory short by 200Mi']);
    expect(c.summary).toBe('1/2 running, 1 pending (no suitable node: n1: memory short by 200Mi)');
  });

  it('a scale-only change counts the tasks of the older revision as current', () => {
    const old = mockService({ replicas: 2, specRevision: 1 });
    const svc = mockService({ replicas: 3, specRevision: 2 });
    const tasks = [mockTask(old, { slot: 1 }), mockTask(old, { slot: 2 }), mockTask(svc, { slot: 3 })];
    expect(evaluateConvergence(view(svc), tasks).phase).toBe('converged');
  });

  it('an outdated task (another image) keeps it progressing', () => {
    const old = mockService({ replicas: 2, specRevision: 1 });
    const svc = mockService({ replicas: 2, specRevision: 2, spec: { image: 'berth-local/web:2' } });
    const c = evaluateConvergence(view(svc), [mockTask(old, { slot: 1 }), mockTask(svc, { slot: 2 })]);
    expect(c).toMatchObject({ phase: 'progressing', ready: 1, outdated: 1, summary: '1/2 running, 1 outdated' });
  });

  it('a live task above the replica count keeps it progressing; one already stopping does not', () => {
    const svc = mockService({ replicas: 1 });
    const stopping = mockTask(svc, { slot: 2, desiredState: 'shutdown' });
    expect(evaluateConvergence(view(svc), [mockTask(svc, { slot: 1 }), stopping]).phase).toBe('converged');
    const c = evaluateConvergence(view(svc), [mockTask(svc, { slot: 1 }), mockTask(svc, { slot: 2 })]);
    expect(c).toMatchObject({ phase: 'progressing', surplus: 1 });
  });

  it('an unhealthy or still-starting health check is not ready', () => {
    const svc = mockService({ replicas: 1 });
    for (const health of ['starting', 'unhealthy']) {
      expect(evaluateConvergence(view(svc), [mockTask(svc, { status: { health } })]).phase).toBe('progressing');
    }
    expect(evaluateConvergence(view(svc), [mockTask(svc, { status: { health: 'healthy' } })]).phase).toBe('converged');
  });

  it(`fails after ${CRASH_LOOP_FAILURES} ends of a slot at the current spec, naming the last one`, () => {
    const svc = mockService({ replicas: 1 });
    const ends = [0, 1, 2].map((i) =>
      at(
        mockTask(svc, {
          instance: i,
          state: 'failed',
          desiredState: 'shutdown',
          status: { message: `container exited with code ${i + 1}`, err: `exit code ${i + 1}` },
        }),
        T0 + i,
      ),
    );
    const twice = evaluateConvergence(view(svc), [...ends.slice(0, 2), at(mockTask(svc, { instance: 2, state: 'starting' }), T0 + 5)]);
    expect(twice.phase).toBe('progressing');
    expect(twice.lastFailure).toBe('web.1 failed: container exited with code 2: exit code 2');
    const c = evaluateConvergence(view(svc), ends);
    expect(c.phase).toBe('failed');
    expect(c.reason).toBe(
      `crash loop: web.1 failed: container exited with code 3: exit code 3 (failed ${CRASH_LOOP_FAILURES} times in a row at this revision)`,
    );
  });

  it('a container restarted in place is the last failure while it waits for its restart, not once it is up again', () => {
    const svc = mockService({ replicas: 1 });
    const waiting = mockTask(svc, {
      status: { restarts: 1, container: 'backoff', message: 'exited with code 3; restarting in 1s (restart 1)' },
    });
    expect(evaluateConvergence(view(svc), [waiting]).lastFailure).toBe('web.1 running: exited with code 3; restarting in 1s (restart 1)');
    const up = mockTask(svc, { status: { restarts: 1, message: 'container running (restarted 1×)' } });
    const c = evaluateConvergence(view(svc), [up]);
    expect(c.phase).toBe('converged');
    expect(c.lastFailure).toBeUndefined();
  });

  it('past failures do not fail a slot that runs now', () => {
    const svc = mockService({ replicas: 1 });
    const ends = [0, 1, 2].map((i) => at(mockTask(svc, { instance: i, state: 'failed', desiredState: 'shutdown' }), T0 + i));
    expect(evaluateConvergence(view(svc), [...ends, at(mockTask(svc, { instance: 3 }), T0 + 9)]).phase).toBe('converged');
  });

  it('failures of an older spec do not count against the new one', () => {
    const old = mockService({ replicas: 1, specRevision: 1, spec: { image: 'berth-local/bad:1' } });
    const svc = mockService({ replicas: 1, specRevision: 2 });
    const ends = [0, 1, 2].map((i) => mockTask(old, { instance: i, state: 'rejected', desiredState: 'shutdown' }));
    expect(evaluateConvergence(view(svc), [...ends, mockTask(svc, { instance: 3, state: 'starting' })]).phase).toBe('progressing');
  });

  it('tasks of an earlier incarnation (other uid) are ignored; a deleting service has failed', () => {
    const svc = mockService({ replicas: 1 });
    expect(evaluateConvergence(view(svc), [mockTask(svc, { serviceUid: 'old' })]).ready).toBe(0);
    const c = evaluateConvergence(view({ ...svc, deleting: true }), [mockTask(svc)]);
    expect(c).toMatchObject({ phase: 'failed', reason: 'the service is being deleted' });
  });

  it('running tasks not yet stable (isStable) keep it progressing, and say so', () => {
    const svc = mockService({ replicas: 2 });
    const tasks = [mockTask(svc, { slot: 1 }), mockTask(svc, { slot: 2 })];
    const c = evaluateConvergence(view(svc), tasks, { isStable: (t) => t.slot === 1 });
    expect(c).toMatchObject({ phase: 'progressing', ready: 2, settling: 1, summary: '2/2 running (1 just started)' });
    expect(evaluateConvergence(view(svc), tasks, { isStable: () => true }).phase).toBe('converged');
  });

  it('in-place restarts and the failures carried by a replacement count towards a crash loop', () => {
    const svc = mockService({ replicas: 1 });
    const restarting = (restarts: number) =>
      mockTask(svc, { state: 'starting', status: { restarts, message: `exited with code 3; restarting in 4s (restart ${restarts})` } });
    expect(evaluateConvergence(view(svc), [restarting(2)]).phase).toBe('progressing');
    const c = evaluateConvergence(view(svc), [restarting(3)]);
    expect(c.phase).toBe('failed');
    expect(c.reason).toBe(
      'crash loop: web.1 starting: exited with code 3; restarting in 4s (restart 3) (failed 3 times in a row at this revision)',
    );
    const moved = { ...mockTask(svc, { instance: 1, state: 'starting', status: { restarts: 0 } }), priorFailures: 3 };
    expect(evaluateConvergence(view(svc), [moved]).phase).toBe('failed');
  });

  it('a slot the restart policy gave up on fails at once', () => {
    const never = mockService({
      replicas: 1,
      spec: { restart: { policy: 'never', backoff: { initial: 1_000, multiplier: 2, max: 300_000, resetAfter: 60_000 } } },
    });
    const ended = mockTask(never, { state: 'failed', desiredState: 'shutdown', status: { message: 'container exited with code 1' } });
    expect(evaluateConvergence(view(never), [ended])).toMatchObject({
      phase: 'failed',
      reason: 'web.1 failed: container exited with code 1; not restarted: restart policy never',
    });
    const onFailure = mockService({
      replicas: 1,
      spec: { restart: { policy: 'on-failure', backoff: { initial: 1_000, multiplier: 2, max: 300_000, resetAfter: 60_000 } } },
    });
    const done = mockTask(onFailure, { state: 'complete', desiredState: 'shutdown', status: { message: 'container exited' } });
    expect(evaluateConvergence(view(onFailure), [done]).reason).toBe(
      'web.1 complete: container exited; not restarted: completed (restart policy on-failure)',
    );
    // policy always: an ended task is refilled after its backoff, so it is still progressing.
    const always = mockService({ replicas: 1 });
    expect(evaluateConvergence(view(always), [mockTask(always, { state: 'failed', desiredState: 'shutdown' })]).phase).toBe('progressing');
  });

  it('a global service: one replica per node it has a task for, named SERVICE.NODE', () => {
    const svc = mockService({ spec: { mode: 'global' } });
    const on = (node: string, o: Parameters<typeof mockTask>[1] = {}): TaskRecord => ({
      ...mockTask(svc, { slot: 0, nodeId: node, ...o }),
      id: `u1-${node}-${o.instance ?? 0}`,
      targetNodeId: node,
    });
    expect(evaluateConvergence(view(svc), [on('n1'), on('n2')])).toMatchObject({
      phase: 'converged',
      desired: 2,
      ready: 2,
      summary: '2/2 running',
    });
    const c = evaluateConvergence(view(svc), [
      on('n1'),
      on('n2', { state: 'starting', status: { restarts: 3, message: 'exited with code 1; restarting in 4s (restart 3)' } }),
    ]);
    expect(c.phase).toBe('failed');
    expect(c.reason).toMatch(/^crash loop: web\.n2 starting: exited with code 1/);
  });

  it('zero replicas with nothing running is converged', () => {
    expect(evaluateConvergence(view(mockService({ replicas: 0 })), []).phase).toBe('converged');
  });
});

describe('judgeRollout', () => {
  const r = { revision: 4, state: 'updating', done: false, rollbackOf: 0, message: 'rolling out revision 4' };
  it('a rollout in progress or completed is no failure', () => {
    expect(judgeRollout(4, r)).toBeUndefined();
    expect(judgeRollout(4, { ...r, state: 'completed', done: true })).toBeUndefined();
  });
  it('a rollback of the waited-for revision, or a paused rollout, is', () => {
    expect(
      judgeRollout(4, { ...r, revision: 5, state: 'rollback_completed', done: true, rollbackOf: 4, message: 'task web.1 failed' }),
    ).toBe('rollout of revision 4 failed and was rolled back: task web.1 failed');
    expect(judgeRollout(4, { ...r, state: 'paused', done: true, message: 'paused: 1 task failed' })).toBe(
      'rollout of revision 4 paused: paused: 1 task failed',
    );
  });
  it('an older rollback says nothing about a newer revision', () => {
    expect(judgeRollout(6, { ...r, revision: 6, state: 'completed', done: true, rollbackOf: 4 })).toBeUndefined();
  });
});

describe('a stuck rollout (foldRollout, stuckNote)', () => {
  const svc = mockService({ replicas: 2, specRevision: 2 });
  const reason = 'web.2 pending: no suitable node: 1 node: port 8081/tcp taken by default/web';
  const tasks = [
    mockTask(svc, { slot: 1 }),
    mockTask(svc, { slot: 2, nodeId: '', state: 'pending', status: { message: reason.slice('web.2 pending: '.length) } }),
  ];
  const r = {
    revision: 2,
    state: 'updating',
    done: false,
    rollbackOf: 0,
    message: 'rolling out revision 2',
    stuck: reason,
    progressDeadlineMs: 120_000,
  };

  it('says "stuck: …" first, with the deadline, while the rollout has not failed', () => {
    const c = evaluateConvergence(view(svc), tasks);
    foldRollout(c, 2, r);
    expect(c.phase).toBe('progressing');
    expect(c.summary).toBe(
      `stuck: ${reason} (the rollout fails after 2m without progress: update.progressDeadline); 1/2 running, 1 pending (no suitable node: 1 node: port 8081/tcp taken by default/web)`,
    );
  });

  it('says nothing when the rollout can move, or is of an older revision', () => {
    const c = evaluateConvergence(view(svc), tasks);
    foldRollout(c, 2, { ...r, stuck: '' });
    expect(c.summary).toBe('1/2 running, 1 pending (no suitable node: 1 node: port 8081/tcp taken by default/web)');
    foldRollout(c, 3, r);
    expect(c.summary).not.toContain('stuck');
  });

  it('a deadline passed under failureAction continue fails the wait; a rollback or pause does as before', () => {
    const c = evaluateConvergence(view(svc), tasks);
    foldRollout(c, 2, {
      ...r,
      stuck: '',
      deadlineExceeded: true,
      message: `no progress for 2m (update.progressDeadline): ${reason}; the rollout goes on (failureAction continue)`,
    });
    expect(c.phase).toBe('failed');
    expect(c.reason).toBe(
      `rollout of revision 2 failed: no progress for 2m (update.progressDeadline): ${reason}; the rollout goes on (failureAction continue)`,
    );
    const rolledBack = evaluateConvergence(view(svc), tasks);
    foldRollout(rolledBack, 2, {
      ...r,
      revision: 3,
      state: 'rollback_started',
      rollbackOf: 2,
      stuck: '',
      message: `revision 2 failed (no progress for 2m (update.progressDeadline): ${reason})`,
    });
    expect(rolledBack.reason).toMatch(/^rollout of revision 2 failed and was rolled back: revision 2 failed \(no progress for 2m/);
  });

  it('stuckNote without a known deadline names only the reason', () => {
    expect(stuckNote({ stuck: reason })).toBe(`stuck: ${reason}`);
    expect(stuckNote({ stuck: '' })).toBeUndefined();
  });
});
