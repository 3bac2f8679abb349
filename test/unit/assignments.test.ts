import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignmentSignature, diffAssignments, fullAssignments } from '../../controller/src/dispatcher/assignments.js';
import { acceptStatus, judgeStatus } from '../../controller/src/dispatcher/status-writer.js';
import type { TaskRecord, TaskStatus } from '../../proto/src/model.js';
import type { TaskState } from '../../proto/src/types.js';
import { T0, configureProperties, mockService, mockTask } from './fixtures.js';

configureProperties();

const svc = mockService({ replicas: 3 });

/** A cluster view the diff looks tasks up in. */
function view(...tasks: TaskRecord[]): (id: string) => TaskRecord | undefined {
  const m = new Map(tasks.map((t) => [t.id, t]));
  return (id) => m.get(id);
}

describe('fullAssignments', () => {
  it('sends every task and remembers what was sent', () => {
    const a = mockTask(svc, { slot: 1 });
    const b = mockTask(svc, { slot: 2, desiredState: 'shutdown' });
    const { upsert, sent } = fullAssignments([a, b]);
    expect(upsert).toEqual([a, b]);
    expect([...sent]).toEqual([
      [a.id, 'running|1|n1'],
      [b.id, 'shutdown|1|n1'],
    ]);
  });
});

describe('diffAssignments', () => {
  const a = mockTask(svc, { slot: 1 });
  const b = mockTask(svc, { slot: 2 });

  it('a status-only change sends nothing', () => {
    const { sent } = fullAssignments([a, b]);
    const a2: TaskRecord = { ...a, status: { ...a.status, state: 'running', message: 'healthy', timestampMs: T0 + 5 } };
    const b2: TaskRecord = { ...b, status: { state: 'failed', message: 'exit 1', exitCode: 1, timestampMs: T0 + 9 } };
    expect(diffAssignments('n1', sent, [a.id, b.id], view(a2, b2))).toEqual({ upsert: [], remove: [] });
    expect(sent.size).toBe(2);
  });

  it('a desired state change is sent once as an upsert', () => {
    const { sent } = fullAssignments([a, b]);
    const a2: TaskRecord = { ...a, desiredState: 'shutdown' };
    expect(diffAssignments('n1', sent, [a.id], view(a2, b))).toEqual({ upsert: [a2], remove: [] });
    expect(sent.get(a.id)).toBe(assignmentSignature(a2));
    // Seen again (e.g. a later status write of the same task): nothing new.
    expect(diffAssignments('n1', sent, [a.id], view(a2, b))).toEqual({ upsert: [], remove: [] });
    const a3: TaskRecord = { ...a2, desiredState: 'remove' };
    expect(diffAssignments('n1', sent, [a.id], view(a3, b)).upsert).toEqual([a3]);
  });

  it('a spec revision change is an upsert', () => {
    const { sent } = fullAssignments([a]);
    const a2: TaskRecord = { ...a, specRevision: 2 };
    expect(diffAssignments('n1', sent, [a.id], view(a2)).upsert).toEqual([a2]);
  });

  it('a task moved off the node is removed once', () => {
    const { sent } = fullAssignments([a, b]);
    const moved: TaskRecord = { ...a, nodeId: 'n2' };
    expect(diffAssignments('n1', sent, [a.id], view(moved, b))).toEqual({ upsert: [], remove: [a.id] });
    expect(sent.has(a.id)).toBe(false);
    expect(diffAssignments('n1', sent, [a.id], view(moved, b))).toEqual({ upsert: [], remove: [] });
  });

  it('a deleted task is removed once', () => {
    const { sent } = fullAssignments([a, b]);
    expect(diffAssignments('n1', sent, [b.id], view(a))).toEqual({ upsert: [], remove: [b.id] });
    expect(diffAssignments('n1', sent, [b.id], view(a))).toEqual({ upsert: [], remove: [] });
    expect([...sent.keys()]).toEqual([a.id]);
  });

  it('a new task placed on the node is an upsert; one placed elsewhere is ignored', () => {
    const { sent } = fullAssignments([a]);
    const c = mockTask(svc, { slot: 3, nodeId: 'n1', state: 'assigned' });
    const d = mockTask(svc, { slot: 3, instance: 1, nodeId: 'n2', state: 'assigned' });
    expect(diffAssignments('n1', sent, [c.id, d.id], view(a, c, d))).toEqual({ upsert: [c], remove: [] });
    expect(sent.has(d.id)).toBe(false);
  });

  it('a task that arrives on the node later (placed after creation) is an upsert then', () => {
    const sent = new Map<string, string>();
    const pending: TaskRecord = { ...a, nodeId: '', status: { state: 'pending', message: '', timestampMs: T0 } };
    expect(diffAssignments('n1', sent, [a.id], view(pending))).toEqual({ upsert: [], remove: [] });
    expect(diffAssignments('n1', sent, [a.id], view(a))).toEqual({ upsert: [a], remove: [] });
  });

  it('handles many changes at once, each id once', () => {
    const { sent } = fullAssignments([a, b]);
    const a2: TaskRecord = { ...a, desiredState: 'shutdown' };
    const c = mockTask(svc, { slot: 3 });
    const delta = diffAssignments('n1', sent, [a.id, b.id, c.id], view(a2, c));
    expect(delta).toEqual({ upsert: [a2, c], remove: [b.id] });
    expect([...sent.keys()].sort()).toEqual([a.id, c.id].sort());
  });
});

