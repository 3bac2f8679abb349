// The agent: composition of runtime, worker and session, and its long-running loops.
//   session  — Dispatcher stream to the controller (assignments in, status out)
//   events   — the engine's container events for this node → poke the task's runner
//   resync   — every RESYNC_MS, and after the engine comes back, look at every task again
// Nothing here stops a container because the controller is unreachable.
import { backoffMs, sleep } from '../../proto/src/clock.js';
import { LABEL_NODE, LABEL_TASK } from '../../proto/src/labels.js';
import type { Logger } from '../../proto/src/log.js';
import type { NodeDescription, TaskStatus } from '../../proto/src/model.js';
import { describeNode, type Advertise } from './node-info.js';
import type { ContainerRuntime } from './runtime/runtime.js';
import { Session } from './session.js';
import { Worker } from './worker.js';
import type { AgentMetrics } from './metrics/metrics.js';
import { TASK_STATE_ORDER } from '../../proto/src/types.js';
import { join } from 'node:path';
import type { Transport } from '../../proto/src/security/tls.js';
import { Fence } from './fence.js';
import { ImagePuller } from './images.js';

/** Safety net for lost engine events: every task is looked at this often. */
export const RESYNC_MS = 10_000;

/**
 * Engine events that tell a runner something it did not cause itself: the container ended, was
 * removed, paused, or its image's HEALTHCHECK changed. The rest (create, start, exec_* of every
 * exec health check, attach, …) follow the runner's own calls; looking again on each of them
 * would only add engine round trips while the engine is busiest. The engine filters them (the
 * agent never sees the rest). The resync covers the odd
 * container started or stopped behind Berth's back.
 */
export const EVENTS_THAT_POKE: readonly string[] = ['die', 'oom', 'destroy', 'health_status', 'pause', 'unpause'];

export interface AgentConfig {
  nodeId: string;
  controllers: string[];
  advertise: Advertise;
  resyncMs?: number;
  /** Where the agent keeps state across restarts (the fence's last contact). */
  stateDir?: string | undefined;
  /** How the session authenticates (default: plaintext, --insecure-dev). */
  transport?: Transport | undefined;
}

export interface Agent {
  readonly worker: Worker;
  readonly session: Session;
  readonly fence: Fence;
  start(signal: AbortSignal): Promise<void>;
}

