// One runner per assigned task: drives the task's container towards its desired state and
// reports each observed step once. Steps never overlap (poke() while busy runs one more pass).
//
// Lifecycle on the node (docs/lifecycle.md):
// - The image is made present per pull policy; a failed pull stays `preparing` with its reason
//   and is retried with capped backoff (it burns no restart), until the task is no longer wanted.
// - A health check (http/tcp/exec, or the image's own HEALTHCHECK run by the engine) turns a
//   running task `healthy`; `retries` failures in a row make it unhealthy.
// - A container that ended or turned unhealthy is restarted in place per restart policy, after an
//   exponential backoff. The task stays `running` (its state never goes back): each restart is
//   reported once, as container `backoff` with the restart count and why; the container `up` that
//   follows is reported only once it stayed up RESTARTED_REPORT_SETTLE_MS, so a crash loop costs
//   one status write per restart.
// - After LOCAL_RESTARTS_BEFORE_MOVE restarts in a row the task is given up on this node
//   (`failed`): the controller replaces it, ranking this node last. Unless the container's own
//   memory limit killed it (reported as such, `oomKilled`): it goes on restarting here.
//
// What to do next is decided by task-plan.ts (pure: observed container, desired state, counters
// and timers, now → one action); this file observes, performs that action and feeds the result
// back (a start's outcome, a pull's failure).
import { NO_GRANTS, type PolicyGrants } from '../../proto/src/security/workload-policy.js';
import { systemClock, type Clock, type Timer } from '../../proto/src/clock.js';
import type { Logger } from '../../proto/src/log.js';
import type { TaskRecord, TaskStatus } from '../../proto/src/model.js';
import { formatDuration } from '../../proto/src/spec/units.js';
import type { PullPolicy } from '../../proto/src/spec/lifecycle.js';
import { isTerminal, statusOrder, type TaskState } from '../../proto/src/types.js';
import {
  LABEL_MANAGED,
  LABEL_NAMESPACE,
  LABEL_NODE,
  LABEL_REVISION,
  LABEL_SERVICE,
  LABEL_SLOT,
  LABEL_TASK,
  LABEL_TASK_CREATED,
} from '../../proto/src/labels.js';
import { fenceLabels } from './fence.js';
import { HealthTracker, runProbe } from './health/probe.js';
import { ImagePuller, ImageUnavailableError, PullAbandonedError } from './images.js';
import {
  decideStarted,
  decideStep,
  hasEnded,
  needsContainer,
  pullRetry,
  type Action,
  type Observation,
  type Plan,
  type RunnerMemory,
} from './task-plan.js';
import {
  ContainerExistsError,
  EngineUnavailableError,
  type ContainerInfo,
  type ContainerRuntime,
  type ContainerSummary,
  type PullAuth,
} from './runtime/runtime.js';

export type Report = (taskId: string, status: TaskStatus) => void;

/** A task as assigned to this node: the record, plus pull credentials when its spec names some. */
/** A task as assigned: with its pull credentials and what its namespace's Policies allow (only in assignments). */
export type AssignedTask = TaskRecord & { pullAuth?: PullAuth; policyGrants?: PolicyGrants };

export { PULL_RETRY_INITIAL_MS, PULL_RETRY_MAX_MS, RESTARTED_REPORT_SETTLE_MS } from './task-plan.js';
/** The first health check of a run comes this soon (or after `interval`, if shorter). */
export const FIRST_PROBE_MAX_DELAY_MS = 500;

export interface RunnerDeps {
  runtime: ContainerRuntime;
  nodeId: string;
  report: Report;
  log: Logger;
  now: () => number;
  clock?: Clock;
  puller?: ImagePuller;
}

