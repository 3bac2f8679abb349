// Promise-based client of ManageAPI (diff, scale, version), for the CLI and tests. Errors are
// mapped like every CLI call (client.ts callUnary).
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, loadProto } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as ManageProto } from '../../proto/gen/manage.js';
import type { ManageAPIClient } from '../../proto/gen/berth/v1/ManageAPI.js';
import type { DiffServiceResponse__Output } from '../../proto/gen/berth/v1/DiffServiceResponse.js';
import type { ScaleServiceRequest } from '../../proto/gen/berth/v1/ScaleServiceRequest.js';
import type { ScaleServiceResponse__Output } from '../../proto/gen/berth/v1/ScaleServiceResponse.js';
import type { VersionInfo__Output } from '../../proto/gen/berth/v1/VersionInfo.js';
import { callUnary, type UnaryInvoke } from './client.js';

export class ManageClient {
  readonly raw: ManageAPIClient;

  constructor(readonly address: string) {
    this.raw = new (loadProto<ManageProto>('manage').berth.v1.ManageAPI)(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  }

  private call<Res>(invoke: UnaryInvoke<Res>, timeoutMs?: number): Promise<Res> {
    return callUnary(this.address, invoke, timeoutMs);
  }

  diffService(manifestJson: string): Promise<DiffServiceResponse__Output> {
    return this.call((md, o, cb) => this.raw.DiffService({ manifestJson }, md, o, cb));
  }
  scaleService(req: ScaleServiceRequest): Promise<ScaleServiceResponse__Output> {
    return this.call((md, o, cb) => this.raw.ScaleService(req, md, o, cb));
  }
  getVersion(timeoutMs?: number): Promise<VersionInfo__Output> {
    return this.call((md, o, cb) => this.raw.GetVersion({}, md, o, cb), timeoutMs);
  }

  close(): void {
    this.raw.close();
  }
}
