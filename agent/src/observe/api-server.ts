// AgentAPI: the agent's small gRPC server that controllers call for the logs, exec and resource
// usage of the containers on this node (docs/observability.md: why the controller calls the agent
// rather than multiplexing over the Dispatcher session). It acts only on containers carrying this
// node's Berth labels, found by task id: a caller cannot name an arbitrary container.
import * as grpc from '@grpc/grpc-js';
import { serverCredentials, type Transport } from '../../../proto/src/security/tls.js';
import { Guard } from '../../../proto/src/security/guard.js';
import { describeIdentity } from '../../../proto/src/security/identity.js';
import { CHANNEL_OPTIONS, loadProto } from '../../../proto/src/grpc.js';
import { LABEL_NODE, LABEL_TASK, LABEL_TASK_CREATED } from '../../../proto/src/labels.js';
import type { Logger } from '../../../proto/src/log.js';
import { errorMessage, statusError, writeWithBackpressure } from '../../../proto/src/streams.js';
import type { ProtoGrpcType as ObserveProto } from '../../../proto/gen/observe.js';
import type { AgentAPIHandlers } from '../../../proto/gen/berth/v1/AgentAPI.js';
import type { AgentLogsRequest__Output } from '../../../proto/gen/berth/v1/AgentLogsRequest.js';
import type { ExecClientMessage__Output } from '../../../proto/gen/berth/v1/ExecClientMessage.js';
import type { ExecServerMessage } from '../../../proto/gen/berth/v1/ExecServerMessage.js';
import type { LogLine } from '../../../proto/gen/berth/v1/LogLine.js';
import type { AgentMetrics } from '../metrics/metrics.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { ExecProcess, ObserveRuntime } from '../runtime/observe.js';
import type { TaskObserver, TaskView } from './task-observer.js';
import { DEFAULT_AGENT_STREAMS } from '../../../proto/src/limits/defaults.js';
import { StreamLimiter, type StreamLimits } from '../../../proto/src/limits/stream-limiter.js';
import { agentRequestLimits } from '../../../proto/src/limits/message-limits.js';
import { limitedServerOptions, limitRequests, limitStream, type StreamCall } from '../../../proto/src/limits/grpc-limits.js';

/** The controller must send ExecStart this soon after opening an exec stream. */
const EXEC_START_TIMEOUT_MS = 10_000;
/** stdin that arrives before the command runs waits in memory up to this much. */
const MAX_EARLY_STDIN_BYTES = 1024 * 1024;
/** Longest command line accepted (arguments together). */
const MAX_COMMAND_BYTES = 64 * 1024;

export interface AgentApiDeps {
  nodeId: string;
  tasks: () => TaskView[];
  runtime: Pick<ContainerRuntime, 'list'>;
  observe: ObserveRuntime;
  observer: Pick<TaskObserver, 'usage'>;
  metrics?: AgentMetrics | undefined;
  log: Logger;
  /** Caps the logs and exec streams, in all and per calling controller; default agentStreamLimiter(). */
  streams?: StreamLimiter | undefined;
}

/** The stream limiter of an agent's flags (--max-api-streams, --max-api-streams-per-controller). */
export function agentStreamLimiter(limits: StreamLimits = DEFAULT_AGENT_STREAMS): StreamLimiter {
  return new StreamLimiter(limits, {
    what: 'logs and exec streams',
    where: 'this agent',
    totalFlag: '--max-api-streams',
    perIdentityFlag: '--max-api-streams-per-controller',
  });
}

class NotFound extends Error {}

/** The container of a task on this node: the worker's record of it, or the engine's labels. */
async function containerOf(deps: AgentApiDeps, taskId: string): Promise<{ id: string; running: boolean }> {
  if (!taskId) throw new NotFound('task_id is required');
  const view = deps.tasks().find((v) => v.task.id === taskId);
  const found = await deps.runtime.list({ [LABEL_NODE]: deps.nodeId, [LABEL_TASK]: taskId });
  const own = view
    ? found.filter((c) => c.labels[LABEL_TASK_CREATED] === undefined || c.labels[LABEL_TASK_CREATED] === String(view.task.createdAtMs))
    : found;
  const c = own.sort((a, b) => b.startedAtMs - a.startedAtMs)[0];
  if (!c) throw new NotFound(`task ${taskId} has no container on node ${deps.nodeId}`);
  return { id: c.id, running: c.running };
}

