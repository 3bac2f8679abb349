// A promise-based SecretAPI client: the deadlines and error wording of the ControlAPI client it
// extends.
import { loadProto } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as SecretsProto } from '../../proto/gen/secrets.js';
import type { SecretAPIClient } from '../../proto/gen/berth/v1/SecretAPI.js';
import type { ApplySecretRequest } from '../../proto/gen/berth/v1/ApplySecretRequest.js';
import type { ApplySecretResponse__Output } from '../../proto/gen/berth/v1/ApplySecretResponse.js';
import type { Secret__Output } from '../../proto/gen/berth/v1/Secret.js';
import { BerthClient } from './client.js';

export class SecretClient extends BerthClient {
  private secretsClient: SecretAPIClient | undefined;

  /** Made on first use: `apply` of manifests without secrets does not load secrets.proto (CLI start-up time). */
  get secrets(): SecretAPIClient {
    this.secretsClient ??= this.open(loadProto<SecretsProto>('secrets').berth.v1.SecretAPI);
    return this.secretsClient;
  }

  applySecret(req: ApplySecretRequest): Promise<ApplySecretResponse__Output> {
    return this.call((md, o, cb) => this.secrets.ApplySecret(req, md, o, cb));
  }
  getSecret(namespace: string, name: string): Promise<Secret__Output> {
    return this.call((md, o, cb) => this.secrets.GetSecret({ namespace, name }, md, o, cb));
  }
  async listSecrets(namespace = ''): Promise<Secret__Output[]> {
    return (await this.call<{ secrets: Secret__Output[] }>((md, o, cb) => this.secrets.ListSecrets({ namespace }, md, o, cb))).secrets;
  }
  async deleteSecret(namespace: string, name: string): Promise<Secret__Output | null> {
    return (await this.call<{ secret: Secret__Output | null }>((md, o, cb) => this.secrets.DeleteSecret({ namespace, name }, md, o, cb)))
      .secret;
  }
}
