// Sizes, durations and CPU amounts as users write them, and back.

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50 };
const DECIMAL: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };
const SIZE_RE = /^([0-9]+(?:\.[0-9]+)?)\s*(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/;

/** Bytes from `64Mi`, `1.5Gi`, `500M`, `1024` or a non-negative integer; a string is an error. */
export function parseBytes(input: unknown): number | string {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) return `expected a size such as 64Mi, got ${input}`;
    return input;
  }
  if (typeof input !== 'string') return 'expected a size such as 64Mi or 1Gi';
  const m = SIZE_RE.exec(input.trim());
  if (!m) return `${JSON.stringify(input)} is not a size: use a number with Ki, Mi, Gi, Ti (or k, M, G, T), e.g. 64Mi`;
  const unit = m[2];
  const mult = unit ? (BINARY[unit] ?? DECIMAL[unit] ?? 1) : 1;
  const bytes = Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(bytes)) return `${JSON.stringify(input)} is too large`;
  return bytes;
}

export function formatBytes(bytes: number): string | number {
  for (const unit of ['Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const m = BINARY[unit]!;
    if (bytes >= m && bytes % m === 0) return `${bytes / m}${unit}`;
  }
  return bytes;
}

/** Rounded for people: 1.5Gi, 200Mi, 12Ki. */
export function humanBytes(bytes: number): string {
  const sign = bytes < 0 ? '-' : '';
  let v = Math.abs(bytes);
  for (const unit of ['Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const m = BINARY[unit]!;
    if (v >= m) {
      const x = v / m;
      return `${sign}${x >= 10 || Number.isInteger(x) ? Math.round(x) : x.toFixed(1)}${unit}`;
    }
  }
  v = Math.round(v);
  return `${sign}${v}B`;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(?:([0-9]+(?:\.[0-9]+)?)(ms|s|m|h))+$/;
const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;

/** Milliseconds from `500ms`, `10s`, `1m30s`, `2h`; a bare number is refused (which unit?). */
export function parseDuration(input: unknown): number | string {
  if (typeof input === 'number') return `a duration needs a unit: write ${input}s or ${input}ms`;
  if (typeof input !== 'string') return 'expected a duration such as 500ms, 10s or 5m';
  const s = input.trim();
  if (s === '0') return 0;
  if (!DURATION_RE.test(s)) return `${JSON.stringify(input)} is not a duration: use ms, s, m or h, e.g. 500ms, 10s, 1m30s`;
  let total = 0;
  for (const m of s.matchAll(DURATION_PART)) total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  if (ms > 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Thousandths of a CPU from `0.5`, `2`, `"250m"`. */
export function parseCpu(input: unknown): number | string {
  let milli: number;
  if (typeof input === 'number') milli = input * 1000;
  else if (typeof input === 'string' && /^[0-9]+m$/.test(input.trim())) milli = Number(input.trim().slice(0, -1));
  else if (typeof input === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(input.trim())) milli = Number(input.trim()) * 1000;
  else return `expected CPUs as a number (0.5) or thousandths ("500m"), got ${JSON.stringify(input)}`;
  if (!Number.isFinite(milli) || milli < 0) return `CPU amount must be a non-negative number`;
  const rounded = Math.round(milli);
  if (Math.abs(rounded - milli) > 1e-6) return `CPU amount must be a multiple of 0.001 (1m)`;
  return rounded;
}

export function formatCpu(milli: number): number {
  return milli / 1000;
}
