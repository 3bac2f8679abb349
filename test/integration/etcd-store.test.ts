// The Store contract against a real etcd (the same suite the memory store passes).
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { EtcdStore } from '../../controller/src/store/etcd-store.js';
import { freePort } from '../../cli/src/local/process.js';
import { startEtcd, type Etcd } from '../../cli/src/local/services.js';
import { storeContract } from '../contract/store-contract.js';

let etcd: Etcd;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync('/tmp/bt-etcd-');
  etcd = await startEtcd({ dir: join(dir, 'data'), clientPort: await freePort(), peerPort: await freePort(), logFile: join(dir, 'etcd.log') });
});

afterAll(async () => {
  await etcd?.proc.stop();
  rmSync(dir, { recursive: true, force: true });
});

storeContract('EtcdStore (real etcd)', async () => {
  const store = EtcdStore.connect({ endpoints: [etcd.endpoint] });
  return {
    store,
    cleanup: () => store.close(),
    compact: async (rev: number) => {
      await store.client.kv.compact({ revision: rev, physical: true });
    },
  };
});
