// A real etcd for a test file (TLS, client certificates required): started before its tests in a
// temp dir, stopped and removed after.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from '../../cli/src/local/process.js';
import { startEtcd, type Etcd } from '../../cli/src/local/services.js';
import { ensureBackendPki } from '../../cli/src/local/pki.js';
import type { EtcdStoreOptions } from '../../controller/src/store/etcd-store.js';
import { etcdStoreOptions } from './backends.js';

/**
 * Registers the hooks; read `.endpoint` and `.options` (EtcdStore options with its client
 * certificate) inside tests. TLS, client certificates required.
 */
export function useEtcd(): {
  readonly endpoint: string;
  readonly options: EtcdStoreOptions;
  readonly etcd: Etcd;
} {
  let etcd: Etcd | undefined;
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync('/tmp/bt-etcd-');
    const pki = await ensureBackendPki(join(dir, 'tls'));
    etcd = await startEtcd({
      dir: join(dir, 'data'),
      clientPort: await freePort(),
      peerPort: await freePort(),
      logFile: join(dir, 'etcd.log'),
      tls: { server: pki.etcd, client: pki.client },
    });
  });
  afterAll(async () => {
    await etcd?.proc.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const started = (): Etcd => {
    if (!etcd) throw new Error('etcd is not started yet (use it inside a test)');
    return etcd;
  };
  return {
    get endpoint(): string {
      return started().endpoint;
    },
    get options(): EtcdStoreOptions {
      return etcdStoreOptions(started());
    },
    get etcd(): Etcd {
      return started();
    },
  };
}
