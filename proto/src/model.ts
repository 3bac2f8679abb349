// The objects Berth stores (as JSON in etcd) and passes between its parts.
import type { PolicySpec } from './spec/policy.js';
import type { ContainerPhase, DesiredState, NodeAvailability, NodeState, TaskState } from './types.js';
import type { ServiceSpec } from './spec/service.js';

export interface ObjectMeta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  /** New for every incarnation of the name. */
  uid: string;
  createdAtMs: number;
  updatedAtMs: number;
}

/** Desired state of a service, written by the API. */
export interface ServiceRecord {
  meta: ObjectMeta;
  spec: ServiceSpec;
  /** Berth revision number of `spec` (1, 2, ...). */
  specRevision: number;
  /** Set by delete: tasks are shut down, then the records are removed. */
  deleting: boolean;
  /** Bumped by `berth rollout restart`: tasks of an older generation are replaced by the rolling update. */
  restartGeneration?: number;
}

/** One stored revision of a service spec (the last ten are kept). */
export interface RevisionRecord {
  namespace: string;
  name: string;
  specRevision: number;
  spec: ServiceSpec;
  labels: Record<string, string>;
  createdAtMs: number;
  cause: string;
}

export interface PortBinding {
  containerPort: number;
  hostPort: number;
  protocol: string;
  hostIp: string;
}

export interface TaskStatus {
  state: TaskState;
  message: string;
  err?: string;
  containerId?: string;
  ports?: PortBinding[];
  timestampMs: number;
  exitCode?: number;
  startedAtMs?: number;
  health?: string;
  /** Times the agent restarted this task's container in place (restart policy). */
  restarts?: number;
  /**
   * Failures in a row of the slot behind this status, as the agent's restart policy counts them:
   * the task's priorFailures plus its in-place restarts, started over after a healthy period
   * (restart.backoff.resetAfter). Absent: priorFailures + restarts (no reset happened).
   */
  failuresInRow?: number;
  /** State `running` only: whether the container is up or waiting for its in-place restart (absent: up). */
  container?: ContainerPhase;
  /**
   * The end this status reports (with `exitCode`) was a kill by the kernel for exceeding the
   * container's memory: the engine's State.OOMKilled. Absent otherwise, and once it runs again.
   */
  oomKilled?: boolean;
}

/** One replica slot's incarnation. Written by the leader; its status comes from the agent. */
export interface TaskRecord {
  id: string;
  namespace: string;
  service: string;
  serviceUid: string;
  /** 1..replicas for replicated services. */
  slot: number;
  /** '' until placed. */
  nodeId: string;
  specRevision: number;
  desiredState: DesiredState;
  /** Copy of the service spec at specRevision: what the agent runs. */
  spec: ServiceSpec;
  containerName: string;
  createdAtMs: number;
  status: TaskStatus;
  /** Failures in a row of this slot before this task (its restart backoff goes on from there). */
  priorFailures?: number;
  /** Nodes where this slot failed repeatedly: the scheduler ranks them last. */
  avoidNodes?: string[];
  /** The service's restartGeneration when this task was created. */
  restartGeneration?: number;
  /** Global services: the one node this task may be placed on (the scheduler still checks it fits). */
  targetNodeId?: string;
  /**
   * Start-first move (drain, rebalance): the id of the older live task of the same slot that
   * keeps running until this one runs; then it is shut down.
   */
  handoverFrom?: string;
}

export interface Resources {
  /** Thousandths of a CPU. */
  cpuMilli: number;
  memoryBytes: number;
}

export interface NodeDescription {
  hostname: string;
  capacity: Resources;
  engineVersion: string;
  os: string;
  arch: string;
  labels: Record<string, string>;
  address: string;
  agentVersion: string;
  /** Host paths services may bind-mount here (agent --allow-host-path); absent: none. */
  allowedHostPaths?: string[];
  /** host:port of the agent's /metrics; '' when it serves none. */
  metricsAddress?: string;
  /** host:port of the agent's AgentAPI (logs, exec, stats) that controllers call; '' when none. */
  apiAddress?: string;
}

export interface NodeRecord {
  id: string;
  description: NodeDescription;
  state: NodeState;
  availability: NodeAvailability;
  /** Operator labels; override agent labels of the same key. */
  labels: Record<string, string>;
  stateChangedAtMs: number;
  message: string;
  /**
   * Set when the node leaves `ready`: the last time a leader heard from its agent (or, for a
   * node a new leader never heard from, when that leader took over). waitForNode replacements
   * count their fencing deadline from it.
   */
  lastContactMs?: number;
  /**
   * Set when the node left `ready` because its agent's session closed while its heartbeats were
   * still current: the agent process ended (killed, crashed, restarting) while the host and its
   * engine stayed up. Nothing fences that host's containers until an agent runs there again, so
   * its waitForNode tasks wait for the node, however long it is down. Cleared when it is ready.
   */
  agentExited?: boolean;
  /**
   * Host ports found held by something other than Berth (a task failed to bind them). The
   * scheduler keeps tasks needing them off the node until `untilMs`; see controller/src/scheduler/ports.ts.
   */
  unavailablePorts?: UnavailablePort[];
}

export interface UnavailablePort {
  protocol: string;
  port: number;
  /** '' for every address of the node. */
  hostIp: string;
  untilMs: number;
  /** Consecutive failures: the hold doubles with each. */
  failures: number;
}

/** A stored object with the store revisions it was read at. */
export interface Versioned<T> {
  value: T;
  modRevision: number;
  createRevision: number;
}

export function taskIsLive(t: Pick<TaskRecord, 'desiredState'>): boolean {
  return t.desiredState === 'running';
}

/** One key of a secret as anyone may see it: its name and size, never its value. */
export interface SecretKeyInfo {
  name: string;
  sizeBytes: number;
}

/** A value sealed with AES-256-GCM (controller/src/secrets/cipher.ts); all fields base64. */
export interface SealedValue {
  alg: 'aes-256-gcm';
  /** Which key sealed it: the first 16 hex digits of the key's SHA-256. */
  keyId: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

/** A workload Policy as stored (policies/<ns>/<name>): the exceptions to the baseline it allows. */
export interface PolicyRecord {
  meta: ObjectMeta;
  spec: PolicySpec;
}

/** A Secret as stored (secrets/<ns>/<name>): metadata in the clear, the values sealed. */
export interface SecretRecord {
  meta: ObjectMeta;
  keys: SecretKeyInfo[];
  /** 1 at creation, +1 for every change of the values or labels. */
  version: number;
  /** JSON of {key: base64 value}, sealed. */
  sealed: SealedValue;
}
