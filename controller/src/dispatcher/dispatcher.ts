// Dispatcher server (leader only): one bidirectional session per agent. On Hello it registers
// the node, answers Welcome (heartbeat period, epoch), sends the node's full assignment set and
// then deltas as tasks change. Heartbeats go to the node lifecycle (memory only); task status
// goes to the batched StatusWriter. A follower refuses sessions and names the leader.
import * as grpc from '@grpc/grpc-js';
import { LEADER_METADATA } from '../../../proto/src/grpc.js';
import type { Logger } from '../../../proto/src/log.js';
import type { Clock } from '../../../proto/src/clock.js';
import type { NodeRecord } from '../../../proto/src/model.js';
import { descriptionFromPb, statusFromPb, taskToPb } from '../../../proto/src/convert.js';
import type { AgentMessage__Output } from '../../../proto/gen/berth/v1/AgentMessage.js';
import type { ControllerMessage } from '../../../proto/gen/berth/v1/ControllerMessage.js';
import type { DispatcherHandlers } from '../../../proto/gen/berth/v1/Dispatcher.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import type { ClusterCache } from '../store/cluster.js';
import { nodeCodec } from '../store/codecs.js';
import { createOp, updateOp } from '../store/ops.js';
import { clearOutage } from '../model/node-attributes.js';
import { retryOnConflict } from '../store/retry.js';
import type { NodeLifecycle } from '../nodes/lifecycle.js';
import type { EventSink } from '../events/events.js';
import type { StatusWriter } from './status-writer.js';
import { diffAssignments, fullAssignments } from './assignments.js';
import type { TaskRecord } from '../../../proto/src/model.js';
import type { Task } from '../../../proto/gen/berth/v1/Task.js';
import { callerOf } from '../../../proto/src/security/caller.js';
import { registryOf, sameRegistry } from '../../../proto/src/spec/image-ref.js';
import { registryPassword } from '../secrets/registry-password.js';
import type { SecretCipher } from '../secrets/cipher.js';
import { describeIdentity } from '../../../proto/src/security/identity.js';
import { agentMessageProblem } from '../../../proto/src/limits/agent-messages.js';

/**
 * A task as its agent receives it: with the pull credentials its spec names (imagePullSecret),
 * looked up when sent, and only when the image is on that credential's registry (a service that
 * names an attacker's registry gets nothing). Only assignments carry them; API listings never do.
 */
export function assignmentToPb(cache: ClusterCache, t: TaskRecord, cipher?: SecretCipher, grants = new Map<string, string>()): Task {
  // What the namespace's Policies allow, for the agent's own check of the spec (once per
  // namespace in one Assignments message: `grants` is that message's memo).
  let policyGrantsJson = grants.get(t.namespace);
  if (policyGrantsJson === undefined) grants.set(t.namespace, (policyGrantsJson = JSON.stringify(cache.grantsOf(t.namespace))));
  const pb = { ...taskToPb(t), policyGrantsJson };
  const secret = t.spec.imagePullSecret;
  if (!secret) return pb;
  const cred = cache.registryCredentials.get(cache.keys.registryCredential(t.namespace, secret))?.value;
  if (!cred || !sameRegistry(registryOf(t.spec.image), cred.server)) return pb;
  const password = registryPassword(cred, cipher);
  return password === undefined ? pb : { ...pb, registryAuth: { server: cred.server, username: cred.username, password } };
}

/** An agent must say Hello this soon after opening its session. */
const HELLO_TIMEOUT_MS = 10_000;
/** Task changes for one node gather this long before one Assignments message. */
const DELTA_DEBOUNCE_MS = 5;

type Call = grpc.ServerDuplexStream<AgentMessage__Output, ControllerMessage>;

class AgentSession {
  private sent = new Map<string, string>();
  private dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  closed = false;

  constructor(
    readonly nodeId: string,
    private readonly call: Call,
    private readonly epoch: number,
    private readonly cache: ClusterCache,
    /** False once this replica may no longer act as leader (lease not renewed in time). */
    private readonly valid: () => boolean,
    /** Opens sealed registry passwords (none: they are not sent). */
    private readonly cipher: SecretCipher | undefined,
  ) {}

