// Host networking pieces for simulated hosts: a bridge per dockerd, chosen so that parallel runs
// never collide (names and subnets are checked against what exists).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

export function usedSubnets(): Set<string> {
  const out = ip('-o', '-4', 'addr', 'show');
  const s = new Set<string>();
  for (const m of out.matchAll(/inet (\d+\.\d+\.\d+)\.\d+\//g)) s.add(m[1]!);
  return s;
}

export interface Bridge {
  name: string;
  gateway: string;
}

/** Creates a bridge with a free 10.213.x.0/24 (10.214... if full) and brings it up. */
export function createBridge(): Bridge {
  const name = `btr${randomBytes(4).toString('hex')}`.slice(0, 15);
  const used = usedSubnets();
  for (let tries = 0; tries < 500; tries++) {
    const third = 1 + ((randomBytes(1)[0]! + tries) % 250);
    const second = 213 + Math.floor(tries / 250);
    const net = `10.${second}.${third}`;
    if (used.has(net)) continue;
    ip('link', 'add', 'name', name, 'type', 'bridge');
    ip('addr', 'add', `${net}.1/24`, 'dev', name);
    ip('link', 'set', name, 'up');
    return { name, gateway: `${net}.1` };
  }
  throw new Error('no free subnet for a test bridge');
}

export function deleteBridge(name: string): void {
  try {
    ip('link', 'delete', name);
  } catch {
    /* already gone */
  }
}

/**
 * A loopback address of its own for each simulated host (all of 127/8 is local on Linux);
 * `runBase` (two random bytes per cluster) keeps parallel test runs apart.
 */
export function hostAddress(runBase: [number, number], index: number): string {
  return `127.${runBase[0]}.${(runBase[1] + Math.floor(index / 250)) % 256}.${1 + (index % 250)}`;
}

export function randomRunBase(): [number, number] {
  const b = randomBytes(2);
  return [2 + (b[0]! % 250), b[1]!];
}
