// A ContainerRuntime that refuses to create a container bind-mounting a host path the node does
// not allow. The refusal is a HostPathRefusedError: the task runner reports the task rejected
// with its message (which names the path). A path that exists is checked again after resolving
// symlinks, so a link under an allowed root cannot point the mount elsewhere.
import { realpath } from 'node:fs/promises';
import { bindSources, isAllowed, refusal } from './host-paths.js';
import { ALL_BUT_CREATE, passThrough } from './runtime/pass-through.js';
import type { ContainerRuntime, CreateRequest } from './runtime/runtime.js';

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
 * The guard as a ContainerRuntime: create is checked, every other call passes through (a method
 * added to ContainerRuntime does not compile until it is named here).
 */
export function guardHostPaths(
  inner: ContainerRuntime,
  allowed: readonly string[],
  resolved: (path: string) => Promise<string | undefined> = resolvePath,
): ContainerRuntime {
  return {
    ...passThrough(inner, ALL_BUT_CREATE),
    async create(req: CreateRequest): Promise<string> {
      const sources = bindSources(req.spec);
      if (sources.length > 0) {
        const realRoots = (await Promise.all(allowed.map(resolved))).filter((p): p is string => p !== undefined);
        for (const source of sources) {
          if (!isAllowed(source, allowed)) throw new HostPathRefusedError(source, refusal(source, allowed));
          const real = await resolved(source);
          if (real !== undefined && !isAllowed(real, realRoots)) throw new HostPathRefusedError(source, refusal(real, allowed, source));
        }
      }
      return inner.create(req);
    },
  };
}
