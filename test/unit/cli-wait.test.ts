// waitForServices with a fake client and a fake clock: progress lines when they change, success,
// a crash loop ends it early, a timeout names what was missing, a passing outage is waited out.
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ApiError, type BerthClient } from '../../cli/src/client.js';
import { waitFailure, waitForServices } from '../../cli/src/wait.js';
import { serviceToPb, taskToPb } from '../../proto/src/convert.js';
import type { ServiceRecord, TaskRecord } from '../../proto/src/model.js';
import { mockService, mockTask, T0 } from './fixtures.js';

/** A client whose answers follow a script: one state per poll (the last one repeats). */
type State = { svc: ServiceRecord; tasks: TaskRecord[] } | Error;
function fakeClient(states: State[], others: Record<string, State> = {}): { client: BerthClient; polls: () => number } {
  let i = 0;
  const current = (name: string) => others[name] ?? states[Math.min(i, states.length - 1)]!;
  const client = {
    getService: async (_ns: string, name: string) => {
      const s = current(name);
      if (s instanceof Error) throw s;
      return serviceToPb(s.svc, 1) as never;
    },
    listTasks: async (req: { service: string }) => {
      const s = current(req.service);
      if (!others[req.service]) i++;
      if (s instanceof Error) throw s;
      return s.tasks.map((t) => taskToPb(t)) as never;
    },
  } as unknown as BerthClient;
  return { client, polls: () => i };
}

function clock() {
  let t = T0;
  return { now: () => t, sleep: async (ms: number) => void (t += ms) };
}

const target = { namespace: 'default', name: 'web' };