export function containerLabels(task: TaskRecord, nodeId: string): Record<string, string> {
  return {
    [LABEL_MANAGED]: 'true',
    [LABEL_TASK]: task.id,
    [LABEL_SERVICE]: task.service,
    [LABEL_NAMESPACE]: task.namespace,
    [LABEL_SLOT]: String(task.slot),
    [LABEL_NODE]: nodeId,
    [LABEL_REVISION]: String(task.specRevision),
    [LABEL_TASK_CREATED]: String(task.createdAtMs),
    // What the fence needs of a container, also after an agent restart: its onNodeLoss mode and stop grace.
    ...fenceLabels(task.spec),
  };
}

export class TaskRunner {
  private containerId: string | undefined;
  /**
   * The engine may hold this task's container without the runner knowing its id. False for a
   * task new to this node (the worker lists the node's containers at start and at every resync,
   * and hands over any it finds): its first step then creates without looking first, and a name
   * already taken still surfaces as ContainerExistsError.
   */
  private mayExist: boolean;
  private nameConflict = false;
  private last: TaskStatus | undefined;
  private running = false;
  private dirty = false;
  private removed = false;
  private idle: Promise<void> = Promise.resolve();
  private readonly clock: Clock;
  private readonly puller: ImagePuller;
  private wake: { at: number; timer: Timer } | undefined;
  /** Restart counters and the restart and pull timers: what task-plan.ts decides on and returns anew. */
  private mem: RunnerMemory;
  // pulls
  private pullFailures = 0;
  /** Aborts the pull this runner waits for (the task is no longer wanted). */
  private pullAbort: AbortController | undefined;
  // health
  private tracker: HealthTracker | undefined;
  /** The last `oom` event the engine sent for this task's container, with the engine's time. */
  private lastOom: { containerId: string; atMs: number } | undefined;
  private trackedRun = '';
  private probeTimer: Timer | undefined;
  private lastInfo: ContainerInfo | undefined;

  constructor(
    public task: AssignedTask,
    private readonly deps: RunnerDeps,
    adopted?: ContainerSummary,
  ) {
    this.containerId = adopted?.id;
    // A new runner's container is found by its name only if the worker met it when listing.
    this.mayExist = adopted !== undefined;
    this.clock = deps.clock ?? { now: deps.now, setTimeout: (fn, ms) => systemClock.setTimeout(fn, ms) };
    this.puller = deps.puller ?? new ImagePuller(deps.runtime);
    // Terminal states survive a restart of the agent: the controller already knows them.
    if (isTerminal(task.status.state)) this.last = task.status;
    this.mem = {
      restarts: task.status.restarts ?? 0,
      counters: { failuresInRow: task.priorFailures ?? 0, localRestarts: 0 },
      restartDueAt: undefined,
      pullRetryAt: undefined,
      lastStartAtMs: 0,
    };
  }

  get status(): TaskStatus | undefined {
    return this.last;
  }

  /** A new version of the task (desired state moved, new credentials) or an engine event: look again. */
  update(task: AssignedTask): void {
    const prevAuth = JSON.stringify(this.task.pullAuth ?? null);
    this.task = task;
    // New credentials: retry a failed pull now rather than at the end of its backoff.
    if (JSON.stringify(task.pullAuth ?? null) !== prevAuth) this.mem.pullRetryAt = undefined;
    if (task.desiredState !== 'running') this.pullAbort?.abort();
    this.poke();
  }

  /**
   * The engine's `oom` event for this task's container. State.OOMKilled alone misses some kills:
   * the engine can handle the container's exit before its OOM event and never set the flag
   * (seen on docker 20.10 with cgroup v2: the `oom` event arrives after `die`).
   */
  noteOom(containerId: string, atMs: number): void {
    this.lastOom = { containerId, atMs };
  }

  poke(): void {
    if (this.removed) return;
    this.dirty = true;
    if (this.running) return;
    this.running = true;
    this.idle = this.loop();
  }

