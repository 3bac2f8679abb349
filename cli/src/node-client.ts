// Client of the NodeAPI (node labels, availability, plan): same deadlines and error wording as
// the ControlAPI client it extends.
import { loadProto } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as NodesProto } from '../../proto/gen/nodes.js';
import type { NodeAPIClient } from '../../proto/gen/berth/v1/NodeAPI.js';
import type { Node__Output } from '../../proto/gen/berth/v1/Node.js';
import type { PlanResponse__Output } from '../../proto/gen/berth/v1/PlanResponse.js';
import { BerthClient, type ClientTransport } from './client.js';

export class NodeClient extends BerthClient {
  readonly nodes: NodeAPIClient;

  constructor(address: string, transport?: ClientTransport) {
    super(address, transport);
    this.nodes = this.open(loadProto<NodesProto>('nodes').berth.v1.NodeAPI);
  }

  labelNode(nodeId: string, set: Record<string, string>, remove: string[]): Promise<Node__Output> {
    return this.call((md, o, cb) => this.nodes.LabelNode({ nodeId, set, remove }, md, o, cb));
  }
  removeNode(nodeId: string, force: boolean): Promise<Node__Output> {
    return this.call((md, o, cb) => this.nodes.RemoveNode({ nodeId, force }, md, o, cb));
  }
  setAvailability(nodeId: string, availability: string): Promise<Node__Output> {
    return this.call((md, o, cb) => this.nodes.SetAvailability({ nodeId, availability }, md, o, cb));
  }
  plan(manifestsJson: string[], seed = 0): Promise<PlanResponse__Output> {
    return this.call((md, o, cb) => this.nodes.Plan({ manifestsJson, seed }, md, o, cb));
  }
}
