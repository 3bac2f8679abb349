// berth version [--client] [-o json|yaml]: the CLI's version and that of the controller it talks
// to (ManageAPI.GetVersion). `berth --version` prints the CLI's alone.
import type { Command } from 'commander';
import { API_VERSION } from '../../../proto/src/spec/service.js';
import { BERTH_VERSION } from '../../../proto/src/version.js';
import { oneLine, toJson, toYaml } from '../output.js';
import { checkOutputFormat } from './get.js';
import { manageClient, resolvedController } from './common.js';

/** The version answer should come fast; a controller that takes longer is reported unreachable. */
const VERSION_TIMEOUT_MS = 10_000;

export function clientVersion(): { version: string; apiVersion: string; runtime: string; platform: string } {
  return { version: BERTH_VERSION, apiVersion: API_VERSION, runtime: process.version, platform: `${process.platform}/${process.arch}` };
}

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('Print the client version and the version of the controller it talks to')
    .option('--client', 'the client only (no controller needed)')
    .option('-o, --output <format>', 'json | yaml')
    .action(async (opts: { client?: boolean; output?: string }, cmd: Command) => {
      checkOutputFormat(opts.output, ['json', 'yaml']);
      const cv = clientVersion();
      const print = (data: unknown, text: string): void => {
        if (opts.output === 'json') process.stdout.write(toJson(data));
        else if (opts.output === 'yaml') process.stdout.write(toYaml(data));
        else process.stdout.write(text);
      };
      const clientLine = `Client: berth ${cv.version} (API ${cv.apiVersion}, node ${cv.runtime}, ${cv.platform})\n`;
      if (opts.client) {
        print({ client: cv }, clientLine);
        return;
      }
      const target = resolvedController(cmd);
      const m = manageClient(cmd);
      try {
        // Print the client line first: it is true even when the controller cannot be reached.
        if (!opts.output) process.stdout.write(clientLine);
        const sv = await m.getVersion(VERSION_TIMEOUT_MS);
        const server = {
          version: sv.version,
          apiVersion: sv.apiVersion,
          runtime: sv.runtime,
          controllerId: sv.controllerId,
          leader: sv.leader,
          address: target.address,
          ...(target.context ? { context: target.context } : {}),
        };
        const via = target.context ? `, context ${target.context}` : '';
        print(
          { client: cv, server },
          oneLine(
            `Server: berth ${sv.version} (API ${sv.apiVersion}, node ${sv.runtime}) at ${target.address}${via}; controller ${sv.controllerId}${sv.leader ? ' (leader)' : ''}`,
          ) + '\n',
        );
      } finally {
        m.close();
      }
    });
}
