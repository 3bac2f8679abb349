// Promise-based client of ManageAPI (diff, scale, version): a BerthClient (its connection handling
// and error messages) that also speaks ManageAPI.
import { loadProto } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as ManageProto } from '../../proto/gen/manage.js';
import type { ManageAPIClient } from '../../proto/gen/berth/v1/ManageAPI.js';
import type { DiffServiceResponse__Output } from '../../proto/gen/berth/v1/DiffServiceResponse.js';
import type { ScaleServiceRequest } from '../../proto/gen/berth/v1/ScaleServiceRequest.js';
import type { ScaleServiceResponse__Output } from '../../proto/gen/berth/v1/ScaleServiceResponse.js';
import type { VersionInfo__Output } from '../../proto/gen/berth/v1/VersionInfo.js';
import { BerthClient, type ClientTransport } from './client.js';

export class ManageClient extends BerthClient {
  readonly manage: ManageAPIClient;

  constructor(address: string, transport?: ClientTransport) {
    super(address, transport);
    this.manage = this.open(loadProto<ManageProto>('manage').berth.v1.ManageAPI);
  }

  diffService(manifestJson: string): Promise<DiffServiceResponse__Output> {
    return this.call((md, o, cb) => this.manage.DiffService({ manifestJson }, md, o, cb));
  }
  scaleService(req: ScaleServiceRequest): Promise<ScaleServiceResponse__Output> {
    return this.call((md, o, cb) => this.manage.ScaleService(req, md, o, cb));
  }
  getVersion(timeoutMs?: number): Promise<VersionInfo__Output> {
    return this.call((md, o, cb) => this.manage.GetVersion({}, md, o, cb), timeoutMs);
  }
}
