// TLS beside plaintext in one benchmark run (bench:rollout, bench:failover): the order in which
// the two modes run, each on a fresh cluster, and the side-by-side table of their figures with
// the ratio TLS ÷ plaintext, printed and appended to docs/benchmarks.md.
import { appendFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { median } from './stats.js';

export type Mode = 'tls' | 'plaintext';

export const DOCS = join(import.meta.dirname, '..', '..', 'docs', 'benchmarks.md');

export const modeTitle = (mode: Mode): string =>
  mode === 'tls' ? 'TLS (mTLS and authorization on every call)' : 'plaintext (--insecure-dev)';

/**
 * The modes in the order they run. BENCH_PAIRS (0 to 5, default 1) pairs of TLS and plaintext,
 * alternating which goes first (TLS, plaintext, plaintext, TLS, …) so that load drifting over
 * minutes weighs on both alike; BENCH_PAIRS=0 runs TLS alone; BENCH_TRANSPORT=tls or plaintext
 * runs that mode alone, once (bench:compare uses it).
 */
export function runOrder(env: NodeJS.ProcessEnv = process.env): Mode[] {
  const only = env['BENCH_TRANSPORT'];
  if (only !== undefined) {
    if (only !== 'tls' && only !== 'plaintext') throw new Error(`BENCH_TRANSPORT: expected tls or plaintext, got ${JSON.stringify(only)}`);
    return [only];
  }
  const raw = env['BENCH_PAIRS'] ?? '1';
  const pairs = Number(raw);
  if (!/^\d+$/.test(raw) || pairs > 5) throw new Error(`BENCH_PAIRS: expected a whole number from 0 to 5, got ${JSON.stringify(raw)}`);
  if (pairs === 0) return ['tls'];
  const order: Mode[] = [];
  for (let i = 0; i < pairs; i++) order.push(...(i % 2 === 0 ? (['tls', 'plaintext'] as const) : (['plaintext', 'tls'] as const)));
  return order;
}

/** A load average as `uptime` prints it (1, 5, 15 min). */
const la = (l: number[]): string => l.map((x) => x.toFixed(2)).join(', ');

interface Figure {
  unit: string;
  digits: number;
  runs: Record<Mode, number[]>;
}

/** Each mode's samples of named figures; the table compares their medians over the runs. */
export class ModeFigures {
  private readonly figures = new Map<string, Figure>();
  private readonly load0 = loadavg();
  private readonly started = new Date();

  /** One run's value of a figure (`unit` as printed: "ms", "s", "CPU-s", ""; `digits` after the point). */
  add(mode: Mode, name: string, value: number, unit: string, digits = 0): void {
    let f = this.figures.get(name);
    if (!f) this.figures.set(name, (f = { unit, digits, runs: { tls: [], plaintext: [] } }));
    f.runs[mode].push(value);
  }

  /** Records the 1-minute load average as a run of `mode` starts (drift between the modes shows in its row). */
  runStarts(mode: Mode): void {
    this.add(mode, 'load average (1 min) as the run started', loadavg()[0]!, '', 1);
  }

  /** True when both modes have figures (a side-by-side table makes sense). */
  get paired(): boolean {
    return [...this.figures.values()].some((f) => f.runs.tls.length > 0 && f.runs.plaintext.length > 0);
  }

  private rows(): Array<{ name: string; tls: string; plain: string; tlsRuns: string; plainRuns: string; ratio: string }> {
    return [...this.figures].map(([name, f]) => {
      const fmt = (x: number): string => `${x.toFixed(f.digits)}${f.unit ? ` ${f.unit}` : ''}`;
      const med = (xs: number[]): string => (xs.length ? fmt(median(xs)) : '-');
      const list = (xs: number[]): string => xs.map((x) => x.toFixed(f.digits)).join(', ');
      const t = f.runs.tls.length ? median(f.runs.tls) : undefined;
      const p = f.runs.plaintext.length ? median(f.runs.plaintext) : undefined;
      return {
        name,
        tls: med(f.runs.tls),
        plain: med(f.runs.plaintext),
        tlsRuns: list(f.runs.tls),
        plainRuns: list(f.runs.plaintext),
        ratio: t === undefined || p === undefined ? '-' : p === 0 ? (t === 0 ? '1.000' : '∞') : (t / p).toFixed(3),
      };
    });
  }

  /** The side-by-side table as printed on the console, with the load average at the start and now. */
  text(): string {
    const rows = this.rows();
    const w = Math.max(6, ...rows.map((r) => r.name.length)) + 2;
    const head = `${'figure'.padEnd(w)}${'TLS'.padEnd(14)}${'plaintext'.padEnd(14)}TLS ÷ plaintext   (medians; runs TLS | plaintext)`;
    return [
      `load average ${la(this.load0)} at the start, ${la(loadavg())} now`,
      head,
      ...rows.map((r) => `${r.name.padEnd(w)}${r.tls.padEnd(14)}${r.plain.padEnd(14)}${r.ratio.padEnd(18)}${r.tlsRuns} | ${r.plainRuns}`),
    ].join('\n');
  }

  /** Appends the table to docs/benchmarks.md under `title`, with the load average at the start and now. */
  append(title: string, about: string): void {
    const load1 = loadavg();
    const when = `${this.started.toISOString().replace('T', ' ').slice(0, 16)}–${new Date().toISOString().slice(11, 16)} UTC`;
    const rows = this.rows();
    appendFileSync(
      DOCS,
      `\n### ${title}, ${when}\n\n${about} ${cpus().length} cores, load average (1, 5, 15 min, as \`uptime\` prints it) ${la(this.load0)} at the start, ${la(load1)} at the end.\n\n` +
        '| figure | TLS (median) | plaintext (median) | TLS ÷ plaintext | TLS runs | plaintext runs |\n|---|---|---|---|---|---|\n' +
        rows.map((r) => `| ${r.name} | ${r.tls} | ${r.plain} | ${r.ratio} | ${r.tlsRuns} | ${r.plainRuns} |`).join('\n') +
        '\n',
    );
  }
}
