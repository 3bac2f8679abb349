// waitForServices with a fake client, a fake service watch and a fake clock. Watching: an
// already-stable service converges at once, a fresh one SETTLE_MS after the controller saw it up
// (woken by time, not by a poll), a container that fails at once is not called converged, a
// broken watch is opened again, a controller without the watch is polled. Polling: progress lines
// when they change, success, a crash loop ends it early, a timeout names what was missing, a
// passing outage is waited out.
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ApiError, type BerthClient } from '../../cli/src/client.js';
import { SETTLE_MS, waitFailure, waitForServices, type WatchService, type WatchStep } from '../../cli/src/wait.js';
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

/** A fake clock; a sleep ends early at the next scripted watch step that falls due, and delivers it. */
function clock() {
  let t = T0;
  const due: Array<{ at: number; fire: () => void }> = [];
  const deliver = (): void => {
    for (;;) {
      due.sort((a, b) => a.at - b.at);
      if (!due[0] || due[0].at > t) return;
      due.shift()!.fire();
    }
  };
  return {
    now: () => t,
    sleep: async (ms: number, signal?: AbortSignal) => {
      // What is already on its way (a watch's callbacks) runs first and may end the sleep at once.
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) return;
      const next = due.sort((a, b) => a.at - b.at)[0];
      t = next && next.at <= t + ms ? Math.max(t, next.at) : t + ms;
      deliver();
    },
    schedule: (at: number, fire: () => void) => {
      due.push({ at, fire });
      deliver();
    },
  };
}

/** One scripted stream: steps at ms after it opened, then an error or the end (default: stays open). */
type Script = Array<{ at: number; step?: Partial<WatchStep>; error?: Error; end?: true }>;
/** A watch that plays one script per time it is opened (the last one repeats). */
function fakeWatch(clk: ReturnType<typeof clock>, streams: Script[]): { watch: WatchService; opened: () => number } {
  let opened = 0;
  const watch: WatchService = (_t, onStep, signal) =>
    new Promise((resolve, reject) => {
      const script = streams[Math.min(opened++, streams.length - 1)]!;
      const base = clk.now();
      signal.addEventListener('abort', () => resolve(), { once: true });
      for (const s of script) {
        clk.schedule(base + s.at, () => {
          if (signal.aborted) return;
          if (s.error) reject(s.error);
          else if (s.end) resolve();
          else onStep({ service: null, deleted: false, tasks: [], removedTaskIds: [], runningForMs: {}, rollout: null, ...s.step });
        });
      }
    });
  return { watch, opened: () => opened };
}

const pbService = (svc: ServiceRecord) => serviceToPb(svc, 1) as never;
const pbTasks = (...tasks: TaskRecord[]) => tasks.map((t) => taskToPb(t)) as never;
/** A client that must not be asked (the watch tells everything). */
const noClient = new Proxy({}, { get: (_o, k) => () => Promise.reject(new Error(`client.${String(k)} called`)) }) as unknown as BerthClient;

const target = { namespace: 'default', name: 'web' };

