// Health probes run by the agent from the host into the container: HTTP GET and TCP connect go
// to the container's address on its network (127.0.0.1 for host networking), so no curl or any
// other tool is needed in the image; exec runs a command inside the container through the engine.
import { request } from 'node:http';
import { connect } from 'node:net';
import { parseStatusRange, type HealthSpec } from '../../../proto/src/spec/lifecycle.js';
import type { ContainerInfo, ContainerRuntime } from '../runtime/runtime.js';

export interface ProbeResult {
  ok: boolean;
  /** What happened, for the task's status message ("http 503", "connection refused", ...). */
  detail: string;
}

/** Where HTTP and TCP checks connect to: the container's address, or the host's for host networking. */
export function probeAddress(info: Pick<ContainerInfo, 'ipAddress' | 'networkMode'>): string | undefined {
  if (info.networkMode === 'host') return '127.0.0.1';
  return info.ipAddress || undefined;
}

export function httpProbe(host: string, check: NonNullable<HealthSpec['http']>, timeoutMs: number): Promise<ProbeResult> {
  const [low, high] = parseStatusRange(check.status);
  return new Promise((resolve) => {
    const req = request(
      { host, port: check.port, path: check.path, method: 'GET', headers: { ...(check.headers ?? {}) }, timeout: timeoutMs, agent: false },
      (res) => {
        const code = res.statusCode ?? 0;
        res.resume();
        resolve({ ok: code >= low && code <= high, detail: `http ${code}` });
      },
    );
    req.on('timeout', () => {
      req.destroy();
      resolve({ ok: false, detail: `http: no answer within ${timeoutMs}ms` });
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, detail: `http: ${err.code ?? err.message}` }));
    req.end();
  });
}

export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = connect({ host, port, timeout: timeoutMs });
    const done = (r: ProbeResult): void => {
      sock.destroy();
      resolve(r);
    };
    sock.once('connect', () => done({ ok: true, detail: `tcp ${port} open` }));
    sock.once('timeout', () => done({ ok: false, detail: `tcp ${port}: no connection within ${timeoutMs}ms` }));
    sock.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, detail: `tcp ${port}: ${err.code ?? err.message}` }));
  });
}

export async function execProbe(
  runtime: ContainerRuntime,
  containerId: string,
  command: string[],
  timeoutMs: number,
): Promise<ProbeResult> {
  try {
    const r = await runtime.execCheck(containerId, command, timeoutMs);
    return { ok: r.exitCode === 0, detail: `exec exit ${r.exitCode}${r.output ? `: ${r.output.slice(0, 80)}` : ''}` };
  } catch (err) {
    return { ok: false, detail: `exec: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Runs the spec's one check against a running container. */
export async function runProbe(runtime: ContainerRuntime, spec: HealthSpec, info: ContainerInfo): Promise<ProbeResult> {
  if (spec.exec) return execProbe(runtime, info.id, spec.exec.command, spec.timeout);
  const host = probeAddress(info);
  if (!host) return { ok: false, detail: `the container has no network address to check (network mode ${info.networkMode || 'none'})` };
  if (spec.http) return httpProbe(host, spec.http, spec.timeout);
  if (spec.tcp) return tcpProbe(host, spec.tcp.port, spec.timeout);
  return { ok: false, detail: 'no check configured' };
}

/**
 * Consecutive-failure bookkeeping of one container run, as Docker does it: failures during the
 * start period do not count, a success makes the task healthy, `retries` failures in a row make it
 * unhealthy.
 */
export class HealthTracker {
  private failures = 0;
  status: 'starting' | 'healthy' | 'unhealthy' = 'starting';
  lastDetail = '';
  /** When the container last turned healthy (0: not since this run started). */
  healthySinceMs = 0;

  constructor(
    private readonly spec: Pick<HealthSpec, 'retries' | 'startPeriod'>,
    private readonly startedAtMs: number,
  ) {}

  /** Records one result; true when the status changed. */
  record(r: ProbeResult, nowMs: number): boolean {
    const before = this.status;
    this.lastDetail = r.detail;
    if (r.ok) {
      this.failures = 0;
      if (this.status !== 'healthy') this.healthySinceMs = nowMs;
      this.status = 'healthy';
    } else if (nowMs - this.startedAtMs >= this.spec.startPeriod || this.status === 'healthy') {
      this.failures++;
      if (this.failures >= this.spec.retries) this.status = 'unhealthy';
    }
    return this.status !== before;
  }
}
