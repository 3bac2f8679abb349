// The agent's self-fencing (onNodeLoss: waitForNode) on a fake engine and a manual clock.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Fence, FencedError, fenceLabels } from '../../agent/src/fence.js';
import { ManualClock } from '../../proto/src/clock.js';
import { LABEL_NODE, LABEL_ON_NODE_LOSS, LABEL_STOP_GRACE_MS } from '../../proto/src/labels.js';
import { silentLogger } from '../../proto/src/log.js';
import { FakeRuntime } from './fake-runtime.js';
import { mockService, mockSpec, mockTask } from './fixtures.js';
import { containerLabels } from '../../agent/src/task-runner.js';

const NODE = 'n1';
const dirs: string[] = [];
/** Every fence a test made: their state writes end before the test's folder goes. */
const fences: Fence[] = [];
afterEach(async () => {
  for (const f of fences.splice(0)) await f.settled();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(stateFile?: string) {
  const clock = new ManualClock();
  const rt = new FakeRuntime(() => clock.now());
  const changes: boolean[] = [];
  // One clock line for wall and monotonic time (the clock-jump test separates them).
  const fence = new Fence({
    runtime: rt,
    nodeId: NODE,
    log: silentLogger(),
    now: () => clock.now(),
    monotonic: () => clock.now(),
    stateFile,
    onChange: (on) => changes.push(on),
  });
  fences.push(fence);
  const seed = (name: string, mode: string, node = NODE) =>
    rt.seed({ name, labels: { [LABEL_NODE]: node, [LABEL_ON_NODE_LOSS]: mode, [LABEL_STOP_GRACE_MS]: '2000' } });
  return { clock, rt, fence, changes, seed };
}

describe('Fence', () => {
  it('stops only running waitForNode containers of its node, only after the fencing time', async () => {
    const { clock, rt, fence, changes, seed } = setup();
    const wait = seed('w', 'waitForNode');
    const repl = seed('r', 'replace');
    const other = seed('o', 'waitForNode', 'n2');
    await fence.check();
    expect(rt.callsOf('list')).toHaveLength(0); // no contact yet: no deadline known
    expect(rt.callsOf('summaries')).toHaveLength(0);
    fence.contact(10_000);
    clock.advance(10_000);
    await fence.check();
    expect(fence.active).toBe(false);
    clock.advance(1);
    await fence.check();
    expect(fence.active).toBe(true);
    expect(rt.callsOf('stop')).toEqual([{ op: 'stop', arg: wait.id, graceMs: 2_000 }]);
    expect(rt.containers.get(wait.id)!.state).toBe('exited');
    expect(rt.containers.get(repl.id)!.state).toBe('running');
    expect(rt.containers.get(other.id)!.state).toBe('running');
    expect(fence.stopped).toBe(1);
    // Contact again: the fence lifts; the stopped container stays stopped.
    fence.contact();
    expect(fence.active).toBe(false);
    expect(changes).toEqual([true, false]);
    expect(rt.containers.get(wait.id)!.state).toBe('exited');
  });

  it('new containers carry the fence labels; the wrapped runtime refuses to start waitForNode ones while fenced', async () => {
    const { clock, rt, fence } = setup();
    const wrapped = fence.wrap(rt);
    const spec = mockSpec({ onNodeLoss: 'waitForNode', stop: { signal: 'SIGTERM', gracePeriod: 3_000 } });
    // The fence labels are part of the runner's container labels (no longer added by the wrapper).
    const id = await wrapped.create({ name: 'c1', labels: containerLabels(mockTask(mockService({ spec })), NODE), spec });
    expect(rt.containers.get(id)!.labels).toMatchObject({ [LABEL_ON_NODE_LOSS]: 'waitForNode', [LABEL_STOP_GRACE_MS]: '3000' });
    const id2 = await wrapped.create({ name: 'c2', labels: containerLabels(mockTask(mockService()), NODE), spec: mockSpec() });
    fence.contact(5_000);
    clock.advance(6_000);
    await expect(wrapped.start(id)).rejects.toBeInstanceOf(FencedError);
    await wrapped.start(id2); // replace-mode containers start as ever
    expect(rt.containers.get(id2)!.state).toBe('running');
    fence.contact();
    await wrapped.start(id);
    expect(rt.containers.get(id)!.state).toBe('running');
    // A container the fence stopped is never started again, even after contact returned.
    clock.advance(6_000);
    await fence.check();
    expect(rt.containers.get(id)!.state).toBe('exited');
    fence.contact();
    await expect(wrapped.start(id)).rejects.toBeInstanceOf(FencedError);
    expect(fenceLabels(mockSpec())).toEqual({ [LABEL_ON_NODE_LOSS]: 'replace', [LABEL_STOP_GRACE_MS]: '10000' });
  });

  it('persists contact, so an agent restarted while cut off fences on the old deadline', async () => {
    const dir = mkdtempSync('/tmp/bt-fence-');
    dirs.push(dir);
    const file = join(dir, 'state', 'fence.json');
    const a = setup(file);
    a.fence.contact(10_000);
    await vi.waitFor(() => expect((JSON.parse(readFileSync(file, 'utf8')) as { fenceAfterMs: number }).fenceAfterMs).toBe(10_000), {
      timeout: 5_000,
      interval: 20,
    });
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { lastContactMs: number };
    expect(saved.lastContactMs).toBe(a.clock.now());

    // A new agent process: same clock line, 11 s after the saved contact, no session yet.
    const b = setup(file);
    b.clock.advance(saved.lastContactMs - b.clock.now() + 11_000);
    const c = b.seed('w', 'waitForNode');
    await b.fence.load();
    await b.fence.check();
    expect(b.fence.active).toBe(true);
    expect(b.rt.containers.get(c.id)!.state).toBe('exited');
  });

  it('an unreadable state file is ignored: no fencing before the first contact', async () => {
    const dir = mkdtempSync('/tmp/bt-fence-');
    dirs.push(dir);
    const file = join(dir, 'fence.json');
    writeFileSync(file, 'not json');
    const { fence, rt, seed } = setup(file);
    seed('w', 'waitForNode');
    await fence.load();
    await fence.check();
    expect(fence.active).toBe(false);
    expect(rt.callsOf('stop')).toHaveLength(0);
  });

  // Issue 19: paths by which two copies of a waitForNode slot could run.

  it('stops all waitForNode containers at once: no stop waits for another (the leader counts one grace per task)', async () => {
    const { clock, rt, fence, seed } = setup();
    const ids = ['a', 'b', 'c'].map((n) => seed(n, 'waitForNode').id);
    // Each stop takes its whole grace (a PID 1 that ignores SIGTERM): it ends when released.
    const pending: Array<() => void> = [];
    const stop = rt.stop.bind(rt);
    rt.stop = (id, graceMs) => new Promise<void>((resolve) => pending.push(() => void stop(id, graceMs).then(resolve)));
    fence.contact(10_000);
    clock.advance(10_001);
    const done = fence.check();
    // Every stop is under way before any has finished (one after another, the third container
    // would stop two graces after the leader's deadline for it).
    await vi.waitFor(() => expect(pending).toHaveLength(3), { timeout: 2_000, interval: 5 });
    for (const release of pending) release();
    await done;
    for (const id of ids) expect(rt.containers.get(id)!.state).toBe('exited');
    expect(fence.stopped).toBe(3);
  });

  it('measures the deadline on the monotonic clock: a wall clock stepped back does not delay the fence', async () => {
    const wall = new ManualClock();
    const mono = new ManualClock(5_000);
    const rt = new FakeRuntime(() => wall.now());
    const fence = new Fence({ runtime: rt, nodeId: NODE, log: silentLogger(), now: () => wall.now(), monotonic: () => mono.now() });
    const c = rt.seed({ name: 'w', labels: { [LABEL_NODE]: NODE, [LABEL_ON_NODE_LOSS]: 'waitForNode', [LABEL_STOP_GRACE_MS]: '1000' } });
    fence.contact(10_000);
    // NTP steps the wall clock back a minute; 10.1 s really pass.
    wall.advance(-60_000);
    wall.advance(10_100);
    mono.advance(10_100);
    await fence.check();
    expect(fence.active).toBe(true);
    expect(rt.containers.get(c.id)!.state).toBe('exited');
  });

  it('a container waiting for a restart in place when the fence acts is never started again, even after contact returns', async () => {
    const { clock, rt, fence, seed } = setup();
    const wrapped = fence.wrap(rt);
    // It crashed just before the cut; its restart is due only after the link heals.
    const crashed = seed('w', 'waitForNode');
    crashed.state = 'exited';
    crashed.exitCode = 1;
    fence.contact(10_000);
    clock.advance(10_001);
    await fence.check();
    expect(fence.isFenced(crashed.id)).toBe(true);
    // The link heals: Welcome arrives before the new assignment set, then the restart comes due.
    fence.contact();
    expect(fence.active).toBe(false);
    await expect(wrapped.start(crashed.id)).rejects.toBeInstanceOf(FencedError);
    expect(rt.containers.get(crashed.id)!.state).toBe('exited');
  });

  it('fenced containers stay fenced across an agent restart (persisted), until removed', async () => {
    const dir = mkdtempSync('/tmp/bt-fence-');
    dirs.push(dir);
    const file = join(dir, 'fence.json');
    const a = setup(file);
    const c = a.seed('w', 'waitForNode');
    a.fence.contact(10_000);
    a.clock.advance(10_001);
    await a.fence.check();
    await vi.waitFor(() => expect((JSON.parse(readFileSync(file, 'utf8')) as { fencedIds?: string[] }).fencedIds).toEqual([c.id]), {
      timeout: 5_000,
      interval: 20,
    });

    // A new agent process on the same engine: contact comes back at once.
    const b = setup(file);
    b.rt.containers.set(c.id, { ...a.rt.containers.get(c.id)! });
    await b.fence.load();
    b.fence.contact(10_000);
    const wrapped = b.fence.wrap(b.rt);
    await expect(wrapped.start(c.id)).rejects.toBeInstanceOf(FencedError);
    await wrapped.remove(c.id);
    expect(b.fence.isFenced(c.id)).toBe(false);
    await vi.waitFor(() => expect((JSON.parse(readFileSync(file, 'utf8')) as { fencedIds?: string[] }).fencedIds).toEqual([]), {
      timeout: 5_000,
      interval: 20,
    });
  });
});
