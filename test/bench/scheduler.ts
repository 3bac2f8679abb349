// npm run bench:scheduler — the pure scheduler at 1,000 / 5,000 / 10,000 nodes with 100,000
// pending tasks of 100 services, on one core (Node runs schedule() on one thread). Services mix
// what real clusters ask for: reservations of different sizes, spread and binpack, constraints
// on a zone label, spreadBy zone, maxPerNode, and a few with host ports. Prints placements per
// second next to published reference figures. Not a test: nothing here asserts a timing.
import { cpus, loadavg } from 'node:os';
import { schedule, type PendingTask, type SchedNode, type TaskPlacement } from '../../controller/src/scheduler/scheduler.js';
import { parseConstraint, type Constraint } from '../../proto/src/spec/placement.js';
import { seededRandom } from '../harness/random.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const SERVICES = 100;
const TASKS = 100_000;
const NODE_COUNTS = [1_000, 5_000, 10_000];
const ZONES = ['a', 'b', 'c', 'd', 'e'];
/** Timed runs per size; the median is reported. */
const RUNS = 5;

/** Published figures to compare with (placements per second). */
const REFERENCES: Array<[string, number]> = [
  ['kube-scheduler CI gate (scheduler_perf, pods/s)', 810],
  ['Nomad C1M (containers/s, 5 servers)', 3_750],
];

/** Deterministic pseudo-random numbers: the same cluster every run. */
const rng = seededRandom;

function constraint(s: string): Constraint {
  const c = parseConstraint(s);
  if ('error' in c) throw new Error(c.error);
  return c;
}

function cluster(n: number): SchedNode[] {
  const r = rng(n);
  return Array.from({ length: n }, (_, i) => {
    const big = r() < 0.3;
    return {
      id: `node-${String(i).padStart(5, '0')}`,
      state: 'ready',
      availability: r() < 0.02 ? 'pause' : 'active',
      capacity: { cpuMilli: (big ? 96 : 48) * 1000, memoryBytes: (big ? 384 : 192) * GiB },
      allocated: { cpuMilli: 0, memoryBytes: 0 },
      tasksByService: new Map(),
      totalTasks: 0,
      hostname: `node-${i}`,
      os: 'linux',
      arch: r() < 0.1 ? 'arm64' : 'amd64',
      labels: { zone: ZONES[i % ZONES.length]!, disk: r() < 0.5 ? 'ssd' : 'hdd' },
      ports: [],
    };
  });
}

function workload(): PendingTask[] {
  const r = rng(42);
  const out: PendingTask[] = [];
  const perService = TASKS / SERVICES;
  for (let s = 0; s < SERVICES; s++) {
    const placement: TaskPlacement = { strategy: s % 4 === 3 ? 'binpack' : 'spread' };
    if (s % 5 === 1) placement.constraints = [constraint(`node.labels.zone != ${ZONES[s % ZONES.length]}`)];
    if (s % 7 === 2) placement.constraints = [...(placement.constraints ?? []), constraint('node.arch == amd64')];
    if (s % 4 === 1) placement.spreadBy = 'node.labels.zone';
    if (s % 6 === 0) placement.maxPerNode = 4;
    const resources = { cpuMilli: Math.round(50 + r() * 250), memoryBytes: Math.round(64 + r() * 448) * MiB };
    const hostPorts = s % 25 === 0 ? [{ protocol: 'tcp', port: 20_000 + s, hostIp: '' }] : undefined;
    for (let i = 0; i < perService; i++) {
      out.push({
        id: `svc${String(s).padStart(3, '0')}-${String(i).padStart(5, '0')}`,
        serviceKey: `bench/svc${s}`,
        resources,
        placement,
        ...(hostPorts ? { hostPorts } : {}),
      });
    }
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function main(): void {
  const pending = workload();
  console.log(`# scheduler benchmark: ${fmt(TASKS)} pending tasks of ${SERVICES} services, one core`);
  console.log(
    `# node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'}, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}; medians of ${RUNS} runs`,
  );
  // Warm-up: let the JIT see the hot paths.
  schedule({ nodes: cluster(500) }, pending.slice(0, 20_000), 1);
  const rows: string[][] = [];
  for (const n of NODE_COUNTS) {
    const nodes = cluster(n);
    const wall: number[] = [];
    const cpu: number[] = [];
    let placed = 0;
    let unplaced = 0;
    for (let run = 0; run < RUNS; run++) {
      const t0 = process.hrtime.bigint();
      const c0 = process.cpuUsage();
      const plan = schedule({ nodes }, pending, run);
      const c = process.cpuUsage(c0);
      wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
      cpu.push((c.user + c.system) / 1000);
      placed = plan.assignments.length;
      unplaced = plan.unplaced.length;
    }
    const w = median(wall);
    const c = median(cpu);
    rows.push([fmt(n), fmt(placed), fmt(unplaced), w.toFixed(0), fmt((placed / w) * 1000), c.toFixed(0), fmt((placed / c) * 1000)]);
  }
  // CPU time is what one core spent; wall time also counts waiting for a core on a busy machine.
  const header = ['nodes', 'placed', 'unplaced (explained)', 'wall ms', 'placements/s (wall)', 'cpu ms', 'placements/s (cpu)'];
  console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log('\nreference figures:');
  for (const [what, v] of REFERENCES) console.log(`  ${what}: ${fmt(v)}/s`);
}

main();