export function createAgent(deps: {
  config: AgentConfig;
  runtime: ContainerRuntime;
  log: Logger;
  now?: () => number;
  metrics?: AgentMetrics;
  /** Sees every status the agent reports (restart counting). */
  onReport?: (taskId: string, status: TaskStatus) => void;
  /** Receives the cluster's revocation list from the session. */
  onRevocations?: (serials: string[]) => void;
}): Agent {
  const { config, runtime, log, metrics } = deps;
  const now = deps.now ?? Date.now;
  const fence = new Fence({
    runtime,
    nodeId: config.nodeId,
    log: log.child({ loop: 'fence' }),
    now,
    stateFile: config.stateDir ? join(config.stateDir, 'fence.json') : undefined,
    onChange: (on) => metrics?.fenced.set(on ? 1 : 0),
  });
  const fenced = fence.wrap(runtime);
  if (metrics) for (const o of ['pulled', 'failed', 'abandoned'] as const) metrics.imagePulls.labels(o).inc(0);
  const worker = new Worker({
    runtime: fenced,
    // One puller per node: concurrent tasks of one image share its pull.
    puller: new ImagePuller(fenced, (outcome) => metrics?.imagePulls.labels(outcome).inc()),
    nodeId: config.nodeId,
    report: (taskId, status) => {
      session.report(taskId, status);
      deps.onReport?.(taskId, status);
    },
    log: log.child({ loop: 'worker' }),
    now,
  });
  const describe = async (): Promise<NodeDescription> => {
    const d = describeNode(await runtime.info(), config.advertise);
    metrics?.capacityCpu.set(d.capacity.cpuMilli / 1000);
    metrics?.capacityMemory.set(d.capacity.memoryBytes);
    return d;
  };
  if (metrics) {
    // Tasks by state, computed when scraped.
    const g = metrics.tasks as unknown as { collect?: () => void };
    g.collect = () => {
      const counts = new Map<string, number>(TASK_STATE_ORDER.map((s) => [s, 0]));
      for (const { status } of worker.statuses()) counts.set(status.state, (counts.get(status.state) ?? 0) + 1);
      for (const [state, n] of counts) metrics.tasks.labels(state).set(n);
    };
  }
  const session: Session = new Session({
    nodeId: config.nodeId,
    addresses: config.controllers,
    describe,
    containers: () => worker.discover(),
    statuses: () => worker.statuses(),
    onAssignments: (set) => worker.apply(set),
    onContact: (fenceAfterMs) => fence.contact(fenceAfterMs),
    onRevocations: deps.onRevocations,
    transport: config.transport,
    now,
    log: log.child({ loop: 'session' }),
    onState: (state) => metrics?.sessionConnected.set(state === 'connected' ? 1 : 0),
  });

  const engineEvents = async (signal: AbortSignal): Promise<void> => {
    let failures = 0;
    let first = true;
    while (!signal.aborted) {
      // Each subscription has its own signal: a failed resync ends it before the next one.
      const round = new AbortController();
      const end = (): void => round.abort();
      signal.addEventListener('abort', end, { once: true });
      try {
        // Subscribe first, then resync: nothing that happens in between is missed.
        const stream = runtime.events(
          { labels: { [LABEL_NODE]: config.nodeId }, actions: EVENTS_THAT_POKE },
          (e) => {
            const taskId = e.labels[LABEL_TASK];
            if (!taskId) return;
            if (e.action === 'oom') worker.noteOom(taskId, e.containerId, e.timeMs);
            worker.poke(taskId);
          },
          round.signal,
        );
        stream.catch(() => undefined); // awaited below, unless the resync fails first
        if (!first) {
          // Once per reconnect that holds: the engine answers, then every task is looked at.
          await runtime.info();
          await worker.resync();
          log.info({ loop: 'events' }, 'engine back; resynced every task');
        }
        first = false;
        failures = 0;
        await stream;
      } catch (err) {
        if (signal.aborted) break;
        log.warn({ loop: 'events', err: err instanceof Error ? err.message : String(err) }, 'engine event stream broke; reconnecting');
        first = false;
      } finally {
        round.abort();
        signal.removeEventListener('abort', end);
      }
      await sleep(backoffMs(failures++, 200, 5_000), signal);
    }
  };

  const resyncLoop = async (signal: AbortSignal): Promise<void> => {
    while (!signal.aborted) {
      await sleep(config.resyncMs ?? RESYNC_MS, signal);
      if (signal.aborted) break;
      await worker
        .resync()
        .catch((err: unknown) => log.warn({ loop: 'resync', err: err instanceof Error ? err.message : String(err) }, 'resync failed'));
      session.resendAll();
    }
  };

  return {
    worker,
    fence,
    get session() {
      return session;
    },
    async start(signal: AbortSignal): Promise<void> {
      // Wait for the engine: the agent is useless without it, and must not give up.
      for (let i = 0; !signal.aborted; i++) {
        try {
          const info = await runtime.info();
          log.info({ engine: info.engineVersion, cpus: info.cpus, memoryBytes: info.memoryBytes }, 'engine reachable');
          break;
        } catch (err) {
          log.warn({ err: err instanceof Error ? err.message : String(err) }, 'engine not reachable yet');
          await sleep(backoffMs(i, 200, 5_000), signal);
        }
      }
      await Promise.all([session.run(signal), engineEvents(signal), resyncLoop(signal), fence.start(signal)]);
    },
  };
}
