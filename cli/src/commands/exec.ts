// berth exec SERVICE[/SLOT] -- COMMAND [ARGS...]: runs a command in one replica, through the
// controller and that replica's agent. Output streams back; the command's exit code becomes
// berth's. -i sends stdin, -t gives a terminal (raw mode, window size kept in step).
import type { Command } from 'commander';
import type * as grpc from '@grpc/grpc-js';
import type { ExecServerMessage__Output } from '../../../proto/gen/berth/v1/ExecServerMessage.js';

import { observeClient, parseTarget } from './observe-common.js';
import { CliError, EXIT_USAGE } from '../errors.js';

export function registerExec(program: Command): void {
  program
    .command('exec')
    .description("Run a command in a replica of a service (exit code = the command's)")
    .argument('<target>', 'SERVICE (its lowest running replica), SERVICE/SLOT or SERVICE@NODE')
    .argument('<command...>', 'command and arguments, after --')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-i, --stdin', 'pass stdin to the command')
    .option('-t, --tty', 'give the command a terminal')
    .action(async (target: string, command: string[], opts: { namespace: string; stdin?: boolean; tty?: boolean }, cmd: Command) => {
      const { service, slot, node } = parseTarget(target);
      if (command.length === 0) throw new CliError('name the command to run after --', EXIT_USAGE);
      const tty = !!opts.tty;
      const stdin = process.stdin;
      const raw = tty && !!opts.stdin && stdin.isTTY;
      const c = observeClient(cmd);
      const call = c.exec();
      const size = (): { cols: number; rows: number } => ({ cols: process.stdout.columns ?? 80, rows: process.stdout.rows ?? 24 });
      const onResize = (): void => void call.write({ resize: size() });
      call.write({ start: { namespace: opts.namespace, service, slot, node, command, tty, stdin: !!opts.stdin, ...(tty ? size() : {}) } });
      const onData = (b: Buffer): void => void call.write({ stdin: b });
      const onEnd = (): void => void call.write({ stdinClose: true });
      if (opts.stdin) {
        if (raw) stdin.setRawMode(true);
        stdin.on('data', onData);
        stdin.on('end', onEnd);
      }
      if (tty) process.stdout.on('resize', onResize);
      let code: number | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          call.on('data', (m: ExecServerMessage__Output) => {
            if (m.msg === 'stdout' && m.stdout) {
              if (!process.stdout.write(m.stdout)) {
                call.pause();
                process.stdout.once('drain', () => call.resume());
              }
            } else if (m.msg === 'stderr' && m.stderr) process.stderr.write(m.stderr);
            else if (m.msg === 'exit' && m.exit) code = m.exit.code;
          });
          call.on('error', (err: grpc.ServiceError) => reject(c.streamError(err)));
          call.on('end', () => resolve());
        });
      } finally {
        if (raw) stdin.setRawMode(false);
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        stdin.pause();
        process.stdout.off('resize', onResize);
        c.close();
      }
      if (code === undefined) throw new CliError("the command's exit code did not arrive (the connection ended early)");
      if (code !== 0) throw new CommandExit(code);
    });
}

/** The command ran and exited non-zero: berth exits with its code, printing nothing more. */
export class CommandExit extends Error {
  override readonly name = 'CommandExit';
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}
