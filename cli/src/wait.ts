// Waiting for services to converge (`apply --wait`, `scale --wait`): follow each service, its
// tasks and its rollout, judge with the pure evaluateConvergence, report progress when it
// changes, stop at the first of: all converged, one failed for good, the timeout.
//
// How it follows a service: RolloutAPI.WatchService, a stream of the controller's own view (the
// judgement runs on each step, so a wait ends as soon as the convergence holds). A controller
// without it (UNIMPLEMENTED) is polled every WAIT_POLL_MS instead; a watch that breaks is opened
// again after WATCH_RETRY_MS. Bounded in time; a controller that stops answering for a while only
// delays the verdict.
//
// Settling: a container counts as running once it has been up SETTLE_MS by the controller's
// account (WatchService says, per running task, how long the controller has seen it up; a
// duration on one clock, so clock skew between machines does not matter). That catches a
// container whose command fails at once, and a service that has been running for long converges
// at once. When polling, the duration is measured from when this CLI first saw it up.
import { status as grpcStatus } from '@grpc/grpc-js';
import { taskFromPb } from '../../proto/src/convert.js';
import { evaluateConvergence, foldRollout, type Convergence, type RolloutView } from '../../proto/src/convergence.js';
import { isReady } from '../../proto/src/lifecycle-model.js';
import type { TaskRecord } from '../../proto/src/model.js';
import type { Service__Output } from '../../proto/gen/berth/v1/Service.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';
import type { ServiceSpec } from '../../proto/src/spec/service.js';
import { formatDuration, parseDuration } from '../../proto/src/spec/units.js';
import { ApiError, isUnreachable, type BerthClient } from './client.js';

/** Without WatchService: how often a waiting CLI looks (fast enough to feel live, cheap for the controller). */
export const WAIT_POLL_MS = 500;
/** A broken watch is opened again after this long (the controller restarting, a lost connection). */
export const WATCH_RETRY_MS = 500;
/** Default --timeout of a wait: long enough for image pulls and rolling updates of a few replicas. */
export const DEFAULT_WAIT_TIMEOUT = '5m';
/**
 * A task counts as running once its container has been up this long, so a container whose
 * command fails at once (bad arguments, missing file) is caught instead of being called
 * converged. It covers the time the agent takes to see the exit and the report to reach the
 * controller's cache (engine event + status batch + store write: tens of ms, a few hundred on a
 * loaded host). A restarted container is reported up by the agent only after it stayed up a
 * second (RESTARTED_REPORT_SETTLE_MS), so a crash loop never looks settled.
 */
export const SETTLE_MS = 500;

export interface WaitTarget {
  namespace: string;
  name: string;
  /** The revision the command wrote: its rollout being rolled back or paused fails the wait. */
  revision?: number;
}

export interface WaitOutcome {
  target: WaitTarget;
  /** abandoned: the wait stopped early because another service failed. */
  phase: 'converged' | 'failed' | 'timeout' | 'abandoned';
  /** The last judgement (absent when the service could not be read at all). */
  convergence?: Convergence;
  revision?: number;
  /** Why, for failed and timeout. */
  reason?: string;
}

/** One step of a service watch (RolloutAPI.WatchService): what changed since the step before. */
export interface WatchStep {
  service: Service__Output | null;
  deleted: boolean;
  tasks: Task__Output[];
  removedTaskIds: string[];
  /** Per running task in `tasks`: how long the controller has seen its container up. */
  runningForMs: Record<string, number>;
  rollout: RolloutView | null;
}

/**
 * Follows one service: steps go to onStep (the first holds everything); resolves when the stream
 * ends, rejects with ApiError when it fails (UNIMPLEMENTED: the controller has no watch).
 */
export type WatchService = (t: WaitTarget, onStep: (s: WatchStep) => void, signal: AbortSignal) => Promise<void>;

export interface WaitOptions {
  timeoutMs: number;
  /** Without a watch: how often to poll (default WAIT_POLL_MS). */
  pollMs?: number;
  /** Called with a line for people each time a service's progress changes. */
  onProgress?: (target: WaitTarget, line: string) => void;
  /** Injected for tests; the real clock otherwise (monotonic). */
  now?: () => number;
  /** Resolves after ms, or at once when the signal aborts (something to look at arrived). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Default SETTLE_MS. */
  settleMs?: number;
  /** Follow a service by a stream (RolloutAPI.WatchService); without it, polling. */
  watch?: WatchService;
  /** Polling: the rollout state of a service (RolloutAPI), when the controller has one. */
  rollout?: (t: WaitTarget) => Promise<RolloutView | undefined>;
}

/** Parses --timeout (a duration with unit, e.g. 90s, 5m). */
export function parseTimeout(text: string): number | string {
  const ms = parseDuration(text);
  if (typeof ms === 'string') return ms;
  if (ms <= 0) return 'must be more than 0s';
  return ms;
}