describe('waitForServices, watching', () => {
  it('a service that has run for long converges at once, with no wait at all', async () => {
    const svc = mockService({ replicas: 2 });
    const [a, b] = [mockTask(svc, { slot: 1 }), mockTask(svc, { slot: 2 })];
    const clk = clock();
    const { watch } = fakeWatch(clk, [
      [{ at: 0, step: { service: pbService(svc), tasks: pbTasks(a, b), runningForMs: { [a.id]: 3_600_000, [b.id]: SETTLE_MS } } }],
    ]);
    const lines: string[] = [];
    const [o] = await waitForServices(noClient, [target], { timeoutMs: 60_000, ...clk, watch, onProgress: (_t, l) => lines.push(l) });
    expect(o!.phase).toBe('converged');
    expect(lines).toEqual(['converged: 2/2 running (revision 1)']);
    expect(clk.now()).toBe(T0);
  });

  it('a fresh container converges SETTLE_MS after the controller saw it up, woken by time', async () => {
    const svc = mockService({ replicas: 1 });
    const starting = mockTask(svc, { state: 'starting' });
    const up = mockTask(svc);
    const clk = clock();
    const { watch } = fakeWatch(clk, [
      [
        { at: 0, step: { service: pbService(svc), tasks: pbTasks(starting) } },
        { at: 1_000, step: { tasks: pbTasks(up), runningForMs: { [up.id]: 100 } } }, // seen up 100 ms before this step
      ],
    ]);
    const lines: string[] = [];
    const [o] = await waitForServices(noClient, [target], { timeoutMs: 60_000, ...clk, watch, onProgress: (_t, l) => lines.push(l) });
    expect(o!.phase).toBe('converged');
    expect(lines).toEqual(['0/1 running, 1 starting', '1/1 running (1 just started)', 'converged: 1/1 running (revision 1)']);
    expect(clk.now()).toBe(T0 + 1_000 - 100 + SETTLE_MS);
  });

  it('a timer that fires a fraction of a ms early does not lose the settle wake-up', async () => {
    const svc = mockService({ replicas: 1 });
    const up = mockTask(svc);
    const clk = clock();
    const { watch } = fakeWatch(clk, [[{ at: 0, step: { service: pbService(svc), tasks: pbTasks(up), runningForMs: { [up.id]: 2 } } }]]);
    // Real timers round to whole ms and may fire early; each sleep here ends 0.3 ms short.
    const early = { ...clk, sleep: (ms: number, signal: AbortSignal) => clk.sleep(Math.max(0, ms - 0.3), signal) };
    const [o] = await waitForServices(noClient, [target], { timeoutMs: 60_000, ...early, watch });
    expect(o!.phase).toBe('converged');
    expect(clk.now()).toBeLessThan(T0 + SETTLE_MS);
  });

  it('a container that fails at once is not taken for converged: its restarts end in a crash loop', async () => {
    const svc = mockService({ replicas: 1 });
    const t = mockTask(svc);
    const backoff = (n: number) =>
      mockTask(svc, {
        status: { message: `exited with code 3; restarting in 1s (restart ${n})`, container: 'backoff', restarts: n, exitCode: 3 },
      });
    const clk = clock();
    const { watch } = fakeWatch(clk, [
      [
        { at: 0, step: { service: pbService(svc), tasks: pbTasks(t), runningForMs: { [t.id]: 0 } } },
        // The exit reaches the controller's cache well within SETTLE_MS.
        { at: SETTLE_MS - 100, step: { tasks: pbTasks(backoff(1)) } },
        { at: 2_000, step: { tasks: pbTasks(backoff(2)) } },
        { at: 4_000, step: { tasks: pbTasks(backoff(3)) } },
      ],
    ]);
    const lines: string[] = [];
    const [o] = await waitForServices(noClient, [target], { timeoutMs: 60_000, ...clk, watch, onProgress: (_t, l) => lines.push(l) });
    expect(lines.some((l) => l.startsWith('converged'))).toBe(false);
    expect(lines[0]).toBe('1/1 running (1 just started)');
    expect(o!.phase).toBe('failed');
    expect(o!.reason).toMatch(/^crash loop: web\.1 running: exited with code 3/);
  });

  it('a container whose first run the controller saw just started, then ended, is not converged', async () => {
    const svc = mockService({
      replicas: 1,
      spec: { restart: { policy: 'never', backoff: { initial: 1_000, multiplier: 2, max: 300_000, resetAfter: 60_000 } } },
    });
    const t = mockTask(svc);
    const ended = mockTask(svc, { state: 'failed', desiredState: 'shutdown', status: { message: 'container exited with code 3' } });
    const clk = clock();
    const { watch } = fakeWatch(clk, [
      [
        { at: 0, step: { service: pbService(svc), tasks: pbTasks(t), runningForMs: { [t.id]: 50 } } },
        { at: 200, step: { tasks: pbTasks(ended) } },
      ],
    ]);
    const [o] = await waitForServices(noClient, [target], { timeoutMs: 60_000, ...clk, watch });
    expect(o).toMatchObject({ phase: 'failed' });
    expect(o!.reason).toMatch(/^web\.1 failed: container exited with code 3; not restarted: restart policy never/);
  });

  it('removed tasks are forgotten; a rollback in the rollout fails the wait', async () => {
    const svc = mockService({ replicas: 1, specRevision: 2 });
    const old = { ...mockTask(svc, { specRevision: 1 }), spec: { ...svc.spec, image: 'berth-local/web:0' } };
    const clk = clock();
    const rollout = { revision: 1, state: 'rollback_completed', done: true, rollbackOf: 2, message: 'slot 1 failed' };
    const { watch } = fakeWatch(clk, [
      [
        { at: 0, step: { service: pbService(svc), tasks: pbTasks(old), runningForMs: { [old.id]: 60_000 } } },
        { at: 300, step: { removedTaskIds: [old.id], rollout } },
      ],
    ]);
    const [o] = await waitForServices(noClient, [{ ...target, revision: 2 }], { timeoutMs: 60_000, ...clk, watch });
    expect(o).toMatchObject({ phase: 'failed', reason: 'rollout of revision 2 failed and was rolled back: slot 1 failed' });
    expect(o!.convergence!.summary).toBe('0/1 running');
  });

  it('a broken watch is opened again and starts over from its first step; a deleted service fails', async () => {
    const svc = mockService({ replicas: 1 });
    const t = mockTask(svc);
    const clk = clock();
    const { watch, opened } = fakeWatch(clk, [
      [
        { at: 0, step: { service: pbService(svc), tasks: pbTasks(mockTask(svc, { state: 'starting' })) } },
        { at: 100, error: new ApiError(status.UNAVAILABLE, 'cannot reach the controller') },
      ],
      [{ at: 0, step: { service: pbService(svc), tasks: pbTasks(t), runningForMs: { [t.id]: 10_000 } } }],
    ]);
    const lines: string[] = [];
    const [o] = await waitForServices(noClient, [target], { timeoutMs: 60_000, ...clk, watch, onProgress: (_t, l) => lines.push(l) });
    expect(o!.phase).toBe('converged');
    expect(opened()).toBe(2);
    expect(lines).toEqual([
      '0/1 running, 1 starting',
      'waiting for the controller: cannot reach the controller',
      'converged: 1/1 running (revision 1)',
    ]);

    const clk2 = clock();
    const gone = fakeWatch(clk2, [
      [
        { at: 0, step: { service: pbService(svc), tasks: pbTasks(mockTask(svc, { state: 'starting' })) } },
        { at: 100, step: { deleted: true } },
        { at: 100, end: true },
      ],
    ]);
    const [d] = await waitForServices(noClient, [target], { timeoutMs: 60_000, ...clk2, watch: gone.watch });
    expect(d).toMatchObject({ phase: 'failed', reason: 'the service was deleted' });
    const clk3 = clock();
    const missing = fakeWatch(clk3, [[{ at: 0, error: new ApiError(status.NOT_FOUND, 'service default/web not found') }]]);
    expect((await waitForServices(noClient, [target], { timeoutMs: 60_000, ...clk3, watch: missing.watch }))[0]).toMatchObject({
      phase: 'failed',
      reason: 'the service was deleted',
    });
  });

  it('a controller without the watch (UNIMPLEMENTED) is polled instead', async () => {
    const svc = mockService({ replicas: 1 });
    const { client, polls } = fakeClient([{ svc, tasks: [mockTask(svc)] }]);
    const clk = clock();
    const { watch } = fakeWatch(clk, [[{ at: 0, error: new ApiError(status.UNIMPLEMENTED, 'unknown method WatchService') }]]);
    const [o] = await waitForServices(client, [target], { timeoutMs: 60_000, ...clk, watch });
    expect(o!.phase).toBe('converged');
    expect(polls()).toBe(2); // seen up, then SETTLE_MS (one poll interval) later
  });

  it('times out naming what was missing when nothing converges', async () => {
    const svc = mockService({ replicas: 1 });
    const clk = clock();
    const { watch } = fakeWatch(clk, [
      [
        {
          at: 0,
          step: {
            service: pbService(svc),
            tasks: pbTasks(
              mockTask(svc, { nodeId: '', state: 'pending', status: { message: 'no suitable node: n1: memory short by 1Gi' } }),
            ),
          },
        },
      ],
    ]);
    const [o] = await waitForServices(noClient, [target], { timeoutMs: 10_000, ...clk, watch });
    expect(waitFailure([o!])).toBe(
      'service/default/web: timed out: not converged within 10s: 0/1 running, 1 pending (no suitable node: n1: memory short by 1Gi)',
    );
    expect(clk.now()).toBe(T0 + 10_000);
  });
});

