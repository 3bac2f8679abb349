// berth rollout status|history|undo|restart|pause|resume SERVICE
import type { Command } from 'commander';
import { age, escapeControl, table } from '../output.js';
import { RolloutClient, describeRollout, rolloutSucceeded } from '../rollout-client.js';
import { controllerAddress } from './common.js';
import { parseTimeout } from '../wait.js';
import { CliError, EXIT_USAGE } from '../errors.js';

function rolloutClient(cmd: Command): RolloutClient {
  return new RolloutClient(controllerAddress(cmd));
}

async function withClient<T>(cmd: Command, fn: (c: RolloutClient) => Promise<T>): Promise<T> {
  const c = rolloutClient(cmd);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

const out = (line: string): boolean => process.stdout.write(escapeControl(line) + '\n');

export function registerRollout(program: Command): void {
  const rollout = program.command('rollout').description('Watch and steer rolling updates of a service');
  const nsOpt = (c: Command): Command => c.option('-n, --namespace <ns>', 'namespace', 'default');

  nsOpt(rollout.command('status').argument('<service>'))
    .description(
      'Stream the progress of the current rollout ("stuck: …" while its new tasks cannot be placed); exit 0 when it completed, 1 when it failed, paused or rolled back',
    )
    .option('--timeout <duration>', 'give up after this long (e.g. 5m)', '10m')
    .action(async (name: string, opts: { namespace: string; timeout: string }, cmd: Command) => {
      const timeoutMs = parseTimeout(opts.timeout);
      if (typeof timeoutMs === 'string') throw new CliError(`--timeout: ${timeoutMs}`, EXIT_USAGE);
      const ac = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ac.abort();
      }, timeoutMs);
      let rolledBack = false;
      let stalled = false;
      try {
        const last = await withClient(cmd, (c) =>
          c.watch(
            opts.namespace,
            name,
            (s) => {
              if (s.rollbackOf) rolledBack = true;
              out(describeRollout(s));
              // Past its progress deadline with failureAction continue: it goes on, but it failed.
              if (s.deadlineExceeded && !s.done) {
                stalled = true;
                ac.abort();
              }
            },
            ac.signal,
          ),
        );
        if (stalled && last) throw new CliError(`rollout of revision ${last.revision} failed: ${last.message}`);
        if (timedOut) throw new CliError(`timed out after ${opts.timeout}: ${last ? describeRollout(last) : 'no status'}`);
        if (!last) throw new CliError('the controller ended the watch without a status');
        if (rolledBack || last.rollbackOf) throw new CliError(`rollout failed and was rolled back: ${last.message}`);
        if (!rolloutSucceeded(last)) throw new CliError(`rollout ${last.state}: ${last.message}`);
        out(`service ${opts.namespace}/${name} rolled out (revision ${last.revision})`);
      } finally {
        clearTimeout(timer);
      }
    });

  nsOpt(rollout.command('history').argument('<service>'))
    .description('List the kept revisions of a service (the current one is marked *)')
    .action(async (name: string, opts: { namespace: string }, cmd: Command) => {
      const h = await withClient(cmd, (c) => c.history(opts.namespace, name));
      const rows = h.revisions.map((r) => {
        const spec = JSON.parse(r.specJson) as { image: string; replicas: number };
        return [`${r.specRevision}${r.specRevision === h.current ? '*' : ''}`, age(r.createdAtMs), spec.image, r.cause];
      });
      out(table(['REVISION', 'AGE', 'IMAGE', 'CAUSE'], rows));
    });

  nsOpt(rollout.command('undo').argument('<service>'))
    .description("Roll back: re-apply an earlier revision's spec as a new revision (keeps the current replica count)")
    .option('--to-revision <n>', 'the revision to go back to (default: the newest earlier one with another spec)')
    .action(async (name: string, opts: { namespace: string; toRevision?: string }, cmd: Command) => {
      const to = opts.toRevision === undefined ? 0 : Number(opts.toRevision);
      if (!Number.isInteger(to) || to < 0)
        throw new CliError(`--to-revision: expected a revision number, got ${JSON.stringify(opts.toRevision)}`, 2);
      const r = await withClient(cmd, (c) => c.undo(opts.namespace, name, to));
      out(
        r.result === 'unchanged'
          ? `service/${opts.namespace}/${name} unchanged (already runs the spec of revision ${r.toRevision})`
          : `service/${opts.namespace}/${name} rolled back to revision ${r.toRevision} (now revision ${r.service?.specRevision})`,
      );
    });

  nsOpt(rollout.command('restart').argument('<service>'))
    .description('Replace every replica with a fresh container, by the rolling update')
    .action(async (name: string, opts: { namespace: string }, cmd: Command) => {
      const s = await withClient(cmd, (c) => c.restart(opts.namespace, name));
      out(`service/${opts.namespace}/${name} restarting (revision ${s.revision})`);
    });

  nsOpt(rollout.command('pause').argument('<service>'))
    .description('Stop replacing tasks (tasks already being replaced finish); also holds back later revisions until resume')
    .action(async (name: string, opts: { namespace: string }, cmd: Command) => {
      const s = await withClient(cmd, (c) => c.pause(opts.namespace, name));
      out(`service/${opts.namespace}/${name} paused: ${describeRollout(s)}`);
    });

  nsOpt(rollout.command('resume').argument('<service>'))
    .description('Continue a paused rollout (its failure count starts over)')
    .action(async (name: string, opts: { namespace: string }, cmd: Command) => {
      const s = await withClient(cmd, (c) => c.resume(opts.namespace, name));
      out(`service/${opts.namespace}/${name} resumed: ${describeRollout(s)}`);
    });
}

export function registerRegistry(program: Command): void {
  const reg = program.command('registry').description('Registry credentials that image pulls use (spec.imagePullSecret)');
  reg
    .command('login')
    .argument('<server>', 'registry address, host[:port]')
    .requiredOption('--name <name>', 'name of the credential (spec.imagePullSecret)')
    .requiredOption('-u, --username <user>', 'user name')
    .option('--password-stdin', 'read the password from standard input')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .description('Store (or replace) a registry credential; the password goes to the controller only')
    .action(async (server: string, opts: { name: string; username: string; passwordStdin?: boolean; namespace: string }, cmd: Command) => {
      if (!opts.passwordStdin)
        throw new CliError('give the password on standard input with --password-stdin (never on the command line)', 2);
      const { readFileSync } = await import('node:fs');
      const password = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
      const c = await withClient(cmd, (cl) =>
        cl.setCredential({ namespace: opts.namespace, name: opts.name, server, username: opts.username, password }),
      );
      out(`registrycredential/${c.namespace}/${c.name} stored for ${c.server} (user ${c.username})`);
    });
  reg
    .command('ls')
    .option('-n, --namespace <ns>', 'namespace (default: all)', '')
    .description('List registry credentials (never their passwords)')
    .action(async (opts: { namespace: string }, cmd: Command) => {
      const list = await withClient(cmd, (c) => c.listCredentials(opts.namespace));
      out(
        table(
          ['NAMESPACE', 'NAME', 'SERVER', 'USERNAME', 'AGE'],
          list.map((c) => [c.namespace, c.name, c.server, c.username, age(c.updatedAtMs)]),
        ),
      );
    });
  reg
    .command('rm')
    .argument('<name>')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .description('Delete a registry credential')
    .action(async (name: string, opts: { namespace: string }, cmd: Command) => {
      await withClient(cmd, (c) => c.deleteCredential(opts.namespace, name));
      out(`registrycredential/${opts.namespace}/${name} deleted`);
    });
}
