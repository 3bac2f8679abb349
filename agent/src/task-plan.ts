// PURE decisions of the task runner (task-runner.ts is their executor): from what the runner
// observed of its container, the task's desired state, its counters and timers, and the time,
// the one next thing to do. No I/O, no clock, no randomness: time is an input. The lifecycle
// these decisions implement is described at the top of task-runner.ts.
import { backoffMs } from '../../proto/src/clock.js';
import type { TaskRecord, TaskStatus } from '../../proto/src/model.js';
import { formatDuration } from '../../proto/src/spec/units.js';
import { isTerminal, type TaskState } from '../../proto/src/types.js';
import { decideRestart, describeEnd, type EndedRun, type RestartCounters } from './restart-plan.js';
import type { ContainerInfo } from './runtime/runtime.js';

/** A restarted container is reported running once it stayed up this long (see task-runner.ts). */
export const RESTARTED_REPORT_SETTLE_MS = 1_000;
/** Failed pulls are retried after 1s, 2s, 4s, ... at most this long apart. */
export const PULL_RETRY_INITIAL_MS = 1_000;
export const PULL_RETRY_MAX_MS = 30_000;
/**
 * How long after a memory-limited container's SIGKILL exit the agent waits for the engine's
 * `oom` event before it judges the exit a plain kill. The engine can handle the exit first and
 * then neither set State.OOMKilled nor ever correct it (docker 20.10, cgroup v2: 1 of 60
 * restarts under load in a probe).
 */
export const OOM_EVENT_SETTLE_MS = 1_000;
const SIGKILL_EXIT = 137;

/** What the runner knows when it decides. */
export interface Observation {
  task: Pick<TaskRecord, 'desiredState' | 'spec'>;
  /** The last status the runner reported (undefined: none yet). */
  last: TaskStatus | undefined;
  /** The task's container as inspected now; undefined: there is none. */
  container: ContainerInfo | undefined;
  /** The engine's last `oom` event for this container (its clock, ms), when one came. */
  oomEventAtMs?: number;
  /** The agent's own health check of the current run (only when the spec has one). */
  health?: { status: string; detail: string; healthySinceMs: number } | undefined;
}

/** The runner's counters and timers: what decisions read and return anew. */
export interface RunnerMemory {
  /** Restarts in place reported so far (the task's `restarts`). */
  restarts: number;
  counters: RestartCounters;
  /** The container ended and is restarted in place at this time. */
  restartDueAt: number | undefined;
  /** The last pull failed: the next one is tried at this time. */
  pullRetryAt: number | undefined;
  /** When the runner last started the container (a run without the engine's start time). */
  lastStartAtMs: number;
}

/** A status to report (the executor adds the counters and keeps status monotonic). */
export interface StatusReport {
  state: TaskState;
  message: string;
  extra: Partial<TaskStatus>;
}

export type Action =
  /** Nothing to do: the task ended (terminal status reported). */
  | { kind: 'none' }
  /**
   * The task is no longer wanted: stop the container when it runs (then report `shutdown`
   * with its exit code), or else report `shutdown` when not yet terminal; remove it after.
   */
  | { kind: 'shutdown'; containerId: string | undefined; running: boolean; report: boolean; remove: boolean }
  /** Look again at this time. */
  | { kind: 'wait'; until: number }
  | { kind: 'report'; status: StatusReport }
  /**
   * A run ended (or turned unhealthy: `stop` names the container to stop, and why): report what
   * the restart policy made of it, and look again at `wakeAt` when a restart is due then.
   */
  | { kind: 'ended'; status: StatusReport; wakeAt?: number; stop?: { containerId: string; detail: string } }
  /** Start this existing container (`report`: say `starting` first). */
  | { kind: 'start'; containerId: string; report: boolean }
  /** No container: make the image present, create the container and start it. */
  | { kind: 'prepare' };

export interface Plan {
  action: Action;
  /** The runner's counters and timers after this action. */
  memory: RunnerMemory;
}

