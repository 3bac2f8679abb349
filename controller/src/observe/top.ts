// `berth top`: asks every ready node's agent for its latest samples (in parallel, each with a
// deadline) and sums them per service and per node. A node that cannot answer is listed with why.
import type { AgentStatsResponse__Output } from '../../../proto/gen/berth/v1/AgentStatsResponse.js';
import type { ClusterCache } from '../store/cluster.js';
import { agentUnavailable, type AgentClients } from './agent-clients.js';
import { aggregateUsage, type NodeReport, type Usage } from './usage.js';

/** An agent that does not answer this soon is reported as unavailable. */
export const STATS_DEADLINE_MS = 5_000;

export async function topUsage(deps: { cache: ClusterCache; agents: AgentClients }, namespace: string): Promise<Usage> {
  const nodes = deps.cache.nodes.list().map((n) => n.value);
  const reports = await Promise.all(
    nodes.map(async (node): Promise<NodeReport> => {
      const why = agentUnavailable(node, node.id);
      if (why) return { node, error: why };
      try {
        const res = await new Promise<AgentStatsResponse__Output>((resolve, reject) =>
          deps.agents
            .get(node)
            .Stats({}, { deadline: Date.now() + STATS_DEADLINE_MS }, (err, r) =>
              err || !r ? reject(err ?? new Error('no answer')) : resolve(r),
            ),
        );
        return { node, tasks: res.tasks };
      } catch (err) {
        return { node, error: `the agent on ${node.id} cannot be reached (${(err as { details?: string }).details ?? String(err)})` };
      }
    }),
  );
  return aggregateUsage(reports, namespace);
}