  sendFull(): void {
    const { upsert, sent } = fullAssignments(this.cache.tasksOfNode(this.nodeId).map((t) => t.value));
    this.sent = sent;
    const memo = new Map<string, string>();
    this.write({
      assignments: {
        epoch: this.epoch,
        full: true,
        upsert: upsert.map((t) => assignmentToPb(this.cache, t, this.cipher, memo)),
        remove: [],
        seq: ++this.seq,
      },
    });
  }

  notify(taskId: string): void {
    if (this.closed) return;
    this.dirty.add(taskId);
    this.timer ??= setTimeout(() => this.flush(), DELTA_DEBOUNCE_MS);
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed) return;
    const { upsert, remove } = diffAssignments(
      this.nodeId,
      this.sent,
      this.dirty,
      (id) => this.cache.tasks.get(this.cache.keys.task(id))?.value,
    );
    this.dirty.clear();
    if (upsert.length === 0 && remove.length === 0) return;
    const memo = new Map<string, string>();
    this.write({
      assignments: {
        epoch: this.epoch,
        full: false,
        upsert: upsert.map((t) => assignmentToPb(this.cache, t, this.cipher, memo)),
        remove,
        seq: ++this.seq,
      },
    });
  }

  /** Sends the matching tasks again (their credentials changed). */
  resend(match: (t: TaskRecord) => boolean): void {
    for (const id of [...this.sent.keys()]) {
      const t = this.cache.tasks.get(this.cache.keys.task(id))?.value;
      if (t && match(t)) {
        this.sent.delete(id);
        this.notify(id);
      }
    }
  }

  write(msg: ControllerMessage): void {
    // A leader paused past its lease (SIGSTOP) must not say anything to agents when it wakes:
    // checked on every message, before the loops notice that leadership is gone.
    if (!this.closed && this.valid()) this.call.write(msg);
  }

  close(err?: grpc.StatusObject): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (err) this.call.emit('error', err);
    else this.call.end();
  }
}

export interface LeaderContext {
  epoch: number;
  /** Sent in Welcome: agents fence waitForNode containers after this long without the leader. */
  fenceAfterMs: number;
  /** False as soon as this replica may no longer act as leader. */
  valid: () => boolean;
  cache: ClusterCache;
  lifecycle: NodeLifecycle;
  statusWriter: StatusWriter;
  events: EventSink;
}

/** The serials the cluster refuses (controller/src/security/certificates.ts RevocationList). */
export interface RevokedSerials {
  serials(nowMs: number): string[];
  onChange(fn: () => void): () => void;
}

export class DispatcherServer {
  private leader: LeaderContext | undefined;
  private removeHandler: (() => void) | undefined;
  private removeCredentialHandler: (() => void) | undefined;
  private sessions = new Map<string, AgentSession>();
  private removeNodeHandler: (() => void) | undefined;
  private leaderAddress = '';

  private removeRevocationHandler: (() => void) | undefined;
  private revocationsPending = false;

  constructor(
    private readonly deps: {
      controllerId: string;
      log: Logger;
      clock: Clock;
      metrics?: ControllerMetrics | undefined;
      /** Opens registry passwords for assignments. */
      cipher?: SecretCipher | undefined;
      /** The cluster's revocation list, which every agent is sent (absent: --insecure-dev). */
      revocations?: RevokedSerials | undefined;
    },
  ) {}

  /** The complete revocation list for agents of this leader. */
  private revocationsMessage(epoch: number): ControllerMessage {
    return { revocations: { epoch, serials: this.deps.revocations?.serials(this.deps.clock.now()) ?? [] } };
  }

