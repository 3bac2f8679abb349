// The agent's Dispatcher session: Hello → Welcome, then assignments in, heartbeats and batched
// task status out. A broken session is reopened with capped, jittered backoff, against the next
// known controller address (or the leader a follower points to). Assignments from an epoch older
// than the newest one seen are refused: a deposed leader cannot command this agent.
import { registryOf, sameRegistry } from '../../proto/src/spec/image-ref.js';
import { NO_GRANTS, type PolicyGrants } from '../../proto/src/security/workload-policy.js';
import type * as grpc from '@grpc/grpc-js';
import { channelCredentials, expectController, TLS_CHANNEL_OPTIONS, type Transport } from '../../proto/src/security/tls.js';
import { CHANNEL_OPTIONS, LEADER_METADATA, protos } from '../../proto/src/grpc.js';
import { backoffMs, monotonicNow, sleep, type MonotonicNow } from '../../proto/src/clock.js';
import { descriptionToPb, statusToPb, taskFromPb } from '../../proto/src/convert.js';
import { batches, clipStatusText } from '../../proto/src/limits/agent-messages.js';
import type { Logger } from '../../proto/src/log.js';
import type { NodeDescription, TaskStatus } from '../../proto/src/model.js';
import type { AgentMessage } from '../../proto/gen/berth/v1/AgentMessage.js';
import type { ControllerMessage__Output } from '../../proto/gen/berth/v1/ControllerMessage.js';
import type { ContainerInfo } from './runtime/runtime.js';
import type { AssignmentSet } from './worker.js';
import type { AssignedTask } from './task-runner.js';
import type { TaskRecord } from '../../proto/src/model.js';
import type { RegistryAuth__Output } from '../../proto/gen/berth/v1/RegistryAuth.js';

/** Attaches the pull credentials an assignment carries (kept in memory only, never logged). */
/** A task with the credential sent beside it, only if it is for the registry the image is on (as the controller checks). */
function withPullAuth(t: TaskRecord, auth: RegistryAuth__Output | null | undefined): AssignedTask {
  return auth && auth.username && sameRegistry(registryOf(t.spec.image), auth.server)
    ? { ...t, pullAuth: { server: auth.server, username: auth.username, password: auth.password } }
    : t;
}

/** The grants sent beside a task; none (the baseline alone) when absent or unreadable. */
export function grantsFromPb(json: string): PolicyGrants {
  if (!json) return NO_GRANTS;
  try {
    const g = JSON.parse(json) as Partial<PolicyGrants>;
    return {
      capabilities: Array.isArray(g.capabilities) ? g.capabilities.filter((c): c is string => typeof c === 'string') : [],
      hostNetwork: g.hostNetwork === true,
      privilegeEscalation: g.privilegeEscalation === true,
      dockerSocket: g.dockerSocket === true,
      policies: Array.isArray(g.policies) ? g.policies.filter((c): c is string => typeof c === 'string') : [],
    };
  } catch {
    return NO_GRANTS;
  }
}
import { LABEL_TASK } from '../../proto/src/labels.js';

/**
 * Reconnect backoff: first retry soon, then doubling to a cap so a dead controller is not
 * hammered; the cap is short because it bounds how long after a partition heals the node stays
 * unknown (one connection attempt per agent every 2 s is cheap for a controller).
 */
export const RECONNECT_INITIAL_MS = 100;
export const RECONNECT_MAX_MS = 2_000;
/** Pause before trying the next known controller (or the leader a follower named). */
export const ROTATE_DELAY_MS = 100;
/** Status updates wait this long to travel together (one write batch on the controller). */
export const STATUS_FLUSH_MS = 20;
/** A controller that has not answered Hello this soon is stalled (e.g. a paused process). */
export const WELCOME_TIMEOUT_MS = 3_000;
/** A session with no message from the leader for this many heartbeat periods is dropped. */
export const STALL_PERIODS = 3;
/** How often the session checks that the leader still talks. */
const WATCHDOG_MS = 250;

export interface SessionDeps {
  nodeId: string;
  addresses: string[];
  describe: () => Promise<NodeDescription>;
  /** Containers this node holds now (for Hello). */
  containers: () => Promise<ContainerInfo[]>;
  /** Every task status to send after (re)connecting. */
  statuses: () => Array<{ taskId: string; status: TaskStatus }>;
  onAssignments: (set: AssignmentSet) => void;
  log: Logger;
  /**
   * The leader answered (Welcome or HeartbeatAck): it still hears this agent. `fenceAfterMs` is
   * set when the leader told it (Welcome).
   */
  onContact?: (fenceAfterMs: number | undefined) => void;
  /** Wall clock (the heartbeat's sequence number only). Default: Date.now. */
  now?: () => number;
  /**
   * Monotonic clock for the durations that decide: the Welcome timeout, the leader's silence, how
   * long a session lasted. A wall clock stepped by NTP must neither drop a healthy session nor
   * keep a stalled one. Default: performance.now.
   */
  monotonic?: MonotonicNow;
  /** mTLS with the agent's certificate (the controller must prove it is one), or plaintext (--insecure-dev). */
  transport?: Transport | undefined;
  /** The leader's complete revocation list (the agent's /metrics refuses those certificates). */
  onRevocations?: ((serials: string[]) => void) | undefined;
  /** Notified on every state change (tests and metrics). */
  onState?: (state: 'connecting' | 'connected' | 'disconnected', info?: { epoch?: number; address?: string }) => void;
}