describe('acceptStatus', () => {
  const st = (state: TaskState, extra: Partial<TaskStatus> = {}): TaskStatus => ({ state, message: state, timestampMs: T0, ...extra });

  it.each<[string, TaskStatus, TaskStatus, boolean]>([
    ['forward move', st('assigned'), st('preparing'), true],
    ['running → failed', st('running'), st('failed', { exitCode: 1 }), true],
    ['backward move', st('running'), st('starting'), false],
    ['from a terminal state', st('failed'), st('running'), false],
    ['terminal to another terminal', st('orphaned'), st('shutdown'), false],
    ['same state, new message', st('running'), st('running', { message: 'healthy' }), true],
    [
      'same state, new ports',
      st('running'),
      st('running', { ports: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp', hostIp: '' }] }),
      true,
    ],
    ['same state, only a newer timestamp', st('running'), st('running', { timestampMs: T0 + 1000 }), false],
    ['identical', st('starting'), st('starting'), false],
    // In-place restarts keep the task running; (restarts, container) orders the reports.
    ['first start crashed: starting → running in backoff', st('starting'), st('running', { restarts: 1, container: 'backoff' }), true],
    ['up → restart 1 in backoff', st('running'), st('running', { restarts: 1, container: 'backoff' }), true],
    ['restart 1: backoff → up', st('running', { restarts: 1, container: 'backoff' }), st('running', { restarts: 1 }), true],
    ['restart 1 up → restart 2 in backoff', st('running', { restarts: 1 }), st('running', { restarts: 2, container: 'backoff' }), true],
    [
      'a restart skipped in between (one report per restart, newest wins)',
      st('running', { restarts: 1, container: 'backoff' }),
      st('running', { restarts: 3, container: 'backoff' }),
      true,
    ],
    ['stale: a lower restart count', st('running', { restarts: 4, container: 'backoff' }), st('running', { restarts: 3 }), false],
    [
      'stale: backoff after up of the same restart',
      st('running', { restarts: 2 }),
      st('running', { restarts: 2, container: 'backoff' }),
      false,
    ],
    ['stale: starting after a restart was stored', st('running', { restarts: 1, container: 'backoff' }), st('starting'), false],
    [
      'same restart, health turns healthy',
      st('running', { restarts: 2, health: 'starting' }),
      st('running', { restarts: 2, health: 'healthy' }),
      true,
    ],
    ['restarting, then given up on the node', st('running', { restarts: 3, container: 'backoff' }), st('failed', { restarts: 3 }), true],
  ])('%s', (_name, stored, reported, want) => {
    expect(acceptStatus(stored, reported)).toBe(want);
  });

  it('tells why a report is not written', () => {
    expect(judgeStatus(st('running', { restarts: 2 }), st('running', { restarts: 1 }))).toBe('backwards');
    expect(judgeStatus(st('orphaned'), st('running'))).toBe('final');
    expect(judgeStatus(st('running', { restarts: 2 }), st('running', { restarts: 2, timestampMs: T0 + 5 }))).toBe('unchanged');
    expect(judgeStatus(st('running', { restarts: 2, container: 'backoff' }), st('running', { restarts: 2 }))).toBe('newer');
  });

  it('over any sequence of restarts, accepts exactly the reports that go forward', () => {
    // Reports of one task, one per (state, restarts, container), in the order an agent makes
    // them; a controller that sees any of them in any order ends with the newest it saw, so a
    // stale report never overwrites a newer one.
    const sequence: TaskStatus[] = [st('preparing'), st('starting'), st('running', { health: 'healthy' })];
    for (let r = 1; r <= 4; r++)
      sequence.push(
        st('running', { restarts: r, container: 'backoff', message: `restart ${r}` }),
        st('running', { restarts: r, message: `up after ${r}` }),
      );
    sequence.push(st('failed', { restarts: 4 }));
    fc.assert(
      fc.property(fc.array(fc.nat({ max: sequence.length - 1 }), { minLength: 1, maxLength: 30 }), (order) => {
        let stored = st('assigned');
        let newest = -1;
        for (const i of order) {
          if (acceptStatus(stored, sequence[i]!)) stored = sequence[i]!;
          newest = Math.max(newest, i);
          expect(stored).toEqual(sequence[newest]);
        }
      }),
    );
  });
});
