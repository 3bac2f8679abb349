// Client of the AuditAPI (admin): same deadlines and error wording as every CLI client.
import { loadProto } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as AuditProto } from '../../proto/gen/audit.js';
import type { AuditAPIClient } from '../../proto/gen/berth/v1/AuditAPI.js';
import type { AuditRecord__Output } from '../../proto/gen/berth/v1/AuditRecord.js';
import type { ListAuditRequest } from '../../proto/gen/berth/v1/ListAuditRequest.js';
import { ApiClient, type ClientTransport } from './client.js';

export class AuditClient extends ApiClient {
  private readonly raw: AuditAPIClient;

  constructor(address: string, transport?: ClientTransport) {
    super(address, transport);
    this.raw = this.open(loadProto<AuditProto>('audit').berth.v1.AuditAPI);
  }

  async list(req: ListAuditRequest): Promise<AuditRecord__Output[]> {
    return (await this.call<{ records: AuditRecord__Output[] }>((md, o, cb) => this.raw.ListAudit(req, md, o, cb))).records;
  }
}
