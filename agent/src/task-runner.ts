// One runner per assigned task: drives the task's container towards its desired state and
// reports each observed step once. Steps never overlap (poke() while busy runs one more pass).
// A runner never restarts a container that ended: the controller replaces the task (slot model).
import type { Logger } from '../../proto/src/log.js';
import type { TaskRecord, TaskStatus } from '../../proto/src/model.js';
import { isTerminal, type TaskState } from '../../proto/src/types.js';
import {
  LABEL_MANAGED, LABEL_NAMESPACE, LABEL_NODE, LABEL_REVISION, LABEL_SERVICE, LABEL_SLOT, LABEL_TASK, LABEL_TASK_CREATED,
} from '../../proto/src/labels.js';
import { ContainerExistsError, EngineUnavailableError, type ContainerInfo, type ContainerRuntime } from './runtime/runtime.js';

export type Report = (taskId: string, status: TaskStatus) => void;

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
  };
}

export class TaskRunner {
  private containerId: string | undefined;
  private last: TaskStatus | undefined;
  private running = false;
  private dirty = false;
  private removed = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    public task: TaskRecord,
    private readonly deps: { runtime: ContainerRuntime; nodeId: string; report: Report; log: Logger; now: () => number },
    adopted?: ContainerInfo,
  ) {
    this.containerId = adopted?.id;
    // Terminal states survive a restart of the agent: the controller already knows them.
    if (isTerminal(task.status.state)) this.last = task.status;
  }

  get status(): TaskStatus | undefined {
    return this.last;
  }

  /** A new version of the task (desired state moved) or an engine event: look again. */
  update(task: TaskRecord): void {
    this.task = task;
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
    if (prev && prev.state === next.state && prev.message === next.message && prev.containerId === next.containerId && JSON.stringify(prev.ports) === JSON.stringify(next.ports)) return;
    this.last = next;
    this.deps.report(this.task.id, next);
  }

  private async inspect(): Promise<ContainerInfo | undefined> {
    const rt = this.deps.runtime;
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

  private observed(info: ContainerInfo): void {
    if (info.running) {
      this.setStatus('running', 'container running', { containerId: info.id, ports: info.ports, startedAtMs: info.startedAtMs });
    } else if (info.state === 'exited' || info.state === 'dead') {
      const ok = info.exitCode === 0;
      this.setStatus(ok ? 'complete' : 'failed', ok ? 'container exited' : `container exited with code ${info.exitCode}${info.error ? `: ${info.error}` : ''}`, {
        containerId: info.id,
        exitCode: info.exitCode,
        ...(ok ? {} : { err: info.error || `exit code ${info.exitCode}` }),
      });
    }
  }

  private async step(): Promise<void> {
    const { runtime } = this.deps;
    const task = this.task;
    if (task.desiredState !== 'running') {
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

    const info = await this.inspect();
    if (info && (info.running || info.state === 'exited' || info.state === 'dead')) {
      if (!info.running && info.startedAtMs === 0) {
        // Created but never started (the agent died between create and start): start it.
      } else {
        this.observed(info);
        return;
      }
    }
    if (!info && this.last && ['starting', 'running'].includes(this.last.state)) {
      this.setStatus('failed', 'container disappeared', { err: 'container removed outside Berth' });
      return;
    }

    let id = info?.id;
    if (!id) {
      this.setStatus('preparing', 'preparing container');
      if (!(await runtime.hasImage(task.spec.image))) {
        this.setStatus('preparing', `pulling image ${task.spec.image}`);
        try {
          await runtime.pullImage(task.spec.image);
        } catch (err) {
          if (err instanceof EngineUnavailableError) throw err;
          this.setStatus('rejected', `image pull failed: ${err instanceof Error ? err.message : String(err)}`, { err: err instanceof Error ? err.message : String(err) });
          return;
        }
      }
      try {
        id = await runtime.create({ name: task.containerName, labels: containerLabels(task, this.deps.nodeId), spec: task.spec });
      } catch (err) {
        if (err instanceof EngineUnavailableError) throw err;
        if (!(err instanceof ContainerExistsError)) {
          this.setStatus('rejected', `create failed: ${err instanceof Error ? err.message : String(err)}`, { err: err instanceof Error ? err.message : String(err) });
          return;
        }
        id = (await runtime.inspect(task.containerName))?.id;
        if (!id) throw err;
      }
      this.containerId = id;
    }
    this.setStatus('starting', 'starting container', { containerId: id });
    try {
      await runtime.start(id);
    } catch (err) {
      if (err instanceof EngineUnavailableError) throw err;
      this.setStatus('failed', `start failed: ${err instanceof Error ? err.message : String(err)}`, { containerId: id, err: err instanceof Error ? err.message : String(err) });
      return;
    }
    const started = await runtime.inspect(id);
    if (started) this.observed(started);
  }
}
