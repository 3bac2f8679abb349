// `berth logs`: the controller opens one AgentAPI.Logs stream per replica, at the agent of the
// replica's node, and merges them into the client's stream as lines arrive. A replica that cannot
// be read (node not ready, agent unreachable, stream broken) is named in a notice while the
// others go on. With follow, replicas that start later (replacements, scale-up) join, a replica
// whose node leaves `ready` is cut off and named, and one whose node comes back resumes.
//
// Bounded: at most MAX_REPLICA_STREAMS replicas per request; writes wait for the client to read
// (each replica stream holds at most one message beyond the client's buffer); everything stops
// when the client leaves.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../../proto/src/log.js';
import type { NodeRecord, TaskRecord } from '../../../proto/src/model.js';
import { errorMessage, statusError, writeWithBackpressure } from '../../../proto/src/streams.js';
import type { LogLine } from '../../../proto/gen/berth/v1/LogLine.js';
import type { LogLine__Output } from '../../../proto/gen/berth/v1/LogLine.js';
import type { LogsRequest__Output } from '../../../proto/gen/berth/v1/LogsRequest.js';
import type { ClusterCache } from '../store/cluster.js';
import { agentUnavailable, type AgentClients } from './agent-clients.js';

/** Replicas one request reads at most; the rest are named as skipped. */
export const MAX_REPLICA_STREAMS = 100;

type Call = grpc.ServerWritableStream<LogsRequest__Output, LogLine>;

export interface LogsDeps {
  cache: ClusterCache;
  agents: AgentClients;
  log: Logger;
}

/** A task whose container exists (or did): worth asking its agent for logs. */
function hasContainer(t: TaskRecord): boolean {
  return !!t.status.containerId || t.status.state === 'starting' || t.status.state === 'running';
}

function parseTimestampMs(ts: string): number {
  const ms = Date.parse(ts);
  return Number.isFinite(ms) ? ms : 0;
}

export class LogSession {
  private readonly ac = new AbortController();
  private readonly open = new Map<string, { nodeId: string; cancel: () => void }>();
  /** Replicas cut off with the time of their last line, to resume when their node returns. */
  private readonly interrupted = new Map<string, number>();
  private readonly seen = new Set<string>();
  private readonly off: Array<() => void> = [];
  private skipped = false;
  private finished = false;
  private readonly namespace: string;

  constructor(
    private readonly deps: LogsDeps,
    private readonly call: Call,
    private readonly onDone: (code: grpc.status) => void,
  ) {
    this.namespace = call.request.namespace || 'default';
  }

  start(): void {
    const { cache } = this.deps;
    const req = this.call.request;
    if (!req.service) return this.fail(statusError(grpc.status.INVALID_ARGUMENT, 'service: required'));
    if (!cache.service(this.namespace, req.service))
      return this.fail(statusError(grpc.status.NOT_FOUND, `service ${this.namespace}/${req.service} not found`));
    this.call.on('cancelled', () => this.stop(grpc.status.CANCELLED));
    this.call.on('close', () => this.stop(grpc.status.CANCELLED));
    if (req.follow) this.watch();
    const tasks = this.replicas()
      .filter(hasContainer)
      .sort((a, b) => a.slot - b.slot);
    for (const t of tasks) this.startReplica(t, { sinceMs: req.sinceMs, tail: req.tail });
    this.maybeEnd();
  }

  private replicas(): TaskRecord[] {
    const req = this.call.request;
    return this.deps.cache
      .tasksOfService(this.namespace, req.service)
      .map((t) => t.value)
      .filter(
        (t) =>
          t.desiredState === 'running' &&
          t.nodeId !== '' &&
          (req.slot === 0 || t.slot === req.slot) &&
          (!req.node || t.nodeId === req.node),
      );
  }

  private watch(): void {
    const { cache } = this.deps;
    const req = this.call.request;
    this.off.push(
      cache.tasks.addHandler({
        onUpsert: (_k, { value: t }) => {
          if (t.namespace !== this.namespace || t.service !== req.service || this.seen.has(t.id)) return;
          if (
            t.desiredState !== 'running' ||
            t.nodeId === '' ||
            (req.slot !== 0 && t.slot !== req.slot) ||
            (req.node && t.nodeId !== req.node) ||
            !hasContainer(t)
          )
            return;
          // Started after the request: its whole log is new.
          this.startReplica(t, { sinceMs: 0, tail: -1 });
        },
      }),
      cache.nodes.addHandler({
        onUpsert: (_k, { value: n }, old) => {
          if (old?.value.state === n.state) return;
          if (n.state !== 'ready') this.nodeLost(n);
          else this.nodeBack(n);
        },
      }),
      cache.services.addHandler({
        onDelete: (_k, { value: s }) => {
          if (s.meta.namespace === this.namespace && s.meta.name === req.service) this.stop(grpc.status.OK);
        },
      }),
    );
  }

