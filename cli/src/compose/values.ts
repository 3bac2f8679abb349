// Value formats of Compose files: Docker's sizes, Go's durations, scalars. Pure.

export const scalarString = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;

/** Docker's memory units (binary multiples): 512m, 1g, 1.5G, 64Mi, 1024, "1gb". */
export function dockerBytes(v: unknown): number | string {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  const s = scalarString(v);
  const m = s === undefined ? null : /^([0-9]+(?:\.[0-9]+)?)\s*([bkmgtp])?(?:i?b)?$/i.exec(s.trim());
  if (!m) return `expected a size such as 512m or 1g, got ${JSON.stringify(v)}`;
  const power = 'bkmgtp'.indexOf((m[2] ?? 'b').toLowerCase());
  const bytes = Math.round(Number(m[1]) * 1024 ** power);
  return Number.isSafeInteger(bytes) ? bytes : `${JSON.stringify(v)} is too large`;
}

/** Go durations (1m30s, 500ms, 1.5s, 10us) as milliseconds, rounded up. */
export function goDurationMs(v: unknown): number | string {
  const s = scalarString(v)?.trim();
  if (s === undefined || !/^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h))+$/.test(s))
    return `expected a duration such as 10s or 1m30s, got ${JSON.stringify(v)}`;
  const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const m of s.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * unitMs[m[2]!]!;
  return Math.ceil(ms - 1e-9);
}
