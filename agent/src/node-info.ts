// What the agent tells the controller about its node: the engine's view, narrowed by what the
// operator allows (advertise less CPU or memory than the machine has) plus operator labels.
import type { NodeDescription } from '../../proto/src/model.js';
import type { EngineInfo } from './runtime/runtime.js';

export const AGENT_VERSION = '0.1.0';

export interface Advertise {
  cpuMilli?: number;
  memoryBytes?: number;
  hostname?: string;
  address: string;
  labels: Record<string, string>;
  /** Host paths services may bind-mount (--allow-host-path). */
  allowedHostPaths?: string[];
  /** host:port of /metrics and of the AgentAPI, once they are bound. */
  metricsAddress?: string;
  apiAddress?: string;
}

export function describeNode(engine: EngineInfo, adv: Advertise): NodeDescription {
  const cpuMilli = engine.cpus * 1000;
  return {
    hostname: adv.hostname ?? engine.hostname,
    capacity: {
      cpuMilli: adv.cpuMilli !== undefined ? Math.min(adv.cpuMilli, cpuMilli) : cpuMilli,
      memoryBytes: adv.memoryBytes !== undefined ? Math.min(adv.memoryBytes, engine.memoryBytes) : engine.memoryBytes,
    },
    engineVersion: engine.engineVersion,
    os: engine.os,
    arch: engine.arch,
    labels: { ...adv.labels },
    address: adv.address,
    agentVersion: AGENT_VERSION,
    ...(adv.allowedHostPaths && adv.allowedHostPaths.length > 0 ? { allowedHostPaths: [...adv.allowedHostPaths] } : {}),
    ...(adv.metricsAddress ? { metricsAddress: adv.metricsAddress } : {}),
    ...(adv.apiAddress ? { apiAddress: adv.apiAddress } : {}),
  };
}
