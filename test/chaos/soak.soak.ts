// The chaos soak: CHAOS_FAULTS random faults (CHAOS_SEED makes the run reproducible) on one
// cluster, each followed by convergence; the invariants are checked over the whole history and
// the summary printed as `N faults, N lost, N duplicated, N restarts`. Run it with
// `npm run test:chaos -- --faults 60 [--seed 7]`. Duplicates are judged from the engines' own
// start/stop times; the history (on a failure: each copy's runs and the log lines of its slot) is
// kept in a report file under .chaos/ (CHAOS_OUT), whose path is printed.
import { afterAll, expect, it } from 'vitest';
import { BOUNDS, Chaos, FAULT_KINDS, SERVICES, rng } from './chaos.js';
import { checkInvariants, describeHandovers, describeViolations, summary } from './invariants.js';

const FAULTS = Number(process.env['CHAOS_FAULTS'] ?? 60);
const SEED = Number(process.env['CHAOS_SEED'] ?? 1);

let chaos: Chaos | undefined;

afterAll(async () => {
  await chaos?.stop();
});

it(
  `soak: ${FAULTS} random faults (seed ${SEED})`,
  async () => {
    chaos = await Chaos.start();
    chaos.startSampling();
    const random = rng(SEED);
    const recoveries: number[] = [];
    for (let i = 0; i < FAULTS; i++) {
      const kind = FAULT_KINDS[Math.floor(random() * FAULT_KINDS.length)]!;
      const f = await chaos.inject(kind, random);
      const ms = await chaos.converged(`fault ${i + 1} (${kind})`);
      recoveries.push(ms);
      process.stdout.write(`fault ${i + 1}/${FAULTS}: ${kind} (${f.target}), converged ${ms} ms after heal\n`);
      await new Promise((r) => setTimeout(r, 500 + random() * 1_500));
    }
    await chaos.endSampling();
    const engine = chaos.engineHistory();
    const v = checkInvariants(chaos.samples, SERVICES, chaos.faults, BOUNDS, engine);
    const sorted = [...recoveries].sort((a, b) => a - b);
    process.stdout.write(`recovery after heal: median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms\n`);
    process.stdout.write(
      `engine history: ${engine.containers.length} containers, ${engine.containers.reduce((n, c) => n + c.runs.length, 0)} runs; duplicates judged from engine times\n`,
    );
    const violations = describeViolations(v);
    if (violations) process.stdout.write(`${violations}\n`);
    const handovers = describeHandovers(v);
    if (handovers) process.stdout.write(`${handovers}\n`);
    // Kept always (small); on a failure it is what explains it.
    process.stdout.write(`history kept in ${chaos.report(v, `soak-seed${SEED}`)}\n`);
    process.stdout.write(`${summary(chaos.faults.length, v)}\n`);
    expect(violations).toBe('');
  },
  3 * 3600_000,
);
