// Agent self-fencing for onNodeLoss: waitForNode (at most once). The agent counts the time since
// the leader last answered it (Welcome or HeartbeatAck). Past the fencing time the controller
// told it (--fence-after), it stops every waitForNode container of its node and refuses to start
// new ones, because the leader may by then place a replacement elsewhere (it waits for the same
// time plus a margin). Contact is persisted, so an agent restarted while cut off still fences
// on time. Nothing else is ever stopped for lack of a controller.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sleep } from '../../proto/src/clock.js';
import { LABEL_NODE, LABEL_ON_NODE_LOSS, LABEL_STOP_GRACE_MS } from '../../proto/src/labels.js';
import type { Logger } from '../../proto/src/log.js';
import { nodeLossMode } from '../../proto/src/spec/ha.js';
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

/** The labels the fence finds its containers by, added at create. */
export function fenceLabels(spec: { onNodeLoss?: string; stop: { gracePeriod: number } }): Record<string, string> {
  return { [LABEL_ON_NODE_LOSS]: nodeLossMode(spec), [LABEL_STOP_GRACE_MS]: String(spec.stop.gracePeriod) };
}

interface Persisted {
  lastContactMs: number;
  fenceAfterMs: number;
}

/** The container was not started: the agent is fenced. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
}

export class Fence {
  private lastContactMs: number | undefined;
  private fenceAfterMs: number | undefined;
  private persistedAtMs = 0;
  private persisting = false;
  private persistWarned = false;
  private fenced = false;
  /**
   * Containers this fence stopped: never started again (their task is over; the leader runs the
   * slot anew), even if a restart comes due after contact returned.
   */
  private readonly stoppedIds = new Set<string>();
  /** Containers this fence stopped (since start). */
  stopped = 0;

  constructor(
    private readonly deps: {
      runtime: ContainerRuntime;
      nodeId: string;
      log: Logger;
      now: () => number;
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
      if (typeof p.lastContactMs === 'number' && typeof p.fenceAfterMs === 'number' && this.lastContactMs === undefined) {
        this.lastContactMs = p.lastContactMs;
        this.fenceAfterMs = p.fenceAfterMs;
        log.info({ lastContactMs: p.lastContactMs, fenceAfterMs: p.fenceAfterMs }, 'fencing state loaded');
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err: err instanceof Error ? err.message : String(err) }, 'fencing state unreadable; ignored');
    }
  }

  /** The leader answered. */
  contact(fenceAfterMs?: number): void {
    const now = this.deps.now();
    this.lastContactMs = now;
    const changed = fenceAfterMs !== undefined && fenceAfterMs !== this.fenceAfterMs;
    if (fenceAfterMs !== undefined) this.fenceAfterMs = fenceAfterMs;
    if (this.fenced) this.setFenced(false);
    if (changed || now - this.persistedAtMs >= PERSIST_EVERY_MS) void this.persist(now);
  }

  /** How long past the deadline (> 0: fence), or undefined when no deadline is known. */
  overdueMs(): number | undefined {
    if (this.lastContactMs === undefined || this.fenceAfterMs === undefined) return undefined;
    return this.deps.now() - this.lastContactMs - this.fenceAfterMs;
  }

  /** One check: past the deadline, stop every running waitForNode container of this node. */
  async check(): Promise<void> {
    const overdue = this.overdueMs();
    if (overdue === undefined || overdue <= 0) return;
    if (!this.fenced) this.setFenced(true);
    const { runtime, nodeId, log } = this.deps;
    const running = (await runtime.summaries({ [LABEL_NODE]: nodeId, [LABEL_ON_NODE_LOSS]: 'waitForNode' })).filter((c) => c.running);
    for (const c of running) {
      log.warn({ container: c.id, name: c.name, silentMs: overdue + (this.fenceAfterMs ?? 0) }, 'fenced: stopping waitForNode container');
      this.stoppedIds.add(c.id);
      await runtime.stop(c.id, labelledStopGrace(c.labels));
      this.stopped++;
    }
  }

  async start(signal: AbortSignal): Promise<void> {
    await this.load();
    while (!signal.aborted) {
      await this.check().catch((err: unknown) => this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'fence check failed; retrying'));
      await sleep(FENCE_CHECK_MS, signal);
    }
  }

  /**
   * The runtime the worker uses: containers get the fence's labels at create, and a waitForNode
   * container is not started while fenced.
   */
  wrap(runtime: ContainerRuntime): ContainerRuntime {
    const out = Object.create(runtime) as ContainerRuntime;
    out.create = (req) => runtime.create({ ...req, labels: { ...req.labels, ...fenceLabels(req.spec) } });
    out.start = async (id) => {
      if (this.stoppedIds.has(id)) throw new FencedError('fenced: this container was stopped when the agent lost the leader (onNodeLoss: waitForNode)');
      if (this.fenced || (this.overdueMs() ?? 0) > 0) {
        const info = await runtime.inspect(id);
        if (info?.labels[LABEL_ON_NODE_LOSS] === 'waitForNode') {
          throw new FencedError(`fenced: no contact with the leader for over ${Math.round((this.fenceAfterMs ?? 0) / 1000)}s (onNodeLoss: waitForNode)`);
        }
      }
      return runtime.start(id);
    };
    out.remove = async (id) => {
      await runtime.remove(id);
      this.stoppedIds.delete(id);
    };
    return out;
  }

  private setFenced(on: boolean): void {
    this.fenced = on;
    if (on) this.deps.log.warn({ fenceAfterMs: this.fenceAfterMs }, 'lost the leader for longer than the fencing time: waitForNode containers are stopped');
    else this.deps.log.info('leader answers again: fence lifted');
    this.deps.onChange?.(on);
  }

  private async persist(now: number): Promise<void> {
    const { stateFile, log } = this.deps;
    if (!stateFile || this.persisting || this.lastContactMs === undefined || this.fenceAfterMs === undefined) return;
    this.persisting = true;
    this.persistedAtMs = now;
    try {
      await mkdir(dirname(stateFile), { recursive: true });
      const tmp = `${stateFile}.tmp`;
      await writeFile(tmp, JSON.stringify({ lastContactMs: this.lastContactMs, fenceAfterMs: this.fenceAfterMs } satisfies Persisted));
      await rename(tmp, stateFile);
    } catch (err) {
      // Said once: without the file a restarted agent fences only after its first contact.
      if (!this.persistWarned) log.warn({ err: err instanceof Error ? err.message : String(err), stateFile }, 'could not persist fencing state');
      this.persistWarned = true;
    } finally {
      this.persisting = false;
    }
  }
}
