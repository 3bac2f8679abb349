// Mounts an engine left behind (a killed dockerd's data root, a container's overlay, swarm's
// network namespaces): lazily unmounted so that the test's folder can be removed.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export function unmountUnder(dir: string): void {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(prefix));
  for (const m of mounts.sort().reverse()) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      /* already gone */
    }
  }
}