  /** Stop and remove the container; the runner is done afterwards. */
  async remove(): Promise<void> {
    this.removed = true;
    this.cancelTimers();
    this.pullAbort?.abort();
    await this.idle;
    const id = this.containerId ?? (await this.deps.runtime.inspect(this.task.containerName))?.id;
    if (!id) return;
    const info = await this.deps.runtime.inspect(id);
    if (info?.running) await this.deps.runtime.stop(id, this.task.spec.stop.gracePeriod);
    await this.deps.runtime.remove(id);
  }

  /** Resolves when no step is running. */
  settled(): Promise<void> {
    return this.idle;
  }

  private cancelTimers(): void {
    this.wake?.timer.cancel();
    this.wake = undefined;
    this.stopProbes();
  }

  private stopProbes(): void {
    this.probeTimer?.cancel();
    this.probeTimer = undefined;
  }

  /** Look again at `at` (the earliest requested wake-up wins). */
  private wakeAt(at: number): void {
    if (this.removed) return;
    if (this.wake && this.wake.at <= at) return;
    this.wake?.timer.cancel();
    const timer = this.clock.setTimeout(
      () => {
        this.wake = undefined;
        this.poke();
      },
      Math.max(0, at - this.deps.now()),
    );
    this.wake = { at, timer };
  }

  private async loop(): Promise<void> {
    try {
      while (this.dirty && !this.removed) {
        this.dirty = false;
        try {
          await this.step();
        } catch (err) {
          this.deps.log.warn({ task: this.task.id, err: err instanceof Error ? err.message : String(err) }, 'task step failed');
          throw err;
        }
      }
    } catch {
      // The worker's periodic resync pokes again; a failing engine call is retried then.
    } finally {
      this.running = false;
    }
  }

  private setStatus(state: TaskState, message: string, extra: Partial<TaskStatus> = {}): void {
    const prev = this.last;
    if (prev && isTerminal(prev.state)) return; // terminal is final
    const next: TaskStatus = { ...(prev ?? {}), state, message, timestampMs: this.deps.now(), ...extra };
    if (!('err' in extra)) delete next.err;
    if (!('container' in extra)) delete next.container; // absent: up (or not running)
    if (!('oomKilled' in extra)) delete next.oomKilled; // about the end this status reports only
    if (this.mem.restarts > 0) next.restarts = this.mem.restarts;
    // Only when a healthy period started the count over (otherwise priorFailures + restarts).
    if (this.mem.counters.failuresInRow !== (this.task.priorFailures ?? 0) + this.mem.restarts)
      next.failuresInRow = this.mem.counters.failuresInRow;
    else delete next.failuresInRow;
    const same = (a: TaskStatus, b: TaskStatus): boolean =>
      a.state === b.state &&
      a.message === b.message &&
      a.containerId === b.containerId &&
      a.health === b.health &&
      a.restarts === b.restarts &&
      a.failuresInRow === b.failuresInRow &&
      a.container === b.container &&
      a.oomKilled === b.oomKilled &&
      JSON.stringify(a.ports) === JSON.stringify(b.ports);
    if (prev && same(prev, next)) return;
    if (prev && statusOrder(next, prev) < 0) {
      // The controller would refuse it too: a bug of this runner, said out loud.
      this.deps.log.error(
        { task: this.task.id, from: prev.state, to: next.state, restarts: next.restarts ?? 0 },
        'task status would go backwards; not reported',
      );
      return;
    }
    this.last = next;
    this.deps.report(this.task.id, next);
  }

  private async inspect(): Promise<ContainerInfo | undefined> {
    const rt = this.deps.runtime;
    if (!this.containerId && !this.mayExist) return undefined;
    const info = this.containerId ? await rt.inspect(this.containerId) : await rt.inspect(this.task.containerName);
    if (!info) return undefined;
    const created = info.labels[LABEL_TASK_CREATED];
    if (created !== undefined && created !== String(this.task.createdAtMs)) {
      // A leftover of an earlier task with the same id (a slot scaled away and back): not ours.
      this.deps.log.info({ task: this.task.id, container: info.id }, 'removing leftover container of an earlier incarnation');
      await rt.remove(info.id);
      this.containerId = undefined;
      return undefined;
    }
    this.containerId = info.id;
    return info;
  }

