// The agent's side of the host-path allowlist. The operator lists the paths with the agent's
// --allow-host-path (repeatable); everything else is refused, so a manifest cannot reach /etc,
// the Docker socket or another service's data. Lexical checks only (no I/O): symlinks are
// resolved by the runtime guard (host-path-guard.ts) before it asks this again. The
// scheduler applies the same rule (proto/src/host-paths.ts) to the advertised list.
import { bindSources, firstRefusedPath, isAllowed, isUnder } from '../../proto/src/host-paths.js';
import { absolutePathProblem } from '../../proto/src/spec/container.js';
import type { ServiceSpec } from '../../proto/src/spec/service.js';

export { bindSources, isAllowed, isUnder };

/** The allowed roots, checked and de-duplicated; an error names the bad one. */
export function parseAllowedHostPaths(paths: readonly string[]): string[] {
  for (const p of paths) {
    const why = absolutePathProblem(p);
    if (why) throw new Error(`--allow-host-path ${JSON.stringify(p)}: ${why}`);
  }
  return [...new Set(paths)].sort();
}

/** Why a host path is refused on this node, in words that name the path and the remedy. */
export function refusal(path: string, allowed: readonly string[], resolvedFrom?: string): string {
  const what = resolvedFrom ? `host path ${resolvedFrom} (which resolves to ${path})` : `host path ${path}`;
  return allowed.length === 0
    ? `${what} is not allowed: this node allows no host paths (start its agent with --allow-host-path)`
    : `${what} is not allowed on this node: it allows only ${allowed.join(', ')} (agent flag --allow-host-path)`;
}

/** The first refusal for a spec's bind volumes, or undefined when every one is allowed. */
export function hostPathRefusal(spec: ServiceSpec, allowed: readonly string[]): string | undefined {
  const refused = firstRefusedPath(bindSources(spec), allowed);
  return refused === undefined ? undefined : refusal(refused, allowed);
}
