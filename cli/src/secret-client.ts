// A promise-based SecretAPI client, sharing the connection handling and error messages of
// BerthClient (client.ts).
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, loadProto } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as SecretsProto } from '../../proto/gen/secrets.js';
import type { SecretAPIClient } from '../../proto/gen/berth/v1/SecretAPI.js';
import type { ApplySecretRequest } from '../../proto/gen/berth/v1/ApplySecretRequest.js';
import type { ApplySecretResponse__Output } from '../../proto/gen/berth/v1/ApplySecretResponse.js';
import type { Secret__Output } from '../../proto/gen/berth/v1/Secret.js';
import { BerthClient } from './client.js';

export class SecretClient {
  readonly raw: SecretAPIClient;
  private readonly base: BerthClient;

  constructor(readonly address: string) {
    this.base = new BerthClient(address);
    this.raw = new (loadProto<SecretsProto>('secrets').berth.v1.SecretAPI)(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  }

  applySecret(req: ApplySecretRequest): Promise<ApplySecretResponse__Output> {
    return this.base.call((md, o, cb) => this.raw.ApplySecret(req, md, o, cb));
  }
  getSecret(namespace: string, name: string): Promise<Secret__Output> {
    return this.base.call((md, o, cb) => this.raw.GetSecret({ namespace, name }, md, o, cb));
  }
  async listSecrets(namespace = ''): Promise<Secret__Output[]> {
    return (await this.base.call<{ secrets: Secret__Output[] }>((md, o, cb) => this.raw.ListSecrets({ namespace }, md, o, cb))).secrets;
  }
  async deleteSecret(namespace: string, name: string): Promise<Secret__Output | null> {
    return (await this.base.call<{ secret: Secret__Output | null }>((md, o, cb) => this.raw.DeleteSecret({ namespace, name }, md, o, cb))).secret;
  }

  close(): void {
    this.raw.close();
    this.base.close();
  }
}
