// The agent's lifecycle with a fake engine and a manual clock: in-place restarts with growing
// backoff, one report per restart, giving up on the node, and health checks that restart.
import { describe, expect, it } from 'vitest';
import { Worker } from '../../agent/src/worker.js';
import { KEPT_FOR_LIMIT, LOCAL_RESTARTS_BEFORE_MOVE, decideRestart } from '../../agent/src/restart-plan.js';
import { HealthTracker } from '../../agent/src/health/probe.js';
import { OOM_EVENT_SETTLE_MS } from '../../agent/src/task-plan.js';
import { ManualClock } from '../../proto/src/clock.js';
import { statusOrder } from '../../proto/src/types.js';
import { silentLogger } from '../../proto/src/log.js';
import type { TaskStatus } from '../../proto/src/model.js';
import type { ServiceSpec } from '../../proto/src/spec/service.js';
import { FakeRuntime } from './fake-runtime.js';
import { mockService, mockTask, settle } from './fixtures.js';

const IMAGE = 'berth-local/web:1';
const restart = (o: Partial<ServiceSpec['restart']> = {}): ServiceSpec['restart'] => ({
  policy: 'always',
  backoff: { initial: 1_000, multiplier: 2, max: 8_000, resetAfter: 60_000 },
  ...o,
});

function setup(spec: Partial<ServiceSpec>) {
  const clock = new ManualClock();
  const rt = new FakeRuntime(() => clock.now());
  rt.images.add(IMAGE);
  const reports: Array<{ taskId: string; status: TaskStatus }> = [];
  const worker = new Worker({
    runtime: rt,
    nodeId: 'n1',
    report: (taskId, status) => reports.push({ taskId, status }),
    log: silentLogger(),
    now: () => clock.now(),
    clock,
  });
  const svc = mockService({ spec: { image: IMAGE, ...spec } });
  const t = mockTask(svc, { nodeId: 'n1', state: 'assigned' });
  return { clock, rt, reports, worker, t };
}