  /** What the runner knows of its task and container (the health tracker's view included). */
  private observation(container: ContainerInfo | undefined): Observation {
    const t = this.tracker;
    return {
      task: this.task,
      last: this.last,
      container,
      ...(container && this.lastOom?.containerId === container.id ? { oomEventAtMs: this.lastOom.atMs } : {}),
      ...(t ? { health: { status: t.status, detail: t.lastDetail, healthySinceMs: t.healthySinceMs } } : {}),
    };
  }

  /**
   * Health tracking follows the container: a new run of a container with a check gets a new
   * tracker and its first probe; an ended one has no probes.
   */
  private followHealth(info: ContainerInfo, now: number): void {
    const check = this.task.spec.health;
    if (info.running) {
      this.lastInfo = info;
      const run = `${info.id}:${info.startedAtMs}`;
      if (check && (!this.tracker || this.trackedRun !== run)) {
        this.tracker = new HealthTracker(check, info.startedAtMs || now);
        this.trackedRun = run;
        this.scheduleProbe(Math.min(check.interval, FIRST_PROBE_MAX_DELAY_MS));
      }
    } else if (hasEnded(info)) this.stopProbes();
  }

  /** One pass: observe, decide (task-plan.ts), act. */
  private async step(): Promise<void> {
    if (this.task.desiredState !== 'running') this.cancelTimers();
    if (!needsContainer(this.task.desiredState, this.last)) return;
    const now = this.deps.now();
    const info = await this.inspect();
    if (info && this.task.desiredState === 'running') this.followHealth(info, now);
    await this.perform(decideStep(this.observation(info), this.mem, now), now);
  }

  /** Performs a decision: its counters and timers first (the reports carry them), then its action. */
  private async perform(plan: Plan, now: number): Promise<void> {
    this.mem = plan.memory;
    const a: Action = plan.action;
    const { runtime } = this.deps;
    const task = this.task;
    switch (a.kind) {
      case 'none':
        return;
      case 'shutdown':
        if (a.running && a.containerId) {
          this.deps.log.info({ task: task.id, container: a.containerId }, 'stopping container');
          await runtime.stop(a.containerId, task.spec.stop.gracePeriod);
          const after = await runtime.inspect(a.containerId);
          this.setStatus('shutdown', 'stopped', { containerId: a.containerId, ...(after ? { exitCode: after.exitCode } : {}) });
        } else if (a.report) {
          this.setStatus('shutdown', a.containerId ? 'stopped' : 'never started', a.containerId ? { containerId: a.containerId } : {});
        }
        if (a.remove && a.containerId) await runtime.remove(a.containerId);
        return;
      case 'wait':
        return this.wakeAt(a.until);
      case 'report':
        return this.setStatus(a.status.state, a.status.message, a.status.extra);
      case 'ended':
        this.setStatus(a.status.state, a.status.message, a.status.extra);
        if (a.wakeAt !== undefined) this.wakeAt(a.wakeAt);
        if (a.stop !== undefined) {
          // Unhealthy: stop it; the restart (if any) follows when it ended.
          this.stopProbes();
          this.deps.log.info({ task: task.id, container: a.stop.containerId, detail: a.stop.detail }, 'container unhealthy; stopping it');
          await runtime.stop(a.stop.containerId, task.spec.stop.gracePeriod);
        }
        return;
      case 'start':
        if (a.report) this.setStatus('starting', 'starting container', { containerId: a.containerId });
        return this.startContainer(a.containerId, now);
      case 'prepare':
        return this.prepare(now);
    }
  }

