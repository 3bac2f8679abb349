// Integration prerequisites: root (dockerd, bridges), the Debian binaries, a fresh build. At the
// end, any process a harness started and did not stop (a crashed test) is killed by its pid.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { BERTH_BIN, ROOT, distIsFresh, procStartTime } from '../harness/cluster.js';

const PID_REGISTRY = `/tmp/berth-test-pids-${process.pid}`;
// Workers inherit this: every harness of this run records its pids in one file.
process.env['BERTH_PID_REGISTRY'] = PID_REGISTRY;

export function setup(): void {
  if (process.getuid?.() !== 0)
    throw new Error('integration tests run dockerd and create bridges: run them as root (npm test does the set-up)');
  for (const bin of ['etcd', 'nats-server', 'dockerd', 'busybox', 'ip']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`]);
    } catch {
      throw new Error(`${bin} not found: run deploy/local/setup.sh (npm test does)`);
    }
  }
  if (!distIsFresh()) {
    execFileSync(process.execPath, [`${ROOT}/node_modules/typescript/bin/tsc`, '-p', `${ROOT}/tsconfig.build.json`], { stdio: 'inherit' });
  }
  if (!existsSync(BERTH_BIN)) throw new Error('build failed: no ' + BERTH_BIN);
  // A registry left by an earlier process with this pid goes; this run's own (both integration
  // projects share this set-up, each calls it) stays.
  const startedAt = Date.now() - process.uptime() * 1000;
  if (existsSync(PID_REGISTRY) && statSync(PID_REGISTRY).mtimeMs < startedAt) rmSync(PID_REGISTRY, { force: true });
}

export function teardown(): void {
  if (!existsSync(PID_REGISTRY)) return;
  for (const line of readFileSync(PID_REGISTRY, 'utf8').split('\n')) {
    const [pidText, startedAt] = line.split(' ');
    const pid = Number(pidText);
    // Only a process that is still the one the harness started (same start time): a pid that
    // has been reused since belongs to someone else.
    if (!pid || !startedAt || procStartTime(pid) !== startedAt) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  rmSync(PID_REGISTRY, { force: true });
}