/** What the wait knows of one service, and how it learns more. */
interface Followed {
  key: string;
  target: WaitTarget;
  last: string;
  outcome: WaitOutcome;
  mode: 'watch' | 'poll';
  service?: Service__Output;
  tasks: Map<string, TaskRecord>;
  rollout?: RolloutView | undefined;
  /** Since when (this CLI's clock) each task's container has been up; forgotten when it is not. */
  upSince: Map<string, number>;
  /** Reading it failed: NOT_FOUND (deleted), or a transient error (its text), until the next answer. */
  deleted: boolean;
  waitingFor?: string | undefined;
  /** An error that ends the whole wait (neither transient nor NOT_FOUND). */
  fatal?: unknown;
  nextPollAt: number;
  /** Watch: the next stream's first step replaces what is known. */
  fresh: boolean;
}

const realSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

function judge(o: Followed, nowMs: number, settleMs: number): { convergence: Convergence; revision: number } {
  const svc = o.service!;
  const view = {
    uid: svc.meta?.uid ?? '',
    specRevision: svc.specRevision,
    spec: JSON.parse(svc.specJson) as ServiceSpec,
    deleting: svc.deleting,
  };
  const isStable = (r: TaskRecord): boolean => nowMs - (o.upSince.get(r.id) ?? nowMs) >= settleMs;
  const convergence = evaluateConvergence(view, [...o.tasks.values()], { isStable });
  const t = o.target;
  if (t.revision && o.rollout) foldRollout(convergence, t.revision, o.rollout);
  return { convergence, revision: svc.specRevision };
}

/** When the judgement may change by time alone: the first ready task still settling becomes settled. */
function nextSettle(o: Followed, nowMs: number, settleMs: number): number {
  let at = Number.POSITIVE_INFINITY;
  for (const t of o.tasks.values()) {
    const since = o.upSince.get(t.id);
    if (since !== undefined && isReady(t) && since + settleMs > nowMs) at = Math.min(at, since + settleMs);
  }
  return at;
}

/** Notes which tasks are up, and since when: `forMs` says how long already (watch), else from now. */
function noteUp(o: Followed, t: TaskRecord, nowMs: number, forMs: number | undefined): void {
  const up = t.status.state === 'running' && t.status.container !== 'backoff';
  if (!up) o.upSince.delete(t.id);
  else if (forMs !== undefined) o.upSince.set(t.id, nowMs - forMs);
  else if (!o.upSince.has(t.id)) o.upSince.set(t.id, nowMs);
}

function applyStep(o: Followed, s: WatchStep, nowMs: number): void {
  if (o.fresh) {
    o.fresh = false;
    o.tasks.clear();
    o.upSince.clear();
    o.rollout = undefined;
  }
  o.waitingFor = undefined;
  if (s.deleted) o.deleted = true;
  if (s.service) o.service = s.service;
  if (s.rollout) o.rollout = s.rollout;
  for (const id of s.removedTaskIds) {
    o.tasks.delete(id);
    o.upSince.delete(id);
  }
  for (const pb of s.tasks) {
    const t = taskFromPb(pb);
    o.tasks.set(t.id, t);
    noteUp(o, t, nowMs, s.runningForMs[t.id]);
  }
}

/** Polling: read the service, its tasks and its rollout once. */
async function poll(c: BerthClient, o: Followed, nowMs: number, opts: WaitOptions): Promise<void> {
  const t = o.target;
  try {
    const [svc, tasks, rollout] = await Promise.all([
      c.getService(t.namespace, t.name),
      c.listTasks({ namespace: t.namespace, service: t.name, all: true }),
      t.revision && opts.rollout ? opts.rollout(t) : Promise.resolve(undefined),
    ]);
    o.service = svc;
    o.waitingFor = undefined;
    const records = tasks.map(taskFromPb);
    o.tasks = new Map(records.map((r) => [r.id, r]));
    for (const id of [...o.upSince.keys()]) if (!o.tasks.has(id)) o.upSince.delete(id);
    for (const r of records) noteUp(o, r, nowMs, undefined);
    if (rollout) o.rollout = rollout;
  } catch (err) {
    failed(o, err);
  }
}

/** A failed read: deleted, transient (said, and tried again), or the end of the wait. */
function failed(o: Followed, err: unknown): void {
  if (err instanceof ApiError && err.code === grpcStatus.NOT_FOUND) o.deleted = true;
  else if (isUnreachable(err)) o.waitingFor = `waiting for the controller: ${(err as Error).message}`;
  else o.fatal = err;
}

