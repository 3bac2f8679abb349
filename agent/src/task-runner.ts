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
import { backoffMs, systemClock, type Clock, type Timer } from '../../proto/src/clock.js';
import type { Logger } from '../../proto/src/log.js';
import type { TaskRecord, TaskStatus } from '../../proto/src/model.js';
import { formatDuration } from '../../proto/src/spec/units.js';
import type { PullPolicy } from '../../proto/src/spec/lifecycle.js';
import { isTerminal, statusOrder, type TaskState } from '../../proto/src/types.js';
import {
  LABEL_MANAGED, LABEL_NAMESPACE, LABEL_NODE, LABEL_REVISION, LABEL_SERVICE, LABEL_SLOT, LABEL_TASK, LABEL_TASK_CREATED,
} from '../../proto/src/labels.js';
import { fenceLabels } from './fence.js';
import { HealthTracker, runProbe } from './health/probe.js';
import { ImagePuller, ImageUnavailableError, PullAbandonedError } from './images.js';
import { decideRestart, describeEnd, type EndedRun, type RestartCounters } from './restart-plan.js';
import { ContainerExistsError, EngineUnavailableError, type ContainerInfo, type ContainerRuntime, type ContainerSummary, type PullAuth } from './runtime/runtime.js';

export type Report = (taskId: string, status: TaskStatus) => void;

/** A task as assigned to this node: the record, plus pull credentials when its spec names some. */
export type AssignedTask = TaskRecord & { pullAuth?: PullAuth };