export function agentApiHandlers(deps: AgentApiDeps): AgentAPIHandlers {
  const { metrics, log } = deps;
  const finished = (method: string, code: grpc.status): void =>
    void metrics?.apiRequests.labels(method, grpc.status[code] ?? 'UNKNOWN').inc();
  const streams = deps.streams ?? agentStreamLimiter();
  const limited = <C extends StreamCall>(method: string, handler: (call: C) => void): ((call: C) => void) =>
    limitStream(streams, handler, () => finished(method, grpc.status.RESOURCE_EXHAUSTED));
  const fail = (err: unknown): Partial<grpc.StatusObject> =>
    err instanceof NotFound
      ? statusError(grpc.status.NOT_FOUND, err.message)
      : statusError(grpc.status.UNAVAILABLE, `engine: ${errorMessage(err)}`);

  return {
    Stats: (_call, callback) => {
      finished('Stats', grpc.status.OK);
      callback(null, { node: deps.nodeId, tasks: deps.observer.usage() });
    },

    Logs: limited('Logs', (call: grpc.ServerWritableStream<AgentLogsRequest__Output, LogLine>) => {
      const req = call.request;
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      call.on('close', () => ac.abort());
      metrics?.apiStreams.labels('Logs').inc();
      void (async () => {
        const { id } = await containerOf(deps, req.taskId);
        const records = deps.observe.logs(id, { follow: req.follow, sinceMs: req.sinceMs, tail: req.tail }, ac.signal);
        for await (const r of records) {
          if (ac.signal.aborted) break;
          await writeWithBackpressure(call, { taskId: req.taskId, stream: r.stream, data: r.data, timestamp: r.timestamp }, ac.signal);
        }
      })()
        .then(
          () => {
            finished('Logs', grpc.status.OK);
            call.end();
          },
          (err: unknown) => {
            const st = fail(err);
            finished('Logs', st.code!);
            if (!ac.signal.aborted) call.emit('error', st);
          },
        )
        .finally(() => metrics?.apiStreams.labels('Logs').dec());
    }),

    Exec: limited('Exec', (call: grpc.ServerDuplexStream<ExecClientMessage__Output, ExecServerMessage>) => {
      let proc: ExecProcess | undefined;
      let started = false;
      let ended = false;
      const early: Buffer[] = [];
      let earlyBytes = 0;
      let earlyClose = false;
      const ac = new AbortController();
      const end = (st?: Partial<grpc.StatusObject>): void => {
        if (ended) return;
        ended = true;
        clearTimeout(startTimer);
        proc?.close();
        finished('Exec', st?.code ?? grpc.status.OK);
        metrics?.apiStreams.labels('Exec').dec();
        if (st) call.emit('error', st);
        else call.end();
      };
      metrics?.apiStreams.labels('Exec').inc();
      const startTimer = setTimeout(() => end(statusError(grpc.status.DEADLINE_EXCEEDED, 'no ExecStart')), EXEC_START_TIMEOUT_MS);
      call.on('cancelled', () => {
        ac.abort();
        end(statusError(grpc.status.CANCELLED, 'cancelled'));
      });
      call.on('error', () => end(statusError(grpc.status.CANCELLED, 'cancelled')));
      call.on('data', (m: ExecClientMessage__Output) => {
        switch (m.msg) {
          case 'start': {
            if (started || !m.start) return;
            started = true;
            clearTimeout(startTimer);
            const s = m.start;
            if (s.command.length === 0) return end(statusError(grpc.status.INVALID_ARGUMENT, 'command: must not be empty'));
            if (s.command.reduce((n, a) => n + Buffer.byteLength(a), 0) > MAX_COMMAND_BYTES)
              return end(statusError(grpc.status.INVALID_ARGUMENT, `command: longer than ${MAX_COMMAND_BYTES} bytes`));
            void (async () => {
              const c = await containerOf(deps, s.taskId);
              if (!c.running) throw new NotFound(`the container of task ${s.taskId} is not running`);
              proc = await deps.observe.exec(c.id, { command: s.command, tty: s.tty, stdin: s.stdin, cols: s.cols, rows: s.rows });
              if (ended) return proc.close();
              log.info({ task: s.taskId, command: s.command[0], tty: s.tty }, 'exec');
              for (const b of early) proc.stdin?.write(b);
              if (earlyClose) proc.stdin?.end();
              early.length = 0;
              for await (const out of proc.output) {
                if (ended) return;
                await writeWithBackpressure(call, out.stream === 'stderr' ? { stderr: out.data } : { stdout: out.data }, ac.signal);
              }
              if (ended) return;
              const code = await proc.exitCode();
              call.write({ exit: { code } });
              end();
            })().catch((err: unknown) => end(fail(err)));
            return;
          }
          case 'stdin':
            if (!m.stdin) return;
            if (proc) proc.stdin?.write(m.stdin);
            else if ((earlyBytes += m.stdin.length) <= MAX_EARLY_STDIN_BYTES) early.push(m.stdin);
            else end(statusError(grpc.status.RESOURCE_EXHAUSTED, 'too much stdin before the command started'));
            return;
          case 'resize':
            if (proc && m.resize) void proc.resize(m.resize.cols, m.resize.rows).catch(() => undefined);
            return;
          case 'stdinClose':
            if (proc) proc.stdin?.end();
            else earlyClose = true;
            return;
          case undefined:
            return;
        }
      });
    }),
  };
}

export interface AgentApiServer {
  /** host:port it is bound to (the port the system chose when asked for 0). */
  address: string;
  close(): Promise<void>;
}

/**
 * Serves the AgentAPI. With TLS it answers only certificates of the cluster's controllers (the
 * guard's AgentAPI rules): no operator, agent or stranger reaches a container through it.
 */
export async function serveAgentApi(
  listen: string,
  deps: AgentApiDeps,
  transport: Transport = { kind: 'insecure' },
): Promise<AgentApiServer> {
  const proto = loadProto<ObserveProto>('observe');
  const limits = agentRequestLimits();
  const server = new grpc.Server(limitedServerOptions(CHANNEL_OPTIONS, limits));
  const guard = new Guard({
    insecureDev: transport.kind === 'insecure',
    onDenied: (method, who, d) => deps.log.warn({ method, caller: describeIdentity(who), code: d.code }, 'call refused'),
  });
  const def = proto.berth.v1.AgentAPI.service;
  server.addService(limitRequests('AgentAPI', def, limits), guard.wrap('AgentAPI', def, agentApiHandlers(deps)));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, serverCredentials(transport), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const address = `${listen.slice(0, listen.lastIndexOf(':'))}:${port}`;
  return {
    address,
    close: async () => {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2_000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
  };
}