describe('waitForServices', () => {
  it('reports progress when it changes and ends converged', async () => {
    const svc = mockService({ replicas: 2 });
    const pending = mockTask(svc, { slot: 2, nodeId: '', state: 'pending', status: { message: 'no suitable node: n1: memory short' } });
    const { client } = fakeClient([
      { svc, tasks: [mockTask(svc, { slot: 1, state: 'starting' }), pending] },
      { svc, tasks: [mockTask(svc, { slot: 1 }), pending] },
      { svc, tasks: [mockTask(svc, { slot: 1 }), pending] },
      { svc, tasks: [mockTask(svc, { slot: 1 }), mockTask(svc, { slot: 2 })] },
    ]);
    const lines: string[] = [];
    const [o] = await waitForServices(client, [target], { timeoutMs: 60_000, ...clock(), onProgress: (_t, l) => lines.push(l) });
    expect(o!.phase).toBe('converged');
    expect(lines).toEqual([
      '0/2 running, 1 starting, 1 pending (no suitable node: n1: memory short)',
      '1/2 running (1 just started), 1 pending (no suitable node: n1: memory short)',
      '2/2 running (2 just started)',
      '2/2 running (1 just started)',
      'converged: 2/2 running (revision 1)',
    ]);
    expect(waitFailure([o!])).toBeUndefined();
  });

  it('a container seen running for a moment and then failing is not taken for converged', async () => {
    const svc = mockService({ replicas: 1 });
    const run = (i: number) => ({ ...mockTask(svc, { instance: i }), createdAtMs: T0 + i });
    const fail = (i: number) => ({ ...mockTask(svc, { instance: i, state: 'failed', desiredState: 'shutdown', status: { message: 'container exited with code 3' } }), createdAtMs: T0 + i });
    const { client } = fakeClient([
      { svc, tasks: [run(0)] },
      { svc, tasks: [fail(0), run(1)] },
      { svc, tasks: [fail(0), fail(1), run(2)] },
      { svc, tasks: [fail(0), fail(1), fail(2)] },
    ]);
    const [o] = await waitForServices(client, [target], { timeoutMs: 60_000, ...clock(), stableMs: 3_000 });
    expect(o).toMatchObject({ phase: 'failed' });
    expect(o!.reason).toMatch(/^crash loop: web\.1 failed: container exited with code 3/);
  });

  it('times out with the pending reason', async () => {
    const svc = mockService({ replicas: 1 });
    const { client, polls } = fakeClient([{ svc, tasks: [mockTask(svc, { nodeId: '', state: 'pending', status: { message: 'no suitable node: n1: memory short by 1Gi' } })] }]);
    const [o] = await waitForServices(client, [target], { timeoutMs: 10_000, pollMs: 500, ...clock() });
    expect(o!.phase).toBe('timeout');
    expect(polls()).toBeLessThanOrEqual(22); // bounded by timeout / poll
    expect(waitFailure([o!])).toBe('service/default/web: timed out: not converged within 10s: 0/1 running, 1 pending (no suitable node: n1: memory short by 1Gi)');
  });

  it('a stuck rollout says so at once, then fails when the rollout does (its progress deadline)', async () => {
    const svc = mockService({ replicas: 2, specRevision: 2 });
    const taken = 'no suitable node: 1 node: port 8081/tcp taken by default/web';
    const tasks = [mockTask(svc, { slot: 1 }), mockTask(svc, { slot: 2, nodeId: '', state: 'pending', status: { message: taken } })];
    const { client } = fakeClient([{ svc, tasks }]);
    const stuck = { revision: 2, state: 'updating', done: false, rollbackOf: 0, message: 'rolling out revision 2', stuck: `web.2 pending: ${taken}`, progressDeadlineMs: 5_000 };
    const failed = { revision: 3, state: 'rollback_started', done: false, rollbackOf: 2, message: `revision 2 failed (no progress for 5s (update.progressDeadline): web.2 pending: ${taken}): rolling back to the spec of revision 1` };
    let calls = 0;
    const lines: string[] = [];
    const [o] = await waitForServices(client, [{ ...target, revision: 2 }], {
      timeoutMs: 60_000, ...clock(), onProgress: (_t, l) => lines.push(l), rollout: async () => (++calls <= 3 ? stuck : failed),
    });
    expect(lines[0]).toBe(`stuck: web.2 pending: ${taken} (the rollout fails after 5s without progress: update.progressDeadline); 1/2 running (1 just started), 1 pending (${taken})`);
    expect(o!.phase).toBe('failed');
    expect(o!.reason).toBe(`rollout of revision 2 failed and was rolled back: ${failed.message}`);
  });

  it('a crash loop fails at once and abandons the others', async () => {
    const bad = mockService({ name: 'web', replicas: 1 });
    const ends = [0, 1, 2].map((i) => ({ ...mockTask(bad, { instance: i, state: 'failed' as const, desiredState: 'shutdown' as const, status: { message: 'container exited with code 3' } }), createdAtMs: T0 + i }));
    const api = mockService({ name: 'api', uid: 'u2', replicas: 1 });
    const { client } = fakeClient([{ svc: bad, tasks: ends }], { api: { svc: api, tasks: [mockTask(api, { state: 'starting' })] } });
    const outcomes = await waitForServices(client, [target, { namespace: 'default', name: 'api' }], { timeoutMs: 60_000, ...clock() });
    expect(outcomes.map((o) => o.phase)).toEqual(['failed', 'abandoned']);
    expect(waitFailure(outcomes)).toMatch(/^service\/default\/web: failed: crash loop: web.1 failed: container exited with code 3/);
  });

  it('waits out a controller that does not answer for a while', async () => {
    const svc = mockService({ replicas: 1 });
    const down = new ApiError(status.UNAVAILABLE, 'cannot reach the controller');
    const { client } = fakeClient([down, down, { svc, tasks: [mockTask(svc)] }]);
    const lines: string[] = [];
    const [o] = await waitForServices(client, [target], { timeoutMs: 60_000, ...clock(), onProgress: (_t, l) => lines.push(l) });
    expect(o!.phase).toBe('converged');
    expect(lines[0]).toBe('waiting for the controller: cannot reach the controller');
  });

  it('a deleted service fails; other API errors are thrown', async () => {
    const { client } = fakeClient([new ApiError(status.NOT_FOUND, 'service default/web not found')]);
    const [o] = await waitForServices(client, [target], { timeoutMs: 60_000, ...clock() });
    expect(o).toMatchObject({ phase: 'failed', reason: 'the service was deleted' });
    const { client: c2 } = fakeClient([new ApiError(status.PERMISSION_DENIED, 'no')]);
    await expect(waitForServices(c2, [target], { timeoutMs: 60_000, ...clock() })).rejects.toThrow('no');
  });
});
