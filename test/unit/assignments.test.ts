import { describe, expect, it } from 'vitest';
import { assignmentSignature, diffAssignments, fullAssignments } from '../../controller/src/api/assignments.js';
import { acceptStatus } from '../../controller/src/api/status-writer.js';
import type { TaskRecord, TaskStatus } from '../../proto/src/model.js';
import type { TaskState } from '../../proto/src/types.js';
import { T0, mockService, mockTask } from './fixtures.js';

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
    expect([...sent]).toEqual([[a.id, 'running|1|n1'], [b.id, 'shutdown|1|n1']]);
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
    ['same state, new ports', st('running'), st('running', { ports: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp', hostIp: '' }] }), true],
    ['same state, only a newer timestamp', st('running'), st('running', { timestampMs: T0 + 1000 }), false],
    ['identical', st('starting'), st('starting'), false],
  ])('%s', (_name, stored, reported, want) => {
    expect(acceptStatus(stored, reported)).toBe(want);
  });
});
