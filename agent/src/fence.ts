// Agent self-fencing for onNodeLoss: waitForNode (at most once). The agent counts the time since
// the leader last answered it (Welcome or HeartbeatAck). Past the fencing time the controller
// told it (--fence-after), it stops every waitForNode container of its node and refuses to start
// new ones, because the leader may by then place a replacement elsewhere (it waits for the same
// time plus the container's stop grace plus a margin). Contact is persisted, so an agent
// restarted while cut off still fences on time. Nothing else is ever stopped for lack of a
// controller.
//
// What makes at most once hold (docs/reliability.md):
// - The deadline is measured on a monotonic clock (performance.now): a wall clock stepped back
//   by NTP cannot delay the fence. The wall clock is used only for the persisted contact, which a
//   restarted process needs (its monotonic clock starts over).
// - All containers are stopped at once, each within its own stop grace: the leader's deadline is
//   per task (fencing time + that task's grace + margin), so one stop must never wait for another.
// - Every waitForNode container present when the fence acts, running or not (one waiting for a
//   restart in place), is fenced for good: the agent never starts it again on its own, not after
//   contact returns (before the new assignment set), not after an agent restart (the ids are
//   persisted). Its task is over; the leader runs the slot anew.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sleep } from '../../proto/src/clock.js';
import { LABEL_NODE, LABEL_ON_NODE_LOSS, LABEL_STOP_GRACE_MS } from '../../proto/src/labels.js';
import type { Logger } from '../../proto/src/log.js';
import { nodeLossMode } from '../../proto/src/spec/ha.js';
import { passThrough } from './runtime/pass-through.js';
import type { ContainerRuntime } from './runtime/runtime.js';

/** How often the deadline is checked: bounds how late the fence acts (the margin covers it). */
export const FENCE_CHECK_MS = 250;
/**
 * Contact is written to disk at most this often. A stale file only makes a restarted agent fence
 * earlier, never later, so throttling is safe.
 */
export const PERSIST_EVERY_MS = 1_000;
/** Stop grace for a container without the label (created by an older agent). */
const DEFAULT_STOP_GRACE_MS = 10_000;

/** A Berth container's stop grace period, from its label (the default for an older one). */
export function labelledStopGrace(labels: Record<string, string>): number {
  const grace = Number(labels[LABEL_STOP_GRACE_MS] ?? DEFAULT_STOP_GRACE_MS);
  return Number.isFinite(grace) ? grace : DEFAULT_STOP_GRACE_MS;
}

/** The labels the fence finds its containers by: part of every container's labels (containerLabels). */
export function fenceLabels(spec: { onNodeLoss?: string; stop: { gracePeriod: number } }): Record<string, string> {
  return { [LABEL_ON_NODE_LOSS]: nodeLossMode(spec), [LABEL_STOP_GRACE_MS]: String(spec.stop.gracePeriod) };
}

interface Persisted {
  /** Wall-clock time of the last contact (a restarted process has no other common clock). */
  lastContactMs?: number;
  fenceAfterMs?: number;
  /** Containers fenced for good (never started again by this node's agent). */
  fencedIds?: string[];
}

/** The process's monotonic clock, in ms: never jumps with the wall clock. */
export const monotonicMs = (): number => performance.now();

