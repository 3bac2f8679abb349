// The task runner's pure decisions (agent/src/task-plan.ts) as tables: observed container,
// desired state, counters and timers, now → the one next action and the counters after it.
import { describe, expect, it } from 'vitest';
import {
  decideStarted,
  decideStep,
  needsContainer,
  pullRetry,
  OOM_EVENT_SETTLE_MS,
  RESTARTED_REPORT_SETTLE_MS,
  type Action,
  type Observation,
  type RunnerMemory,
} from '../../agent/src/task-plan.js';
import { KEPT_FOR_LIMIT, LOCAL_RESTARTS_BEFORE_MOVE } from '../../agent/src/restart-plan.js';
import type { ContainerInfo } from '../../agent/src/runtime/runtime.js';
import type { TaskStatus } from '../../proto/src/model.js';
import type { ServiceSpec } from '../../proto/src/spec/service.js';
import type { DesiredState, TaskState } from '../../proto/src/types.js';
import { MiB, mockSpec } from './fixtures.js';

const NOW = 1_700_000_100_000;
const HEALTH: NonNullable<ServiceSpec['health']> = {
  exec: { command: ['true'] },
  interval: 1_000,
  timeout: 500,
  retries: 3,
  startPeriod: 0,
};

function container(o: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id: 'c1',
    name: 'berth-x',
    labels: {},
    state: 'running',
    running: true,
    exitCode: 0,
    startedAtMs: NOW - 5_000,
    finishedAtMs: 0,
    ports: [],
    error: '',
    ...o,
  };
}
const exited = (o: Partial<ContainerInfo> = {}): ContainerInfo =>
  container({ state: 'exited', running: false, exitCode: 1, finishedAtMs: NOW - 100, ...o });
const created = (): ContainerInfo => container({ state: 'created', running: false, startedAtMs: 0 });

function status(state: TaskState, o: Partial<TaskStatus> = {}): TaskStatus {
  return { state, message: '', timestampMs: NOW - 1_000, ...o };
}

function memory(o: Partial<RunnerMemory> = {}): RunnerMemory {
  return {
    restarts: 0,
    counters: { failuresInRow: 0, localRestarts: 0 },
    restartDueAt: undefined,
    pullRetryAt: undefined,
    lastStartAtMs: 0,
    ...o,
  };
}

function obs(
  o: {
    desired?: DesiredState;
    spec?: Partial<ServiceSpec>;
    last?: TaskStatus;
    container?: ContainerInfo;
    health?: Observation['health'];
    oomEventAtMs?: number;
  } = {},
): Observation {
  return {
    task: { desiredState: o.desired ?? 'running', spec: mockSpec(o.spec) },
    last: o.last,
    container: o.container,
    ...(o.oomEventAtMs !== undefined ? { oomEventAtMs: o.oomEventAtMs } : {}),
    ...(o.health ? { health: o.health } : {}),
  };
}

interface Row {
  name: string;
  o: Observation;
  m?: RunnerMemory;
  now?: number;
  action: Action | (Partial<Action> & { kind: Action['kind'] });
  /** Fields of the memory after the decision. */
  after?: Partial<RunnerMemory>;
}

