// `berth exec`: the controller picks the replica (a slot, or the lowest running one), checks its
// node, opens AgentAPI.Exec at that node's agent and relays both ways until the command ends or
// either side leaves. Until roles exist, whoever may call the API (and so apply) may exec.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../../proto/src/log.js';
import type { NodeRecord, TaskRecord } from '../../../proto/src/model.js';
import { statusError } from '../../../proto/src/streams.js';
import type { ExecClientMessage__Output } from '../../../proto/gen/berth/v1/ExecClientMessage.js';
import type { ExecServerMessage, ExecServerMessage__Output } from '../../../proto/gen/berth/v1/ExecServerMessage.js';
import type { ExecStart__Output } from '../../../proto/gen/berth/v1/ExecStart.js';
import type { AgentAPIClient } from '../../../proto/gen/berth/v1/AgentAPI.js';
import type { ClusterCache } from '../store/cluster.js';
import { authorizeLater, deniedStatus } from '../../../proto/src/security/guard.js';
import { agentUnavailable, type AgentClients } from './agent-clients.js';

/** The client must send ExecStart this soon after opening the stream. */
const EXEC_START_TIMEOUT_MS = 10_000;

type Call = grpc.ServerDuplexStream<ExecClientMessage__Output, ExecServerMessage>;

export interface ExecDeps {
  cache: ClusterCache;
  agents: AgentClients;
  log: Logger;
}

class ExecRefused extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/** The replica to run in: the given slot's (and/or node's) running task, else the lowest running slot's. */
export function pickReplica(tasks: TaskRecord[], slot: number, node = ''): TaskRecord | undefined {
  return tasks
    .filter(
      (t) =>
        t.desiredState === 'running' &&
        t.status.state === 'running' &&
        t.nodeId !== '' &&
        (slot === 0 || t.slot === slot) &&
        (!node || t.nodeId === node),
    )
    .sort((a, b) => a.slot - b.slot || a.nodeId.localeCompare(b.nodeId) || b.createdAtMs - a.createdAtMs)[0];
}

/** How the user named the replica: web/2, web@h1, web/2@h1, or any replica of web. */
export function replicaName(service: string, slot: number, node: string): string {
  if (!slot && !node) return `any replica of ${service}`;
  return `replica ${service}${slot ? `/${slot}` : ''}${node ? `@${node}` : ''}`;
}

function resolve(cache: ClusterCache, start: ExecStart__Output): { task: TaskRecord; node: NodeRecord } {
  const namespace = start.namespace || 'default';
  if (!start.service) throw new ExecRefused(grpc.status.INVALID_ARGUMENT, 'service: required');
  if (start.command.length === 0) throw new ExecRefused(grpc.status.INVALID_ARGUMENT, 'command: must not be empty');
  if (!cache.service(namespace, start.service))
    throw new ExecRefused(grpc.status.NOT_FOUND, `service ${namespace}/${start.service} not found`);
  const task = pickReplica(
    cache.tasksOfService(namespace, start.service).map((t) => t.value),
    start.slot,
    start.node,
  );
  if (!task) throw new ExecRefused(grpc.status.FAILED_PRECONDITION, `${replicaName(start.service, start.slot, start.node)} is not running`);
  const node = cache.nodes.get(cache.keys.node(task.nodeId))?.value;
  const why = agentUnavailable(node, task.nodeId);
  if (why) throw new ExecRefused(grpc.status.UNAVAILABLE, `${replicaName(start.service, task.slot, task.nodeId)}: ${why}`);
  return { task, node: node! };
}

export function serveExec(deps: ExecDeps, call: Call, onDone: (code: grpc.status) => void): void {
  let upstream: ReturnType<AgentAPIClient['Exec']> | undefined;
  let done = false;
  const finish = (st?: Partial<grpc.StatusObject>): void => {
    if (done) return;
    done = true;
    clearTimeout(startTimer);
    onDone(st?.code ?? grpc.status.OK);
    if (st) call.emit('error', st);
    else call.end();
  };
  const startTimer = setTimeout(() => finish(statusError(grpc.status.DEADLINE_EXCEEDED, 'no ExecStart within 10s')), EXEC_START_TIMEOUT_MS);
  call.on('cancelled', () => {
    upstream?.cancel();
    finish(statusError(grpc.status.CANCELLED, 'client left'));
  });
  call.on('end', () => upstream?.end());
  call.on('data', (m: ExecClientMessage__Output) => {
    if (done) return;
    if (upstream) {
      if (m.msg === 'stdin' && m.stdin) upstream.write({ stdin: m.stdin });
      else if (m.msg === 'resize' && m.resize) upstream.write({ resize: m.resize });
      else if (m.msg === 'stdinClose') upstream.write({ stdinClose: true });
      return;
    }
    if (m.msg !== 'start' || !m.start) return finish(statusError(grpc.status.INVALID_ARGUMENT, 'the first message must be ExecStart'));
    clearTimeout(startTimer);
    // The caller's role was checked when the stream opened; its namespace only now.
    const allowed = authorizeLater(call, m.start.namespace || 'default');
    if (!allowed.ok) return finish(deniedStatus(allowed));
    let target: { task: TaskRecord; node: NodeRecord };
    try {
      target = resolve(deps.cache, m.start);
    } catch (err) {
      return finish(err instanceof ExecRefused ? statusError(err.code, err.message) : statusError(grpc.status.INTERNAL, String(err)));
    }
    const { task, node } = target;
    deps.log.info(
      { service: `${task.namespace}/${task.service}`, slot: task.slot, node: task.nodeId, command: m.start.command[0], tty: m.start.tty },
      'exec',
    );
    const up = deps.agents.get(node).Exec();
    upstream = up;
    up.write({ start: { ...m.start, taskId: task.id } });
    call.write({ started: { taskId: task.id, slot: task.slot, node: task.nodeId } });
    up.on('data', (out: ExecServerMessage__Output) => {
      if (done) return;
      // Relay with backpressure: stop reading the agent while the client's buffer is full.
      if (!call.write(out)) {
        up.pause();
        call.once('drain', () => up.resume());
      }
    });
    up.on('end', () => finish());
    up.on('error', (err: grpc.ServiceError) => {
      if (done) return;
      const code = err.code === grpc.status.NOT_FOUND || err.code === grpc.status.INVALID_ARGUMENT ? err.code : grpc.status.UNAVAILABLE;
      finish(
        statusError(
          code,
          code === grpc.status.UNAVAILABLE ? `the agent on ${task.nodeId} cannot be reached (${err.details})` : err.details,
        ),
      );
    });
  });
}
