// The worker applies assignment sets: one TaskRunner per assigned task. Containers of this node
// that no assignment names are stopped and removed, but only once the controller has sent a
// full set (before that, the agent cannot know what it owns). Adopted containers are bound to
// their runners as they are: nothing running as desired is restarted.
import type { TaskStatus } from '../../proto/src/model.js';
import { LABEL_NODE, LABEL_TASK } from '../../proto/src/labels.js';
import type { ContainerInfo, ContainerSummary } from './runtime/runtime.js';
import { TaskRunner, type AssignedTask, type RunnerDeps } from './task-runner.js';
import { ImagePuller } from './images.js';
import { labelledStopGrace } from './fence.js';

export interface AssignmentSet {
  full: boolean;
  upsert: AssignedTask[];
  remove: string[];
}

export class Worker {
  private runners = new Map<string, TaskRunner>();
  /** Containers found at start (or at a resync) that no runner owns yet, by task id. */
  private unclaimed = new Map<string, ContainerSummary>();
  private removing = new Set<string>();
  private gotFullSet = false;
  private readonly deps: RunnerDeps & { puller: ImagePuller };

  constructor(deps: RunnerDeps) {
    // One puller per node: concurrent tasks of one image share its pull.
    this.deps = { ...deps, puller: deps.puller ?? new ImagePuller(deps.runtime) };
  }

  /** Lists (and inspects) this node's containers, to adopt them when the first full set names them. */
  async discover(): Promise<ContainerInfo[]> {
    const containers = await this.deps.runtime.list({ [LABEL_NODE]: this.deps.nodeId });
    this.noteUnclaimed(containers);
    return containers;
  }

  private noteUnclaimed(containers: readonly ContainerSummary[]): void {
    for (const c of containers) {
      const taskId = c.labels[LABEL_TASK];
      if (taskId && !this.runners.has(taskId)) this.unclaimed.set(taskId, c);
    }
  }

  apply(set: AssignmentSet): void {
    const { log } = this.deps;
    if (set.full) {
      const keep = new Set(set.upsert.map((t) => t.id));
      for (const id of [...this.runners.keys()]) if (!keep.has(id)) this.removeTask(id);
      this.gotFullSet = true;
    }
    for (const id of set.remove) this.removeTask(id);
    for (const task of set.upsert) {
      const runner = this.runners.get(task.id);
      if (runner) {
        runner.update(task);
        continue;
      }
      const adopted = this.unclaimed.get(task.id);
      this.unclaimed.delete(task.id);
      if (adopted) log.info({ task: task.id, container: adopted.id, state: adopted.state }, 'adopted container');
      const r = new TaskRunner(task, this.deps, adopted);
      this.runners.set(task.id, r);
      r.poke();
    }
    if (set.full) void this.removeUnclaimed();
  }

  /** Engine event for a container of this node. */
  poke(taskId: string): void {
    this.runners.get(taskId)?.poke();
  }

  /** The engine's `oom` event for a task's container (a second source beside State.OOMKilled). */
  noteOom(taskId: string, containerId: string, atMs: number): void {
    this.runners.get(taskId)?.noteOom(containerId, atMs);
  }

  /**
   * Look at every task again (periodic, and after the engine comes back). One listing finds
   * containers no runner owns; each runner inspects its own container.
   */
  async resync(): Promise<void> {
    this.noteUnclaimed(await this.deps.runtime.summaries({ [LABEL_NODE]: this.deps.nodeId }));
    for (const r of this.runners.values()) r.poke();
    if (this.gotFullSet) await this.removeUnclaimed();
  }

  /** Last status of every task, to send again after a reconnect. */
  statuses(): Array<{ taskId: string; status: TaskStatus }> {
    const out: Array<{ taskId: string; status: TaskStatus }> = [];
    for (const [taskId, r] of this.runners) if (r.status) out.push({ taskId, status: r.status });
    return out;
  }

  /** Every task this worker runs, with its last reported status (metrics, logs, exec). */
  tasks(): Array<{ task: AssignedTask; status: TaskStatus | undefined }> {
    return [...this.runners.values()].map((r) => ({ task: r.task, status: r.status }));
  }

  task(taskId: string): AssignedTask | undefined {
    return this.runners.get(taskId)?.task;
  }

  get taskIds(): string[] {
    return [...this.runners.keys()];
  }

  /** Waits until every runner is idle (tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.settled()));
  }

  private removeTask(id: string): void {
    const r = this.runners.get(id);
    if (!r) return;
    this.runners.delete(id);
    this.removing.add(id);
    r.remove()
      .catch((err: unknown) =>
        this.deps.log.warn({ task: id, err: err instanceof Error ? err.message : String(err) }, 'remove failed; retried at resync'),
      )
      .finally(() => this.removing.delete(id));
  }

  private async removeUnclaimed(): Promise<void> {
    const leftovers = [...this.unclaimed.entries()];
    this.unclaimed.clear();
    for (const [taskId, c] of leftovers) {
      if (this.runners.has(taskId) || this.removing.has(taskId)) continue;
      this.deps.log.info({ task: taskId, container: c.id }, 'removing container that is no longer assigned');
      try {
        if (c.running) await this.deps.runtime.stop(c.id, labelledStopGrace(c.labels));
        await this.deps.runtime.remove(c.id);
      } catch (err) {
        this.deps.log.warn({ task: taskId, err: err instanceof Error ? err.message : String(err) }, 'remove failed; retried at resync');
      }
    }
  }
}
