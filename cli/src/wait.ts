// Waiting for services to converge (`apply --wait`, `scale --wait`): poll each service and its
// tasks, judge with the pure evaluateConvergence, report progress when it changes, stop at the
// first of: all converged, one failed for good, the timeout. Bounded in time; a controller that
// stops answering for a while only delays the verdict.
import { status as grpcStatus } from '@grpc/grpc-js';
import { taskFromPb } from '../../proto/src/convert.js';
import { evaluateConvergence, foldRollout, type Convergence, type RolloutView } from '../../proto/src/convergence.js';
import type { TaskRecord } from '../../proto/src/model.js';
import type { ServiceSpec } from '../../proto/src/spec/service.js';
import { formatDuration, parseDuration } from '../../proto/src/spec/units.js';
import { ApiError, isUnreachable, type BerthClient } from './client.js';

/** How often a waiting CLI looks: fast enough to feel live, slow enough to cost the controller nothing. */
export const WAIT_POLL_MS = 500;
/** Default --timeout of a wait: long enough for image pulls and rolling updates of a few replicas. */
export const DEFAULT_WAIT_TIMEOUT = '5m';
/**
 * A task counts as running once this CLI has seen it running for this long: a container whose
 * command fails at once (bad arguments, missing file) is caught instead of being called converged.
 * Measured on the CLI's own clock, so clock skew between hosts does not matter.
 */
export const STABLE_MS = 3_000;

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

export interface WaitOptions {
  timeoutMs: number;
  pollMs?: number;
  /** Called with a line for people each time a service's progress changes. */
  onProgress?: (target: WaitTarget, line: string) => void;
  /** Injected for tests; the real clock otherwise. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Default STABLE_MS. */
  stableMs?: number;
  /** The rollout state of a service (RolloutAPI), when the controller has one. */
  rollout?: (t: WaitTarget) => Promise<RolloutView | undefined>;
}

/** Parses --timeout (a duration with unit, e.g. 90s, 5m). */
export function parseTimeout(text: string): number | string {
  const ms = parseDuration(text);
  if (typeof ms === 'string') return ms;
  if (ms <= 0) return 'must be more than 0s';
  return ms;
}

/** When this CLI first saw each task running (task id → ms); forgotten when it stops running. */
type RunningSince = Map<string, number>;

async function judge(c: BerthClient, t: WaitTarget, seen: RunningSince, nowMs: number, opts: WaitOptions): Promise<{ convergence: Convergence; revision: number }> {
  const stableMs = opts.stableMs ?? STABLE_MS;
  const [svc, tasks, rollout] = await Promise.all([
    c.getService(t.namespace, t.name),
    c.listTasks({ namespace: t.namespace, service: t.name, all: true }),
    t.revision && opts.rollout ? opts.rollout(t) : Promise.resolve(undefined),
  ]);
  const view = { uid: svc.meta?.uid ?? '', specRevision: svc.specRevision, spec: JSON.parse(svc.specJson) as ServiceSpec, deleting: svc.deleting };
  const records = tasks.map(taskFromPb);
  for (const r of records) {
    if (r.status.state === 'running') {
      if (!seen.has(r.id)) seen.set(r.id, nowMs);
    } else seen.delete(r.id);
  }
  const isStable = (r: TaskRecord): boolean => nowMs - (seen.get(r.id) ?? nowMs) >= stableMs;
  const convergence = evaluateConvergence(view, records, { isStable });
  if (t.revision && rollout) foldRollout(convergence, t.revision, rollout);
  return { convergence, revision: svc.specRevision };
}

const transient = isUnreachable;

export async function waitForServices(c: BerthClient, targets: readonly WaitTarget[], opts: WaitOptions): Promise<WaitOutcome[]> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + opts.timeoutMs;
  const open = new Map<string, { target: WaitTarget; last: string; outcome: WaitOutcome; seen: RunningSince }>();
  const done: WaitOutcome[] = [];
  for (const t of targets) open.set(`${t.namespace}/${t.name}`, { target: t, last: '', outcome: { target: t, phase: 'timeout' }, seen: new Map() });

  for (;;) {
    for (const [key, o] of open) {
      let line: string;
      try {
        const { convergence, revision } = await judge(c, o.target, o.seen, now(), opts);
        o.outcome = { target: o.target, phase: 'timeout', convergence, revision };
        if (convergence.phase === 'converged') {
          o.outcome.phase = 'converged';
          line = `converged: ${convergence.summary} (revision ${revision})`;
        } else if (convergence.phase === 'failed') {
          o.outcome.phase = 'failed';
          o.outcome.reason = convergence.reason ?? convergence.summary;
          line = `failed: ${o.outcome.reason}`;
        } else line = convergence.lastFailure ? `${convergence.summary}; last failure: ${convergence.lastFailure}` : convergence.summary;
      } catch (err) {
        if (err instanceof ApiError && err.code === grpcStatus.NOT_FOUND) {
          o.outcome = { target: o.target, phase: 'failed', reason: 'the service was deleted' };
          line = 'failed: the service was deleted';
        } else if (transient(err)) {
          line = `waiting for the controller: ${(err as Error).message}`;
          o.outcome.reason = line;
        } else throw err;
      }
      if (line !== o.last) {
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
    await sleep(Math.min(opts.pollMs ?? WAIT_POLL_MS, Math.max(0, deadline - now())));
  }
  const failed = done.some((d) => d.phase === 'failed');
  for (const o of open.values()) {
    const conv = o.outcome.convergence;
    const what = conv ? conv.summary : o.outcome.reason ?? 'no answer from the controller';
    done.push(failed
      ? { ...o.outcome, phase: 'abandoned', reason: `not waited for further (another service failed): ${what}` }
      : { ...o.outcome, phase: 'timeout', reason: `not converged within ${formatDuration(opts.timeoutMs)}: ${what}` });
  }
  return targets.map((t) => done.find((d) => d.target.namespace === t.namespace && d.target.name === t.name)!);
}

/** The error text of a wait that did not end well, one line per service; undefined when all converged. */
export function waitFailure(outcomes: readonly WaitOutcome[]): string | undefined {
  const bad = outcomes.filter((o) => o.phase !== 'converged');
  if (bad.length === 0) return undefined;
  return bad.map((o) => `service/${o.target.namespace}/${o.target.name}: ${o.phase === 'timeout' ? 'timed out' : o.phase}: ${o.reason ?? ''}`).join('\n');
}
