// DockerRuntime: ContainerRuntime on a Docker engine through dockerode. The only user of
// dockerode in the project.
import type Docker from 'dockerode';
import type { PortBinding } from '../../../../proto/src/model.js';
import { jsonLines } from '../../../../proto/src/lines.js';
import {
  ContainerExistsError,
  EngineUnavailableError,
  type ContainerEvent,
  type ContainerInfo,
  type EventFilter,
  type ContainerRuntime,
  type ContainerSummary,
  type CreateRequest,
  type EngineInfo,
  type ExecResult,
  type PullAuth,
} from '../runtime.js';
import { createOptions, needsImageCmd, type ImageDefaults } from './create-options.js';
import { dockerClient, parseEngineAddress, type EngineAddress } from './docker-client.js';
import { FrameDecoder } from './docker-streams.js';

interface DockerError {
  statusCode?: number;
  code?: string;
  message?: string;
  json?: { message?: string };
}

export function classify(err: unknown): Error {
  const e = err as DockerError;
  if (e?.code && ['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(e.code)) {
    return new EngineUnavailableError(`docker engine unavailable: ${e.code}`, { cause: err });
  }
  if (e?.statusCode === 502 || e?.statusCode === 503)
    return new EngineUnavailableError(`docker engine unavailable: ${e.statusCode}`, { cause: err });
  const msg = e?.json?.message ?? e?.message ?? String(err);
  return err instanceof Error ? Object.assign(err, { message: msg }) : new Error(msg);
}

function parseTime(s: string | undefined): number {
  if (!s || s.startsWith('0001-')) return 0;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : 0;
}

function portsOf(settings: Record<string, Array<{ HostIp: string; HostPort: string }> | null> | undefined): PortBinding[] {
  const out: PortBinding[] = [];
  for (const [k, binds] of Object.entries(settings ?? {})) {
    const [port, protocol] = k.split('/');
    for (const b of binds ?? []) {
      // One binding per address family is enough to reach it; keep IPv4 when there are both.
      if (b.HostIp === '::' && out.some((o) => o.containerPort === Number(port) && o.protocol === (protocol ?? 'tcp'))) continue;
      out.push({ containerPort: Number(port), hostPort: Number(b.HostPort), protocol: protocol ?? 'tcp', hostIp: b.HostIp });
    }
  }
  return out.sort((a, b) => a.containerPort - b.containerPort);
}

/** Characters of a check command's output kept for messages. */
const EXEC_OUTPUT_MAX = 200;

function firstAddress(ns: { IPAddress?: string; Networks?: Record<string, { IPAddress?: string }> } | undefined): string {
  if (ns?.IPAddress) return ns.IPAddress;
  for (const n of Object.values(ns?.Networks ?? {})) if (n.IPAddress) return n.IPAddress;
  return '';
}

export class DockerRuntime implements ContainerRuntime {
  readonly docker: Docker;
  /**
   * For the event stream: no call timeout, which would cut a stream that is merely quiet (and
   * force a needless resync every ENGINE_CALL_TIMEOUT_MS).
   */
  private readonly streams: Docker;

  constructor(where: EngineAddress = {}) {
    this.docker = dockerClient(where, 'calls');
    this.streams = dockerClient(where, 'streams');
  }

  /** From DOCKER_HOST-style addresses: unix:///path or a bare socket path. */
  static fromAddress(address: string): DockerRuntime {
    return new DockerRuntime(parseEngineAddress(address));
  }

  async info(): Promise<EngineInfo> {
    try {
      const i = (await this.docker.info()) as {
        Name: string;
        ServerVersion: string;
        OSType: string;
        Architecture: string;
        NCPU: number;
        MemTotal: number;
      };
      return {
        hostname: i.Name,
        engineVersion: i.ServerVersion,
        os: i.OSType,
        arch: i.Architecture === 'x86_64' ? 'amd64' : i.Architecture === 'aarch64' ? 'arm64' : i.Architecture,
        cpus: i.NCPU,
        memoryBytes: i.MemTotal,
      };
    } catch (err) {
      throw classify(err);
    }
  }

  async hasImage(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect();
      return true;
    } catch (err) {
      if ((err as DockerError).statusCode === 404) return false;
      throw classify(err);
    }
  }

  async pullImage(ref: string, signal?: AbortSignal, auth?: PullAuth): Promise<void> {
    try {
      const opts: Record<string, unknown> = signal ? { abortSignal: signal } : {};
      if (auth) opts['authconfig'] = { username: auth.username, password: auth.password, serveraddress: auth.server };
      const stream = await this.docker.pull(ref, opts);
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string }>) => {
          const failed = out?.find((o) => o.error);
          if (err) reject(err);
          else if (failed) reject(new Error(failed.error));
          else resolve();
        });
      });
    } catch (err) {
      throw classify(err);
    }
  }

  async create(req: CreateRequest): Promise<string> {
    try {
      const image: ImageDefaults = {};
      if (needsImageCmd(req.spec)) {
        // args are appended to the image's CMD: read it (the image is on the engine by now).
        const i = (await this.docker.getImage(req.spec.image).inspect()) as { Config?: { Cmd?: string[] | null } };
        image.cmd = i.Config?.Cmd ?? [];
      }
      const c = await this.docker.createContainer(createOptions(req, image));
      return c.id;
    } catch (err) {
      if ((err as DockerError).statusCode === 409) throw new ContainerExistsError(req.name);
      throw classify(err);
    }
  }

  async start(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      if ((err as DockerError).statusCode === 304) return; // already started
      throw classify(err);
    }
  }

  async stop(id: string, graceMs: number): Promise<void> {
    const c = this.docker.getContainer(id);
    try {
      await c.stop({ t: Math.ceil(graceMs / 1000) });
    } catch (err) {
      const code = (err as DockerError).statusCode;
      if (code === 304 || code === 404) return; // already stopped or gone
      throw classify(err);
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      const code = (err as DockerError).statusCode;
      if (code === 404) return;
      if (code === 409 && /already in progress/.test((err as DockerError).json?.message ?? '')) return;
      throw classify(err);
    }
  }

  async inspect(idOrName: string): Promise<ContainerInfo | undefined> {
    try {
      const i = await this.docker.getContainer(idOrName).inspect();
      return {
        id: i.Id,
        name: i.Name.replace(/^\//, ''),
        labels: i.Config.Labels ?? {},
        state: i.State.Status,
        running: i.State.Running,
        exitCode: i.State.ExitCode,
        oomKilled: i.State.OOMKilled === true,
        startedAtMs: parseTime(i.State.StartedAt),
        finishedAtMs: parseTime(i.State.FinishedAt),
        ports: portsOf(i.NetworkSettings?.Ports),
        error: i.State.Error ?? '',
        ipAddress: firstAddress(i.NetworkSettings),
        networkMode: i.HostConfig?.NetworkMode ?? '',
        health: i.State.Health?.Status ?? '',
        healthOutput: (i.State.Health?.Log?.at(-1)?.Output ?? '').trim().slice(0, 200),
      };
    } catch (err) {
      if ((err as DockerError).statusCode === 404) return undefined;
      throw classify(err);
    }
  }

  async execCheck(id: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    let stream: (NodeJS.ReadWriteStream & { destroy?: () => void }) | undefined;
    const run = async (): Promise<ExecResult> => {
      const exec = await this.docker.getContainer(id).exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
      stream = await exec.start({ hijack: true, stdin: false });
      // Frames may be cut anywhere between chunks: the same decoder as exec and logs.
      const frames = new FrameDecoder(true);
      let output = '';
      await new Promise<void>((resolve, reject) => {
        stream!.on('data', (chunk: Buffer) => {
          for (const f of frames.push(chunk)) if (output.length < EXEC_OUTPUT_MAX) output += f.data.toString();
        });
        stream!.on('end', () => resolve());
        stream!.on('error', reject);
      });
      const info = await exec.inspect();
      return { exitCode: info.ExitCode ?? -1, output: output.trim().slice(0, EXEC_OUTPUT_MAX) };
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs}ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      stream?.destroy?.(); // a probe that timed out does not keep its connection to the engine
      throw classify(err);
    } finally {
      clearTimeout(timer);
    }
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const out: ContainerInfo[] = [];
    for (const s of await this.summaries(labels)) {
      const info = await this.inspect(s.id);
      if (info) out.push(info);
    }
    return out;
  }

  async summaries(labels: Record<string, string>): Promise<ContainerSummary[]> {
    try {
      const found = await this.docker.listContainers({
        all: true,
        filters: { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) },
      });
      return found.map((c) => ({
        id: c.Id,
        name: (c.Names[0] ?? '').replace(/^\//, ''),
        labels: c.Labels ?? {},
        state: c.State,
        running: c.State === 'running',
      }));
    } catch (err) {
      throw classify(err);
    }
  }

  async events(filter: EventFilter, onEvent: (e: ContainerEvent) => void, signal: AbortSignal): Promise<void> {
    let stream: NodeJS.ReadableStream;
    try {
      // The engine filters: only these containers' events of these actions reach the agent.
      // (health_status matches the engine's `health_status: healthy` and the like.)
      stream = await this.streams.getEvents({
        filters: { type: ['container'], label: Object.entries(filter.labels).map(([k, v]) => `${k}=${v}`), event: [...filter.actions] },
        abortSignal: signal,
      } as Docker.GetEventsOptions);
    } catch (err) {
      if (signal.aborted) return;
      throw classify(err);
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      stream.on(
        'data',
        jsonLines<{
          Action?: string;
          id?: string;
          time?: number;
          timeNano?: number;
          Actor?: { ID?: string; Attributes?: Record<string, string> };
        }>((ev) =>
          onEvent({
            action: (ev.Action ?? '').split(':')[0] ?? '',
            containerId: ev.Actor?.ID ?? ev.id ?? '',
            labels: ev.Actor?.Attributes ?? {},
            timeMs: ev.timeNano ? Math.floor(ev.timeNano / 1e6) : (ev.time ?? 0) * 1000,
          }),
        ),
      );
      stream.on('end', () => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) resolve();
        else reject(new EngineUnavailableError('docker event stream ended'));
      });
      stream.on('error', (err: Error) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) resolve();
        else reject(classify(err));
      });
    });
  }
}