export class Session {
  private outbox = new Map<string, TaskStatus>();
  private flushTimer: NodeJS.Timeout | undefined;
  private stream: grpc.ClientDuplexStream<AgentMessage, ControllerMessage__Output> | undefined;
  private epochSeen = 0;
  private addressIndex = 0;
  private preferred: string | undefined;
  connected = false;

  private readonly now: () => number;
  private readonly mono: MonotonicNow;

  constructor(private readonly deps: SessionDeps) {
    this.now = deps.now ?? Date.now;
    this.mono = deps.monotonic ?? monotonicNow;
  }

  get epoch(): number {
    return this.epochSeen;
  }

  /**
   * Sends every task's current status again: a level-triggered safety net (the controller
   * writes only what differs from what it stored), so a report lost on the way is repaired.
   */
  resendAll(): void {
    if (!this.connected) return;
    for (const { taskId, status } of this.deps.statuses()) this.outbox.set(taskId, status);
    this.flush();
  }

  /** Queue a status for the controller (the newest per task wins). */
  report(taskId: string, status: TaskStatus): void {
    this.outbox.set(taskId, status);
    if (!this.connected || this.flushTimer) return;
    this.flushTimer = setTimeout(() => this.flush(), STATUS_FLUSH_MS);
  }

  async run(signal: AbortSignal): Promise<void> {
    // Backoff counts whole rounds: every known controller is tried (ROTATE_DELAY_MS apart)
    // before the agent waits longer, so a dead controller never delays reaching a live one.
    let failures = 0;
    let triedInRound = 0;
    while (!signal.aborted) {
      const address = this.nextAddress();
      const started = this.mono();
      try {
        await this.once(address, signal);
      } catch (err) {
        if (signal.aborted) break;
        const e = err as grpc.ServiceError;
        const leader = e.metadata?.get(LEADER_METADATA)?.[0];
        if (typeof leader === 'string' && leader && leader !== address) {
          this.preferred = leader;
          this.deps.log.info({ address, leader }, 'controller is not the leader; following');
        } else {
          this.deps.log.warn({ address, err: e.details || e.message }, 'session ended');
        }
      } finally {
        this.connected = false;
        this.stream = undefined;
        if (this.flushTimer) clearTimeout(this.flushTimer);
        this.flushTimer = undefined;
        this.deps.onState?.('disconnected');
      }
      // A session that lasted a while was healthy: start the backoff over.
      if (this.mono() - started > 10_000) {
        failures = 0;
        triedInRound = 0;
      }
      let delay: number;
      // A round: one try per known address (a followed leader counts as one).
      if (++triedInRound <= this.deps.addresses.length) delay = ROTATE_DELAY_MS;
      else {
        triedInRound = 0;
        delay = backoffMs(failures++, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS);
      }
      await sleep(delay / 2 + Math.random() * (delay / 2), signal);
    }
  }

  private nextAddress(): string {
    if (this.preferred) {
      const p = this.preferred;
      this.preferred = undefined;
      return p;
    }
    const a = this.deps.addresses[this.addressIndex % this.deps.addresses.length]!;
    this.addressIndex++;
    return a;
  }

