// Wrappers of a ContainerRuntime (fence, host-path guard) change a few calls and pass the others
// through. passThrough binds the named methods of the inner runtime; the wrapper writes the rest.
// A wrapper declares its result as ContainerRuntime, so a method added to the interface does not
// compile until each wrapper names it: passed through, or handled.
import type { ContainerRuntime } from './runtime.js';

export type RuntimeMethod = keyof ContainerRuntime;

/** The named methods of inner, bound to it. */
export function passThrough<K extends RuntimeMethod>(inner: ContainerRuntime, methods: readonly K[]): Pick<ContainerRuntime, K> {
  const out: Partial<Record<RuntimeMethod, unknown>> = {};
  for (const m of methods) out[m] = (inner[m] as (...args: unknown[]) => unknown).bind(inner);
  return out as Pick<ContainerRuntime, K>;
}

/** Every method but create: for wrappers that check what is created (host paths, workload policy). */
export const ALL_BUT_CREATE = [
  'info',
  'hasImage',
  'pullImage',
  'start',
  'stop',
  'remove',
  'inspect',
  'execCheck',
  'list',
  'summaries',
  'events',
] as const satisfies readonly RuntimeMethod[];