  private nodeLost(n: NodeRecord): void {
    for (const [taskId, s] of this.open) {
      if (s.nodeId !== n.id) continue;
      s.cancel();
      this.open.delete(taskId);
      this.interrupted.set(taskId, this.interrupted.get(taskId) ?? Date.now());
      const t = this.deps.cache.tasks.get(this.deps.cache.keys.task(taskId))?.value;
      void this.notice(t, n.id, `unavailable: node ${n.id} is ${n.state}`);
    }
  }

  private nodeBack(n: NodeRecord): void {
    for (const t of this.replicas()) {
      const since = this.interrupted.get(t.id);
      if (t.nodeId !== n.id || since === undefined || this.open.has(t.id)) continue;
      this.interrupted.delete(t.id);
      this.seen.delete(t.id);
      void this.notice(t, n.id, `resumed: node ${n.id} is ready again`);
      this.startReplica(t, { sinceMs: since, tail: -1 });
    }
  }

  private notice(t: TaskRecord | undefined, nodeId: string, text: string): Promise<void> {
    return this.write({ taskId: t?.id ?? '', slot: t?.slot ?? 0, node: nodeId, notice: text });
  }

  private write(line: LogLine): Promise<void> {
    if (this.finished) return Promise.resolve();
    return writeWithBackpressure(this.call, line, this.ac.signal);
  }

  private startReplica(t: TaskRecord, from: { sinceMs: number; tail: number }): void {
    if (this.finished || this.seen.has(t.id)) return;
    this.seen.add(t.id);
    if (this.seen.size > MAX_REPLICA_STREAMS) {
      if (!this.skipped)
        void this.notice(
          t,
          t.nodeId,
          `skipped: a logs request reads at most ${MAX_REPLICA_STREAMS} replicas; name one (SERVICE/SLOT or SERVICE@NODE)`,
        );
      this.skipped = true;
      return;
    }
    const { cache, agents } = this.deps;
    const node = cache.nodes.get(cache.keys.node(t.nodeId))?.value;
    const why = agentUnavailable(node, t.nodeId);
    if (why) {
      this.interrupted.set(t.id, from.sinceMs);
      void this.notice(t, t.nodeId, `unavailable: ${why}`);
      return;
    }
    const follow = this.call.request.follow;
    const upstream = agents.get(node!).Logs({ taskId: t.id, follow, sinceMs: from.sinceMs, tail: from.tail });
    let cancelled = false;
    const entry = {
      nodeId: t.nodeId,
      cancel: () => {
        cancelled = true;
        upstream.cancel();
      },
    };
    this.open.set(t.id, entry);
    let lastMs = from.sinceMs;
    void (async () => {
      try {
        for await (const m of upstream as AsyncIterable<LogLine__Output>) {
          if (m.timestamp) lastMs = parseTimestampMs(m.timestamp) || lastMs;
          await this.write({ ...m, taskId: t.id, slot: t.slot, node: t.nodeId });
        }
        if (follow && !cancelled) await this.notice(t, t.nodeId, 'ended: the container stopped');
      } catch (err) {
        if (cancelled || this.finished) return;
        const e = err as grpc.ServiceError;
        if (e.code === grpc.status.NOT_FOUND) await this.notice(t, t.nodeId, `unavailable: ${e.details}`);
        else {
          this.interrupted.set(t.id, lastMs);
          await this.notice(t, t.nodeId, `unavailable: the agent on ${t.nodeId} cannot be reached (${e.details || errorMessage(err)})`);
        }
      } finally {
        if (this.open.get(t.id) === entry) this.open.delete(t.id);
        this.maybeEnd();
      }
    })();
  }

  private maybeEnd(): void {
    if (!this.call.request.follow && this.open.size === 0) this.stop(grpc.status.OK);
  }

  private fail(st: Partial<grpc.StatusObject>): void {
    if (this.finished) return;
    this.finished = true;
    this.onDone(st.code ?? grpc.status.UNKNOWN);
    this.call.emit('error', st);
  }

  /** Ends the request: every replica stream is cancelled and every handler removed. */
  stop(code: grpc.status): void {
    if (this.finished) return;
    this.finished = true;
    this.ac.abort();
    for (const f of this.off) f();
    for (const s of this.open.values()) s.cancel();
    this.open.clear();
    this.onDone(code);
    if (code === grpc.status.OK) this.call.end();
  }
}
