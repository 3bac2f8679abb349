// `npm run bench:compare -- --base REV [--benches scheduler,rollout,failover] [--rounds N]`: runs
// the benchmarks of this tree and of a baseline checkout (REV, in a git worktree under /tmp) in
// the same session, alternating which goes first each round, so the machine's drifting load
// weighs on both alike. Prints each figure's median for both side by side with their ratio, and
// appends the table to docs/benchmarks.md. Not a pass/fail test: it fails only when a benchmark
// does (exit 1), or on a usage mistake (exit 2).
//
// Figures compared (lower is better for times, higher for rates):
//   scheduler  placements/s (wall) at 1,000 / 5,000 / 10,000 nodes (test/bench/scheduler.ts)
//   rollout    Berth's rolling update of 100 replicas, apply → completed (BENCH_SWARM=0: Berth alone)
//   failover   Berth's dead-agent kill → replacements running, silent agent → unknown (median of
//              the trials), leader kill → new leader (the Swarm part is left out: it does not change)
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, symlinkSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const DOC = join(ROOT, 'docs', 'benchmarks.md');
/** Each round runs every benchmark twice (baseline and this tree): bounded. */
const MAX_ROUNDS = 5;

const BENCHES = {
  scheduler: {
    cmd: ['npm', 'run', '--silent', 'bench:scheduler'],
    env: {},
    figures(out) {
      const f = {};
      for (const m of out.matchAll(/^\| ([\d,]+) \| [\d,]+ \| \d+ \| \d+ \| ([\d,]+) \|/gm))
        f[`placements/s (wall), ${m[1]} nodes`] = { value: Number(m[2].replaceAll(',', '')), better: 'higher' };
      return f;
    },
  },
  rollout: {
    cmd: ['npx', 'vitest', 'run', '--config', 'test/bench/vitest.config.ts', 'test/bench/rollout.bench.test.ts'],
    // Berth alone, with TLS (older trees print `Berth: …`, newer `Berth (tls): …`).
    env: { BENCH_SWARM: '0', BENCH_PAIRS: '0' },
    figures(out) {
      const m = /^Berth(?: \(tls\))?: ([\d.]+) s, fewest ready (\d+)/m.exec(out);
      return m ? { 'rolling update of 100 replicas (s)': { value: Number(m[1]), better: 'lower' } } : {};
    },
  },
  failover: {
    cmd: ['npx', 'vitest', 'run', '--config', 'test/bench/vitest.config.ts', 'test/bench/failover.bench.test.ts', '-t', 'Berth'],
    env: { BENCH_TRANSPORT: 'tls' },
    figures(out) {
      const f = {};
      const dead = /kill → running (\d+) ms/.exec(out);
      if (dead) f['dead agent: kill → replacements running (ms)'] = { value: Number(dead[1]), better: 'lower' };
      const silent = /silent agent \(link cut\), \d+ trials: unknown after ([\d, ]+) ms/.exec(out);
      if (silent) f['silent agent → unknown, median of trials (ms)'] = { value: median(silent[1].split(',').map(Number)), better: 'lower' };
      const leader = /leader kill -9: new leader after (\d+) ms; a change applied at the kill reconciled \(placed\) after (\d+) ms/.exec(
        out,
      );
      if (leader) {
        f['leader kill → new leader (ms)'] = { value: Number(leader[1]), better: 'lower' };
        f['leader kill → change reconciled (ms)'] = { value: Number(leader[2]), better: 'lower' };
      }
      return f;
    },
  },
};

const args = process.argv.slice(2);
const arg = (name) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? undefined : args[i + 1];
};
const usage = (msg) => {
  console.error(`bench:compare: ${msg}`);
  process.exit(2);
};
const base = arg('base');
if (!base) usage('--base REV is required (the commit to compare with, e.g. --base 27eca90)');
const benches = (arg('benches') ?? 'scheduler,rollout,failover').split(',').map((b) => b.trim());
for (const b of benches)
  if (!(b in BENCHES)) usage(`--benches: unknown benchmark ${JSON.stringify(b)}; use ${Object.keys(BENCHES).join(', ')}`);
const roundsArg = arg('rounds') ?? '2';
const rounds = Number(roundsArg);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS)
  usage(`--rounds: expected a whole number from 1 to ${MAX_ROUNDS}, got ${JSON.stringify(roundsArg)}`);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

