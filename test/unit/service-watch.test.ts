// RunningSince (WatchService): how long the controller has seen each task's container up, on its
// own clock — from when it first saw it, started over by a new start of the container, forgotten
// while it waits for a restart or is not running.
import { describe, expect, it } from 'vitest';
import { RunningSince } from '../../controller/src/api/service-watch.js';
import type { InformerHandler } from '../../controller/src/store/informer.js';
import type { TaskRecord, Versioned } from '../../proto/src/model.js';
import { mockService, mockTask } from './fixtures.js';

function fakeTasks(initial: TaskRecord[]) {
  const handlers: Array<InformerHandler<TaskRecord>> = [];
  const v = (t: TaskRecord): Versioned<TaskRecord> => ({ value: t, modRevision: 1, createRevision: 1 });
  return {
    informer: { list: () => initial.map(v), addHandler: (h: InformerHandler<TaskRecord>) => (handlers.push(h), () => undefined) },
    upsert: (t: TaskRecord) => handlers.forEach((h) => h.onUpsert?.(t.id, v(t), undefined)),
    remove: (t: TaskRecord) => handlers.forEach((h) => h.onDelete?.(t.id, v(t))),
  };
}

describe('RunningSince', () => {
  const svc = mockService({ replicas: 2 });
  it('counts from when this controller first saw the container up; cached tasks count from its start', () => {
    let now = 1_000;
    const cached = mockTask(svc, { slot: 1, status: { startedAtMs: 5 } });
    const tasks = fakeTasks([cached]);
    const r = new RunningSince(tasks.informer, () => now);
    now = 1_200;
    expect(r.runningForMs(cached)).toBe(200);
    const starting = mockTask(svc, { slot: 2, state: 'starting' });
    tasks.upsert(starting);
    expect(r.runningForMs(starting)).toBeUndefined();
    now = 2_000;
    const up = mockTask(svc, { slot: 2, status: { startedAtMs: 7 } });
    tasks.upsert(up);
    now = 2_300;
    expect(r.runningForMs(up)).toBe(300);
    // Another status of the same run (health, message) does not start over.
    tasks.upsert(mockTask(svc, { slot: 2, status: { startedAtMs: 7, message: 'container running, healthy' } }));
    expect(r.runningForMs(up)).toBe(300);
  });

  it('a restart in place starts over; waiting for the restart or gone, it is not up', () => {
    let now = 0;
    const tasks = fakeTasks([]);
    const r = new RunningSince(tasks.informer, () => now);
    const run1 = mockTask(svc, { status: { startedAtMs: 10 } });
    tasks.upsert(run1);
    now = 5_000;
    const backoff = mockTask(svc, { status: { startedAtMs: 10, container: 'backoff', restarts: 1 } });
    tasks.upsert(backoff);
    expect(r.runningForMs(backoff)).toBeUndefined();
    const run2 = mockTask(svc, { status: { startedAtMs: 6_000, restarts: 1 } });
    now = 6_100;
    tasks.upsert(run2);
    now = 6_150;
    expect(r.runningForMs(run2)).toBe(50);
    // Seen with a new start before its own event came: counted from now, not from the old run.
    const run3 = mockTask(svc, { status: { startedAtMs: 9_000, restarts: 2 } });
    now = 9_100;
    expect(r.runningForMs(run3)).toBe(0);
    tasks.remove(run3);
    now = 9_200;
    expect(r.runningForMs(run3)).toBe(0);
  });
});
