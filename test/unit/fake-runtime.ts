// An in-memory ContainerRuntime with Docker's observable semantics as DockerRuntime exposes
// them: names are unique (a second create is ContainerExistsError, Docker's 409), start of a
// running container and stop of a stopped or missing one are no-ops, remove forces and ignores a
// missing container. Every call is logged so tests assert on what the agent did.
import type { PortBinding } from '../../proto/src/model.js';
import {
  ContainerExistsError,
  type ContainerEvent,
  type ContainerInfo,
  type EventFilter,
  type ContainerSummary,
  type ContainerRuntime,
  type CreateRequest,
  type EngineInfo,
  type ExecResult,
  type PullAuth,
} from '../../agent/src/runtime/runtime.js';

export interface FakeContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  image: string;
  state: 'created' | 'running' | 'exited' | 'dead';
  exitCode: number;
  startedAtMs: number;
  finishedAtMs: number;
  ports: PortBinding[];
  error: string;
  /** The kernel killed it out of memory (the engine's State.OOMKilled). */
  oomKilled?: boolean;
  /** The engine's view of the image's HEALTHCHECK ('' without one). */
  health?: string;
  ipAddress?: string;
}

export type CallOp =
  'info' | 'hasImage' | 'pullImage' | 'create' | 'start' | 'stop' | 'remove' | 'inspect' | 'list' | 'summaries' | 'events' | 'execCheck';

export interface Call {
  op: CallOp;
  /** Image, container id/name, or JSON of the label filter. */
  arg: string;
  graceMs?: number;
}

/** Calls that change the engine (everything but reads). */
export const WRITE_OPS: readonly CallOp[] = ['pullImage', 'create', 'start', 'stop', 'remove'];

export class FakeRuntime implements ContainerRuntime {
  readonly containers = new Map<string, FakeContainer>();
  readonly images = new Set<string>();
  readonly calls: Call[] = [];
  /** Thrown by the next pullImage (then cleared). */
  pullError: Error | undefined;
  /** Runs inside create() before the name check: lets a test race a create. */
  beforeCreate: ((req: CreateRequest) => void) | undefined;
  /** Answers execCheck (default: exit 0). */
  execResult: (id: string, command: string[]) => ExecResult = () => ({ exitCode: 0, output: '' });
  /** Credentials each pullImage call was given. */
  readonly pullAuths: Array<PullAuth | undefined> = [];
  /** Pulls wait (for releasePulls or their abort signal) instead of finishing at once. */
  pullsHang = false;
  readonly releasePulls: Array<() => void> = [];
  /** Images whose pull was aborted through its signal. */
  readonly abortedPulls: string[] = [];
  /** Exit code a stopped container reports (SIGTERM'd shells exit 143). */
  stopExitCode = 143;
  private seq = 0;

  constructor(private readonly now: () => number = () => 0) {}

  // ---- test helpers (not logged) ----

  /** Puts a container on the engine as if it had been created earlier. */
  seed(c: Partial<FakeContainer> & Pick<FakeContainer, 'name' | 'labels'>): FakeContainer {
    const full: FakeContainer = {
      id: c.id ?? this.newId(),
      image: 'berth-local/web:1',
      state: 'running',
      exitCode: 0,
      startedAtMs: this.now() || 1,
      finishedAtMs: 0,
      ports: [],
      error: '',
      ...c,
    };
    this.containers.set(full.id, full);
    return full;
  }

  /** The container's process ended on its own. */
  exit(id: string, code: number, error = ''): void {
    const c = this.must(id);
    c.state = 'exited';
    c.exitCode = code;
    c.error = error;
    c.oomKilled = false;
    c.finishedAtMs = this.now();
  }

  /** The kernel killed the container's process for exceeding its memory limit (SIGKILL: 137). */
  oomKill(id: string): void {
    this.exit(id, 137);
    this.must(id).oomKilled = true;
  }

  byName(name: string): FakeContainer | undefined {
    for (const c of this.containers.values()) if (c.name === name) return c;
    return undefined;
  }

  callsOf(op: CallOp): Call[] {
    return this.calls.filter((c) => c.op === op);
  }

  /** The engine-changing calls, as `op arg` strings. */
  writes(): string[] {
    return this.calls.filter((c) => WRITE_OPS.includes(c.op)).map((c) => `${c.op} ${c.arg}`);
  }

  // ---- ContainerRuntime ----

  async info(): Promise<EngineInfo> {
    this.calls.push({ op: 'info', arg: '' });
    return { hostname: 'fake', engineVersion: 'fake-1', os: 'linux', arch: 'amd64', cpus: 4, memoryBytes: 8 * 2 ** 30 };
  }