  /** Called when this controller gains (ctx) or loses (undefined) leadership. */
  setLeader(ctx: LeaderContext | undefined): void {
    this.leader = ctx;
    this.removeHandler?.();
    this.removeHandler = undefined;
    this.removeCredentialHandler?.();
    this.removeCredentialHandler = undefined;
    this.removeNodeHandler?.();
    this.removeNodeHandler = undefined;
    this.removeRevocationHandler?.();
    this.removeRevocationHandler = undefined;
    if (!ctx) {
      for (const s of this.sessions.values())
        s.close({ code: grpc.status.UNAVAILABLE, details: 'controller lost leadership', metadata: new grpc.Metadata() });
      this.sessions.clear();
      this.deps.metrics?.agentSessions.set(0);
      return;
    }
    // New registry credentials reach the agents whose tasks pull with them (a failed pull retries).
    this.removeCredentialHandler = ctx.cache.registryCredentials.addHandler({
      onUpsert: (_k, c) => {
        if (this.leader !== ctx) return;
        for (const s of this.sessions.values())
          s.resend((t) => t.namespace === c.value.namespace && t.spec.imagePullSecret === c.value.name);
      },
    });
    // A removed node (berth nodes rm) loses its session at once; its certificates are refused, so
    // it cannot open another.
    this.removeNodeHandler = ctx.cache.nodes.addHandler({
      onDelete: (_k, n) => {
        if (this.leader !== ctx) return;
        this.sessions.get(n.value.id)?.close({
          code: grpc.status.PERMISSION_DENIED,
          details: `node ${n.value.id} was removed from the cluster`,
          metadata: new grpc.Metadata(),
        });
      },
    });
    // A changed revocation list reaches every agent, complete, once per burst (a node's removal
    // revokes several certificates in one commit, seen as one event each).
    this.removeRevocationHandler = this.deps.revocations?.onChange(() => {
      if (this.revocationsPending) return;
      this.revocationsPending = true;
      queueMicrotask(() => {
        this.revocationsPending = false;
        if (this.leader !== ctx || !ctx.valid()) return;
        const msg = this.revocationsMessage(ctx.epoch);
        for (const s of this.sessions.values()) s.write(msg);
      });
    });
    this.removeHandler = ctx.cache.tasks.addHandler({
      onUpsert: (_k, t, old) => {
        if (this.leader !== ctx) return;
        this.sessions.get(t.value.nodeId)?.notify(t.value.id);
        if (old && old.value.nodeId !== t.value.nodeId) this.sessions.get(old.value.nodeId)?.notify(t.value.id);
      },
      onDelete: (_k, t) => {
        if (this.leader !== ctx) return;
        this.sessions.get(t.value.nodeId)?.notify(t.value.id);
      },
    });
  }