export async function waitForServices(c: BerthClient, targets: readonly WaitTarget[], opts: WaitOptions): Promise<WaitOutcome[]> {
  const now = opts.now ?? (() => performance.now());
  const sleep = opts.sleep ?? realSleep;
  const settleMs = opts.settleMs ?? SETTLE_MS;
  const pollMs = opts.pollMs ?? WAIT_POLL_MS;
  const deadline = now() + opts.timeoutMs;
  const stop = new AbortController();
  let wake = new AbortController();
  const open = new Map<string, Followed>();
  const done: WaitOutcome[] = [];

  /** Follows one service by its watch, opening it again when it breaks, until the wait ends. */
  const follow = async (o: Followed, watch: WatchService): Promise<void> => {
    while (!stop.signal.aborted && open.has(o.key)) {
      o.fresh = true;
      try {
        await watch(
          o.target,
          (s) => {
            applyStep(o, s, now());
            wake.abort();
          },
          stop.signal,
        );
      } catch (err) {
        if (err instanceof ApiError && err.code === grpcStatus.UNIMPLEMENTED) {
          o.mode = 'poll';
          o.nextPollAt = now();
          wake.abort();
          return;
        }
        failed(o, err);
        wake.abort();
        if (o.fatal || o.deleted) return;
      }
      if (stop.signal.aborted || o.deleted) return;
      await sleep(WATCH_RETRY_MS, stop.signal);
    }
  };

  const following: Array<Promise<void>> = [];
  for (const t of targets) {
    const key = `${t.namespace}/${t.name}`;
    const o: Followed = {
      key,
      target: t,
      last: '',
      outcome: { target: t, phase: 'timeout' },
      mode: opts.watch ? 'watch' : 'poll',
      tasks: new Map(),
      upSince: new Map(),
      deleted: false,
      nextPollAt: 0,
      fresh: true,
    };
    open.set(key, o);
  }
  if (opts.watch) for (const o of open.values()) following.push(follow(o, opts.watch));

  try {
    for (;;) {
      // A step arriving from here on wakes the sleep below (none is lost while judging).
      wake = new AbortController();
      const fatal = [...open.values()].find((o) => o.fatal !== undefined);
      if (fatal) throw fatal.fatal;
      for (const o of open.values()) {
        if (o.mode === 'poll' && now() >= o.nextPollAt) {
          await poll(c, o, now(), opts);
          o.nextPollAt = now() + pollMs;
          if (o.fatal !== undefined) throw o.fatal;
        }
      }
      const nowMs = now();
      for (const [key, o] of open) {
        let line: string | undefined;
        if (o.deleted) {
          o.outcome = { target: o.target, phase: 'failed', reason: 'the service was deleted' };
          line = 'failed: the service was deleted';
        } else if (o.waitingFor) {
          line = o.waitingFor;
          o.outcome.reason = line;
        } else if (o.service) {
          const { convergence, revision } = judge(o, nowMs, settleMs);
          o.outcome = { target: o.target, phase: 'timeout', convergence, revision };
          if (convergence.phase === 'converged') {
            o.outcome.phase = 'converged';
            line = `converged: ${convergence.summary} (revision ${revision})`;
          } else if (convergence.phase === 'failed') {
            o.outcome.phase = 'failed';
            o.outcome.reason = convergence.reason ?? convergence.summary;
            line = `failed: ${o.outcome.reason}`;
          } else line = convergence.lastFailure ? `${convergence.summary}; last failure: ${convergence.lastFailure}` : convergence.summary;
        }
        if (line !== undefined && line !== o.last) {
          o.last = line;
          opts.onProgress?.(o.target, line);
        }
        if (o.outcome.phase !== 'timeout') {
          done.push(o.outcome);
          open.delete(key);
        }
      }
      if (open.size === 0 || done.some((d) => d.phase === 'failed')) break;
      if (now() >= deadline) break;
      // The next settle counts from the time judged by (a later reading could pass it unjudged).
      let until = deadline;
      for (const o of open.values()) until = Math.min(until, o.mode === 'poll' ? o.nextPollAt : nextSettle(o, nowMs, settleMs));
      // Rounded up: a timer may fire a fraction of a ms early, before the settle it waits for.
      await sleep(Math.max(0, Math.ceil(until - now())), wake.signal);
    }
  } finally {
    stop.abort();
    wake.abort();
    await Promise.allSettled(following);
  }
  const failedOne = done.some((d) => d.phase === 'failed');
  for (const o of open.values()) {
    const conv = o.outcome.convergence;
    const what = conv ? conv.summary : (o.outcome.reason ?? 'no answer from the controller');
    done.push(
      failedOne
        ? { ...o.outcome, phase: 'abandoned', reason: `not waited for further (another service failed): ${what}` }
        : { ...o.outcome, phase: 'timeout', reason: `not converged within ${formatDuration(opts.timeoutMs)}: ${what}` },
    );
  }
  return targets.map((t) => done.find((d) => d.target.namespace === t.namespace && d.target.name === t.name)!);
}

/** The error text of a wait that did not end well, one line per service; undefined when all converged. */
export function waitFailure(outcomes: readonly WaitOutcome[]): string | undefined {
  const bad = outcomes.filter((o) => o.phase !== 'converged');
  if (bad.length === 0) return undefined;
  return bad
    .map((o) => `service/${o.target.namespace}/${o.target.name}: ${o.phase === 'timeout' ? 'timed out' : o.phase}: ${o.reason ?? ''}`)
    .join('\n');
}
