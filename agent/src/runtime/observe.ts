// ObserveRuntime: what the agent needs from the engine to observe containers (resource samples,
// logs) and to run commands in them. Kept apart from ContainerRuntime, which drives the task
// lifecycle: an agent and its fakes can have one without the other.
import type { Writable } from 'node:stream';

/** One resource sample of a container, cumulative counters as the engine keeps them. */
export interface ContainerStats {
  /** CPU time used since the container started, seconds. */
  cpuSeconds: number;
  /** Working set: usage minus inactive file cache (what the kernel cannot just drop). */
  memoryBytes: number;
  /** 0 when the container has no memory limit. */
  memoryLimitBytes: number;
  networkRxBytes: number;
  networkTxBytes: number;
  blockReadBytes: number;
  blockWriteBytes: number;
  /** When the engine read the sample (ms since the epoch). */
  readAtMs: number;
}

export type OutputStream = 'stdout' | 'stderr';

/** One line of a container's log, without its newline (long lines arrive in pieces). */
export interface LogRecord {
  stream: OutputStream;
  /** RFC 3339 with nanoseconds, as the engine recorded it ('' when it gave none). */
  timestamp: string;
  data: Buffer;
}

export interface LogOptions {
  follow: boolean;
  /** Only lines at or after this time; 0: from the start. */
  sinceMs: number;
  /** Last lines only; negative: all. */
  tail: number;
}

export interface ExecOptions {
  command: string[];
  tty: boolean;
  stdin: boolean;
  cols?: number;
  rows?: number;
}

export interface ExecOutput {
  stream: OutputStream;
  data: Buffer;
}

/** A command running in a container. */
export interface ExecProcess {
  /** Present when stdin was requested; end() it to send end of file. */
  stdin: Writable | undefined;
  /** Output until the command ends (with a terminal, everything arrives as stdout). */
  output: AsyncIterable<ExecOutput>;
  resize(cols: number, rows: number): Promise<void>;
  /** Exit code, once the output has ended. */
  exitCode(): Promise<number>;
  /** Drop the connection to the command (the client left). */
  close(): void;
}

export interface ObserveRuntime {
  /** undefined when the container is gone or not running. */
  stats(containerId: string): Promise<ContainerStats | undefined>;
  /** Log lines until the end of the log (or, with follow, until the container stops or the signal aborts). */
  logs(containerId: string, opts: LogOptions, signal: AbortSignal): AsyncIterable<LogRecord>;
  exec(containerId: string, opts: ExecOptions): Promise<ExecProcess>;
}