const rows: Row[] = [
  // Not wanted: stop, report, remove.
  {
    name: 'shutdown: a running container is stopped',
    o: obs({ desired: 'shutdown', container: container(), last: status('running') }),
    m: memory({ restartDueAt: NOW + 5 }),
    action: { kind: 'shutdown', containerId: 'c1', running: true, report: true, remove: false },
    after: { restartDueAt: undefined },
  },
  {
    name: 'shutdown: no container yet is reported as never started',
    o: obs({ desired: 'shutdown' }),
    action: { kind: 'shutdown', containerId: undefined, running: false, report: true, remove: false },
  },
  {
    name: 'remove: an ended task is not reported again, its container is removed',
    o: obs({ desired: 'remove', container: exited(), last: status('failed') }),
    action: { kind: 'shutdown', containerId: 'c1', running: false, report: false, remove: true },
  },
  {
    name: 'remove without a container: nothing to remove',
    o: obs({ desired: 'remove', last: status('running') }),
    action: { kind: 'shutdown', containerId: undefined, running: false, report: true, remove: false },
  },
  // Terminal is final.
  {
    name: 'a terminal task wanted running: nothing',
    o: obs({ last: status('complete'), container: exited({ exitCode: 0 }) }),
    action: { kind: 'none' },
  },
  // No container.
  { name: 'no container: prepare (pull, create, start)', o: obs(), action: { kind: 'prepare' } },
  {
    name: 'a failed pull waits for its retry time',
    o: obs({ last: status('preparing') }),
    m: memory({ pullRetryAt: NOW + 2_000 }),
    action: { kind: 'wait', until: NOW + 2_000 },
  },
  {
    name: 'the retry time has come: prepare again',
    o: obs({ last: status('preparing') }),
    m: memory({ pullRetryAt: NOW }),
    action: { kind: 'prepare' },
  },
  {
    name: 'a container that was running and is gone: failed',
    o: obs({ last: status('running') }),
    action: {
      kind: 'report',
      status: { state: 'failed', message: 'container disappeared', extra: { err: 'container removed outside Berth' } },
    },
  },
  {
    name: 'created but never started (the agent died in between): start it, saying so',
    o: obs({ container: created(), last: status('starting') }),
    action: { kind: 'start', containerId: 'c1', report: true },
  },
  // Running.
  {
    name: 'running: reported running, restart timer cleared',
    o: obs({ container: container(), last: status('starting') }),
    m: memory({ restartDueAt: NOW - 1 }),
    action: {
      kind: 'report',
      status: {
        state: 'running',
        message: 'container running',
        extra: { containerId: 'c1', ports: [], startedAtMs: NOW - 5_000, health: '' },
      },
    },
    after: { restartDueAt: undefined },
  },
  {
    name: "the image's own HEALTHCHECK is reported",
    o: obs({ container: container({ health: 'healthy' }) }),
    action: {
      kind: 'report',
      status: {
        state: 'running',
        message: 'container running, healthy',
        extra: { containerId: 'c1', ports: [], startedAtMs: NOW - 5_000, health: 'healthy' },
      },
    },
  },
  {
    name: "Berth's check pending",
    o: obs({ spec: { health: HEALTH }, container: container(), health: { status: 'starting', detail: '', healthySinceMs: 0 } }),
    action: {
      kind: 'report',
      status: {
        state: 'running',
        message: 'container running, health check pending',
        extra: { containerId: 'c1', ports: [], startedAtMs: NOW - 5_000, health: 'starting' },
      },
    },
  },
  {
    name: 'just restarted: wait until it stayed up RESTARTED_REPORT_SETTLE_MS',
    o: obs({ container: container({ startedAtMs: NOW - 200 }), last: status('running', { container: 'backoff' }) }),
    m: memory({ restarts: 1 }),
    action: { kind: 'wait', until: NOW - 200 + RESTARTED_REPORT_SETTLE_MS },
  },
  {
    name: 'restarted and settled: running, with the count',
    o: obs({ container: container({ startedAtMs: NOW - RESTARTED_REPORT_SETTLE_MS }), last: status('running', { container: 'backoff' }) }),
    m: memory({ restarts: 2 }),
    action: {
      kind: 'report',
      status: {
        state: 'running',
        message: 'container running (restarted 2×)',
        extra: { containerId: 'c1', ports: [], startedAtMs: NOW - RESTARTED_REPORT_SETTLE_MS, health: '' },
      },
    },
  },
  {
    name: 'unhealthy: stop it and restart after the backoff',
    o: obs({ spec: { health: HEALTH }, container: container(), health: { status: 'unhealthy', detail: 'exit 1', healthySinceMs: 0 } }),
    action: {
      kind: 'ended',
      status: {
        state: 'running',
        message: 'unhealthy (exit 1); restarting in 1s (restart 1)',
        extra: { containerId: 'c1', health: 'unhealthy', container: 'backoff' },
      },
      wakeAt: NOW + 1_000,
      stop: { containerId: 'c1', detail: 'exit 1' },
    },
    after: { restarts: 1, restartDueAt: NOW + 1_000, counters: { failuresInRow: 1, localRestarts: 1 } },
  },
  // Ended.
  {
    name: 'ended, restart policy always: restart after the backoff',
    o: obs({ container: exited(), last: status('running') }),
    m: memory({ counters: { failuresInRow: 1, localRestarts: 1 }, restarts: 1 }),
    action: {
      kind: 'ended',
      status: {
        state: 'running',
        message: 'exited with code 1; restarting in 2s (restart 2)',
        extra: { containerId: 'c1', exitCode: 1, health: '', container: 'backoff' },
      },
      wakeAt: NOW + 2_000,
    },
    after: { restarts: 2, restartDueAt: NOW + 2_000, counters: { failuresInRow: 2, localRestarts: 2 } },
  },
  {
    name: 'ended, restart not yet due: wait for it',
    o: obs({ container: exited() }),
    m: memory({ restartDueAt: NOW + 700 }),
    action: { kind: 'wait', until: NOW + 700 },
    after: { restartDueAt: NOW + 700 },
  },
  {
    name: 'ended, restart due: start it again (no new report)',
    o: obs({ container: exited() }),
    m: memory({ restartDueAt: NOW }),
    action: { kind: 'start', containerId: 'c1', report: false },
    after: { restartDueAt: undefined },
  },
  {
    name: 'ended well, policy on-failure: complete',
    o: obs({ spec: { restart: { ...mockSpec().restart, policy: 'on-failure' } }, container: exited({ exitCode: 0 }) }),
    action: {
      kind: 'ended',
      status: {
        state: 'complete',
        message: 'exited with code 0 (restart policy on-failure)',
        extra: { containerId: 'c1', exitCode: 0, health: '' },
      },
    },
  },
  {
    name: 'ended badly, policy never: failed, with the engine error',
    o: obs({ spec: { restart: { ...mockSpec().restart, policy: 'never' } }, container: exited({ exitCode: 2, error: 'boom' }) }),
    action: {
      kind: 'ended',
      status: {
        state: 'failed',
        message: 'exited with code 2: boom (restart policy never)',
        extra: { containerId: 'c1', exitCode: 2, health: '', err: 'exited with code 2: boom' },
      },
    },
  },
  {
    name: `after ${LOCAL_RESTARTS_BEFORE_MOVE} restarts in a row here: failed, to move`,
    o: obs({ container: exited() }),
    m: memory({ restarts: 3, counters: { failuresInRow: 3, localRestarts: LOCAL_RESTARTS_BEFORE_MOVE } }),
    action: {
      kind: 'ended',
      status: {
        state: 'failed',
        message: 'exited with code 1; 3 restarts in a row on this node: replaced, preferring another node',
        extra: { containerId: 'c1', exitCode: 1, health: '', err: 'exited with code 1' },
      },
    },
  },
  {
    name: 'killed by its own memory limit: restarted here, said why, never moved',
    o: obs({
      spec: { resources: { cpu: 0, memory: 0, limits: { memory: 8 * MiB } } },
      container: exited({ exitCode: 137, oomKilled: true }),
    }),
    m: memory({ restarts: 3, counters: { failuresInRow: 3, localRestarts: LOCAL_RESTARTS_BEFORE_MOVE } }),
    action: {
      kind: 'ended',
      status: {
        state: 'running',
        message: `killed: out of memory (limit 8Mi); restarting in 8s (restart 4); ${KEPT_FOR_LIMIT}`,
        extra: { containerId: 'c1', exitCode: 137, health: '', oomKilled: true, container: 'backoff' },
      },
      wakeAt: NOW + 8_000,
    },
    after: { restarts: 4, counters: { failuresInRow: 4, localRestarts: LOCAL_RESTARTS_BEFORE_MOVE + 1 } },
  },
  {
    name: 'killed (137) with a memory limit, no OOMKilled and no oom event yet: judged once the event had the time to come',
    o: obs({ spec: { resources: { cpu: 0, memory: 0, limits: { memory: 8 * MiB } } }, container: exited({ exitCode: 137 }) }),
    m: memory({ restarts: 3, counters: { failuresInRow: 3, localRestarts: LOCAL_RESTARTS_BEFORE_MOVE } }),
    action: { kind: 'wait', until: NOW - 100 + OOM_EVENT_SETTLE_MS },
    after: { restarts: 3, counters: { failuresInRow: 3, localRestarts: LOCAL_RESTARTS_BEFORE_MOVE } },
  },
  {
    name: "the engine's oom event during this run, without OOMKilled (it came after the exit): killed by its limit, kept here",
    o: obs({
      spec: { resources: { cpu: 0, memory: 0, limits: { memory: 8 * MiB } } },
      container: exited({ exitCode: 137 }),
      oomEventAtMs: NOW - 90,
    }),
    m: memory({ restarts: 3, counters: { failuresInRow: 3, localRestarts: LOCAL_RESTARTS_BEFORE_MOVE } }),
    action: {
      kind: 'ended',
      status: {
        state: 'running',
        message: `killed: out of memory (limit 8Mi); restarting in 8s (restart 4); ${KEPT_FOR_LIMIT}`,
        extra: { containerId: 'c1', exitCode: 137, health: '', oomKilled: true, container: 'backoff' },
      },
      wakeAt: NOW + 8_000,
    },
  },
  {
    name: 'killed (137) with a memory limit, no oom event within the settle time: a plain kill, moved past the count',
    o: obs({
      spec: { resources: { cpu: 0, memory: 0, limits: { memory: 8 * MiB } } },
      container: exited({ exitCode: 137, finishedAtMs: NOW - OOM_EVENT_SETTLE_MS }),
      // An oom event of the run before this one does not count.
      oomEventAtMs: NOW - 6_000,
    }),
    m: memory({ restarts: 3, counters: { failuresInRow: 3, localRestarts: LOCAL_RESTARTS_BEFORE_MOVE } }),
    action: {
      kind: 'ended',
      status: {
        state: 'failed',
        message: 'exited with code 137; 3 restarts in a row on this node: replaced, preferring another node',
        extra: { containerId: 'c1', exitCode: 137, health: '', err: 'exited with code 137' },
      },
    },
  },
  {
    name: 'killed (137) without a memory limit: judged at once',
    o: obs({ container: exited({ exitCode: 137 }) }),
    action: { kind: 'ended', wakeAt: NOW + 1_000 },
  },
  {
    name: 'OOMKilled with exit 0 (a child was killed): an ordinary end',
    o: obs({ spec: { restart: { ...mockSpec().restart, policy: 'on-failure' } }, container: exited({ exitCode: 0, oomKilled: true }) }),
    action: {
      kind: 'ended',
      status: {
        state: 'complete',
        message: 'exited with code 0 (restart policy on-failure)',
        extra: { containerId: 'c1', exitCode: 0, health: '' },
      },
    },
  },
  {
    name: 'a long healthy run starts the count over',
    o: obs({ container: exited({ startedAtMs: NOW - 120_000 }) }),
    m: memory({ restarts: 5, counters: { failuresInRow: 5, localRestarts: 2 } }),
    action: { kind: 'ended', wakeAt: NOW + 1_000 },
    after: { restarts: 6, counters: { failuresInRow: 1, localRestarts: 1 } },
  },
  {
    name: "with Berth's check, the healthy time counts, not the run",
    o: obs({
      spec: { health: HEALTH },
      container: exited({ startedAtMs: NOW - 120_000 }),
      health: { status: 'healthy', detail: '', healthySinceMs: NOW - 1_000 },
    }),
    m: memory({ counters: { failuresInRow: 2, localRestarts: 2 }, restarts: 2 }),
    action: { kind: 'ended', wakeAt: NOW + 4_000 },
    after: { counters: { failuresInRow: 3, localRestarts: 3 } },
  },
];

