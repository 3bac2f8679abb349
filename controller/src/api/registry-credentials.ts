// Registry credentials held by the controller, their passwords sealed with the controller's key
// like Secret values. The API never returns a password; the dispatcher hands it only to the agent
// whose task pulls with it from the credential's own registry, inside that task's assignment.
import type { Clock } from '../../../proto/src/clock.js';
import { FailedPreconditionError, NotFoundError, ValidationError } from '../../../proto/src/errors.js';
import type { SecretCipher } from '../secrets/cipher.js';
import { registryAad } from '../secrets/registry-password.js';
import type { Issue } from '../../../proto/src/spec/dsl.js';
import type { RegistryCredentialRecord } from '../../../proto/src/lifecycle-model.js';
import type { Keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { registryCredentialCodec } from '../store/codecs.js';
import { deleteOp, putOp } from '../store/ops.js';

const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SERVER_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$/;

export type CredentialView = Omit<RegistryCredentialRecord, 'password' | 'sealed'>;

export function withoutPassword(r: RegistryCredentialRecord): CredentialView {
  const { password: _password, sealed: _sealed, ...rest } = r;
  return rest;
}

export class RegistryCredentialApi {
  constructor(private readonly deps: { store: Store; keys: Keys; clock: Clock; cipher: SecretCipher | undefined }) {}

  async set(req: { namespace: string; name: string; server: string; username: string; password: string }): Promise<CredentialView> {
    const issues: Issue[] = [];
    if (!NAME_RE.test(req.name) || req.name.length > 63)
      issues.push({ path: 'name', message: 'use lowercase letters, digits and "-" (DNS-1123 label, at most 63)' });
    if (!NAME_RE.test(req.namespace) || req.namespace.length > 63)
      issues.push({ path: 'namespace', message: 'use lowercase letters, digits and "-" (DNS-1123 label)' });
    if (!SERVER_RE.test(req.server) || req.server.length > 255)
      issues.push({ path: 'server', message: 'expected a registry address host[:port], e.g. registry.example.com or 127.0.0.1:5000' });
    if (!req.username || req.username.length > 255 || /[\u0000-\u001f]/.test(req.username))
      issues.push({ path: 'username', message: 'must be 1–255 printable characters' });
    if (!req.password || req.password.length > 4096)
      issues.push({ path: 'password', message: 'must not be empty (at most 4096 characters)' });
    if (issues.length > 0) throw new ValidationError(issues, 'registry credential');
    const { cipher } = this.deps;
    if (!cipher)
      throw new FailedPreconditionError(
        'this controller has no secret key, and Berth stores registry passwords only encrypted: start every controller with --secret-key-file (berth up makes one in .berth/secret.key)',
      );
    const { password, ...rest } = req;
    const record: RegistryCredentialRecord = {
      ...rest,
      sealed: cipher.seal(Buffer.from(password, 'utf8'), registryAad(req.namespace, req.name)),
      updatedAtMs: this.deps.clock.now(),
    };
    await this.deps.store.commit([putOp(this.deps.keys.registryCredential(req.namespace, req.name), registryCredentialCodec, record)]);
    return withoutPassword(record);
  }

  async list(namespace: string): Promise<CredentialView[]> {
    const { keys, store } = this.deps;
    const { items } = await store.list(namespace ? `${keys.registryCredentials}${namespace}/` : keys.registryCredentials);
    return items.map((kv) => withoutPassword(registryCredentialCodec.decode(kv)));
  }

  async delete(namespace: string, name: string): Promise<void> {
    const key = this.deps.keys.registryCredential(namespace, name);
    if (!(await this.deps.store.get(key))) throw new NotFoundError(`registry credential ${namespace}/${name}`);
    await this.deps.store.commit([deleteOp(key)]);
  }
}
