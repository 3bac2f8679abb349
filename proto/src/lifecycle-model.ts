// Records of rollouts and registry credentials, stored by the controller (keys.ts says where).
import type { SealedValue, ServiceRecord, TaskRecord } from './model.js';
import { taskSpecKey, type ServiceSpec } from './spec/service.js';

/**
 * Failures in a row of a slot before its task `t` ended: what restart backoff and maxAttempts
 * count. A container that ran healthy for restart.backoff.resetAfter starts the count over, so a
 * long-lived replica that an engine restart or two stopped is not treated as crash looping.
 */
export function failuresInRow(t: Pick<TaskRecord, 'priorFailures' | 'status'>): number {
  return t.status.failuresInRow ?? (t.priorFailures ?? 0) + (t.status.restarts ?? 0);
}

/**
 * State of a service's newest rollout (as Docker Swarm's UpdateStatus):
 * updating → completed, or → paused (by the user or failureAction pause), or → rollback_started
 * (automatic rollback: a new revision with the previous spec) → rollback_completed | rollback_paused.
 */
export type RolloutState = 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';

export interface RolloutRecord {
  namespace: string;
  name: string;
  /** Revision being rolled out. */
  revision: number;
  /** The revision that ran everywhere before this rollout: where an automatic rollback goes (0: none). */
  previousRevision: number;
  state: RolloutState;
  /** User intent (`berth rollout pause`), kept across revisions until `resume`; also set by failureAction pause. */
  paused: boolean;
  /** Slots whose new task failed during this rollout. */
  failedSlots: number[];
  /** Set on an automatic rollback: the revision that failed. */
  rollbackOf?: number;
  /** Set on an automatic rollback: why that revision failed (kept in the message once it completes). */
  rollbackReason?: string;
  message: string;
  startedAtMs: number;
  updatedAtMs: number;
  /**
   * The last progress of this rollout: its start, a resume, a new task turning ready or an old one
   * retired. update.progressDeadline counts from here. Stored (not only in the leader's memory), so
   * a new leader goes on counting where the old one was. Absent in records of older versions: startedAtMs.
   */
  progressAtMs?: number;
  /** What progress is measured against: slots with a ready new task and live outdated tasks, at the last pass. */
  progressMark?: { updated: number; outdated: number };
  /** The progressDeadline passed and failureAction continue kept the rollout going; cleared by progress. */
  deadlineExceeded?: boolean;
}

/** A registry login held by the controller; the password goes only to agents that pull with it. */
export interface RegistryCredentialRecord {
  namespace: string;
  name: string;
  server: string;
  username: string;
  /** The password, sealed with the controller's key (aad registry/<ns>/<name>). */
  sealed?: SealedValue;
  /** Records written before sealing held the password in the clear; setting it again seals it. */
  password?: string;
  updatedAtMs: number;
}

/**
 * taskSpecKey per spec object. Records are never mutated (a change is a new object), and the
 * planners ask about the same task's spec many times per pass and once per pass per status
 * change: during a rollout of 100 replicas, serialising each time was most of the controller's CPU.
 */
const specKeys = new WeakMap<ServiceSpec, string>();

function specKey(spec: ServiceSpec): string {
  let k = specKeys.get(spec);
  if (k === undefined) specKeys.set(spec, (k = taskSpecKey(spec)));
  return k;
}

/** A live task runs what the service asks for now (a scale-only change replaces nothing). */
export function isOutdated(
  t: Pick<TaskRecord, 'specRevision' | 'spec' | 'restartGeneration'>,
  svc: Pick<ServiceRecord, 'specRevision' | 'spec' | 'restartGeneration'>,
): boolean {
  if ((t.restartGeneration ?? 0) < (svc.restartGeneration ?? 0)) return true;
  return t.specRevision !== svc.specRevision && specKey(t.spec) !== specKey(svc.spec);
}

/** Ready: the container runs (is not waiting for a restart) and, when it has a health check, the check passes. */
export function isReady(t: Pick<TaskRecord, 'desiredState' | 'status'>): boolean {
  const s = t.status;
  return t.desiredState === 'running' && s.state === 'running' && s.container !== 'backoff' && (!s.health || s.health === 'healthy');
}

/** A sign that a task failed: ended, restarted, unhealthy, or its image could not be pulled. */
export function hasFailed(t: Pick<TaskRecord, 'status'>): boolean {
  const s = t.status;
  return (
    s.state === 'failed' ||
    s.state === 'rejected' ||
    (s.restarts ?? 0) > 0 ||
    s.health === 'unhealthy' ||
    (s.state === 'preparing' && !!s.err)
  );
}

/** The scheduler's message on a task it could not place (a reason per node follows). */
export const UNPLACED_PREFIX = 'no suitable node: ';

/** A task waiting for placement that the scheduler could not place, with its reason. */
export function isUnplaced(t: Pick<TaskRecord, 'nodeId' | 'status'>): boolean {
  return t.nodeId === '' && t.status.state === 'pending' && t.status.message.startsWith(UNPLACED_PREFIX);
}

/** The name people see for a task: SERVICE.SLOT, or SERVICE.NODE for a global service (as `get tasks`). */
export function taskName(t: Pick<TaskRecord, 'service' | 'slot' | 'targetNodeId' | 'nodeId'>): string {
  return `${t.service}.${t.slot > 0 ? t.slot : t.targetNodeId || t.nodeId || t.slot}`;
}

/**
 * What the new tasks of a rollout's step wait for, one clause per distinct state and message:
 * "web.2, web.3 pending: no suitable node: 1 node: port 8081/tcp taken by default/web".
 * `stuck`: there is at least one, and none of them can be placed (waiting will not help until
 * capacity comes).
 */
export function describeWaiting(tasks: readonly TaskRecord[]): { stuck: boolean; reason: string } {
  const groups = new Map<string, string[]>();
  for (const t of tasks) {
    const what = `${t.status.state}: ${t.status.message || t.status.state}${t.status.err && !t.status.message.includes(t.status.err) ? ` (${t.status.err})` : ''}`;
    groups.set(what, [...(groups.get(what) ?? []), taskName(t)]);
  }
  const reason = [...groups].map(([what, names]) => `${names.join(', ')} ${what}`).join('; ');
  return { stuck: tasks.length > 0 && tasks.every(isUnplaced), reason };
}
