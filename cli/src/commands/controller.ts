// berth controller: run a controller replica.
import type { Command } from 'commander';
import { parseDuration } from '../../../proto/src/spec/units.js';
import { CliError } from '../errors.js';
import { DEFAULT_CONTROLLER_LIMITS, type ControllerLimits } from '../../../proto/src/limits/defaults.js';
import { bytesFlag, rateLimitFlags, streamLimitFlags } from './limit-flags.js';
import { insecureDevFlag } from './common.js';

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
    .option('--insecure-dev', 'plaintext gRPC and no authentication: every caller acts as admin (development only; logs a warning)')
    .option('--ca-cert <file>', 'cluster CA certificate to store in etcd when it holds none yet (with --ca-key; default: make one)')
    .option('--ca-key <file>', 'key of --ca-cert (mode 600); stored sealed with --secret-key-file')
    .option('--etcd-cacert <file>', "CA certificate that signed etcd's server certificate (TLS to etcd; endpoints https://)")
    .option('--etcd-cert <file>', 'client certificate for etcd (with --etcd-key)')
    .option('--etcd-key <file>', 'key of --etcd-cert (mode 600)')
    .option('--etcd-user <name>', "etcd user (etcd's own auth; with --etcd-password-file)")
    .option('--etcd-password-file <file>', 'file holding the password of --etcd-user, one line (mode 600)')
    .option('--nats-cacert <file>', "CA certificate that signed nats-server's certificate (TLS to NATS)")
    .option('--nats-cert <file>', 'client certificate for NATS (with --nats-key)')
    .option('--nats-key <file>', 'key of --nats-cert (mode 600)')
    .option('--nats-nkey-seed-file <file>', "file holding this controller's NATS user nkey seed, SU… (mode 600)")
    .option('--nats-creds <file>', 'NATS creds file: a user JWT and its nkey seed, as nsc writes them (mode 600)')
    .option('--cert-ttl <duration>', "lifetime of agents' and controllers' certificates (renewed at 2/3)", '24h')
    .option('--operator-cert-ttl <duration>', "lifetime of operators' certificates", '720h')
    .option('--audit-max-records <n>', 'the audit log keeps at most this many records (the oldest go first)', '10000')
    .option('--audit-max-age <duration>', 'audit records older than this go', '168h')
    .option('--audit-prune-interval <duration>', 'how often the leader prunes the audit log', '5m')
    .option(
      '--max-streams <n>',
      'events, logs, exec and watch streams this controller serves at once',
      String(DEFAULT_CONTROLLER_LIMITS.streams.total),
    )
    .option(
      '--max-streams-per-identity <n>',
      'of --max-streams, the most one identity (operator, controller, agent) holds',
      String(DEFAULT_CONTROLLER_LIMITS.streams.perIdentity),
    )
    .option('--plan-rate <per-second>', '`berth plan` calls a second per identity', String(DEFAULT_CONTROLLER_LIMITS.planRate.ratePerSec))
    .option('--plan-burst <n>', '`berth plan` calls one identity may make at once', String(DEFAULT_CONTROLLER_LIMITS.planRate.burst))
    .option('--max-agent-message <size>', 'largest Dispatcher message an agent may send (e.g. 4Mi)', '4Mi')
    .action(async (opts: Record<string, string | boolean | undefined>, cmd: Command) => {
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const str = (k: string): string | undefined => (typeof opts[k] === 'string' ? opts[k] : undefined);
      const ttl = Number(opts['leaseTtl']);
      if (!Number.isInteger(ttl) || ttl < 1) throw new CliError('--lease-ttl: must be a whole number of seconds ≥ 1', 2);
      const heartbeatPeriodMs = duration('--heartbeat-period', str('heartbeatPeriod'))!;
      const fenceAfterMs = duration('--fence-after', str('fenceAfter'))!;
      const certTtlMs = duration('--cert-ttl', str('certTtl'))!;
      const operatorCertTtlMs = duration('--operator-cert-ttl', str('operatorCertTtl'))!;
      // Renewal at two thirds needs some room; a CA issues nothing past its own expiry anyway.
      if (certTtlMs < 30_000) throw new CliError('--cert-ttl: must be at least 30s', 2);
      if (operatorCertTtlMs < 60_000) throw new CliError('--operator-cert-ttl: must be at least 1m', 2);
      if ((opts['caCert'] === undefined) !== (opts['caKey'] === undefined))
        throw new CliError('--ca-cert and --ca-key: give both or neither', 2);
      // An agent hears from the leader once per heartbeat: a shorter fencing time would stop
      // containers on a single late answer.
      if (fenceAfterMs < 3 * heartbeatPeriodMs) throw new CliError('--fence-after: must be at least 3 heartbeat periods', 2);
      const auditMaxRecords = Number(opts['auditMaxRecords']);
      if (!Number.isInteger(auditMaxRecords) || auditMaxRecords < 1)
        throw new CliError(`--audit-max-records: must be a whole number ≥ 1, got ${JSON.stringify(opts['auditMaxRecords'])}`, 2);
      const auditMaxAgeMs = duration('--audit-max-age', str('auditMaxAge'))!;
      if (auditMaxAgeMs < 1_000) throw new CliError('--audit-max-age: must be at least 1s', 2);
      const auditPruneIntervalMs = duration('--audit-prune-interval', str('auditPruneInterval'))!;
      if (auditPruneIntervalMs < 100) throw new CliError('--audit-prune-interval: must be at least 100ms', 2);
      const limits: ControllerLimits = {
        streams: streamLimitFlags('--max-streams', str('maxStreams')!, '--max-streams-per-identity', str('maxStreamsPerIdentity')!),
        planRate: rateLimitFlags('--plan-rate', str('planRate')!, '--plan-burst', str('planBurst')!),
        // At least what a Hello of a busy node needs; at most the 64 MiB gRPC clients send.
        agentMessageBytes: bytesFlag('--max-agent-message', str('maxAgentMessage')!, 64 * 1024, 64 * 1024 * 1024),
      };
      // Loaded on use: every other berth command starts without the daemon's code.
      const { runController } = await import('../../../controller/src/main.js');
      await runController(
        {
          id: str('id'),
          listen: str('listen')!,
          advertise: str('advertise'),
          etcd: str('etcd')!.split(',').filter(Boolean),
          nats: (str('nats') ?? '').split(',').filter(Boolean),
          metricsListen: str('metrics'),
          prefix: str('prefix'),
          timings: {
            heartbeatPeriodMs,
            heartbeatGraceMs: duration('--heartbeat-grace', str('heartbeatGrace'))!,
            downAfterMs: duration('--down-after', str('downAfter'))!,
          },
          leaseTtlSec: ttl,
          fenceAfterMs,
          secretKeyFile: str('secretKeyFile'),
          insecureDev: insecureDevFlag(cmd),
          caCertFile: str('caCert'),
          caKeyFile: str('caKey'),
          certTtlMs,
          operatorCertTtlMs,
          audit: { maxRecords: auditMaxRecords, maxAgeMs: auditMaxAgeMs, intervalMs: auditPruneIntervalMs },
          limits,
          etcdConnection: {
            caFile: str('etcdCacert'),
            certFile: str('etcdCert'),
            keyFile: str('etcdKey'),
            user: str('etcdUser'),
            passwordFile: str('etcdPasswordFile'),
          },
          natsConnection: {
            caFile: str('natsCacert'),
            certFile: str('natsCert'),
            keyFile: str('natsKey'),
            nkeySeedFile: str('natsNkeySeedFile'),
            credsFile: str('natsCreds'),
          },
        },
        ac.signal,
      );
    });
}
