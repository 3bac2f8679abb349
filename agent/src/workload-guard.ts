// A ContainerRuntime that checks what it is asked to create against the default-deny workload
// policy again, with the grants the controller sent beside the task (workload-policy.ts): a forged
// or corrupted task record cannot bypass the API's check. Bind sources are also resolved on this
// node, so a symlink (or any path) that leads to a socket counts as the engine's socket.
import { realpath, stat } from 'node:fs/promises';
import { NO_GRANTS, reachesEngineSocket, workloadViolations } from '../../proto/src/security/workload-policy.js';
import { bindSources } from './host-paths.js';
import { ALL_BUT_CREATE, passThrough } from './runtime/pass-through.js';
import type { ContainerRuntime, CreateRequest } from './runtime/runtime.js';

export class WorkloadRefusedError extends Error {
  override readonly name = 'WorkloadRefusedError';
}

/** What a path is on this node: its real path and whether it is a socket (undefined: it does not exist). */
export async function probePath(path: string): Promise<{ real: string; socket: boolean } | undefined> {
  try {
    const real = await realpath(path);
    return { real, socket: (await stat(real)).isSocket() };
  } catch {
    return undefined;
  }
}

export function guardWorkloadPolicy(
  inner: ContainerRuntime,
  probe: (path: string) => Promise<{ real: string; socket: boolean } | undefined> = probePath,
): ContainerRuntime {
  return {
    ...passThrough(inner, ALL_BUT_CREATE),
    async create(req: CreateRequest): Promise<string> {
      const grants = req.grants ?? NO_GRANTS;
      const namespace = req.namespace ?? 'default';
      const refused = workloadViolations(req.spec, namespace, grants).map((v) => `spec.${v.path}: ${v.message}`);
      if (!grants.dockerSocket) {
        for (const source of bindSources(req.spec)) {
          const p = await probe(source);
          if (p && (p.socket || reachesEngineSocket(p.real)) && !refused.some((r) => r.includes(source)))
            refused.push(
              `bind source ${source}: on this node it ${p.socket ? "is a socket (the engine's, or one Berth cannot tell from it)" : `leads to ${p.real}, which reaches the container engine's socket`} (rule docker-socket); a Policy of namespace ${JSON.stringify(namespace)} with spec.allowDockerSocket: true would allow it`,
            );
        }
      }
      if (refused.length > 0) throw new WorkloadRefusedError(`refused by this node's workload policy check: ${refused.join('; ')}`);
      return inner.create(req);
    },
  };
}