/** Whether the next decision needs the container looked at (an ended task wanted running: no). */
export function needsContainer(desiredState: string, last: TaskStatus | undefined): boolean {
  return desiredState !== 'running' || !last || !isTerminal(last.state);
}

/** The container ran and ended (not merely created). */
export function hasEnded(c: ContainerInfo): boolean {
  return (c.state === 'exited' || c.state === 'dead') && c.startedAtMs > 0;
}

/** The one next step of a runner. */
export function decideStep(o: Observation, m: RunnerMemory, now: number): Plan {
  const c = o.container;
  if (o.task.desiredState !== 'running') {
    return {
      memory: { ...m, restartDueAt: undefined },
      action: {
        kind: 'shutdown',
        containerId: c?.id,
        running: c?.running === true,
        report: !o.last || !isTerminal(o.last.state),
        remove: o.task.desiredState === 'remove' && c !== undefined,
      },
    };
  }
  if (o.last && isTerminal(o.last.state)) return { memory: m, action: { kind: 'none' } };
  if (c?.running) return decideRunning(o, c, m, now);
  if (c && hasEnded(c)) return decideEnded(o, c, m, now);
  if (!c && o.last && (o.last.state === 'starting' || o.last.state === 'running')) {
    return {
      memory: m,
      action: {
        kind: 'report',
        status: { state: 'failed', message: 'container disappeared', extra: { err: 'container removed outside Berth' } },
      },
    };
  }
  // Created but never started (the agent died between create and start).
  if (c) return { memory: m, action: { kind: 'start', containerId: c.id, report: true } };
  if (m.pullRetryAt !== undefined && now < m.pullRetryAt) return { memory: m, action: { kind: 'wait', until: m.pullRetryAt } };
  return { memory: m, action: { kind: 'prepare' } };
}

/** Right after the runner started the container: follow it as it runs or ended. */
export function decideStarted(o: Observation, started: ContainerInfo | undefined, m: RunnerMemory, now: number): Plan {
  if (started?.running) return decideRunning(o, started, m, now);
  if (started && started.startedAtMs > 0) return decideEnded(o, started, m, now);
  return { memory: m, action: { kind: 'none' } };
}

/** The container runs: restart it when unhealthy, else report it (a restarted one once settled). */
export function decideRunning(o: Observation, c: ContainerInfo, before: RunnerMemory, now: number): Plan {
  const m = { ...before, restartDueAt: undefined };
  const own = o.task.spec.health !== undefined ? o.health : undefined;
  const health = own ? own.status : (c.health ?? '');
  const detail = own ? own.detail : (c.healthOutput ?? '');
  if (health === 'unhealthy') {
    const healthySince = own?.healthySinceMs ?? 0;
    const run: EndedRun = { exitCode: 0, unhealthy: true, healthyRunMs: healthySince ? now - healthySince : 0 };
    return judge(o, m, run, c, now, `unhealthy${detail ? ` (${detail})` : ''}`, { health: 'unhealthy' }, { containerId: c.id, detail });
  }
  // Just restarted: wait a moment before saying it runs.
  const upSince = c.startedAtMs || m.lastStartAtMs;
  if (m.restarts > 0 && o.last?.container === 'backoff' && now - upSince < RESTARTED_REPORT_SETTLE_MS) {
    return { memory: m, action: { kind: 'wait', until: upSince + RESTARTED_REPORT_SETTLE_MS } };
  }
  const restarted = m.restarts > 0 ? ` (restarted ${m.restarts}×)` : '';
  const message =
    health === 'healthy'
      ? `container running, healthy${restarted}`
      : health === 'starting'
        ? `container running, health check pending${restarted}`
        : `container running${restarted}`;
  return {
    memory: m,
    action: {
      kind: 'report',
      status: { state: 'running', message, extra: { containerId: c.id, ports: c.ports, startedAtMs: c.startedAtMs, health } },
    },
  };
}

