// Which host paths a node lets containers bind-mount (the agent's --allow-host-path list, which
// the node advertises in its description). Pure and shared: the scheduler places a task only on
// a node that allows its bind sources; the agent checks again (and after resolving symlinks)
// before it creates the container.
import type { ServiceSpec } from './spec/service.js';

/** True when `path` is `root` or lies below it (by whole path segments: /srv/data2 is not under /srv/data). */
export function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : `${root}/`);
}

export function isAllowed(path: string, allowed: readonly string[]): boolean {
  return allowed.some((root) => isUnder(path, root));
}

/** The bind sources of a spec, in order. */
export function bindSources(spec: Pick<ServiceSpec, 'volumes'>): string[] {
  return (spec.volumes ?? []).filter((v) => v.type === 'bind' && v.source !== undefined).map((v) => v.source!);
}

/** The first bind source a node does not allow, or undefined. */
export function firstRefusedPath(sources: readonly string[], allowed: readonly string[]): string | undefined {
  return sources.find((s) => !isAllowed(s, allowed));
}
