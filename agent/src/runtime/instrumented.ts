// Wraps a ContainerRuntime to time every engine call and count its errors.
import type { AgentMetrics } from '../metrics/metrics.js';
import type { ContainerRuntime } from './runtime.js';

const TIMED = ['info', 'hasImage', 'pullImage', 'create', 'start', 'stop', 'remove', 'inspect', 'list'] as const;

export function instrument(runtime: ContainerRuntime, metrics: AgentMetrics): ContainerRuntime {
  const out = Object.create(runtime) as ContainerRuntime;
  for (const op of TIMED) {
    const fn = (runtime[op] as (...a: unknown[]) => Promise<unknown>).bind(runtime);
    (out as unknown as Record<string, unknown>)[op] = async (...args: unknown[]) => {
      const end = metrics.engineCalls.labels(op).startTimer();
      try {
        return await fn(...args);
      } catch (err) {
        metrics.engineErrors.labels(op).inc();
        throw err;
      } finally {
        end();
      }
    };
  }
  out.events = runtime.events.bind(runtime);
  return out;
}
