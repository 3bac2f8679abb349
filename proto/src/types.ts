// States of tasks and nodes: explicit, documented and monotonic.

/**
 * Observed state of a task, reported by the controller (before placement) and by the agent.
 * Order matters: a task's state only moves forward along TASK_STATE_ORDER.
 */
export type TaskState =
  /** Created by the orchestrator, waiting for the scheduler to place it. */
  | 'pending'
  /** Placed on a node; the agent has not acted on it yet. */
  | 'assigned'
  /** The agent is preparing it: image present or being pulled, container being created. */
  | 'preparing'
  /** Container created and being started for the first time. */
  | 'starting'
  /**
   * The container has started. The task stays `running` through in-place restarts (as a
   * Kubernetes Pod stays Running while its container is in CrashLoopBackOff): `status.container`
   * says whether the container is up or waiting for its restart, and `status.restarts` counts the
   * restarts. Within `running`, (restarts, container) only moves forward too (statusOrder).
   */
  | 'running'
  /** Container exited with code 0 on its own. */
  | 'complete'
  /** Container exited non-zero, could not be created or started, or its check failed. */
  | 'failed'
  /** Container stopped because the desired state said so. */
  | 'shutdown'
  /** The agent refused the task (e.g. invalid for this node). */
  | 'rejected'
  /** The node was lost; the task is considered gone (it may come back when the node does). */
  | 'orphaned';

export const TASK_STATE_ORDER: readonly TaskState[] = [
  'pending',
  'assigned',
  'preparing',
  'starting',
  'running',
  'complete',
  'failed',
  'shutdown',
  'rejected',
  'orphaned',
];

const RANK = new Map<string, number>(TASK_STATE_ORDER.map((s, i) => [s, i]));

export function taskStateRank(state: string): number {
  return RANK.get(state) ?? -1;
}

export function isTaskState(state: string): state is TaskState {
  return RANK.has(state);
}

/** Terminal states: the container is gone or will never run again under this task. */
export function isTerminal(state: string): boolean {
  return taskStateRank(state) >= taskStateRank('complete');
}

/** True when moving from `from` to `to` goes forward (terminal states never move). */
export function isForwardTransition(from: string, to: string): boolean {
  if (isTerminal(from)) return false;
  return taskStateRank(to) >= taskStateRank(from);
}

/**
 * What the container of a `running` task is doing. Each in-place restart n is reported as
 * (restarts n, `backoff`), then (restarts n, `up`) once the container has stayed up a moment:
 * a crash loop costs one status write per restart.
 */
export type ContainerPhase =
  /** The container runs. */
  | 'up'
  /** The container ended (or was stopped as unhealthy) and is restarted in place after a backoff. */
  | 'backoff';

export const CONTAINER_PHASE_ORDER: readonly ContainerPhase[] = ['backoff', 'up'];

export function isContainerPhase(s: string): s is ContainerPhase {
  return (CONTAINER_PHASE_ORDER as readonly string[]).includes(s);
}

/**
 * How far a status has come: task state first, then (for `running`) restarts, then the container
 * phase. A report that compares lower than what is stored goes backwards.
 */
export function statusOrder(
  a: { state: string; restarts?: number; container?: string },
  b: { state: string; restarts?: number; container?: string },
): number {
  const byState = taskStateRank(a.state) - taskStateRank(b.state);
  if (byState !== 0) return byState;
  const byRestarts = (a.restarts ?? 0) - (b.restarts ?? 0);
  if (byRestarts !== 0) return byRestarts;
  const phase = (s: { container?: string }): number => CONTAINER_PHASE_ORDER.indexOf((s.container ?? 'up') as ContainerPhase);
  return phase(a) - phase(b);
}

/**
 * Desired state of a task, written by the controller. It only moves forward:
 * running → shutdown (stop the container) → remove (also remove it; the record may then go).
 */
export type DesiredState = 'running' | 'shutdown' | 'remove';

export const DESIRED_ORDER: readonly DesiredState[] = ['running', 'shutdown', 'remove'];

export function desiredRank(state: string): number {
  return DESIRED_ORDER.indexOf(state as DesiredState);
}

/** Node liveness as the leader sees it. */
export type NodeState =
  /** Session open and heartbeats on time. */
  | 'ready'
  /** Session broken or heartbeats late: not yet declared dead, nothing is replaced. */
  | 'unknown'
  /** Unknown for longer than the grace period: its tasks are replaced elsewhere. */
  | 'down';

/** Operator intent for a node. */
export type NodeAvailability =
  /** Takes new tasks. */
  | 'active'
  /** Keeps its tasks, takes no new ones. */
  | 'pause'
  /** Its tasks are moved elsewhere; takes no new ones. */
  | 'drain';
