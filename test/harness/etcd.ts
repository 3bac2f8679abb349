// A real etcd for a test file: started before its tests in a temp dir, stopped and removed after.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from '../../cli/src/local/process.js';
import { startEtcd, type Etcd } from '../../cli/src/local/services.js';

/** Registers the hooks; read `.endpoint` inside tests. */
export function useEtcd(): { readonly endpoint: string } {
  let etcd: Etcd | undefined;
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync('/tmp/bt-etcd-');
    etcd = await startEtcd({
      dir: join(dir, 'data'),
      clientPort: await freePort(),
      peerPort: await freePort(),
      logFile: join(dir, 'etcd.log'),
    });
  });
  afterAll(async () => {
    await etcd?.proc.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    get endpoint(): string {
      if (!etcd) throw new Error('etcd is not started yet (use it inside a test)');
      return etcd.endpoint;
    },
  };
}