describe('in-place restarts', () => {
  it('restarts a crashing container after 1s, 2s, 4s with one report each, then gives it up on the node', async () => {
    const { clock, rt, reports, worker, t } = setup({ restart: restart() });
    worker.apply({ full: true, upsert: [t], remove: [] });
    await worker.settled();
    const id = rt.byName(t.containerName)!.id;
    const delays: number[] = [];
    for (let i = 0; i < LOCAL_RESTARTS_BEFORE_MOVE; i++) {
      clock.advance(100);
      rt.exit(id, 3);
      const before = reports.length;
      worker.poke(t.id);
      await worker.settled();
      expect(reports.length - before).toBe(1); // exactly one report per restart
      // The task stays running; its container waits for the restart (never back to `starting`).
      expect(reports.at(-1)!.status).toMatchObject({ state: 'running', container: 'backoff', restarts: i + 1, exitCode: 3 });
      const starts = rt.callsOf('start').length;
      let waited = 0;
      while (rt.callsOf('start').length === starts) {
        clock.advance(100);
        waited += 100;
        await settle(() => true);
        await worker.settled();
        expect(waited).toBeLessThan(20_000);
      }
      delays.push(waited);
      // The restart itself is not reported until the container stayed up a moment.
      expect(reports.length - before).toBe(1);
    }
    // Every report went forward: state, then restart count, then backoff → up.
    for (let i = 1; i < reports.length; i++)
      expect(statusOrder(reports[i]!.status, reports[i - 1]!.status), JSON.stringify(reports[i])).toBeGreaterThan(0);
    expect(delays).toEqual([1_000, 2_000, 4_000]);
    expect(rt.callsOf('create')).toHaveLength(1); // the same container every time
    clock.advance(100);
    rt.exit(id, 3);
    worker.poke(t.id);
    await worker.settled();
    expect(reports.at(-1)!.status).toMatchObject({ state: 'failed', restarts: 3 });
    expect(reports.at(-1)!.status.message).toBe('exited with code 3; 3 restarts in a row on this node: replaced, preferring another node');
  });

  it('decides per policy: on-failure ends after maxAttempts and completes on exit 0; a healthy period resets the count', () => {
    const onFailure = restart({ policy: 'on-failure', maxAttempts: 2 });
    const crash = { exitCode: 1, unhealthy: false, healthyRunMs: 0 };
    expect(decideRestart(onFailure, crash, { failuresInRow: 1, localRestarts: 1 })).toMatchObject({ action: 'restart', delayMs: 2_000 });
    expect(decideRestart(onFailure, crash, { failuresInRow: 2, localRestarts: 2 })).toMatchObject({ action: 'end', state: 'failed' });
    expect(decideRestart(onFailure, { ...crash, exitCode: 0 }, { failuresInRow: 0, localRestarts: 0 })).toMatchObject({
      action: 'end',
      state: 'complete',
    });
    expect(decideRestart(restart({ policy: 'never' }), crash, { failuresInRow: 0, localRestarts: 0 })).toMatchObject({
      action: 'end',
      state: 'failed',
    });
    // Ran healthy for longer than resetAfter: back to the initial delay.
    expect(decideRestart(restart(), { ...crash, healthyRunMs: 60_000 }, { failuresInRow: 5, localRestarts: 2 })).toMatchObject({
      action: 'restart',
      delayMs: 1_000,
    });
    // The cap.
    expect(decideRestart(restart(), crash, { failuresInRow: 10, localRestarts: 0 })).toMatchObject({ action: 'restart', delayMs: 8_000 });
    // Ending or moving after a healthy period: judged on a count started over, and said so.
    expect(
      decideRestart(restart({ policy: 'never' }), { ...crash, healthyRunMs: 60_000 }, { failuresInRow: 5, localRestarts: 2 }),
    ).toMatchObject({ action: 'end', counters: { failuresInRow: 0, localRestarts: 0 } });
    expect(decideRestart(restart(), crash, { failuresInRow: 5, localRestarts: LOCAL_RESTARTS_BEFORE_MOVE })).toMatchObject({
      action: 'move',
      counters: { failuresInRow: 5, localRestarts: LOCAL_RESTARTS_BEFORE_MOVE },
    });
    // Killed out of memory: by its own limit it stays (any node enforces the same limit); without
    // one, the node ran out of memory, and moving may help.
    const oom = { exitCode: 137, unhealthy: false, oomKilled: true, memoryLimitBytes: 8 * 2 ** 20, healthyRunMs: 0 };
    const past = { failuresInRow: 5, localRestarts: LOCAL_RESTARTS_BEFORE_MOVE };
    expect(decideRestart(restart(), oom, past)).toEqual({
      action: 'restart',
      delayMs: 8_000,
      counters: { failuresInRow: 6, localRestarts: LOCAL_RESTARTS_BEFORE_MOVE + 1 },
      reason: 'killed: out of memory (limit 8Mi)',
      note: KEPT_FOR_LIMIT,
    });
    expect(decideRestart(restart(), oom, { failuresInRow: 0, localRestarts: 0 })).not.toHaveProperty('note');
    expect(decideRestart(restart(), { ...oom, memoryLimitBytes: 0 }, past)).toMatchObject({ action: 'move' });
    expect(decideRestart(restart({ policy: 'never' }), { ...oom, memoryLimitBytes: 100_000_000 }, past)).toMatchObject({
      action: 'end',
      state: 'failed',
    });
  });

  it('a replica that ran healthy past resetAfter reports its failures in a row started over, beside its lifetime restarts', async () => {
    const { clock, rt, reports, worker, t } = setup({ restart: restart() });
    worker.apply({ full: true, upsert: [{ ...t, priorFailures: 2 }], remove: [] });
    await worker.settled();
    const id = rt.byName(t.containerName)!.id;
    // A crash soon after the start: restart 1, counted on from the slot's two earlier failures.
    clock.advance(100);
    rt.exit(id, 3);
    worker.poke(t.id);
    await worker.settled();
    expect(reports.at(-1)!.status).toMatchObject({ state: 'running', container: 'backoff', restarts: 1 });
    expect(reports.at(-1)!.status.failuresInRow).toBeUndefined(); // = priorFailures + restarts = 3
    for (let waited = 0; rt.callsOf('start').length < 2; waited += 100) {
      expect(waited).toBeLessThan(20_000);
      clock.advance(100);
      await settle(() => true);
      await worker.settled();
    }
    // Up and healthy for two minutes (resetAfter 1m), then stopped (an engine restart, say).
    clock.advance(120_000);
    rt.exit(id, 143);
    worker.poke(t.id);
    await worker.settled();
    expect(reports.at(-1)!.status).toMatchObject({ state: 'running', container: 'backoff', restarts: 2, failuresInRow: 1 });
    expect(reports.at(-1)!.status.message).toBe('exited with code 143; restarting in 1s (restart 2)');
  });

  it('a container killed by its own memory limit says so, and goes on restarting on this node past the move count', async () => {
    const { clock, rt, reports, worker, t } = setup({
      restart: restart(),
      resources: { cpu: 0, memory: 0, limits: { memory: 8 * 2 ** 20 } },
    });
    worker.apply({ full: true, upsert: [t], remove: [] });
    await worker.settled();
    const id = rt.byName(t.containerName)!.id;
    const oomOnce = async (): Promise<TaskStatus> => {
      const starts = rt.callsOf('start').length;
      clock.advance(100);
      rt.oomKill(id);
      worker.poke(t.id);
      await worker.settled();
      const ended = reports.at(-1)!.status;
      for (let waited = 0; rt.callsOf('start').length === starts; waited += 100) {
        expect(waited).toBeLessThan(20_000);
        clock.advance(100);
        await settle(() => true);
        await worker.settled();
      }
      return ended;
    };
    const first = await oomOnce();
    expect(first).toMatchObject({ state: 'running', container: 'backoff', restarts: 1, exitCode: 137, oomKilled: true });
    expect(first.message).toBe('killed: out of memory (limit 8Mi); restarting in 1s (restart 1)');
    for (let i = 2; i <= LOCAL_RESTARTS_BEFORE_MOVE; i++) await oomOnce();
    // Where a crash would be given up on the node, this one restarts here and says why.
    const past = await oomOnce();
    expect(past).toMatchObject({ state: 'running', container: 'backoff', restarts: LOCAL_RESTARTS_BEFORE_MOVE + 1, oomKilled: true });
    expect(past.message).toBe(
      `killed: out of memory (limit 8Mi); restarting in 8s (restart ${LOCAL_RESTARTS_BEFORE_MOVE + 1}); ${KEPT_FOR_LIMIT}`,
    );
    expect(rt.callsOf('create')).toHaveLength(1);
    // Up again: the flag was about that end only.
    clock.advance(2_000);
    await settle(() => true);
    await worker.settled();
    expect(reports.at(-1)!.status).toMatchObject({ state: 'running', restarts: LOCAL_RESTARTS_BEFORE_MOVE + 1 });
    expect(reports.at(-1)!.status.container).toBeUndefined();
    expect(reports.at(-1)!.status.oomKilled).toBeUndefined();
    // A plain crash after those still moves: the count is restarts in a row on this node.
    clock.advance(100);
    rt.exit(id, 3);
    worker.poke(t.id);
    await worker.settled();
    expect(reports.at(-1)!.status).toMatchObject({ state: 'failed', exitCode: 3 });
    expect(reports.at(-1)!.status.message).toMatch(
      /^exited with code 3; \d+ restarts in a row on this node: replaced, preferring another node$/,
    );
  });

  it("an OOM kill the engine reports only by an oom event after the exit (no OOMKilled) is still the memory limit's", async () => {
    const { clock, rt, reports, worker, t } = setup({
      restart: restart(),
      resources: { cpu: 0, memory: 0, limits: { memory: 8 * 2 ** 20 } },
    });
    worker.apply({ full: true, upsert: [t], remove: [] });
    await worker.settled();
    const id = rt.byName(t.containerName)!.id;
    for (let i = 1; i <= LOCAL_RESTARTS_BEFORE_MOVE + 1; i++) {
      const starts = rt.callsOf('start').length;
      clock.advance(100);
      rt.exit(id, 137); // the engine's die, with OOMKilled false
      worker.poke(t.id);
      await worker.settled();
      // Nothing is judged before the event had the time to come.
      expect(reports.at(-1)!.status.restarts ?? 0).toBe(i - 1);
      clock.advance(50);
      worker.noteOom(t.id, id, clock.now());
      worker.poke(t.id);
      await worker.settled();
      const ended = reports.at(-1)!.status;
      expect(ended).toMatchObject({ state: 'running', container: 'backoff', restarts: i, exitCode: 137, oomKilled: true });
      expect(ended.message).toMatch(/^killed: out of memory \(limit 8Mi\); restarting in /);
      for (let waited = 0; rt.callsOf('start').length === starts; waited += 100) {
        expect(waited).toBeLessThan(20_000);
        clock.advance(100);
        await settle(() => true);
        await worker.settled();
      }
    }
    expect(reports.at(-1)!.status.message).toContain(KEPT_FOR_LIMIT);
    expect(rt.callsOf('create')).toHaveLength(1);
    // The same exit and no event at all: a plain kill, judged after the settle time.
    clock.advance(2_000);
    await settle(() => true);
    await worker.settled();
    clock.advance(100);
    rt.exit(id, 137);
    worker.poke(t.id);
    await worker.settled();
    for (let waited = 0; reports.at(-1)!.status.state !== 'failed'; waited += 100) {
      expect(waited).toBeLessThan(OOM_EVENT_SETTLE_MS + 500);
      clock.advance(100);
      await settle(() => true);
      await worker.settled();
    }
    expect(reports.at(-1)!.status.message).toMatch(/^exited with code 137; \d+ restarts in a row on this node: replaced/);
  });
});

