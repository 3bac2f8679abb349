// The controller's observability parts, wired once by the Manager: the ObserveAPI handlers,
// Prometheus service discovery routes (next to /metrics), the membership record that lets
// discovery list every controller, and the leader's cluster-state metrics.
import type { Logger } from '../../../proto/src/log.js';
import type { Routes } from '../../../proto/src/metrics-http.js';
import type { ObserveAPIHandlers } from '../../../proto/gen/berth/v1/ObserveAPI.js';
import type { EventSink } from '../events/events.js';
import type { EventReader } from '../events/nats-reader.js';
import { recordCacheEvents } from '../events/recorder.js';
import { clusterState, observePlacements } from './cluster-state.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import type { ClusterCache } from '../store/cluster.js';
import type { MemberRegistry } from '../store/members.js';
import { AgentClients, type AgentChannel } from './agent-clients.js';
import { agentTargets, controllerTargets, taskTargets, type TargetGroup } from './sd.js';
import { observeHandlers } from './server.js';
import type { StreamLimiter } from '../../../proto/src/limits/stream-limiter.js';

/** Paths of the HTTP service discovery, one per scrape job of deploy/prometheus/prometheus.yml. */
export const SD_PATHS = { controllers: '/sd/controllers', agents: '/sd/agents', tasks: '/sd/tasks' } as const;

export interface ObservabilityDeps {
  id: string;
  cache: ClusterCache;
  members: MemberRegistry;
  events: EventReader | undefined;
  /** Where the leader publishes the events it records from the caches. */
  sink: EventSink;
  metrics: ControllerMetrics;
  log: Logger;
  isLeader: () => boolean;
  /** How channels to agents authenticate (default: plaintext, --insecure-dev). */
  agentChannel?: AgentChannel | undefined;
}

export class Observability {
  readonly agents: AgentClients;
  private readonly members: MemberRegistry;

  constructor(private readonly deps: ObservabilityDeps) {
    this.agents = new AgentClients(deps.agentChannel);
    this.members = deps.members;
    deps.metrics.observeCluster(() => (deps.isLeader() ? clusterState(deps.cache) : undefined));
  }

  /** The ObserveAPI's handlers; `streams` caps their streams (default controllerStreamLimiter()). */
  handlers(streams?: StreamLimiter): ObserveAPIHandlers {
    const { cache, events, log, metrics } = this.deps;
    return observeHandlers({ cache, agents: this.agents, events, log: log.child({ loop: 'observe' }), metrics, streams });
  }

  routes(): Routes {
    const json = (groups: TargetGroup[]): [number, string, string] => [200, 'application/json', JSON.stringify(groups)];
    const { cache } = this.deps;
    return {
      [SD_PATHS.controllers]: async () => json(controllerTargets(await this.members.list())),
      [SD_PATHS.agents]: () => json(agentTargets(cache.nodes.list().map((n) => n.value))),
      [SD_PATHS.tasks]: () =>
        json(
          taskTargets(
            cache.tasks.list().map((t) => t.value),
            new Map(cache.nodes.list().map((n) => [n.value.id, n.value])),
          ),
        ),
    };
  }

  /** Until the signal aborts: this controller's membership record; agent channels kept tidy. */
  async start(self: { apiAddress: string; metricsAddress: string }, signal: AbortSignal): Promise<void> {
    const { cache } = this.deps;
    const off = cache.nodes.addHandler({ onUpsert: () => this.agents.prune(cache.nodes.list().map((n) => n.value)) });
    try {
      await this.members.run({ id: this.deps.id, ...self, startedAtMs: Date.now() }, signal);
    } finally {
      off();
      this.agents.close();
      await this.deps.events?.close();
    }
  }

  /** Leader-only observation (placement latency, events from the caches); returns the function that ends it. */
  leading(cache: ClusterCache): () => void {
    const offPlacements = observePlacements(cache, this.deps.metrics);
    const offEvents = recordCacheEvents(cache, this.deps.sink);
    return () => {
      offPlacements();
      offEvents();
    };
  }
}
