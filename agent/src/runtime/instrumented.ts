// Wraps a ContainerRuntime to time every engine call and count its errors.
import type { Logger } from '../../../proto/src/log.js';
import type { AgentMetrics } from '../metrics/metrics.js';
import type { ContainerRuntime } from './runtime.js';

/** An engine call slower than this is logged: a hung engine shows up in the agent's log. */
const SLOW_CALL_MS = 5_000;

const TIMED = ['info', 'hasImage', 'pullImage', 'create', 'start', 'stop', 'remove', 'inspect', 'list', 'execCheck'] as const;

export function instrument(runtime: ContainerRuntime, metrics: AgentMetrics, log?: Logger): ContainerRuntime {
  const out = Object.create(runtime) as ContainerRuntime;
  for (const op of TIMED) {
    const fn = (runtime[op] as (...a: unknown[]) => Promise<unknown>).bind(runtime);
    (out as unknown as Record<string, unknown>)[op] = async (...args: unknown[]) => {
      const end = metrics.engineCalls.labels(op).startTimer();
      const started = Date.now();
      try {
        return await fn(...args);
      } catch (err) {
        metrics.engineErrors.labels(op).inc();
        throw err;
      } finally {
        end();
        const ms = Date.now() - started;
        if (ms > SLOW_CALL_MS) log?.warn({ op, ms, arg: typeof args[0] === 'string' ? args[0] : undefined }, 'slow engine call');
      }
    };
  }
  out.events = runtime.events.bind(runtime);
  return out;
}
