// PURE aggregation for `berth top`: the agents' per-task samples summed per service and per node.
import type { NodeRecord } from '../../../proto/src/model.js';
import type { TaskUsage__Output } from '../../../proto/gen/berth/v1/TaskUsage.js';

/** One task's latest sample, as an agent reports it (AgentAPI.Stats). */
export type TaskSample = Omit<TaskUsage__Output, 'node'>;

export interface NodeReport {
  node: NodeRecord;
  /** undefined when the agent could not be asked (then `error` says why). */
  tasks?: TaskSample[];
  error?: string;
}

export interface ServiceUsage {
  namespace: string;
  service: string;
  replicas: number;
  cpuCores: number;
  memoryBytes: number;
}

export interface NodeUsage {
  node: string;
  state: string;
  containers: number;
  cpuCores: number;
  memoryBytes: number;
  capacityCpuMilli: number;
  capacityMemoryBytes: number;
  error: string;
}

export interface Usage {
  services: ServiceUsage[];
  nodes: NodeUsage[];
  tasks: Array<TaskSample & { node: string }>;
}

/** Per service (of `namespace`, or all when empty) and per node; both sorted by name. */
export function aggregateUsage(reports: NodeReport[], namespace: string): Usage {
  const services = new Map<string, ServiceUsage>();
  const nodes: NodeUsage[] = [];
  const tasks: Usage['tasks'] = [];
  for (const r of reports) {
    const n: NodeUsage = {
      node: r.node.id,
      state: r.node.state,
      containers: 0,
      cpuCores: 0,
      memoryBytes: 0,
      capacityCpuMilli: r.node.description.capacity.cpuMilli,
      capacityMemoryBytes: r.node.description.capacity.memoryBytes,
      error: r.error ?? '',
    };
    for (const t of r.tasks ?? []) {
      // A node's figures cover every container on it; a service's only the asked namespace.
      n.containers++;
      n.cpuCores += t.cpuCores;
      n.memoryBytes += t.memoryBytes;
      if (namespace && t.namespace !== namespace) continue;
      tasks.push({ ...t, node: r.node.id });
      const key = `${t.namespace}/${t.service}`;
      const s = services.get(key) ?? { namespace: t.namespace, service: t.service, replicas: 0, cpuCores: 0, memoryBytes: 0 };
      s.replicas++;
      s.cpuCores += t.cpuCores;
      s.memoryBytes += t.memoryBytes;
      services.set(key, s);
    }
    nodes.push(n);
  }
  return {
    services: [...services.values()].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service)),
    nodes: nodes.sort((a, b) => a.node.localeCompare(b.node)),
    tasks: tasks.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service) || a.slot - b.slot),
  };
}