  private once(address: string, signal: AbortSignal): Promise<void> {
    const { dispatcher } = protos();
    this.deps.onState?.('connecting', { address });
    // Only a controller of the cluster CA is spoken to, here and at any leader address a follower names.
    const transport = this.deps.transport ?? { kind: 'insecure' };
    const client = new dispatcher.berth.v1.Dispatcher(address, channelCredentials(transport, expectController), {
      ...CHANNEL_OPTIONS,
      ...(transport.kind === 'tls' ? TLS_CHANNEL_OPTIONS : {}),
    });
    return new Promise<void>((resolve, reject) => {
      let heartbeat: NodeJS.Timeout | undefined;
      let finished = false;
      // Watchdog: a controller that accepted the connection but does not answer (paused,
      // partitioned one way) is left for another, without waiting for TCP to notice.
      const opened = this.mono();
      let lastHeard: number | undefined; // monotonic; undefined until Welcome
      let stallMs = 0;
      const watchdog = setInterval(() => {
        const now = this.mono();
        if (lastHeard === undefined && now - opened > WELCOME_TIMEOUT_MS) finish(new Error(`no Welcome within ${WELCOME_TIMEOUT_MS} ms`));
        else if (lastHeard !== undefined && now - lastHeard > stallMs)
          finish(new Error(`controller silent for ${Math.round(now - lastHeard)} ms`));
      }, WATCHDOG_MS);
      const finish = (err?: Error): void => {
        if (finished) return;
        finished = true;
        clearInterval(watchdog);
        if (heartbeat) clearInterval(heartbeat);
        signal.removeEventListener('abort', onAbort);
        stream.removeAllListeners();
        stream.on('error', () => undefined);
        stream.cancel();
        client.close();
        if (err) reject(err);
        else resolve();
      };
      const onAbort = (): void => finish();
      signal.addEventListener('abort', onAbort, { once: true });
      const stream = client.Session();
      this.stream = stream;
      stream.on('error', (err: Error) => finish(err));
      stream.on('end', () => finish(new Error('controller closed the session')));
      let sessionEpoch = 0;
      stream.on('data', (msg: ControllerMessage__Output) => {
        if (sessionEpoch > 0) lastHeard = this.mono();
        if (msg.welcome) {
          const w = msg.welcome;
          if (w.epoch < this.epochSeen) {
            this.deps.log.warn({ epoch: w.epoch, seen: this.epochSeen, address }, 'refusing controller with an older epoch');
            finish(new Error(`stale leader epoch ${w.epoch} < ${this.epochSeen}`));
            return;
          }
          this.epochSeen = w.epoch;
          sessionEpoch = w.epoch;
          this.connected = true;
          lastHeard = this.mono();
          stallMs = STALL_PERIODS * Math.max(100, w.heartbeatPeriodMs);
          this.deps.onContact?.(w.fenceAfterMs > 0 ? w.fenceAfterMs : undefined);
          this.deps.log.info(
            { address, epoch: w.epoch, heartbeatMs: w.heartbeatPeriodMs, controller: w.controllerId },
            'session established',
          );
          this.deps.onState?.('connected', { epoch: w.epoch, address });
          heartbeat = setInterval(
            () => {
              stream.write({ heartbeat: { seq: this.now() } });
            },
            Math.max(100, w.heartbeatPeriodMs),
          );
          for (const { taskId, status } of this.deps.statuses()) this.outbox.set(taskId, status);
          this.flush();
        } else if (msg.heartbeatAck) {
          if (sessionEpoch === 0 || msg.heartbeatAck.epoch < this.epochSeen) {
            finish(new Error('heartbeat answer from an older epoch'));
            return;
          }
          this.deps.onContact?.(undefined);
        } else if (msg.revocations) {
          // Only from this session's leader: a deposed one's list may be older.
          if (sessionEpoch === 0 || msg.revocations.epoch < this.epochSeen) return;
          this.deps.onRevocations?.(msg.revocations.serials);
        } else if (msg.assignments) {
          const a = msg.assignments;
          if (a.epoch < sessionEpoch || a.epoch < this.epochSeen) {
            this.deps.log.warn({ epoch: a.epoch, seen: this.epochSeen }, 'refusing assignments from an older epoch');
            finish(new Error('stale epoch in assignments'));
            return;
          }
          try {
            this.deps.onAssignments({
              full: a.full,
              upsert: a.upsert.map((t) => ({
                ...withPullAuth(taskFromPb(t), t.registryAuth),
                policyGrants: grantsFromPb(t.policyGrantsJson),
              })),
              remove: a.remove,
            });
          } catch (err) {
            this.deps.log.error({ err: err instanceof Error ? err.message : String(err) }, 'bad assignments');
          }
        }
      });
      void (async () => {
        try {
          const [description, containers] = await Promise.all([this.deps.describe(), this.deps.containers()]);
          if (finished) return;
          stream.write({
            hello: {
              nodeId: this.deps.nodeId,
              description: descriptionToPb(description),
              containers: containers.map((c) => ({
                containerId: c.id,
                taskId: c.labels[LABEL_TASK] ?? '',
                state: c.state,
                startedAtMs: c.startedAtMs,
              })),
              epochSeen: this.epochSeen,
            },
          });
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)));
        }
      })();
    });
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.connected || !this.stream || this.outbox.size === 0) return;
    // Inside what the controller accepts (proto/src/limits/agent-messages.ts): long texts
    // shortened, a large outbox (every task after a reconnect) in several batches.
    const updates = [...this.outbox.entries()].map(([taskId, status]) => {
      const pb = statusToPb(status);
      return { taskId, status: { ...pb, message: clipStatusText(pb.message ?? ''), err: clipStatusText(pb.err ?? '') } };
    });
    this.outbox.clear();
    for (const batch of batches(updates)) this.stream.write({ status: { updates: batch } });
  }
}
