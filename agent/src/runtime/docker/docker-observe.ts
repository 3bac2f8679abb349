// ObserveRuntime on a Docker engine: one-shot stats, logs and exec through dockerode. It has its
// own client without a call timeout: a followed log or an interactive shell may stay quiet for
// longer than any engine call is allowed to take.
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { ContainerStats, ExecOptions, ExecOutput, ExecProcess, LogOptions, LogRecord, ObserveRuntime } from '../observe.js';
import { dockerClient, parseEngineAddress, type EngineAddress } from './docker-client.js';
import { classify } from './docker-runtime.js';
import { FrameDecoder, logRecords, parseStats, type DockerStatsDoc } from './docker-streams.js';

/** After an exec's output ends, the engine may need a moment to record the exit code. */
const EXIT_CODE_POLLS = 50;
const EXIT_CODE_POLL_MS = 100;

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

async function* chunks(stream: NodeJS.ReadableStream): AsyncIterable<Buffer> {
  for await (const c of stream as AsyncIterable<Buffer | string>) yield typeof c === 'string' ? Buffer.from(c) : c;
}

export class DockerObserveRuntime implements ObserveRuntime {
  readonly docker: Docker;

  constructor(where: EngineAddress) {
    this.docker = dockerClient(where, 'streams');
  }

  /** From DOCKER_HOST-style addresses: unix:///path or a bare socket path. */
  static fromAddress(address: string): DockerObserveRuntime {
    return new DockerObserveRuntime(parseEngineAddress(address));
  }

  async stats(containerId: string): Promise<ContainerStats | undefined> {
    try {
      // one-shot: one sample at once instead of waiting a second for a second one (API 1.41).
      const doc = (await this.docker
        .getContainer(containerId)
        .stats({ stream: false, 'one-shot': true } as { stream: false })) as DockerStatsDoc;
      return parseStats(doc);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw classify(err);
    }
  }

  async *logs(containerId: string, opts: LogOptions, signal: AbortSignal): AsyncIterable<LogRecord> {
    let body: NodeJS.ReadableStream | Buffer;
    try {
      // Without follow the engine's answer is the whole log at once (a Buffer).
      body = await this.docker.getContainer(containerId).logs({
        follow: opts.follow as true,
        stdout: true,
        stderr: true,
        timestamps: true,
        ...(opts.sinceMs > 0 ? { since: (opts.sinceMs / 1000).toFixed(3) as unknown as number } : {}),
        tail: (opts.tail < 0 ? 'all' : opts.tail) as number,
        abortSignal: signal,
      });
    } catch (err) {
      if (signal.aborted) return;
      throw classify(err);
    }
    const decoder = new FrameDecoder(true);
    if (Buffer.isBuffer(body)) {
      for (const f of decoder.push(body)) yield* logRecords(f);
      return;
    }
    const stream = body;
    const onAbort = (): void => void (stream as unknown as Duplex).destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const c of chunks(stream)) {
        for (const f of decoder.push(c)) yield* logRecords(f);
      }
    } catch (err) {
      if (!signal.aborted) throw classify(err);
    } finally {
      signal.removeEventListener('abort', onAbort);
      (stream as unknown as Duplex).destroy();
    }
  }

  async exec(containerId: string, opts: ExecOptions): Promise<ExecProcess> {
    let exec: Docker.Exec;
    let socket: Duplex;
    try {
      exec = await this.docker.getContainer(containerId).exec({
        Cmd: opts.command,
        AttachStdin: opts.stdin,
        AttachStdout: true,
        AttachStderr: true,
        Tty: opts.tty,
      });
      socket = await exec.start({ hijack: true, stdin: opts.stdin, Tty: opts.tty });
    } catch (err) {
      throw classify(err);
    }
    if (opts.tty && opts.cols && opts.rows) await exec.resize({ h: opts.rows, w: opts.cols }).catch(() => undefined);
    const decoder = new FrameDecoder(!opts.tty);
    async function* output(): AsyncIterable<ExecOutput> {
      try {
        for await (const c of chunks(socket)) yield* decoder.push(c);
      } catch {
        // the connection dropped: the output ends here
      }
    }
    return {
      stdin: opts.stdin ? socket : undefined,
      output: output(),
      resize: async (cols, rows) => {
        await exec.resize({ h: rows, w: cols });
      },
      exitCode: async () => {
        for (let i = 0; i < EXIT_CODE_POLLS; i++) {
          const info = await exec.inspect();
          if (!info.Running && info.ExitCode !== null) return info.ExitCode;
          await new Promise((r) => setTimeout(r, EXIT_CODE_POLL_MS));
        }
        return -1;
      },
      close: () => socket.destroy(),
    };
  }
}