describe('waitForServices, polling', () => {
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
      '1/2 running, 1 pending (no suitable node: n1: memory short)',
      '2/2 running (1 just started)',
      'converged: 2/2 running (revision 1)',
    ]);
    expect(waitFailure([o!])).toBeUndefined();
  });

  it('a container seen running for a moment and then failing is not taken for converged', async () => {
    const svc = mockService({ replicas: 1 });
    const run = (i: number) => ({ ...mockTask(svc, { instance: i }), createdAtMs: T0 + i });
    const fail = (i: number) => ({
      ...mockTask(svc, { instance: i, state: 'failed', desiredState: 'shutdown', status: { message: 'container exited with code 3' } }),
      createdAtMs: T0 + i,
    });
    const { client } = fakeClient([
      { svc, tasks: [run(0)] },
      { svc, tasks: [fail(0), run(1)] },
      { svc, tasks: [fail(0), fail(1), run(2)] },
      { svc, tasks: [fail(0), fail(1), fail(2)] },
    ]);
    const [o] = await waitForServices(client, [target], { timeoutMs: 60_000, ...clock(), settleMs: 3_000 });
    expect(o).toMatchObject({ phase: 'failed' });
    expect(o!.reason).toMatch(/^crash loop: web\.1 failed: container exited with code 3/);
  });

  it('times out with the pending reason', async () => {
    const svc = mockService({ replicas: 1 });
    const { client, polls } = fakeClient([
      { svc, tasks: [mockTask(svc, { nodeId: '', state: 'pending', status: { message: 'no suitable node: n1: memory short by 1Gi' } })] },
    ]);
    const [o] = await waitForServices(client, [target], { timeoutMs: 10_000, pollMs: 500, ...clock() });
    expect(o!.phase).toBe('timeout');
    expect(polls()).toBeLessThanOrEqual(22); // bounded by timeout / poll
    expect(waitFailure([o!])).toBe(
      'service/default/web: timed out: not converged within 10s: 0/1 running, 1 pending (no suitable node: n1: memory short by 1Gi)',
    );
  });

  it('a stuck rollout says so at once, then fails when the rollout does (its progress deadline)', async () => {
    const svc = mockService({ replicas: 2, specRevision: 2 });
    const taken = 'no suitable node: 1 node: port 8081/tcp taken by default/web';
    const tasks = [mockTask(svc, { slot: 1 }), mockTask(svc, { slot: 2, nodeId: '', state: 'pending', status: { message: taken } })];
    const { client } = fakeClient([{ svc, tasks }]);
    const stuck = {
      revision: 2,
      state: 'updating',
      done: false,
      rollbackOf: 0,
      message: 'rolling out revision 2',
      stuck: `web.2 pending: ${taken}`,
      progressDeadlineMs: 5_000,
    };
    const failed = {
      revision: 3,
      state: 'rollback_started',
      done: false,
      rollbackOf: 2,
      message: `revision 2 failed (no progress for 5s (update.progressDeadline): web.2 pending: ${taken}): rolling back to the spec of revision 1`,
    };
    let calls = 0;
    const lines: string[] = [];
    const [o] = await waitForServices(client, [{ ...target, revision: 2 }], {
      timeoutMs: 60_000,
      ...clock(),
      onProgress: (_t, l) => lines.push(l),
      rollout: async () => (++calls <= 3 ? stuck : failed),
    });
    expect(lines[0]).toBe(
      `stuck: web.2 pending: ${taken} (the rollout fails after 5s without progress: update.progressDeadline); 1/2 running (1 just started), 1 pending (${taken})`,
    );
    expect(o!.phase).toBe('failed');
    expect(o!.reason).toBe(`rollout of revision 2 failed and was rolled back: ${failed.message}`);
  });

  it('a crash loop fails at once and abandons the others', async () => {
    const bad = mockService({ name: 'web', replicas: 1 });
    const ends = [0, 1, 2].map((i) => ({
      ...mockTask(bad, {
        instance: i,
        state: 'failed' as const,
        desiredState: 'shutdown' as const,
        status: { message: 'container exited with code 3' },
      }),
      createdAtMs: T0 + i,
    }));
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