/** The container ended: restart it when due, or decide what its end means. */
export function decideEnded(o: Observation, c: ContainerInfo, m: RunnerMemory, now: number): Plan {
  if (m.restartDueAt !== undefined) {
    if (now < m.restartDueAt) return { memory: m, action: { kind: 'wait', until: m.restartDueAt } };
    return { memory: { ...m, restartDueAt: undefined }, action: { kind: 'start', containerId: c.id, report: false } };
  }
  const spec = o.task.spec;
  const healthySince = spec.health !== undefined ? (o.health?.healthySinceMs ?? 0) : c.startedAtMs;
  const ended = c.finishedAtMs || now;
  const memoryLimitBytes = spec.resources.limits?.memory ?? 0;
  // The engine's flag, or its `oom` event during this run: either alone misses some kills.
  const oomEvent = o.oomEventAtMs !== undefined && o.oomEventAtMs >= c.startedAtMs;
  // OOMKilled with exit 0: a child was killed, the container itself ended well.
  const oomKilled = (c.oomKilled === true || oomEvent) && c.exitCode !== 0;
  if (!oomKilled && c.exitCode === SIGKILL_EXIT && memoryLimitBytes > 0) {
    // Killed, with a memory limit, and neither source says OOM yet: the engine may send the
    // `oom` event after the exit. Judge once it had the time to.
    const until = Math.min(ended, now) + OOM_EVENT_SETTLE_MS;
    if (now < until) return { memory: m, action: { kind: 'wait', until } };
  }
  const run: EndedRun = {
    exitCode: c.exitCode,
    unhealthy: false,
    oomKilled,
    memoryLimitBytes,
    healthyRunMs: healthySince ? ended - healthySince : 0,
  };
  const why = `${describeEnd(run)}${c.exitCode !== 0 && c.error ? `: ${c.error}` : ''}`;
  return judge(o, m, run, c, now, why, { exitCode: c.exitCode, health: '', ...(oomKilled ? { oomKilled: true } : {}) });
}

/** What the restart policy makes of an ended (or unhealthy) run. */
function judge(
  o: Observation,
  m: RunnerMemory,
  run: EndedRun,
  c: ContainerInfo,
  now: number,
  why: string,
  extra: Partial<TaskStatus>,
  stop?: { containerId: string; detail: string },
): Plan {
  const d = decideRestart(o.task.spec.restart, run, m.counters);
  const base = { containerId: c.id, ...extra };
  const stopping = stop !== undefined ? { stop } : {};
  switch (d.action) {
    case 'restart': {
      const restarts = m.restarts + 1;
      const due = now + d.delayMs;
      return {
        memory: { ...m, counters: d.counters, restarts, restartDueAt: due },
        action: {
          kind: 'ended',
          status: {
            state: 'running',
            message: `${why}; restarting in ${formatDuration(d.delayMs)} (restart ${restarts})${d.note ? `; ${d.note}` : ''}`,
            extra: { ...base, container: 'backoff' },
          },
          wakeAt: due,
          ...stopping,
        },
      };
    }
    case 'end':
      return {
        memory: { ...m, counters: d.counters },
        action: {
          kind: 'ended',
          status: { state: d.state, message: `${why} (${d.reason})`, extra: d.state === 'failed' ? { ...base, err: why } : base },
          ...stopping,
        },
      };
    case 'move':
      return {
        memory: { ...m, counters: d.counters },
        action: { kind: 'ended', status: { state: 'failed', message: `${why}; ${d.reason}`, extra: { ...base, err: why } }, ...stopping },
      };
  }
}

/** After the `failures`-th pull failure in a row (0 for the first): when to try again. */
export function pullRetry(failures: number, now: number): { delayMs: number; at: number } {
  const delayMs = backoffMs(failures, PULL_RETRY_INITIAL_MS, PULL_RETRY_MAX_MS);
  return { delayMs, at: now + delayMs };
}
