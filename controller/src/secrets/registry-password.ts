// Registry passwords are sealed like Secret values: their authenticated data names the
// credential, and a record from before sealing holds the password in the clear.
import type { RegistryCredentialRecord } from '../../../proto/src/lifecycle-model.js';
import type { SecretCipher } from './cipher.js';

/** Authenticated data of a sealed password: the credential it belongs to. */
export const registryAad = (namespace: string, name: string): string => `registry/${namespace}/${name}`;

/** The password of a credential (sealed, or a record from before sealing); undefined when it cannot be opened. */
export function registryPassword(r: RegistryCredentialRecord, cipher: SecretCipher | undefined): string | undefined {
  if (r.sealed) {
    if (!cipher) return undefined;
    try {
      return cipher.open(r.sealed, registryAad(r.namespace, r.name)).toString('utf8');
    } catch {
      return undefined;
    }
  }
  return r.password;
}
