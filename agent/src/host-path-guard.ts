// A ContainerRuntime that refuses to create a container bind-mounting a host path the node does
// not allow. The refusal is a HostPathRefusedError: the task runner reports the task rejected
// with its message (which names the path). A path that exists is checked again after resolving
// symlinks, so a link under an allowed root cannot point the mount elsewhere.
import { realpath } from 'node:fs/promises';
import { bindSources, isAllowed, refusal } from './host-paths.js';
import type {
  ContainerEvent,
  ContainerInfo,
  ContainerRuntime,
  ContainerSummary,
  CreateRequest,
  EngineInfo,
  EventFilter,
  ExecResult,
  PullAuth,
} from './runtime/runtime.js';

export class HostPathRefusedError extends Error {
  override readonly name = 'HostPathRefusedError';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** realpath, or undefined when the path does not exist (the engine then refuses the bind itself). */
export async function resolvePath(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch {
    return undefined;
  }
}

/**
 * The guard as a ContainerRuntime: create is checked, every other call passes through. Each
 * method is written out, so a method added to ContainerRuntime does not compile until this
 * wrapper decides what it does with it.
 */
export class HostPathGuard implements ContainerRuntime {
  constructor(
    private readonly inner: ContainerRuntime,
    private readonly allowed: readonly string[],
    private readonly resolved: (path: string) => Promise<string | undefined> = resolvePath,
  ) {}

  async create(req: CreateRequest): Promise<string> {
    const sources = bindSources(req.spec);
    if (sources.length > 0) {
      const realRoots = (await Promise.all(this.allowed.map(this.resolved))).filter((p): p is string => p !== undefined);
      for (const source of sources) {
        if (!isAllowed(source, this.allowed)) throw new HostPathRefusedError(source, refusal(source, this.allowed));
        const real = await this.resolved(source);
        if (real !== undefined && !isAllowed(real, realRoots)) throw new HostPathRefusedError(source, refusal(real, this.allowed, source));
      }
    }
    return this.inner.create(req);
  }

  info(): Promise<EngineInfo> {
    return this.inner.info();
  }
  hasImage(ref: string): Promise<boolean> {
    return this.inner.hasImage(ref);
  }
  pullImage(ref: string, signal?: AbortSignal, auth?: PullAuth): Promise<void> {
    return this.inner.pullImage(ref, signal, auth);
  }
  start(id: string): Promise<void> {
    return this.inner.start(id);
  }
  stop(id: string, graceMs: number): Promise<void> {
    return this.inner.stop(id, graceMs);
  }
  remove(id: string): Promise<void> {
    return this.inner.remove(id);
  }
  inspect(idOrName: string): Promise<ContainerInfo | undefined> {
    return this.inner.inspect(idOrName);
  }
  execCheck(id: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    return this.inner.execCheck(id, command, timeoutMs);
  }
  list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    return this.inner.list(labels);
  }
  summaries(labels: Record<string, string>): Promise<ContainerSummary[]> {
    return this.inner.summaries(labels);
  }
  events(filter: EventFilter, onEvent: (e: ContainerEvent) => void, signal: AbortSignal): Promise<void> {
    return this.inner.events(filter, onEvent, signal);
  }
}

export function guardHostPaths(
  runtime: ContainerRuntime,
  allowed: readonly string[],
  resolved: (path: string) => Promise<string | undefined> = resolvePath,
): ContainerRuntime {
  return new HostPathGuard(runtime, allowed, resolved);
}
