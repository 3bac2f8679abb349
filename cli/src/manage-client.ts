// Promise-based client of ManageAPI (diff, scale, version), sharing the connection handling and
// error messages of BerthClient (client.ts).
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, loadProto } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as ManageProto } from '../../proto/gen/manage.js';
import type { ManageAPIClient } from '../../proto/gen/berth/v1/ManageAPI.js';
import type { DiffServiceResponse__Output } from '../../proto/gen/berth/v1/DiffServiceResponse.js';
import type { ScaleServiceRequest } from '../../proto/gen/berth/v1/ScaleServiceRequest.js';
import type { ScaleServiceResponse__Output } from '../../proto/gen/berth/v1/ScaleServiceResponse.js';
import type { VersionInfo__Output } from '../../proto/gen/berth/v1/VersionInfo.js';
import { BerthClient } from './client.js';

export class ManageClient {
  readonly raw: ManageAPIClient;
  private readonly base: BerthClient;

  constructor(readonly address: string) {
    this.base = new BerthClient(address);
    this.raw = new (loadProto<ManageProto>('manage').berth.v1.ManageAPI)(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  }

  diffService(manifestJson: string): Promise<DiffServiceResponse__Output> {
    return this.base.call((md, o, cb) => this.raw.DiffService({ manifestJson }, md, o, cb));
  }
  scaleService(req: ScaleServiceRequest): Promise<ScaleServiceResponse__Output> {
    return this.base.call((md, o, cb) => this.raw.ScaleService(req, md, o, cb));
  }
  getVersion(timeoutMs?: number): Promise<VersionInfo__Output> {
    return this.base.call((md, o, cb) => this.raw.GetVersion({}, md, o, cb), timeoutMs);
  }

  close(): void {
    this.raw.close();
    this.base.close();
  }
}
