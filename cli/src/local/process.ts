// Starting and stopping the local cluster's processes (and the test harness's): each writes to
// its own log file; stop() sends SIGTERM, then SIGKILL after a timeout, only to its own pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'node:https';

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  isAlive(): boolean;
  stop(timeoutMs?: number): Promise<void>;
  signal(sig: NodeJS.Signals): void;
}

export interface SpawnOptions {
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * In a process group of its own, so that a Ctrl-C at the terminal (SIGINT to the whole
   * foreground group) reaches only the parent, which then stops its children in order (berth up
   * removes its containers through the engine before stopping the engine).
   */
  detached?: boolean;
}

export function spawnProc(name: string, cmd: string, args: string[], opts: SpawnOptions): Proc {
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(cmd, args, {
    stdio: ['ignore', fd, fd],
    env: opts.env ?? process.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.detached ? { detached: true } : {}),
  });
  closeSync(fd);
  let alive = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, sig) => {
      alive = false;
      resolve(code ?? sig ?? 'unknown');
    });
    child.once('error', (err) => {
      alive = false;
      resolve(`spawn error: ${err.message}`);
    });
  });
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = child.pid;
  return {
    name,
    pid,
    child,
    logFile: opts.logFile,
    exited,
    isAlive: () => alive,
    signal: (sig) => {
      if (alive) process.kill(pid, sig);
    },
    async stop(timeoutMs = 15_000) {
      if (!alive) return;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return;
      }
      const t = setTimeout(() => {
        if (alive) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      }, timeoutMs);
      await exited;
      clearTimeout(t);
    },
  };
}

export function tail(file: string, lines = 20): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8')
    .split('\n')
    .slice(-lines - 1)
    .join('\n');
}

/** Polls until check() is true; fails early (with its log) if proc died, or after timeoutMs. */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  what: string,
  opts: { timeoutMs?: number; intervalMs?: number; proc?: Proc } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let lastErr = '';
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastErr = err instanceof Error ? err.message : String(err);
    }
    if (opts.proc && !opts.proc.isAlive()) {
      throw new Error(`${what}: ${opts.proc.name} exited (${String(await opts.proc.exited)}); last log lines:\n${tail(opts.proc.logFile)}`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}${lastErr ? ` (last error: ${lastErr})` : ''}${opts.proc ? `; last log lines of ${opts.proc.name}:\n${tail(opts.proc.logFile)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

/** A TCP port free on host right now. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when something accepts connections on host:port. */
export function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, host, () => srv.close(() => resolve(false)));
  });
}

export async function httpOk(url: string, contains?: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  if (!res.ok) return false;
  return contains ? (await res.text()).includes(contains) : true;
}

/** GET over https with a client certificate (PEM files' contents): true on 200 (and `contains` in the body). */
export function httpsOk(url: string, tls: { ca: string; cert: string; key: string }, contains?: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    // SNI takes no IP address: name the server by the name its certificate also holds.
    const req = request(url, { ...tls, servername: 'localhost', timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && (contains === undefined || body.includes(contains))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 2s`)));
    req.on('error', reject);
    req.end();
  });
}
