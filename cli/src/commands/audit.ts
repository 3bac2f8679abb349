// berth audit: the audit log (admin only): who changed what, and who ran exec, with the result
// and the etcd revision written.
import type { Command } from 'commander';
import type { AuditRecord__Output } from '../../../proto/gen/berth/v1/AuditRecord.js';
import { AuditClient } from '../audit-client.js';
import { escapeControl, table, toJson } from '../output.js';
import { controllerAddress } from './common.js';
import { checkOutputFormat } from './get.js';
import { parseCount, parseSince } from './observe-common.js';
import { CliError, EXIT_USAGE } from '../errors.js';

/** The most records one listing returns (the server's limit too). */
const MAX_LIMIT = 10_000;

function who(r: AuditRecord__Output): string {
  if (r.role === 'anonymous' || !r.user) return 'anonymous';
  return `${r.user} (${r.role})`;
}

function object(r: AuditRecord__Output): string {
  const name = r.namespace ? `${r.namespace}/${r.name}` : r.name;
  return name ? `${r.kind}/${name}` : r.kind;
}

function result(r: AuditRecord__Output): string {
  return r.code === 'OK' ? 'OK' : `${r.code}: ${r.message.split('\n').join(' ').slice(0, 120)}`;
}

export function auditTable(records: AuditRecord__Output[]): string {
  return table(
    ['TIME', 'WHO', 'RPC', 'OBJECT', 'RESULT', 'REVISION', 'DETAIL'],
    records.map((r) => [
      new Date(Number(r.timeMs)).toISOString().replace(/\.\d+Z$/, 'Z'),
      escapeControl(who(r)),
      r.rpc,
      escapeControl(object(r)),
      escapeControl(result(r)),
      Number(r.revision) ? String(r.revision) : '-',
      escapeControl(r.detail),
    ]),
  );
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('Show the audit log (admin only): every change and every exec, who made it, the result and the revision written')
    .option('--since <duration|time>', 'only records since then (10m, 1h, or 2024-05-01T10:00:00Z)')
    .option('--user <name>', "only calls by this user (an operator's name, an agent's node id)")
    .option('--limit <n>', `the newest this many (default 1000, at most ${MAX_LIMIT})`)
    .option('-o, --output <format>', 'json')
    .action(async (opts: { since?: string; user?: string; limit?: string; output?: string }, cmd: Command) => {
      // Usage first (exit 2), then the connection.
      checkOutputFormat(opts.output, ['json']);
      const sinceMs = parseSince('--since', opts.since, Date.now());
      const limit = parseCount('--limit', opts.limit) ?? 0;
      if (limit > MAX_LIMIT) throw new CliError(`--limit: at most ${MAX_LIMIT}, got ${limit}`, EXIT_USAGE);
      const c = new AuditClient(controllerAddress(cmd));
      let records: AuditRecord__Output[];
      try {
        records = await c.list({ sinceMs, user: opts.user ?? '', limit });
      } finally {
        c.close();
      }
      if (opts.output === 'json') process.stdout.write(toJson(records));
      else process.stdout.write(records.length === 0 ? 'no audit records\n' : auditTable(records) + '\n');
    });
}
