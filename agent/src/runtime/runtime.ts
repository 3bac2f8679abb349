// ContainerRuntime: what the agent needs from a container engine. DockerRuntime (dockerode) is
// the real one; tests and hollow agents use fakes. Narrow on purpose.
import type { PolicyGrants } from '../../../proto/src/security/workload-policy.js';
import type { PortBinding } from '../../../proto/src/model.js';
import type { ServiceSpec } from '../../../proto/src/spec/service.js';

export interface EngineInfo {
  hostname: string;
  engineVersion: string;
  os: string;
  arch: string;
  cpus: number;
  memoryBytes: number;
}

export interface ContainerInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** Docker's state: created, running, paused, restarting, removing, exited, dead. */
  state: string;
  running: boolean;
  exitCode: number;
  /** The kernel killed a process of it for exceeding its memory (Docker's State.OOMKilled). */
  oomKilled?: boolean;
  /** 0 when never started. */
  startedAtMs: number;
  finishedAtMs: number;
  ports: PortBinding[];
  /** Error the engine recorded for the last start, if any. */
  error: string;
  /** The container's address on its (first) network; '' without one. */
  ipAddress?: string;
  /** Docker's network mode (bridge, host, none, a network name). */
  networkMode?: string;
  /** State of the image's own HEALTHCHECK as the engine runs it: starting, healthy, unhealthy; '' without one. */
  health?: string;
  /** Output of the engine's last health check (for messages). */
  healthOutput?: string;
}

/** What one listing of the engine's containers tells, without inspecting each of them. */
export type ContainerSummary = Pick<ContainerInfo, 'id' | 'name' | 'labels' | 'state' | 'running'>;

/** Credentials for one pull (from the task's assignment; never logged). */
export interface PullAuth {
  server: string;
  username: string;
  password: string;
}

export interface ExecResult {
  exitCode: number;
  /** The start of what the command printed (for messages). */
  output: string;
}

export interface CreateRequest {
  name: string;
  labels: Record<string, string>;
  spec: ServiceSpec;
  /** The task's namespace and what its Policies allow: the agent checks the spec against them again. */
  namespace?: string;
  grants?: PolicyGrants;
}

/** Which container events to stream: the engine filters them (nothing else reaches the agent). */
export interface EventFilter {
  /** Containers carrying all of these labels. */
  labels: Record<string, string>;
  /** Only these actions (die, oom, destroy, health_status, ...). */
  actions: readonly string[];
}

export interface ContainerEvent {
  /** start, die, stop, kill, oom, destroy, health_status, ... */
  action: string;
  containerId: string;
  labels: Record<string, string>;
  /** When the engine recorded the event (its clock, ms); 0 when it did not say. */
  timeMs: number;
}

/** The container exists already under that name (a retried create); `id` is the existing one. */
export class ContainerExistsError extends Error {
  override readonly name = 'ContainerExistsError';
  constructor(readonly containerName: string) {
    super(`container ${containerName} exists`);
  }
}

/** The engine cannot be reached (socket gone, daemon restarting): retry with backoff. */
export class EngineUnavailableError extends Error {
  override readonly name = 'EngineUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface ContainerRuntime {
  info(): Promise<EngineInfo>;
  /** True when the image is on the engine. */
  hasImage(ref: string): Promise<boolean>;
  pullImage(ref: string, signal?: AbortSignal, auth?: PullAuth): Promise<void>;
  /** Creates the container; ContainerExistsError if the name is taken. */
  create(req: CreateRequest): Promise<string>;
  start(id: string): Promise<void>;
  /** Sends the container's stop signal (set at create), then SIGKILL after graceMs. */
  stop(id: string, graceMs: number): Promise<void>;
  remove(id: string): Promise<void>;
  /** undefined when no such container. */
  inspect(idOrName: string): Promise<ContainerInfo | undefined>;
  /** Runs a command in a running container (health checks); rejects after timeoutMs. */
  execCheck(id: string, command: string[], timeoutMs: number): Promise<ExecResult>;
  /** Containers carrying all of these labels, running or not (inspects each one). */
  list(labels: Record<string, string>): Promise<ContainerInfo[]>;
  /** The same containers from one engine call, without inspecting them (the periodic resync). */
  summaries(labels: Record<string, string>): Promise<ContainerSummary[]>;
  /** Streams the container events the filter selects until the signal aborts or the stream breaks. */
  events(filter: EventFilter, onEvent: (e: ContainerEvent) => void, signal: AbortSignal): Promise<void>;
}