  /** No container yet: the image (per pull policy), then create, then start. */
  private async prepare(now: number): Promise<void> {
    const { runtime } = this.deps;
    const task = this.task;
    this.setStatus('preparing', 'preparing container');
    const abort = (this.pullAbort = new AbortController());
    try {
      await this.puller.ensure(
        task.spec.image,
        (task.spec.pullPolicy ?? 'ifNotPresent') as PullPolicy,
        task.pullAuth,
        () => this.setStatus('preparing', `pulling image ${task.spec.image}`),
        abort.signal,
      );
      this.pullFailures = 0;
      this.mem.pullRetryAt = undefined;
    } catch (err) {
      if (err instanceof PullAbandonedError) {
        this.deps.log.info({ task: task.id, image: task.spec.image }, 'pull abandoned: the task is no longer wanted');
        return this.poke(); // the next pass reports what is
      }
      if (!(err instanceof ImageUnavailableError)) throw err;
      const retry = pullRetry(this.pullFailures++, now);
      this.mem.pullRetryAt = retry.at;
      this.setStatus('preparing', `${err.message}; retrying in ${formatDuration(retry.delayMs)}`, { err: err.message });
      return this.wakeAt(retry.at);
    } finally {
      this.pullAbort = undefined;
    }
    if (this.task.desiredState !== 'running') return this.poke(); // changed during the pull
    this.mayExist = true; // from here on, a create may have happened (even if it fails)
    let id: string;
    try {
      id = await runtime.create({
        name: task.containerName,
        labels: containerLabels(task, this.deps.nodeId),
        spec: task.spec,
        namespace: task.namespace,
        grants: task.policyGrants ?? NO_GRANTS,
      });
    } catch (err) {
      if (err instanceof EngineUnavailableError) throw err;
      if (!(err instanceof ContainerExistsError)) {
        this.setStatus('rejected', `create failed: ${err instanceof Error ? err.message : String(err)}`, {
          err: err instanceof Error ? err.message : String(err),
        });
        return;
      }
      // The name is taken: by this task's container (a retried create), or by a leftover of an
      // earlier incarnation, which inspect() removes (then the next pass creates anew).
      const existing = await this.inspect();
      if (!existing) {
        // Twice in a row means the engine holds the name without a container: leave it to the resync.
        if (this.nameConflict) throw err;
        this.nameConflict = true;
        this.dirty = true;
        return;
      }
      this.nameConflict = false;
      if (existing.running || existing.startedAtMs > 0) return this.poke(); // it ran already: the next pass follows it
      id = existing.id;
    }
    this.nameConflict = false;
    this.containerId = id;
    this.setStatus('starting', 'starting container', { containerId: id });
    await this.startContainer(id, now);
  }

  /** Starts the container, then follows what it does (the start's outcome fed back to the plan). */
  private async startContainer(id: string, now: number): Promise<void> {
    const { runtime } = this.deps;
    this.mem.lastStartAtMs = now;
    this.tracker = undefined;
    try {
      await runtime.start(id);
    } catch (err) {
      if (err instanceof EngineUnavailableError) throw err;
      this.setStatus('failed', `start failed: ${err instanceof Error ? err.message : String(err)}`, {
        containerId: id,
        err: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    const started = await runtime.inspect(id);
    const at = this.deps.now();
    if (started?.running) this.followHealth(started, at);
    else if (started && started.startedAtMs > 0) this.stopProbes(); // it ended at once
    await this.perform(decideStarted(this.observation(started), started, this.mem, at), at);
  }

  private scheduleProbe(ms: number): void {
    this.probeTimer?.cancel();
    this.probeTimer = this.clock.setTimeout(() => {
      this.probeTimer = undefined;
      void this.probe();
    }, ms);
  }

  private async probe(): Promise<void> {
    const check = this.task.spec.health;
    const tracker = this.tracker;
    const info = this.lastInfo;
    if (!check || !tracker || !info || this.removed || this.task.desiredState !== 'running') return;
    const result = await runProbe(this.deps.runtime, check, info);
    if (this.tracker !== tracker) return; // a new run started meanwhile
    if (tracker.record(result, this.deps.now())) this.poke();
    if (tracker.status !== 'unhealthy') this.scheduleProbe(check.interval);
  }
}