describe('health checks', () => {
  it('an exec check that keeps failing makes the task unhealthy: stopped and restarted, counted', async () => {
    const { clock, rt, reports, worker, t } = setup({
      restart: restart(),
      health: { exec: { command: ['false'] }, interval: 1_000, timeout: 500, retries: 2, startPeriod: 0 },
    });
    let result = 0;
    rt.execResult = () => ({ exitCode: result, output: '' });
    worker.apply({ full: true, upsert: [t], remove: [] });
    await worker.settled();
    expect(reports.at(-1)!.status).toMatchObject({ state: 'running', health: 'starting' });
    clock.advance(500);
    await settle(() => reports.at(-1)!.status.health === 'healthy', 'healthy');
    await worker.settled();
    expect(reports.at(-1)!.status.message).toBe('container running, healthy');
    result = 1;
    for (let i = 0; i < 2; i++) {
      await settle(() => clock.pending > 0, 'the next check scheduled');
      clock.advance(1_000);
      await settle(() => rt.callsOf('execCheck').length >= 2 + i, 'check');
    }
    await settle(() => reports.at(-1)!.status.health === 'unhealthy', 'unhealthy');
    await worker.settled();
    expect(reports.at(-1)!.status).toMatchObject({ state: 'running', container: 'backoff', restarts: 1, health: 'unhealthy' });
    expect(reports.at(-1)!.status.message).toMatch(/^unhealthy \(exec exit 1\); restarting in 1s \(restart 1\)$/);
    expect(rt.callsOf('stop')).toHaveLength(1);
  });

  it('tracks health like Docker: start period failures do not count, retries in a row make it unhealthy', () => {
    const h = new HealthTracker({ retries: 2, startPeriod: 5_000 }, 0);
    expect(h.record({ ok: false, detail: 'x' }, 1_000)).toBe(false);
    expect(h.record({ ok: false, detail: 'x' }, 2_000)).toBe(false);
    expect(h.status).toBe('starting');
    expect(h.record({ ok: false, detail: 'x' }, 6_000)).toBe(false);
    expect(h.record({ ok: false, detail: 'x' }, 7_000)).toBe(true);
    expect(h.status).toBe('unhealthy');
    expect(h.record({ ok: true, detail: 'ok' }, 8_000)).toBe(true);
    expect(h.status).toBe('healthy');
  });
});

