// A promise-based SecretAPI and PolicyAPI client: the deadlines and error wording of the ControlAPI client it
// extends.
import { loadProto } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as SecretsProto } from '../../proto/gen/secrets.js';
import type { SecretAPIClient } from '../../proto/gen/berth/v1/SecretAPI.js';
import type { ApplySecretRequest } from '../../proto/gen/berth/v1/ApplySecretRequest.js';
import type { ApplySecretResponse__Output } from '../../proto/gen/berth/v1/ApplySecretResponse.js';
import type { Secret__Output } from '../../proto/gen/berth/v1/Secret.js';
import type { ProtoGrpcType as PolicyProto } from '../../proto/gen/policy.js';
import type { PolicyAPIClient } from '../../proto/gen/berth/v1/PolicyAPI.js';
import type { ApplyPolicyRequest } from '../../proto/gen/berth/v1/ApplyPolicyRequest.js';
import type { ApplyPolicyResponse__Output } from '../../proto/gen/berth/v1/ApplyPolicyResponse.js';
import type { Policy__Output } from '../../proto/gen/berth/v1/Policy.js';
import { BerthClient } from './client.js';

export class SecretClient extends BerthClient {
  private secretsClient: SecretAPIClient | undefined;
  private policyClient: PolicyAPIClient | undefined;

  /** Made on first use, as secrets. */
  get policy(): PolicyAPIClient {
    this.policyClient ??= this.open(loadProto<PolicyProto>('policy').berth.v1.PolicyAPI);
    return this.policyClient;
  }
  applyPolicy(req: ApplyPolicyRequest): Promise<ApplyPolicyResponse__Output> {
    return this.call((md, o, cb) => this.policy.ApplyPolicy(req, md, o, cb));
  }
  async listPolicies(namespace = ''): Promise<Policy__Output[]> {
    return (await this.call<{ policies: Policy__Output[] }>((md, o, cb) => this.policy.ListPolicies({ namespace }, md, o, cb))).policies;
  }
  async deletePolicy(namespace: string, name: string): Promise<Policy__Output | null> {
    return (await this.call<{ policy: Policy__Output | null }>((md, o, cb) => this.policy.DeletePolicy({ namespace, name }, md, o, cb)))
      .policy;
  }

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