  /** Address agents are sent to when this controller is a follower. */
  setLeaderAddress(address: string): void {
    this.leaderAddress = address;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  handlers(): DispatcherHandlers {
    return { Session: (call: Call) => this.session(call) };
  }

  private session(call: Call): void {
    const ctx = this.leader;
    const { log } = this.deps;
    if (!ctx) {
      const md = new grpc.Metadata();
      if (this.leaderAddress) md.set(LEADER_METADATA, this.leaderAddress);
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'not the leader', metadata: md });
      return;
    }
    let session: AgentSession | undefined;
    const helloTimer = setTimeout(() => {
      if (!session) call.emit('error', { code: grpc.status.DEADLINE_EXCEEDED, details: 'no Hello', metadata: new grpc.Metadata() });
    }, HELLO_TIMEOUT_MS);
    const closed = (): void => {
      clearTimeout(helloTimer);
      if (!session || session.closed) return;
      session.closed = true;
      if (this.sessions.get(session.nodeId) === session) {
        this.sessions.delete(session.nodeId);
        this.deps.metrics?.agentSessions.set(this.sessions.size);
      }
      ctx.lifecycle.sessionClosed(session.nodeId);
      log.info({ node: session.nodeId }, 'agent session closed');
    };
    call.on('error', closed);
    call.on('end', () => {
      closed();
      call.end();
    });
    call.on('cancelled', closed);
    call.on('close', closed);
    call.on('data', (msg: AgentMessage__Output) => {
      // Counts and lengths first (bytes were limited before decoding: --max-agent-message): a
      // message beyond them ends the session, so nothing of it reaches the node record or etcd.
      const problem = agentMessageProblem(msg);
      if (problem !== undefined) {
        const who = describeIdentity(callerOf(call));
        log.warn({ caller: who, node: session?.nodeId, problem }, 'refused a message from an agent');
        // Emitted on the call (not session.close()): the 'error' handler above unregisters the session.
        call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `${problem} (from ${who})`, metadata: new grpc.Metadata() });
        return;
      }
      if (msg.hello) {
        if (session) return;
        const hello = msg.hello;
        const nodeId = hello.nodeId;
        if (!nodeId || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/.test(nodeId)) {
          call.emit('error', {
            code: grpc.status.INVALID_ARGUMENT,
            details: 'hello.nodeId: invalid node id',
            metadata: new grpc.Metadata(),
          });
          return;
        }
        // The node is the one the agent's certificate names, never the one a message claims.
        const who = callerOf(call);
        if (who?.kind === 'agent' && who.nodeId !== nodeId) {
          log.warn({ node: nodeId, identity: who.nodeId }, 'refused a session for another node');
          call.emit('error', {
            code: grpc.status.PERMISSION_DENIED,
            details: `hello.nodeId: the certificate of agent ${who.nodeId} cannot open the session of node ${nodeId}`,
            metadata: new grpc.Metadata(),
          });
          return;
        }
        clearTimeout(helloTimer);
        const s = new AgentSession(nodeId, call, ctx.epoch, ctx.cache, ctx.valid, this.deps.cipher);
        session = s;
        void this.register(ctx, nodeId, descriptionFromPb(hello.description ?? ({} as never)))
          .then(async () => {
            if (s.closed || this.leader !== ctx) return;
            const prev = this.sessions.get(nodeId);
            if (prev) {
              // The newest session of a node wins (the old one is a half-dead connection).
              prev.close({ code: grpc.status.ABORTED, details: 'replaced by a newer session', metadata: new grpc.Metadata() });
              ctx.lifecycle.sessionClosed(nodeId);
            }
            this.sessions.set(nodeId, s);
            this.deps.metrics?.agentSessions.set(this.sessions.size);
            ctx.lifecycle.sessionOpened(nodeId);
            s.write({
              welcome: {
                heartbeatPeriodMs: ctx.lifecycle.timings.heartbeatPeriodMs,
                epoch: ctx.epoch,
                controllerId: this.deps.controllerId,
                fenceAfterMs: ctx.fenceAfterMs,
              },
            });
            if (this.deps.revocations) s.write(this.revocationsMessage(ctx.epoch));
            await ctx.cache.synced;
            if (s.closed) return;
            s.sendFull();
            log.info({ node: nodeId, containers: hello.containers.length, epochSeen: hello.epochSeen }, 'agent session open');
          })
          .catch((err: unknown) => {
            log.warn({ node: nodeId, err: err instanceof Error ? err.message : String(err) }, 'node registration failed');
            s.close({ code: grpc.status.UNAVAILABLE, details: 'registration failed, retry', metadata: new grpc.Metadata() });
          });
        return;
      }
      if (!session || session.closed) return;
      if (msg.heartbeat) {
        if (!ctx.valid()) return;
        ctx.lifecycle.heartbeat(session.nodeId);
        session.write({ heartbeatAck: { seq: msg.heartbeat.seq, epoch: ctx.epoch } });
      } else if (msg.status) {
        ctx.lifecycle.heartbeat(session.nodeId);
        const updates: Array<{ taskId: string; status: ReturnType<typeof statusFromPb> }> = [];
        for (const u of msg.status.updates) {
          if (!u.status) continue;
          try {
            updates.push({ taskId: u.taskId, status: statusFromPb(u.status) });
          } catch {
            // unknown state from a newer agent: ignore that one
          }
        }
        ctx.statusWriter.enqueue(session.nodeId, updates);
      }
    });
  }

  /** Creates or refreshes the node record: description from the agent, state ready. */
  private async register(ctx: LeaderContext, nodeId: string, description: NodeRecord['description']): Promise<void> {
    const { cache } = ctx;
    const key = cache.keys.node(nodeId);
    await retryOnConflict(
      async () => {
        const cur = await cache.store.get(key);
        const now = this.deps.clock.now();
        if (!cur) {
          const node: NodeRecord = {
            id: nodeId,
            description,
            state: 'ready',
            availability: 'active',
            labels: {},
            stateChangedAtMs: now,
            message: 'registered',
          };
          await cache.store.commit([createOp(key, nodeCodec, node)]);
          ctx.events.publish({
            type: 'node.registered',
            node: nodeId,
            state: 'ready',
            message: `node ${nodeId} joined (${description.hostname})`,
          });
          return;
        }
        const old = nodeCodec.decode(cur);
        const next: NodeRecord = {
          ...old,
          description,
          ...(old.state !== 'ready' ? { state: 'ready', stateChangedAtMs: now, message: 'agent connected' } : {}),
        };
        if (next.state === 'ready') clearOutage(next);
        if (nodeCodec.encode(next) !== cur.value) await cache.store.commit([updateOp(key, nodeCodec, next, cur.modRevision)]);
        if (old.state !== 'ready') ctx.events.publish({ type: 'node.state', node: nodeId, state: 'ready', message: 'agent connected' });
      },
      { exhausted: () => new Error(`could not register node ${nodeId}: kept conflicting`) },
    );
  }
}