describe('image pulls', () => {
  it('a pull in flight is abandoned when the task is no longer wanted: shutdown at once, the pull aborted', async () => {
    const { rt, reports, worker, t } = setup({ image: 'reg.example:5000/app:1' });
    rt.pullsHang = true;
    worker.apply({ full: true, upsert: [t], remove: [] });
    await settle(() => reports.at(-1)?.status.message === 'pulling image reg.example:5000/app:1', 'pulling');
    worker.apply({ full: false, upsert: [{ ...t, desiredState: 'shutdown' }], remove: [] });
    await worker.settled();
    expect(reports.at(-1)!.status).toMatchObject({ state: 'shutdown', message: 'never started' });
    expect(rt.abortedPulls).toEqual(['reg.example:5000/app:1']);
    expect(rt.callsOf('create')).toEqual([]);
  });

  it('a shared pull goes on for the tasks still waiting when one of them leaves', async () => {
    const { rt, reports, worker, t } = setup({ image: 'reg.example:5000/app:1' });
    const t2 = { ...t, id: `${t.id}-b`, slot: 2, containerName: `${t.containerName}-b` };
    rt.pullsHang = true;
    worker.apply({ full: true, upsert: [t, t2], remove: [] });
    await settle(() => reports.filter((r) => r.status.message.startsWith('pulling image')).length === 2, 'both pulling');
    expect(rt.callsOf('pullImage')).toHaveLength(1); // one pull for both
    worker.apply({ full: false, upsert: [{ ...t, desiredState: 'shutdown' }], remove: [] });
    await settle(() => reports.some((r) => r.taskId === t.id && r.status.state === 'shutdown'), 'first task shut down');
    expect(rt.abortedPulls).toEqual([]);
    rt.pullsHang = false;
    rt.releasePulls.forEach((release) => release());
    await settle(() => reports.some((r) => r.taskId === t2.id && r.status.state === 'running'), 'second task running');
    await worker.settled();
    expect(rt.callsOf('create').map((c) => c.arg)).toEqual([t2.containerName]);
  });

  it('a failed pull retries with capped backoff and stops when the task is no longer wanted', async () => {
    const { clock, rt, reports, worker, t } = setup({ image: 'reg.example:5000/app:1' });
    rt.pullError = new Error('unauthorized');
    worker.apply({ full: true, upsert: [t], remove: [] });
    await worker.settled();
    expect(reports.at(-1)!.status).toMatchObject({
      state: 'preparing',
      message: 'pull of reg.example:5000/app:1 failed: unauthorized; retrying in 1s',
    });
    rt.pullError = new Error('unauthorized');
    clock.advance(1_000);
    await settle(() => rt.callsOf('pullImage').length === 2, 'second pull');
    await worker.settled();
    expect(reports.at(-1)!.status.message).toMatch(/retrying in 2s$/);
    // The service goes away: no further pull, however long we wait.
    worker.apply({ full: false, upsert: [{ ...t, desiredState: 'shutdown' }], remove: [] });
    await worker.settled();
    clock.advance(120_000);
    await worker.settled();
    expect(rt.callsOf('pullImage')).toHaveLength(2);
    expect(reports.at(-1)!.status.state).toBe('shutdown');
  });
});
