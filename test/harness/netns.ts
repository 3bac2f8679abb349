// Host networking pieces for simulated hosts: a bridge per dockerd, chosen so that parallel runs
// never collide (names and subnets are checked against what exists, under a lock).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync } from 'node:fs';

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

/** Held while a subnet is chosen and taken, so that parallel test files never take the same one. */
const BRIDGE_LOCK = '/tmp/berth-test-bridge.lock';
/** A lock older than this was left by a process that died holding it. */
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 30_000;

export function withSubnetLock<T>(fn: () => T): T {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(BRIDGE_LOCK);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(BRIDGE_LOCK).mtimeMs > STALE_LOCK_MS) rmSync(BRIDGE_LOCK, { recursive: true, force: true });
      } catch {
        /* released meanwhile */
      }
      if (Date.now() > deadline) throw new Error(`${BRIDGE_LOCK}: still held after ${LOCK_WAIT_MS} ms`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(BRIDGE_LOCK, { recursive: true, force: true });
  }
}

/** Creates a bridge with a free 10.213.x.0/24 (10.214... if full) and brings it up. */
export function createBridge(): Bridge {
  const name = `btr${randomBytes(4).toString('hex')}`.slice(0, 15);
  return withSubnetLock(() => {
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
  });
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