/** The container was not started: the agent is fenced. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
}

export class Fence {
  /** Last contact on the monotonic clock. */
  private lastContactMono: number | undefined;
  private fenceAfterMs: number | undefined;
  private persistedAtMs = 0;
  private persisting = false;
  /** The write in flight (or done): what settled() waits for. */
  private writing: Promise<void> = Promise.resolve();
  private persistAgain = false;
  /** Wall-clock time of the last contact in this process (what is persisted). */
  private lastContactWall: number | undefined;
  private persistWarned = false;
  private fenced = false;
  /**
   * Containers fenced for good: never started again (their task is over; the leader runs the
   * slot anew), even if a restart comes due after contact returned. Persisted.
   */
  private readonly fencedIds = new Set<string>();
  /** Containers this fence stopped (since start). */
  stopped = 0;

  constructor(
    private readonly deps: {
      runtime: ContainerRuntime;
      nodeId: string;
      log: Logger;
      /** Wall clock (persisted contact only). */
      now: () => number;
      /** Monotonic clock for the deadline (default: performance.now). */
      monotonic?: () => number;
      /** Where contact is persisted (undefined: not persisted; a restarted agent fences only after its first contact). */
      stateFile?: string | undefined;
      onChange?: (fenced: boolean) => void;
    },
  ) {}

  get active(): boolean {
    return this.fenced;
  }

  /** Reads the persisted contact (before the first session). */
  async load(): Promise<void> {
    const { stateFile, log } = this.deps;
    if (!stateFile) return;
    try {
      const p = JSON.parse(await readFile(stateFile, 'utf8')) as Partial<Persisted>;
      if (Array.isArray(p.fencedIds)) for (const id of p.fencedIds) if (typeof id === 'string') this.fencedIds.add(id);
      if (typeof p.lastContactMs === 'number' && typeof p.fenceAfterMs === 'number' && this.lastContactMono === undefined) {
        // The saved contact, moved onto this process's monotonic clock. A wall clock that went
        // back since counts as no time passed (the best the saved time can say).
        const elapsed = Math.max(0, this.deps.now() - p.lastContactMs);
        this.lastContactMono = this.mono() - elapsed;
        this.lastContactWall = p.lastContactMs;
        this.fenceAfterMs = p.fenceAfterMs;
        log.info({ lastContactMs: p.lastContactMs, fenceAfterMs: p.fenceAfterMs, fencedIds: this.fencedIds.size }, 'fencing state loaded');
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'fencing state unreadable; ignored');
    }
  }

  /** The leader answered. */
  contact(fenceAfterMs?: number): void {
    const now = this.deps.now();
    this.lastContactMono = this.mono();
    this.lastContactWall = now;
    const changed = fenceAfterMs !== undefined && fenceAfterMs !== this.fenceAfterMs;
    if (fenceAfterMs !== undefined) this.fenceAfterMs = fenceAfterMs;
    if (this.fenced) this.setFenced(false);
    if (changed || now - this.persistedAtMs >= PERSIST_EVERY_MS) void this.persist(now);
  }

  /** How long past the deadline (> 0: fence), or undefined when no deadline is known. */
  overdueMs(): number | undefined {
    if (this.lastContactMono === undefined || this.fenceAfterMs === undefined) return undefined;
    return this.mono() - this.lastContactMono - this.fenceAfterMs;
  }

  private mono(): number {
    return (this.deps.monotonic ?? monotonicMs)();
  }

  /** Whether this container is fenced for good (tests, the task runner's message). */
  isFenced(id: string): boolean {
    return this.fencedIds.has(id);
  }

  /** One check: past the deadline, stop every running waitForNode container of this node. */
  async check(): Promise<void> {
    const overdue = this.overdueMs();
    if (overdue === undefined || overdue <= 0) return;
    if (!this.fenced) this.setFenced(true);
    const { runtime, nodeId, log } = this.deps;
    const all = await runtime.summaries({ [LABEL_NODE]: nodeId, [LABEL_ON_NODE_LOSS]: 'waitForNode' });
    // Fenced for good before anything else: a restart in place coming due meanwhile is refused.
    const fresh = all.filter((c) => !this.fencedIds.has(c.id));
    for (const c of fresh) this.fencedIds.add(c.id);
    if (fresh.length > 0) {
      log.warn(
        { containers: fresh.map((c) => c.id), silentMs: overdue + (this.fenceAfterMs ?? 0) },
        'fenced for good: waitForNode containers will not be started again',
      );
      void this.persist(this.deps.now(), true);
    }
    // All at once, each within its own grace: the leader's deadline for each task counts only
    // that task's grace (node-loss-plan.ts fenceDeadline).
    const running = all.filter((c) => c.running);
    const results = await Promise.allSettled(
      running.map(async (c) => {
        log.warn({ container: c.id, name: c.name, silentMs: overdue + (this.fenceAfterMs ?? 0) }, 'fenced: stopping waitForNode container');
        await runtime.stop(c.id, labelledStopGrace(c.labels));
        this.stopped++;
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async start(signal: AbortSignal): Promise<void> {
    await this.load();
    while (!signal.aborted) {
      await this.check().catch((err: unknown) =>
        this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'fence check failed; retrying'),
      );
      await sleep(FENCE_CHECK_MS, signal);
    }
  }

  /**
   * The runtime the worker uses: a waitForNode container is not started while fenced, nor ever
   * again once fenced for good. (Its fence labels come with the runner's container labels.)
   */
  wrap(runtime: ContainerRuntime): ContainerRuntime {
    return fencedRuntime(runtime, this);
  }

  /** Throws FencedError when this container must not be started now (fencedRuntime: start). */
  async admitStart(id: string, runtime: ContainerRuntime): Promise<void> {
    if (this.fencedIds.has(id))
      throw new FencedError('fenced: this container was stopped when the agent lost the leader (onNodeLoss: waitForNode)');
    if (this.fenced || (this.overdueMs() ?? 0) > 0) {
      const info = await runtime.inspect(id);
      if (info?.labels[LABEL_ON_NODE_LOSS] === 'waitForNode') {
        throw new FencedError(
          `fenced: no contact with the leader for over ${Math.round((this.fenceAfterMs ?? 0) / 1000)}s (onNodeLoss: waitForNode)`,
        );
      }
    }
  }

  /** The container was removed: it is no longer fenced (fencedRuntime: remove). */
  forget(id: string): void {
    if (this.fencedIds.delete(id)) void this.persist(this.deps.now(), true);
  }

  private setFenced(on: boolean): void {
    this.fenced = on;
    if (on)
      this.deps.log.warn(
        { fenceAfterMs: this.fenceAfterMs },
        'lost the leader for longer than the fencing time: waitForNode containers are stopped',
      );
    else this.deps.log.info('leader answers again: fence lifted');
    this.deps.onChange?.(on);
  }

  /**
   * Writes the state file. One write at a time; a write asked for meanwhile (`must`: the fenced
   * ids changed) runs once the current one is done, so the last state always reaches the disk.
   */
  private async persist(now: number, must = false): Promise<void> {
    const { stateFile, log } = this.deps;
    if (!stateFile) return;
    if (this.persisting) {
      if (must) this.persistAgain = true;
      return;
    }
    this.persisting = true;
    this.persistedAtMs = now;
    const done = this.write(stateFile, log);
    this.writing = done;
    await done;
  }

  /** Resolves once no state write is in flight (the last asked-for state is on disk). */
  async settled(): Promise<void> {
    for (let w = this.writing; ; w = this.writing) {
      await w;
      if (w === this.writing && !this.persisting) return;
    }
  }

  private async write(stateFile: string, log: Logger): Promise<void> {
    try {
      await mkdir(dirname(stateFile), { recursive: true });
      const tmp = `${stateFile}.tmp`;
      const state: Persisted = { fencedIds: [...this.fencedIds] };
      if (this.lastContactWall !== undefined && this.fenceAfterMs !== undefined) {
        state.lastContactMs = this.lastContactWall;
        state.fenceAfterMs = this.fenceAfterMs;
      }
      await writeFile(tmp, JSON.stringify(state));
      await rename(tmp, stateFile);
    } catch (err) {
      // Said once: without the file a restarted agent fences only after its first contact.
      if (!this.persistWarned)
        log.warn({ err: err instanceof Error ? err.message : String(err), stateFile }, 'could not persist fencing state');
      this.persistWarned = true;
    } finally {
      this.persisting = false;
      if (this.persistAgain) {
        this.persistAgain = false;
        void this.persist(this.deps.now(), true);
      }
    }
  }
}

/**
 * The fence as a ContainerRuntime: start asks the fence first, remove forgets a fenced id, every
 * other call passes through (a method added to ContainerRuntime does not compile until it is
 * named here).
 */
export function fencedRuntime(inner: ContainerRuntime, fence: Fence): ContainerRuntime {
  return {
    ...passThrough(inner, ['info', 'hasImage', 'pullImage', 'create', 'stop', 'inspect', 'execCheck', 'list', 'summaries', 'events']),
    async start(id: string): Promise<void> {
      await fence.admitStart(id, inner);
      return inner.start(id);
    },
    async remove(id: string): Promise<void> {
      await inner.remove(id);
      fence.forget(id);
    },
  };
}
