// gRPC clients of the agents' AgentAPI, one channel per node and address, reused by every logs,
// exec and top request of this controller. With TLS the channel presents this controller's
// certificate and accepts only the certificate of that node's agent, so a node record naming
// another host's address reaches nothing.
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, loadProto } from '../../../proto/src/grpc.js';
import type { NodeRecord } from '../../../proto/src/model.js';
import type { ProtoGrpcType as ObserveProto } from '../../../proto/gen/observe.js';
import type { AgentAPIClient } from '../../../proto/gen/berth/v1/AgentAPI.js';

/** How the channel to one node's agent authenticates (the composition root chooses). */
export type AgentChannel = (nodeId: string) => { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions };

export const insecureAgentChannel: AgentChannel = () => ({ credentials: grpc.credentials.createInsecure(), options: {} });

export class AgentClients {
  private clients = new Map<string, { address: string; client: AgentAPIClient }>();

  constructor(private readonly channel: AgentChannel = insecureAgentChannel) {}

  get(node: NodeRecord): AgentAPIClient {
    const address = node.description.apiAddress!;
    const key = `${node.id}\n${address}`;
    let c = this.clients.get(key);
    if (!c) {
      const proto = loadProto<ObserveProto>('observe');
      const { credentials, options } = this.channel(node.id);
      c = { address, client: new proto.berth.v1.AgentAPI(address, credentials, { ...CHANNEL_OPTIONS, ...options }) };
      this.clients.set(key, c);
    }
    return c.client;
  }

  /** Closes the channels of addresses no node advertises any more (an agent restarted elsewhere). */
  prune(nodes: NodeRecord[]): void {
    const used = new Set(nodes.filter((n) => n.description.apiAddress).map((n) => `${n.id}\n${n.description.apiAddress}`));
    for (const [key, c] of this.clients) {
      if (used.has(key)) continue;
      c.client.close();
      this.clients.delete(key);
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.client.close();
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
