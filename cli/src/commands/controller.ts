// berth controller: run a controller replica.
import type { Command } from 'commander';
import { parseDuration } from '../../../proto/src/spec/units.js';
import { CliError } from '../errors.js';

function duration(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (typeof ms === 'string') throw new CliError(`${flag}: ${ms}`, 2);
  return ms;
}

export function registerController(program: Command): void {
  program
    .command('controller')
    .description('Run a controller (API server; leader-only orchestration when elected)')
    .option('--listen <host:port>', 'gRPC address to listen on (env BERTH_LISTEN)', process.env['BERTH_LISTEN'] ?? '127.0.0.1:7070')
    .option('--advertise <host:port>', 'address agents and clients reach this controller at (default: --listen)')
    .option('--etcd <urls>', 'comma-separated etcd endpoints (env BERTH_ETCD)', process.env['BERTH_ETCD'] ?? 'http://127.0.0.1:2379')
    .option(
      '--nats <urls>',
      'comma-separated NATS servers for events; "" disables (env BERTH_NATS)',
      process.env['BERTH_NATS'] ?? 'nats://127.0.0.1:4222',
    )
    .option('--metrics <host:port>', 'serve /metrics, /healthz, /readyz here (env BERTH_METRICS)', process.env['BERTH_METRICS'])
    .option('--id <id>', 'controller id (default: hostname-pid)')
    .option('--prefix <prefix>', 'etcd key prefix', '/berth/v1/')
    .option('--heartbeat-period <duration>', 'agent heartbeat period', '2s')
    .option('--heartbeat-grace <duration>', 'node unknown after no heartbeat for this long', '6s')
    .option('--down-after <duration>', 'node down (tasks replaced) after unknown for this long', '15s')
    .option('--lease-ttl <seconds>', 'leader lease TTL in seconds', '3')
    .option('--fence-after <duration>', 'agents stop onNodeLoss=waitForNode containers after this long without the leader', '30s')
    .option(
      '--secret-key-file <path>',
      'key that encrypts secrets at rest: 32 bytes, base64 (openssl rand -base64 32); the same on every controller (env BERTH_SECRET_KEY_FILE)',
      process.env['BERTH_SECRET_KEY_FILE'],
    )
    .action(async (opts: Record<string, string | undefined>) => {
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const ttl = Number(opts['leaseTtl']);
      if (!Number.isInteger(ttl) || ttl < 1) throw new CliError('--lease-ttl: must be a whole number of seconds ≥ 1', 2);
      const heartbeatPeriodMs = duration('--heartbeat-period', opts['heartbeatPeriod'])!;
      const fenceAfterMs = duration('--fence-after', opts['fenceAfter'])!;
      // An agent hears from the leader once per heartbeat: a shorter fencing time would stop
      // containers on a single late answer.
      if (fenceAfterMs < 3 * heartbeatPeriodMs) throw new CliError('--fence-after: must be at least 3 heartbeat periods', 2);
      // Loaded on use: every other berth command starts without the daemon's code.
      const { runController } = await import('../../../controller/src/main.js');
      await runController(
        {
          id: opts['id'],
          listen: opts['listen']!,
          advertise: opts['advertise'],
          etcd: opts['etcd']!.split(',').filter(Boolean),
          nats: (opts['nats'] ?? '').split(',').filter(Boolean),
          metricsListen: opts['metrics'],
          prefix: opts['prefix'],
          timings: {
            heartbeatPeriodMs,
            heartbeatGraceMs: duration('--heartbeat-grace', opts['heartbeatGrace'])!,
            downAfterMs: duration('--down-after', opts['downAfter'])!,
          },
          leaseTtlSec: ttl,
          fenceAfterMs,
          secretKeyFile: opts['secretKeyFile'],
        },
        ac.signal,
      );
    });
}
