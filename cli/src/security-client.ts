// Clients of the TokenAPI (admin) and CertificateAPI (login, renewal): same deadlines and error
// wording as every CLI client.
import { loadProto } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as SecurityProto } from '../../proto/gen/security.js';
import type { TokenAPIClient } from '../../proto/gen/berth/v1/TokenAPI.js';
import type { CertificateAPIClient } from '../../proto/gen/berth/v1/CertificateAPI.js';
import type { CreateTokenRequest } from '../../proto/gen/berth/v1/CreateTokenRequest.js';
import type { CreateTokenResponse__Output } from '../../proto/gen/berth/v1/CreateTokenResponse.js';
import type { JoinToken__Output } from '../../proto/gen/berth/v1/JoinToken.js';
import type { CertificateResponse__Output } from '../../proto/gen/berth/v1/CertificateResponse.js';
import type { RevokeCertificateResponse__Output } from '../../proto/gen/berth/v1/RevokeCertificateResponse.js';
import { ApiClient, type ClientTransport } from './client.js';

export class TokenClient extends ApiClient {
  private readonly raw: TokenAPIClient;

  constructor(address: string, transport?: ClientTransport) {
    super(address, transport);
    this.raw = this.open(loadProto<SecurityProto>('security').berth.v1.TokenAPI);
  }

  create(req: CreateTokenRequest): Promise<CreateTokenResponse__Output> {
    return this.call((md, o, cb) => this.raw.CreateToken(req, md, o, cb));
  }
  async list(): Promise<JoinToken__Output[]> {
    return (await this.call<{ tokens: JoinToken__Output[] }>((md, o, cb) => this.raw.ListTokens({}, md, o, cb))).tokens;
  }
  revoke(id: string): Promise<JoinToken__Output> {
    return this.call((md, o, cb) => this.raw.RevokeToken({ id }, md, o, cb));
  }
  rotate(id: string): Promise<CreateTokenResponse__Output> {
    return this.call((md, o, cb) => this.raw.RotateToken({ id }, md, o, cb));
  }
}

export class CertificateClient extends ApiClient {
  private readonly raw: CertificateAPIClient;

  constructor(address: string, transport?: ClientTransport) {
    super(address, transport);
    this.raw = this.open(loadProto<SecurityProto>('security').berth.v1.CertificateAPI);
  }

  join(token: string, csrPem: string, nodeId = ''): Promise<CertificateResponse__Output> {
    return this.call((md, o, cb) => this.raw.Join({ token, csrPem, nodeId }, md, o, cb));
  }
  renew(csrPem: string): Promise<CertificateResponse__Output> {
    return this.call((md, o, cb) => this.raw.Renew({ csrPem }, md, o, cb));
  }
  revoke(serial: string): Promise<RevokeCertificateResponse__Output> {
    return this.call((md, o, cb) => this.raw.RevokeCertificate({ serial }, md, o, cb));
  }
}
