// gRPC clients of the agents' AgentAPI, one channel per address, reused by every logs, exec and
// top request of this controller.
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, loadProto } from '../../../proto/src/grpc.js';
import type { NodeRecord } from '../../../proto/src/model.js';
import type { ProtoGrpcType as ObserveProto } from '../../../proto/gen/observe.js';
import type { AgentAPIClient } from '../../../proto/gen/berth/v1/AgentAPI.js';

export class AgentClients {
  private clients = new Map<string, AgentAPIClient>();

  get(address: string): AgentAPIClient {
    let c = this.clients.get(address);
    if (!c) {
      const proto = loadProto<ObserveProto>('observe');
      c = new proto.berth.v1.AgentAPI(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      this.clients.set(address, c);
    }
    return c;
  }

  /** Closes the channels of addresses no node advertises any more (an agent restarted elsewhere). */
  prune(nodes: NodeRecord[]): void {
    const used = new Set(nodes.map((n) => n.description.apiAddress).filter(Boolean));
    for (const [address, c] of this.clients) {
      if (used.has(address)) continue;
      c.close();
      this.clients.delete(address);
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/**
 * Why a node's agent cannot be asked for anything right now, or undefined when it can: the
 * message names the node and is shown to the user as is.
 */
export function agentUnavailable(node: NodeRecord | undefined, nodeId: string): string | undefined {
  if (!node) return `node ${nodeId} is not registered`;
  if (node.state !== 'ready') return `node ${nodeId} is ${node.state}`;
  if (!node.description.apiAddress) return `the agent on ${nodeId} serves no AgentAPI (an older agent)`;
  return undefined;
}
