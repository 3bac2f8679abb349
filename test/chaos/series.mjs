// `npm run test:chaos:series -- --seeds 97x10,11,23 [--faults 60]`: runs chaos soaks one after
// another (test/chaos/soak.mjs; `97x10` is seed 97 ten times; at most MAX_RUNS runs) and appends
// a table of their results to docs/benchmarks.md, one row as each run ends (a series cut short
// keeps the rows of the runs it finished).
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

/** A series is for a quiet machine and takes ~7 min per 60-fault run: bounded. */
const MAX_RUNS = 30;
const DOC = 'docs/benchmarks.md';

const args = process.argv.slice(2);
const arg = (name) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? undefined : args[i + 1];
};
const fail = (msg) => {
  console.error(msg);
  process.exit(2);
};
const faultsArg = arg('faults') ?? '60';
const faults = Number(faultsArg);
if (!Number.isInteger(faults) || faults < 1) fail(`--faults: expected a whole number ≥ 1, got ${JSON.stringify(faultsArg)}`);
const seedsArg = arg('seeds');
if (!seedsArg) fail('--seeds: required, e.g. --seeds 97x10,11,23 (seed, or seed x count)');
const seeds = [];
for (const part of seedsArg.split(',')) {
  const m = /^(\d+)(?:x(\d+))?$/.exec(part.trim());
  if (!m) fail(`--seeds: expected seed or seedxcount, got ${JSON.stringify(part)}`);
  const n = Number(m[2] ?? 1);
  if (n < 1) fail(`--seeds: count must be ≥ 1 in ${JSON.stringify(part)}`);
  for (let i = 0; i < n; i++) seeds.push(Number(m[1]));
}
if (seeds.length > MAX_RUNS) fail(`--seeds: ${seeds.length} runs asked, at most ${MAX_RUNS}`);

/** One soak; its output goes through to the console and is kept for the row. */
function soak(seed) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['test/chaos/soak.mjs', '--faults', String(faults), '--seed', String(seed)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b) => {
      out += b.toString();
      process.stdout.write(b);
    });
    child.on('close', (code) => resolve({ code, out }));
  });
}

const started = new Date().toISOString();
appendFileSync(
  DOC,
  `\n### Chaos series, ${faults} faults per run (started ${started})\n\n` +
    `\`npm run test:chaos:series -- --seeds ${seedsArg} --faults ${faults}\`; duplicates judged from the engines' start/stop times.\n\n` +
    '| run | seed | result | recovery after heal | handovers seen (no overlap) | exit | report |\n|---|---|---|---|---|---|---|\n',
);
let bad = 0;
for (const [i, seed] of seeds.entries()) {
  const t0 = Date.now();
  const { code, out } = await soak(seed);
  const result = /^(\d+ faults, \d+ lost, \d+ duplicated, \d+ restarts)$/m.exec(out)?.[1] ?? 'no summary (see its output)';
  const recovery = /^recovery after heal: (.*)$/m.exec(out)?.[1] ?? '-';
  const handovers = (out.match(/^handover seen across hosts' listings/gm) ?? []).length;
  const report = /^history kept in (.*)$/m.exec(out)?.[1] ?? '-';
  if (code !== 0) bad++;
  appendFileSync(DOC, `| ${i + 1} | ${seed} | \`${result}\` | ${recovery} | ${handovers} | ${code} | ${report} |\n`);
  console.log(`series: run ${i + 1}/${seeds.length} (seed ${seed}) ${result}, exit ${code}, ${Math.round((Date.now() - t0) / 1000)} s`);
}
appendFileSync(DOC, `\n${seeds.length - bad} of ${seeds.length} runs clean.\n`);
process.exit(bad === 0 ? 0 : 1);
