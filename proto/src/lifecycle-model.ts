// Records of rollouts and registry credentials, stored by the controller (keys.ts says where).
import type { ServiceRecord, TaskRecord } from './model.js';
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
  message: string;
  startedAtMs: number;
  updatedAtMs: number;
}

/** A registry login held by the controller; the password goes only to agents that pull with it. */
export interface RegistryCredentialRecord {
  namespace: string;
  name: string;
  server: string;
  username: string;
  password: string;
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
export function isOutdated(t: Pick<TaskRecord, 'specRevision' | 'spec' | 'restartGeneration'>, svc: Pick<ServiceRecord, 'specRevision' | 'spec' | 'restartGeneration'>): boolean {
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
  return s.state === 'failed' || s.state === 'rejected' || (s.restarts ?? 0) > 0 || s.health === 'unhealthy' || (s.state === 'preparing' && !!s.err);
}
