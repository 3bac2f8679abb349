// Composition root of the agent: the Docker engine and the system clock are chosen here.
import { hostname } from 'node:os';
import { logger } from '../../proto/src/log.js';
import { createAgent } from './agent.js';
import { DockerRuntime } from './runtime/docker/docker-runtime.js';
import { instrument } from './runtime/instrumented.js';
import { guardHostPaths } from './runtime/host-path-guard.js';
import { parseAllowedHostPaths } from './host-paths.js';
import { AgentMetrics } from './metrics/metrics.js';
import { serveMetrics } from '../../proto/src/metrics-http.js';

export interface AgentOptions {
  nodeId?: string | undefined;
  controllers: string[];
  docker: string;
  address: string;
  labels: Record<string, string>;
  cpuMilli?: number | undefined;
  memoryBytes?: number | undefined;
  hostname?: string | undefined;
  metricsListen?: string | undefined;
  stateDir?: string | undefined;
  /** Host paths services may bind-mount (checked by parseAllowedHostPaths). */
  allowHostPaths?: string[] | undefined;
}

export async function runAgent(opts: AgentOptions, signal: AbortSignal): Promise<void> {
  const nodeId = opts.nodeId ?? hostname();
  const log = logger('agent', { node: nodeId });
  const metrics = new AgentMetrics({ processMetrics: true });
  const allowHostPaths = parseAllowedHostPaths(opts.allowHostPaths ?? []);
  const runtime = guardHostPaths(instrument(DockerRuntime.fromAddress(opts.docker), metrics, log.child({ loop: 'engine' })), allowHostPaths);
  const agent = createAgent({
    metrics,
    config: {
      nodeId,
      controllers: opts.controllers,
      stateDir: opts.stateDir,
      advertise: {
        address: opts.address,
        labels: opts.labels,
        ...(opts.cpuMilli !== undefined ? { cpuMilli: opts.cpuMilli } : {}),
        ...(opts.memoryBytes !== undefined ? { memoryBytes: opts.memoryBytes } : {}),
        ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
        allowedHostPaths: allowHostPaths,
      },
    },
    runtime,
    log,
  });
  const http = opts.metricsListen ? await serveMetrics(opts.metricsListen, metrics.registry, () => agent.session.connected) : undefined;
  if (http) log.info({ metrics: http.address }, 'serving metrics');
  try {
    await agent.start(signal);
  } finally {
    await http?.close();
    log.info('agent stopped');
  }
}
