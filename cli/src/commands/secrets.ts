// `berth get secrets` and `berth delete secret`: names, keys and sizes; values are never shown
// (the controller does not return them).
import type { Command } from 'commander';
import type { Secret__Output } from '../../../proto/gen/berth/v1/Secret.js';
import { humanBytes } from '../../../proto/src/spec/units.js';
import { age, table } from '../output.js';
import { SecretClient } from '../secret-client.js';
import { matches, type Requirement } from '../selector.js';
import { controllerAddress } from './common.js';

export function secretsTable(secrets: Secret__Output[]): string {
  const rows = secrets.map((s) => [
    s.meta?.namespace ?? '',
    s.meta?.name ?? '',
    s.keys.map((k) => `${k.name} (${humanBytes(k.sizeBytes)})`).join(', ') || '-',
    String(s.version),
    age(s.meta?.createdAtMs ?? 0),
  ]);
  return table(['NAMESPACE', 'NAME', 'KEYS', 'VERSION', 'AGE'], rows);
}

/** What -o json|yaml prints: everything but values (which the API never returns). */
function plain(s: Secret__Output): unknown {
  return {
    meta: s.meta,
    keys: s.keys.map((k) => ({ name: k.name, sizeBytes: k.sizeBytes })),
    version: s.version,
    modRevision: s.modRevision,
    keyId: s.keyId,
  };
}

/** `berth get secrets [NAME] [-l SELECTOR]`: the selector matches the secrets' labels, as for services. */
export async function getSecrets(
  cmd: Command,
  namespace: string,
  name: string | undefined,
  selector: Requirement[] | undefined,
  emit: (data: unknown, text: () => string) => void,
): Promise<void> {
  const c = new SecretClient(controllerAddress(cmd));
  try {
    const list = (name ? [await c.getSecret(namespace || 'default', name)] : await c.listSecrets(namespace))
      .filter((s) => !selector || matches(s.meta?.labels ?? {}, selector))
      .sort((a, b) => `${a.meta?.namespace}/${a.meta?.name}`.localeCompare(`${b.meta?.namespace}/${b.meta?.name}`));
    emit(list.map(plain), () => secretsTable(list));
  } finally {
    c.close();
  }
}

/** Deletes each target with one client, printing `KIND/NS/NAME deleted` (secrets, policies). */
export async function deleteEach(
  cmd: Command,
  kind: string,
  targets: Array<{ namespace: string; name: string }>,
  del: (c: SecretClient, namespace: string, name: string) => Promise<unknown>,
): Promise<void> {
  const c = new SecretClient(controllerAddress(cmd));
  try {
    for (const t of targets) {
      await del(c, t.namespace, t.name);
      process.stdout.write(`${kind}/${t.namespace}/${t.name} deleted\n`);
    }
  } finally {
    c.close();
  }
}

export function deleteSecrets(cmd: Command, targets: Array<{ namespace: string; name: string }>): Promise<void> {
  return deleteEach(cmd, 'secret', targets, (c, ns, name) => c.deleteSecret(ns, name));
}
