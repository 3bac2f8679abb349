// berth agent: run the agent of one Docker host.
import type { Command } from 'commander';
import { parseBytes, parseCpu } from '../../../proto/src/spec/units.js';
import { parseAllowedHostPaths } from '../../../agent/src/host-paths.js';
import { collect, controllerAddress, insecureDevFlag, parseKeyValue } from './common.js';
import { CliError } from '../errors.js';
import { DEFAULT_AGENT_STREAMS } from '../../../proto/src/limits/defaults.js';
import { streamLimitFlags } from './limit-flags.js';
import { helloLimitsProblem } from '../../../proto/src/limits/agent-messages.js';

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('Run the agent of one Docker host (--controller takes a comma-separated list of controllers)')
    .option('--docker <socket>', 'Docker engine socket (env DOCKER_HOST)', process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock')
    .option('--node-id <id>', 'node id (default: hostname)')
    .option('--address <ip>', "address at which this node's published ports are reached", '127.0.0.1')
    .option('--label <key=value>', 'node label (repeatable)', collect, [])
    .option('--cpus <n>', 'advertise at most this many CPUs')
    .option('--memory <size>', 'advertise at most this much memory (e.g. 2Gi)')
    .option('--hostname <name>', "hostname to report (default: the engine's)")
    .option(
      '--allow-host-path <path>',
      'host path (and everything below it) that services may bind-mount on this node (repeatable; default: none)',
      collect,
      [],
    )
    .option('--metrics <host:port>', 'serve /metrics, /healthz, /readyz here (env BERTH_AGENT_METRICS)', process.env['BERTH_AGENT_METRICS'])
    .option(
      '--api <host:port>',
      'serve the AgentAPI (logs, exec, stats) for controllers here; only controllers must reach it (env BERTH_AGENT_API; default: --address, a free port)',
      process.env['BERTH_AGENT_API'],
    )
    .option(
      '--state-dir <dir>',
      'state kept across restarts (last contact with the leader, for waitForNode fencing)',
      '/var/lib/berth/agent',
    )
    .option(
      '--join <token>',
      'join token for the first start (berth token create --role agent; env BERTH_JOIN_TOKEN); later starts use the credentials in --state-dir',
      process.env['BERTH_JOIN_TOKEN'],
    )
    .option('--insecure-dev', 'plaintext gRPC, no certificates: trusts any controller (development only; logs a warning)')
    .option('--max-api-streams <n>', 'logs and exec streams the AgentAPI serves at once', String(DEFAULT_AGENT_STREAMS.total))
    .option(
      '--max-api-streams-per-controller <n>',
      'of --max-api-streams, the most one controller holds',
      String(DEFAULT_AGENT_STREAMS.perIdentity),
    )
    .action(
      async (
        opts: {
          join?: string;
          docker: string;
          nodeId?: string;
          address: string;
          label: string[];
          cpus?: string;
          memory?: string;
          hostname?: string;
          metrics?: string;
          api?: string;
          allowHostPath: string[];
          stateDir: string;
          maxApiStreams: string;
          maxApiStreamsPerController: string;
        },
        cmd: Command,
      ) => {
        const controllers = controllerAddress(cmd);
        let cpuMilli: number | undefined;
        let memoryBytes: number | undefined;
        if (opts.cpus !== undefined) {
          const v = parseCpu(opts.cpus);
          if (typeof v === 'string') throw new CliError(`--cpus: ${v}`, 2);
          cpuMilli = v;
        }
        if (opts.memory !== undefined) {
          const v = parseBytes(opts.memory);
          if (typeof v === 'string') throw new CliError(`--memory: ${v}`, 2);
          memoryBytes = v;
        }
        let allowHostPaths: string[];
        try {
          allowHostPaths = parseAllowedHostPaths(opts.allowHostPath);
        } catch (err) {
          throw new CliError(err instanceof Error ? err.message : String(err), 2);
        }
        const apiStreams = streamLimitFlags(
          '--max-api-streams',
          opts.maxApiStreams,
          '--max-api-streams-per-controller',
          opts.maxApiStreamsPerController,
        );
        const labels: Record<string, string> = {};
        for (const l of opts.label) {
          const [k, v] = parseKeyValue(l);
          labels[k] = v;
        }
        // What the controller accepts in a Hello (proto/src/limits/agent-messages.ts): refused here
        // rather than on every session the agent would open.
        const problem = helloLimitsProblem(labels, allowHostPaths);
        if (problem) throw new CliError(problem, 2);
        const ac = new AbortController();
        const stop = (): void => ac.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        // Loaded on use: every other berth command starts without the daemon's code.
        const { runAgent } = await import('../../../agent/src/main.js');
        await runAgent(
          {
            nodeId: opts.nodeId,
            controllers: controllers
              .split(',')
              .map((a) => a.trim())
              .filter(Boolean),
            docker: opts.docker,
            address: opts.address,
            labels,
            cpuMilli,
            memoryBytes,
            hostname: opts.hostname,
            metricsListen: opts.metrics,
            stateDir: opts.stateDir,
            allowHostPaths,
            apiListen: opts.api,
            joinToken: opts.join,
            insecureDev: insecureDevFlag(cmd),
            apiStreams,
          },
          ac.signal,
        );
      },
    );
}
