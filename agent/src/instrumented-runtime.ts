// Wraps a ContainerRuntime (and an ObserveRuntime) to time every engine call and count its errors.
import { monotonicNow, type MonotonicNow } from '../../proto/src/clock.js';
import type { Logger } from '../../proto/src/log.js';
import type { AgentMetrics } from './metrics/metrics.js';
import type { ObserveRuntime } from './runtime/observe.js';
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

/** An engine call slower than this is logged: a hung engine shows up in the agent's log. */
const SLOW_CALL_MS = 5_000;

async function timed<T>(
  metrics: AgentMetrics,
  op: string,
  fn: () => Promise<T>,
  log?: Logger,
  arg?: unknown,
  mono: MonotonicNow = monotonicNow,
): Promise<T> {
  const end = metrics.engineCalls.labels(op).startTimer();
  const started = mono();
  try {
    return await fn();
  } catch (err) {
    metrics.engineErrors.labels(op).inc();
    throw err;
  } finally {
    end();
    const ms = Math.round(mono() - started);
    if (ms > SLOW_CALL_MS) log?.warn({ op, ms, arg: typeof arg === 'string' ? arg : undefined }, 'slow engine call');
  }
}

/**
 * Every engine call timed and its errors counted; the event stream passes through (its duration
 * is the subscription's). Each method is written out, so a method added to ContainerRuntime does
 * not compile until this wrapper decides whether to time it.
 */
export class InstrumentedRuntime implements ContainerRuntime {
  constructor(
    private readonly inner: ContainerRuntime,
    private readonly metrics: AgentMetrics,
    private readonly log?: Logger,
  ) {}

  private timed<T>(op: string, fn: () => Promise<T>, arg?: unknown): Promise<T> {
    return timed(this.metrics, op, fn, this.log, arg);
  }

  info(): Promise<EngineInfo> {
    return this.timed('info', () => this.inner.info());
  }
  hasImage(ref: string): Promise<boolean> {
    return this.timed('hasImage', () => this.inner.hasImage(ref), ref);
  }
  pullImage(ref: string, signal?: AbortSignal, auth?: PullAuth): Promise<void> {
    return this.timed('pullImage', () => this.inner.pullImage(ref, signal, auth), ref);
  }
  create(req: CreateRequest): Promise<string> {
    return this.timed('create', () => this.inner.create(req));
  }
  start(id: string): Promise<void> {
    return this.timed('start', () => this.inner.start(id), id);
  }
  stop(id: string, graceMs: number): Promise<void> {
    return this.timed('stop', () => this.inner.stop(id, graceMs), id);
  }
  remove(id: string): Promise<void> {
    return this.timed('remove', () => this.inner.remove(id), id);
  }
  inspect(idOrName: string): Promise<ContainerInfo | undefined> {
    return this.timed('inspect', () => this.inner.inspect(idOrName), idOrName);
  }
  execCheck(id: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    return this.timed('execCheck', () => this.inner.execCheck(id, command, timeoutMs), id);
  }
  list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    return this.timed('list', () => this.inner.list(labels));
  }
  summaries(labels: Record<string, string>): Promise<ContainerSummary[]> {
    return this.timed('summaries', () => this.inner.summaries(labels));
  }
  events(filter: EventFilter, onEvent: (e: ContainerEvent) => void, signal: AbortSignal): Promise<void> {
    return this.inner.events(filter, onEvent, signal);
  }
}

export function instrument(runtime: ContainerRuntime, metrics: AgentMetrics, log?: Logger): ContainerRuntime {
  return new InstrumentedRuntime(runtime, metrics, log);
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
