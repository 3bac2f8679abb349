// Wraps a ContainerRuntime (and an ObserveRuntime) to time every engine call and count its errors.
import type { Logger } from '../../proto/src/log.js';
import type { AgentMetrics } from './metrics/metrics.js';
import type { ObserveRuntime } from './runtime/observe.js';
import type { ContainerRuntime } from './runtime/runtime.js';

/** An engine call slower than this is logged: a hung engine shows up in the agent's log. */
const SLOW_CALL_MS = 5_000;

const TIMED = ['info', 'hasImage', 'pullImage', 'create', 'start', 'stop', 'remove', 'inspect', 'list', 'summaries', 'execCheck'] as const;

async function timed<T>(metrics: AgentMetrics, op: string, fn: () => Promise<T>, log?: Logger, arg?: unknown): Promise<T> {
  const end = metrics.engineCalls.labels(op).startTimer();
  const started = Date.now();
  try {
    return await fn();
  } catch (err) {
    metrics.engineErrors.labels(op).inc();
    throw err;
  } finally {
    end();
    const ms = Date.now() - started;
    if (ms > SLOW_CALL_MS) log?.warn({ op, ms, arg: typeof arg === 'string' ? arg : undefined }, 'slow engine call');
  }
}

export function instrument(runtime: ContainerRuntime, metrics: AgentMetrics, log?: Logger): ContainerRuntime {
  const out = Object.create(runtime) as ContainerRuntime;
  for (const op of TIMED) {
    const fn = (runtime[op] as (...a: unknown[]) => Promise<unknown>).bind(runtime);
    (out as unknown as Record<string, unknown>)[op] = (...args: unknown[]) => timed(metrics, op, () => fn(...args), log, args[0]);
  }
  out.events = runtime.events.bind(runtime);
  return out;
}

/**
 * Times stats and the opening of exec sessions; a log stream counts as an error when it fails
 * (its duration is the client's, not the engine's, so it is not timed).
 */
export function instrumentObserve(runtime: ObserveRuntime, metrics: AgentMetrics): ObserveRuntime {
  return {
    stats: (id) => timed(metrics, 'stats', () => runtime.stats(id)),
    exec: (id, opts) => timed(metrics, 'exec', () => runtime.exec(id, opts)),
    logs: async function* (id, opts, signal) {
      try {
        yield* runtime.logs(id, opts, signal);
      } catch (err) {
        metrics.engineErrors.labels('logs').inc();
        throw err;
      }
    },
  };
}