const git = (...a) => execFileSync('git', ['-C', ROOT, ...a], { encoding: 'utf8' }).trim();

/** The baseline's worktree, made once per commit; it shares this tree's node_modules when its dependencies are a subset. */
function baselineTree(rev) {
  const commit = git('rev-parse', '--verify', `${rev}^{commit}`);
  const dir = `/tmp/berth-bench-base-${commit.slice(0, 12)}`;
  if (!existsSync(dir)) git('worktree', 'add', '--detach', dir, commit);
  const ours = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const theirs = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const field of ['dependencies', 'devDependencies']) {
    for (const [name, version] of Object.entries(theirs[field] ?? {})) {
      const have = ours.dependencies?.[name] ?? ours.devDependencies?.[name];
      if (have !== version)
        usage(
          `the baseline needs ${name}@${version} and this tree has ${have ?? 'none'}: install the baseline's dependencies in ${dir} first (npm ci there)`,
        );
    }
  }
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return { dir, commit };
}

/** Runs one benchmark in a tree; its output (streamed through, and kept for the figures). */
function run(tree, bench) {
  const b = BENCHES[bench];
  return new Promise((res) => {
    const child = spawn(b.cmd[0], b.cmd.slice(1), { cwd: tree, env: { ...process.env, ...b.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (chunk) => {
      out += chunk.toString();
      process.stdout.write(chunk);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('close', (code) => res({ code, out: out.replace(/\x1b\[[0-9;]*m/g, '') }));
  });
}

const tsc = (dir, project) =>
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, project)], { stdio: 'inherit' });

const { dir: baseDir, commit } = baselineTree(base);
const head = git('rev-parse', '--short=12', 'HEAD');
const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
console.log(`bench:compare: this tree (${head}${dirty ? ', with uncommitted changes' : ''}) against ${commit.slice(0, 12)} in ${baseDir}`);
for (const d of [baseDir, ROOT]) tsc(d, 'tsconfig.build.json');

const load0 = loadavg()[0];
/** figures[bench][figure] = { base: [], head: [], better } */
const figures = {};
for (let round = 0; round < rounds; round++) {
  for (const bench of benches) {
    // Alternate which tree goes first, so a trend in the machine's load favours neither.
    const order = round % 2 === 0 ? ['base', 'head'] : ['head', 'base'];
    for (const which of order) {
      console.log(
        `\n=== round ${round + 1}/${rounds}: ${bench}, ${which === 'base' ? `baseline ${commit.slice(0, 12)}` : `this tree ${head}`}`,
      );
      const r = await run(which === 'base' ? baseDir : ROOT, bench);
      if (r.code !== 0) {
        console.error(`bench:compare: ${bench} failed in ${which === 'base' ? baseDir : ROOT} (exit ${r.code})`);
        process.exit(1);
      }
      const found = BENCHES[bench].figures(r.out);
      if (Object.keys(found).length === 0) {
        console.error(`bench:compare: ${bench} printed none of the figures it is compared by (its output format changed?)`);
        process.exit(1);
      }
      for (const [name, { value, better }] of Object.entries(found)) {
        const f = ((figures[bench] ??= {})[name] ??= { base: [], head: [], better });
        f[which].push(value);
      }
    }
  }
}
const load1 = loadavg()[0];

const rows = [];
for (const bench of benches) {
  for (const [name, f] of Object.entries(figures[bench] ?? {})) {
    const b = median(f.base);
    const h = median(f.head);
    // The ratio reads "this tree is N× as good": above 1 is better whichever way the figure goes.
    const ratio = f.better === 'higher' ? h / b : b / h;
    rows.push([bench, name, f.base.join(', '), f.head.join(', '), ratio.toFixed(2)]);
  }
}
const when = new Date().toISOString().replace('T', ' ').slice(0, 16);
const table =
  `\n${when} UTC, ${cpus().length} cores, load ${load0.toFixed(1)} → ${load1.toFixed(1)}; this tree ${head}${dirty ? ' (uncommitted changes)' : ''} against ${commit.slice(0, 12)}, ${rounds} round(s), alternating:\n\n` +
  '| benchmark | figure | baseline | this tree | this tree ÷ baseline (> 1: better) |\n|---|---|---|---|---|\n' +
  rows.map((r) => `| ${r.join(' | ')} |`).join('\n') +
  '\n';
console.log(table);
appendFileSync(DOC, table);