describe('decideStep', () => {
  it.each(rows)('$name', ({ o, m = memory(), now = NOW, action, after }) => {
    const plan = decideStep(o, m, now);
    expect(plan.action).toMatchObject(action);
    if (after) expect(plan.memory).toMatchObject(after);
  });

  it('is pure: the memory given is not changed', () => {
    const m = memory({ counters: { failuresInRow: 1, localRestarts: 1 } });
    const copy = structuredClone(m);
    decideStep(obs({ container: exited() }), m, NOW);
    expect(m).toEqual(copy);
  });
});

describe('decideStarted', () => {
  it.each([
    { name: 'it runs: followed as running', started: container({ startedAtMs: NOW }), kind: 'report' },
    {
      name: 'it ended at once: judged by the restart policy',
      started: exited({ startedAtMs: NOW - 10, finishedAtMs: NOW }),
      kind: 'ended',
    },
    { name: 'it never started (or is gone): nothing more this pass', started: undefined, kind: 'none' },
  ] as const)('$name', ({ started, kind }) => {
    expect(decideStarted(obs({ last: status('starting') }), started, memory({ lastStartAtMs: NOW }), NOW).action.kind).toBe(kind);
  });
});

describe('needsContainer and pullRetry', () => {
  it.each([
    { desired: 'running', last: undefined, needs: true },
    { desired: 'running', last: status('running'), needs: true },
    { desired: 'running', last: status('failed'), needs: false },
    { desired: 'shutdown', last: status('failed'), needs: true },
  ] as const)('desired $desired, last $last.state: look at the container = $needs', ({ desired, last, needs }) => {
    expect(needsContainer(desired, last)).toBe(needs);
  });

  it.each([
    { failures: 0, delayMs: 1_000 },
    { failures: 3, delayMs: 8_000 },
    { failures: 10, delayMs: 30_000 },
  ])('after $failures failures: retry in $delayMs ms', ({ failures, delayMs }) => {
    expect(pullRetry(failures, NOW)).toEqual({ delayMs, at: NOW + delayMs });
  });
});