/** A restarted container is reported running once it stayed up this long (see the file comment). */
export const RESTARTED_REPORT_SETTLE_MS = 1_000;
/** Failed pulls are retried after 1s, 2s, 4s, ... at most this long apart. */
export const PULL_RETRY_INITIAL_MS = 1_000;
export const PULL_RETRY_MAX_MS = 30_000;
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
  // restarts
  private counters: RestartCounters;
  private restarts: number;
  private restartDueAt: number | undefined;
  private lastStartAtMs = 0;
  // pulls
  private pullFailures = 0;
  private pullRetryAt: number | undefined;
  /** Aborts the pull this runner waits for (the task is no longer wanted). */
  private pullAbort: AbortController | undefined;
  // health
  private tracker: HealthTracker | undefined;
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
    this.restarts = task.status.restarts ?? 0;
    this.counters = { failuresInRow: task.priorFailures ?? 0, localRestarts: 0 };
  }

  get status(): TaskStatus | undefined {
    return this.last;
  }

  /** A new version of the task (desired state moved, new credentials) or an engine event: look again. */
  update(task: AssignedTask): void {
    const prevAuth = JSON.stringify(this.task.pullAuth ?? null);
    this.task = task;
    // New credentials: retry a failed pull now rather than at the end of its backoff.
    if (JSON.stringify(task.pullAuth ?? null) !== prevAuth) this.pullRetryAt = undefined;
    if (task.desiredState !== 'running') this.pullAbort?.abort();
    this.poke();
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
    const timer = this.clock.setTimeout(() => {
      this.wake = undefined;
      this.poke();
    }, Math.max(0, at - this.deps.now()));
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
    if (this.restarts > 0) next.restarts = this.restarts;
    // Only when a healthy period started the count over (otherwise priorFailures + restarts).
    if (this.counters.failuresInRow !== (this.task.priorFailures ?? 0) + this.restarts) next.failuresInRow = this.counters.failuresInRow;
    else delete next.failuresInRow;
    const same = (a: TaskStatus, b: TaskStatus): boolean =>
      a.state === b.state && a.message === b.message && a.containerId === b.containerId && a.health === b.health &&
      a.restarts === b.restarts && a.failuresInRow === b.failuresInRow && a.container === b.container && a.oomKilled === b.oomKilled && JSON.stringify(a.ports) === JSON.stringify(b.ports);
    if (prev && same(prev, next)) return;
    if (prev && statusOrder(next, prev) < 0) {
      // The controller would refuse it too: a bug of this runner, said out loud.
      this.deps.log.error({ task: this.task.id, from: prev.state, to: next.state, restarts: next.restarts ?? 0 }, 'task status would go backwards; not reported');
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

  private async step(): Promise<void> {
    const { runtime } = this.deps;
    const task = this.task;
    if (task.desiredState !== 'running') {
      this.cancelTimers();
      this.restartDueAt = undefined;
      const info = await this.inspect();
      if (info?.running) {
        this.deps.log.info({ task: task.id, container: info.id }, 'stopping container');
        await runtime.stop(info.id, task.spec.stop.gracePeriod);
        const after = await runtime.inspect(info.id);
        this.setStatus('shutdown', 'stopped', { containerId: info.id, ...(after ? { exitCode: after.exitCode } : {}) });
      } else if (!this.last || !isTerminal(this.last.state)) {
        this.setStatus('shutdown', info ? 'stopped' : 'never started', info ? { containerId: info.id } : {});
      }
      if (task.desiredState === 'remove' && info) await runtime.remove(info.id);
      return;
    }
    if (this.last && isTerminal(this.last.state)) return;

    const now = this.deps.now();
    const info = await this.inspect();
    if (info?.running) return this.onRunning(info, now);
    if (info && (info.state === 'exited' || info.state === 'dead') && info.startedAtMs > 0) return this.onEnded(info, now);
    if (!info && this.last && ['starting', 'running'].includes(this.last.state)) {
      this.setStatus('failed', 'container disappeared', { err: 'container removed outside Berth' });
      return;
    }

    let id = info?.id; // created but never started (the agent died between create and start)
    if (!id) {
      if (this.pullRetryAt !== undefined && now < this.pullRetryAt) return this.wakeAt(this.pullRetryAt);
      this.setStatus('preparing', 'preparing container');
      const abort = (this.pullAbort = new AbortController());
      try {
        await this.puller.ensure(task.spec.image, (task.spec.pullPolicy ?? 'ifNotPresent') as PullPolicy, task.pullAuth, () => this.setStatus('preparing', `pulling image ${task.spec.image}`), abort.signal);
        this.pullFailures = 0;
        this.pullRetryAt = undefined;
      } catch (err) {
        if (err instanceof PullAbandonedError) {
          this.deps.log.info({ task: task.id, image: task.spec.image }, 'pull abandoned: the task is no longer wanted');
          return this.poke(); // the next pass reports what is
        }
        if (!(err instanceof ImageUnavailableError)) throw err;
        const delay = backoffMs(this.pullFailures++, PULL_RETRY_INITIAL_MS, PULL_RETRY_MAX_MS);
        this.pullRetryAt = now + delay;
        this.setStatus('preparing', `${err.message}; retrying in ${formatDuration(delay)}`, { err: err.message });
        return this.wakeAt(this.pullRetryAt);
      } finally {
        this.pullAbort = undefined;
      }
      if (this.task.desiredState !== 'running') return this.poke(); // changed during the pull
      this.mayExist = true; // from here on, a create may have happened (even if it fails)
      try {
        id = await runtime.create({ name: task.containerName, labels: containerLabels(task, this.deps.nodeId), spec: task.spec });
      } catch (err) {
        if (err instanceof EngineUnavailableError) throw err;
        if (!(err instanceof ContainerExistsError)) {
          this.setStatus('rejected', `create failed: ${err instanceof Error ? err.message : String(err)}`, { err: err instanceof Error ? err.message : String(err) });
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
    }
    this.setStatus('starting', 'starting container', { containerId: id });
    await this.startContainer(id, now);
  }

  private async startContainer(id: string, now: number): Promise<void> {
    const { runtime } = this.deps;
    this.lastStartAtMs = now;
    this.tracker = undefined;
    try {
      await runtime.start(id);
    } catch (err) {
      if (err instanceof EngineUnavailableError) throw err;
      this.setStatus('failed', `start failed: ${err instanceof Error ? err.message : String(err)}`, { containerId: id, err: err instanceof Error ? err.message : String(err) });
      return;
    }
    const started = await runtime.inspect(id);
    if (started?.running) await this.onRunning(started, this.deps.now());
    else if (started && started.startedAtMs > 0) await this.onEnded(started, this.deps.now());
  }

  /** The container runs: track its health, act on unhealthy, report. */
  private async onRunning(info: ContainerInfo, now: number): Promise<void> {
    this.restartDueAt = undefined;
    this.lastInfo = info;
    const check = this.task.spec.health;
    let health = info.health ?? '';
    let detail = info.healthOutput ?? '';
    if (check) {
      const run = `${info.id}:${info.startedAtMs}`;
      if (!this.tracker || this.trackedRun !== run) {
        this.tracker = new HealthTracker(check, info.startedAtMs || now);
        this.trackedRun = run;
        this.scheduleProbe(Math.min(check.interval, FIRST_PROBE_MAX_DELAY_MS));
      }
      health = this.tracker.status;
      detail = this.tracker.lastDetail;
    }
    if (health === 'unhealthy') return this.onUnhealthy(info, now, detail);
    // Just restarted: wait a moment before saying it runs (see the file comment).
    const upSince = info.startedAtMs || this.lastStartAtMs;
    if (this.restarts > 0 && this.last?.container === 'backoff' && now - upSince < RESTARTED_REPORT_SETTLE_MS) {
      return this.wakeAt(upSince + RESTARTED_REPORT_SETTLE_MS);
    }
    const restarted = this.restarts > 0 ? ` (restarted ${this.restarts}×)` : '';
    const message = health === 'healthy' ? `container running, healthy${restarted}` : health === 'starting' ? `container running, health check pending${restarted}` : `container running${restarted}`;
    this.setStatus('running', message, { containerId: info.id, ports: info.ports, startedAtMs: info.startedAtMs, health });
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

  /** The check failed `retries` times: stop the container and restart it per policy. */
  private async onUnhealthy(info: ContainerInfo, now: number, detail: string): Promise<void> {
    this.stopProbes();
    const healthySince = this.tracker?.healthySinceMs ?? 0;
    const run: EndedRun = { exitCode: 0, unhealthy: true, healthyRunMs: healthySince ? now - healthySince : 0 };
    const why = `unhealthy${detail ? ` (${detail})` : ''}`;
    this.decide(run, info, now, why, { health: 'unhealthy' });
    this.deps.log.info({ task: this.task.id, container: info.id, detail }, 'container unhealthy; stopping it');
    await this.deps.runtime.stop(info.id, this.task.spec.stop.gracePeriod);
  }

  /** The container ended: restart it when due, or decide what its end means. */
  private async onEnded(info: ContainerInfo, now: number): Promise<void> {
    this.stopProbes();
    if (this.restartDueAt !== undefined) {
      if (now < this.restartDueAt) return this.wakeAt(this.restartDueAt);
      this.restartDueAt = undefined;
      return this.startContainer(info.id, now);
    }
    const check = this.task.spec.health;
    const healthySince = check ? (this.tracker?.healthySinceMs ?? 0) : info.startedAtMs;
    const ended = info.finishedAtMs || now;
    // OOMKilled with exit 0: a child was killed, the container itself ended well.
    const oomKilled = info.oomKilled === true && info.exitCode !== 0;
    const run: EndedRun = {
      exitCode: info.exitCode,
      unhealthy: false,
      oomKilled,
      memoryLimitBytes: this.task.spec.resources.limits?.memory ?? 0,
      healthyRunMs: healthySince ? ended - healthySince : 0,
    };
    const why = `${describeEnd(run)}${info.exitCode !== 0 && info.error ? `: ${info.error}` : ''}`;
    this.decide(run, info, now, why, { exitCode: info.exitCode, health: '', ...(oomKilled ? { oomKilled: true } : {}) });
  }

  private decide(run: EndedRun, info: ContainerInfo, now: number, why: string, extra: Partial<TaskStatus>): void {
    const d = decideRestart(this.task.spec.restart, run, this.counters);
    const base = { containerId: info.id, ...extra };
    this.counters = d.counters;
    switch (d.action) {
      case 'restart':
        this.restarts++;
        this.restartDueAt = now + d.delayMs;
        this.setStatus('running', `${why}; restarting in ${formatDuration(d.delayMs)} (restart ${this.restarts})${d.note ? `; ${d.note}` : ''}`, { ...base, container: 'backoff' });
        this.wakeAt(this.restartDueAt);
        return;
      case 'end':
        this.setStatus(d.state, `${why} (${d.reason})`, d.state === 'failed' ? { ...base, err: why } : base);
        return;
      case 'move':
        this.setStatus('failed', `${why}; ${d.reason}`, { ...base, err: why });
        return;
    }
  }
}