  async hasImage(ref: string): Promise<boolean> {
    this.calls.push({ op: 'hasImage', arg: ref });
    return this.images.has(ref);
  }

  async pullImage(ref: string, signal?: AbortSignal, auth?: PullAuth): Promise<void> {
    this.calls.push({ op: 'pullImage', arg: ref });
    this.pullAuths.push(auth);
    if (this.pullsHang) {
      // A registry that never answers: the pull ends only when aborted, or when a test releases it.
      await new Promise<void>((resolve, reject) => {
        this.releasePulls.push(resolve);
        signal?.addEventListener(
          'abort',
          () => {
            this.abortedPulls.push(ref);
            reject(new Error('aborted'));
          },
          { once: true },
        );
      });
    }
    const err = this.pullError;
    if (err) {
      this.pullError = undefined;
      throw err;
    }
    this.images.add(ref);
  }

  async create(req: CreateRequest): Promise<string> {
    this.calls.push({ op: 'create', arg: req.name });
    this.beforeCreate?.(req);
    if (this.byName(req.name)) throw new ContainerExistsError(req.name);
    const c = this.seed({ name: req.name, labels: { ...req.labels }, image: req.spec.image, state: 'created', startedAtMs: 0 });
    return c.id;
  }

  async start(id: string): Promise<void> {
    this.calls.push({ op: 'start', arg: id });
    const c = this.must(id);
    if (c.state === 'running') return;
    c.state = 'running';
    c.startedAtMs = this.now() || 1;
    c.exitCode = 0;
    c.oomKilled = false; // as the engine: a new run clears it
  }

  async stop(id: string, graceMs: number): Promise<void> {
    this.calls.push({ op: 'stop', arg: id, graceMs });
    const c = this.find(id);
    if (!c || c.state !== 'running') return;
    c.state = 'exited';
    c.exitCode = this.stopExitCode;
    c.oomKilled = false;
    c.finishedAtMs = this.now();
  }

  async remove(id: string): Promise<void> {
    this.calls.push({ op: 'remove', arg: id });
    const c = this.find(id);
    if (c) this.containers.delete(c.id);
  }

  async inspect(idOrName: string): Promise<ContainerInfo | undefined> {
    this.calls.push({ op: 'inspect', arg: idOrName });
    const c = this.find(idOrName);
    return c ? this.info_(c) : undefined;
  }

  async execCheck(id: string, command: string[]): Promise<ExecResult> {
    this.calls.push({ op: 'execCheck', arg: id });
    return this.execResult(id, command);
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    this.calls.push({ op: 'list', arg: JSON.stringify(labels) });
    return [...this.containers.values()]
      .filter((c) => Object.entries(labels).every(([k, v]) => c.labels[k] === v))
      .map((c) => this.info_(c));
  }

  async summaries(labels: Record<string, string>): Promise<ContainerSummary[]> {
    this.calls.push({ op: 'summaries', arg: JSON.stringify(labels) });
    return [...this.containers.values()]
      .filter((c) => Object.entries(labels).every(([k, v]) => c.labels[k] === v))
      .map((c) => ({ id: c.id, name: c.name, labels: { ...c.labels }, state: c.state, running: c.state === 'running' }));
  }

  async events(filter: EventFilter, _onEvent: (e: ContainerEvent) => void, signal: AbortSignal): Promise<void> {
    this.calls.push({ op: 'events', arg: JSON.stringify(filter.labels) });
    if (signal.aborted) return;
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  private find(idOrName: string): FakeContainer | undefined {
    return this.containers.get(idOrName) ?? this.byName(idOrName);
  }

  private must(id: string): FakeContainer {
    const c = this.find(id);
    if (!c) throw new Error(`no such container: ${id}`);
    return c;
  }

  private newId(): string {
    return `c${String(++this.seq).padStart(4, '0')}`;
  }

  private info_(c: FakeContainer): ContainerInfo {
    return {
      id: c.id,
      name: c.name,
      labels: { ...c.labels },
      state: c.state,
      running: c.state === 'running',
      exitCode: c.exitCode,
      oomKilled: c.oomKilled ?? false,
      startedAtMs: c.startedAtMs,
      finishedAtMs: c.finishedAtMs,
      ports: c.ports.map((p) => ({ ...p })),
      error: c.error,
      ipAddress: c.ipAddress ?? '',
      networkMode: 'bridge',
      health: c.health ?? '',
    };
  }
}
