// Helpers of the observability commands (events, logs, exec, top).
import type { Command } from 'commander';
import { parseDuration } from '../../../proto/src/spec/units.js';
import { ObserveClient } from '../observe-client.js';
import { controllerAddress } from './common.js';
import { CliError, EXIT_USAGE } from '../errors.js';

export function observeClient(cmd: Command): ObserveClient {
  return new ObserveClient(controllerAddress(cmd));
}

/** --since: a duration back from now (10m, 1h30m) or an RFC 3339 time; ms since the epoch. */
export function parseSince(flag: string, value: string | undefined, nowMs: number): number {
  if (value === undefined) return 0;
  const d = parseDuration(value);
  if (typeof d === 'number') return Math.max(1, nowMs - d);
  if (/^\d{4}-\d\d-\d\dT/.test(value)) {
    const t = Date.parse(value);
    if (Number.isFinite(t)) return t;
  }
  throw new CliError(
    `${flag}: ${JSON.stringify(value)} is neither a duration (10s, 5m, 1h30m) nor a time (2024-05-01T10:00:00Z)`,
    EXIT_USAGE,
  );
}

/** A non-negative whole number flag. */
export function parseCount(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new CliError(`${flag}: expected a whole number, got ${JSON.stringify(value)}`, EXIT_USAGE);
  return Number(value);
}

/**
 * SERVICE, SERVICE/SLOT (SERVICE.SLOT as `berth get tasks` prints it is accepted too) or
 * SERVICE@NODE (the replica on a node: how a global service's replicas are named).
 */
export function parseTarget(target: string): { service: string; slot: number; node: string } {
  const m = /^([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)(?:[/.](\d+)|@([A-Za-z0-9][A-Za-z0-9_.-]*))?$/.exec(target);
  if (!m)
    throw new CliError(`${JSON.stringify(target)}: expected SERVICE, SERVICE/SLOT or SERVICE@NODE (e.g. web, web/2, web@h1)`, EXIT_USAGE);
  const slot = m[2] === undefined ? 0 : Number(m[2]);
  if (m[2] !== undefined && slot < 1) throw new CliError(`${JSON.stringify(target)}: slots are numbered from 1`, EXIT_USAGE);
  return { service: m[1]!, slot, node: m[3] ?? '' };
}
