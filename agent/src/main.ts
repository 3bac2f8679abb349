// Composition root of the agent: the Docker engine and the system clock are chosen here.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { logger } from '../../proto/src/log.js';
import { createAgent } from './agent.js';
import { DockerRuntime } from './runtime/docker/docker-runtime.js';
import { guardHostPaths } from './host-path-guard.js';
import { guardWorkloadPolicy } from './workload-guard.js';
import { parseAllowedHostPaths } from './host-paths.js';
import { DockerObserveRuntime } from './runtime/docker/docker-observe.js';
import { instrument, instrumentObserve } from './instrumented-runtime.js';
import { AgentMetrics } from './metrics/metrics.js';
import { serveMetrics, splitHostPort } from '../../proto/src/metrics-http.js';
import { agentStreamLimiter, serveAgentApi } from './observe/api-server.js';
import type { StreamLimits } from '../../proto/src/limits/stream-limiter.js';
import { TaskObserver } from './observe/task-observer.js';
import type { Advertise } from './node-info.js';
import type { Transport } from '../../proto/src/security/tls.js';
import { agentTransport, renewLoop } from './credentials.js';
import { AgentRevocations } from './revocations.js';
import { describeIdentity, type Identity } from '../../proto/src/security/identity.js';

/** The --state-dir default (cli/src/commands/agent.ts passes it; also where credentials live). */
export const DEFAULT_STATE_DIR = '/var/lib/berth/agent';

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
  /** host:port of the AgentAPI (logs, exec, stats); default: the node address, a port the system picks. */
  apiListen?: string | undefined;
  /** A join token for the first start (--join); later starts use the credentials in the state dir. */
  joinToken?: string | undefined;
  /** Plaintext, no certificates (--insecure-dev). */
  insecureDev?: boolean | undefined;
  /** AgentAPI stream caps (--max-api-streams, --max-api-streams-per-controller). */
  apiStreams?: StreamLimits | undefined;
}

/**
 * The address others reach a listener at: a wildcard bind (0.0.0.0, ::) is reached at the node's
 * address, anything else at the address it is bound to.
 */
export function advertisedAddress(bound: string, nodeAddress: string): string {
  const [host, port] = splitHostPort(bound);
  const reach = host === '0.0.0.0' || host === '::' || host === '' ? nodeAddress : host;
  return `${reach.includes(':') ? `[${reach}]` : reach}:${port}`;
}

export async function runAgent(opts: AgentOptions, signal: AbortSignal): Promise<void> {
  const nodeId = opts.nodeId ?? hostname();
  const log = logger('agent', { node: nodeId });
  let transport: Transport;
  if (opts.insecureDev) {
    log.warn('--insecure-dev: plaintext gRPC; this agent trusts any controller and answers anyone; never use this on a network');
    transport = { kind: 'insecure' };
  } else {
    const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
    const tls = await agentTransport({ stateDir, nodeId, controllers: opts.controllers, token: opts.joinToken, log });
    renewLoop({ source: tls.source, stateDir, nodeId, controllers: opts.controllers, log: log.child({ loop: 'certificate' }), signal });
    transport = tls;
  }
  const metrics = new AgentMetrics({ processMetrics: true });
  const revocations = new AgentRevocations({
    file: opts.insecureDev ? undefined : join(opts.stateDir ?? DEFAULT_STATE_DIR, 'tls', 'revoked.json'),
    log: log.child({ loop: 'revocations' }),
  });
  const allowHostPaths = parseAllowedHostPaths(opts.allowHostPaths ?? []);
  const runtime = guardWorkloadPolicy(
    guardHostPaths(instrument(DockerRuntime.fromAddress(opts.docker), metrics, log.child({ loop: 'engine' })), allowHostPaths),
  );
  const observe = instrumentObserve(DockerObserveRuntime.fromAddress(opts.docker), metrics);
  const advertise: Advertise = {
    address: opts.address,
    labels: opts.labels,
    ...(opts.cpuMilli !== undefined ? { cpuMilli: opts.cpuMilli } : {}),
    ...(opts.memoryBytes !== undefined ? { memoryBytes: opts.memoryBytes } : {}),
    ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
    allowedHostPaths: allowHostPaths,
  };
  const observer = new TaskObserver({ tasks: () => agent.worker.tasks(), runtime: observe, metrics, log: log.child({ loop: 'stats' }) });
  const agent = createAgent({
    metrics,
    config: { nodeId, controllers: opts.controllers, stateDir: opts.stateDir, advertise, transport },
    runtime,
    log,
    onReport: (taskId, status) => observer.onStatus(agent.worker.task(taskId), status),
    onRevocations: (serials) => revocations.replace(serials),
  });
  // Both listeners are bound before the session opens: Hello advertises their addresses.
  // /metrics over mTLS with the agent's own (renewed) certificate; revoked certificates refused
  // from the list the leader sends over the session.
  const httpTls =
    transport.kind === 'tls'
      ? {
          source: transport.source,
          revocations,
          onDenied: (path: string, who: Identity | undefined, d: { code: string }) =>
            log.warn({ path, caller: describeIdentity(who), code: d.code }, 'scrape refused'),
        }
      : undefined;
  const http = opts.metricsListen
    ? await serveMetrics(opts.metricsListen, metrics.registry, () => agent.session.connected, {}, httpTls)
    : undefined;
  if (http) advertise.metricsAddress = advertisedAddress(http.address, opts.address);
  const api = await serveAgentApi(
    opts.apiListen ?? `${opts.address.includes(':') ? `[${opts.address}]` : opts.address}:0`,
    {
      nodeId,
      tasks: () => agent.worker.tasks(),
      runtime,
      observe,
      observer,
      metrics,
      log: log.child({ loop: 'api' }),
      streams: agentStreamLimiter(opts.apiStreams),
    },
    transport,
  );
  advertise.apiAddress = advertisedAddress(api.address, opts.address);
  log.info({ metrics: advertise.metricsAddress, api: advertise.apiAddress }, 'serving');
  try {
    await Promise.all([agent.start(signal), observer.start(signal)]);
  } finally {
    await api.close();
    await http?.close();
    log.info('agent stopped');
  }
}
