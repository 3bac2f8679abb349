// NodeAPI (every controller replica): operator labels and availability of nodes, written
// conditionally (read, change, update-at-revision, retried on a lost race unless the caller named
// a revision), and `berth plan`, which runs the real scheduler on a snapshot read from the store.
import * as grpc from '@grpc/grpc-js';
import type { Clock, MonotonicNow } from '../../../proto/src/clock.js';
import { callerOf } from '../../../proto/src/security/caller.js';
import { DEFAULT_PLAN_RATE } from '../../../proto/src/limits/defaults.js';
import { RateLimiter, type RateLimit } from '../../../proto/src/limits/rate-limiter.js';
import type { PlanRequest__Output } from '../../../proto/gen/berth/v1/PlanRequest.js';
import { nodeToPb } from '../../../proto/src/convert.js';
import { ConflictError, FailedPreconditionError, NotFoundError, ValidationError } from '../../../proto/src/errors.js';
import type { Logger } from '../../../proto/src/log.js';
import type { NodeRecord, Versioned } from '../../../proto/src/model.js';
import type { Issue } from '../../../proto/src/spec/dsl.js';
import type { NodeAvailability } from '../../../proto/src/types.js';
import type { NodeAPIHandlers } from '../../../proto/gen/berth/v1/NodeAPI.js';
import type { Node } from '../../../proto/gen/berth/v1/Node.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import type { Keys } from '../store/keys.js';
import type { Store, WriteOp } from '../store/store.js';
import { decodeVersioned, nodeCodec, taskCodec } from '../store/codecs.js';
import { updateOp } from '../store/ops.js';
import { retryOnConflict } from '../store/retry.js';
import { planWhatIf, type WhatIf, type WhatIfService } from '../scheduler/what-if-plan.js';
import { unaryFactory } from './control.js';
import type { ServiceApi } from './services.js';

export const AVAILABILITIES: readonly NodeAvailability[] = ['active', 'pause', 'drain'];
const LABEL_KEY_RE = /^(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** Most operator labels on one node. */
export const MAX_NODE_LABELS = 64;
/** Most manifests in one plan request. */
export const MAX_PLAN_MANIFESTS = 100;

export function validateNodeLabels(set: Record<string, string>, remove: readonly string[]): Issue[] {
  const issues: Issue[] = [];
  for (const [k, v] of Object.entries(set)) {
    if (k.length > 253 || !LABEL_KEY_RE.test(k))
      issues.push({ path: `labels.${k}`, message: 'label keys are [prefix/]name with letters, digits, "-", "_" and "."' });
    if (v.length > 253 || /[\u0000-\u001f\u007f]/.test(v))
      issues.push({ path: `labels.${k}`, message: 'values are at most 253 characters without control characters' });
  }
  for (const k of remove) {
    if (Object.prototype.hasOwnProperty.call(set, k)) issues.push({ path: `labels.${k}`, message: 'both set and removed' });
  }
  return issues;
}

export class NodeApi {
  constructor(
    private readonly deps: {
      store: Store;
      keys: Keys;
      clock: Clock;
      services: ServiceApi;
      /** The writes that revoke a node's certificates (absent under --insecure-dev: there are none). */
      revokeNodeOps?: ((nodeId: string) => Promise<WriteOp[]>) | undefined;
    },
  ) {}

  /**
   * Removes a node: its record goes and its certificates are revoked, in one commit. Refused while
   * the node is ready or still holds tasks (drain it and stop its agent first), unless forced:
   * a forced removal orphans its tasks, which are replaced elsewhere at once.
   */
  /** The removed record; undefined when the node had joined but never registered (only its certificates went). */
  async remove(nodeId: string, force: boolean): Promise<Versioned<NodeRecord> | undefined> {
    const { store, keys } = this.deps;
    return retryOnConflict(async () => {
      const kv = await store.get(keys.node(nodeId));
      if (!kv) {
        // Joined (it holds a certificate) but never registered: only its certificates go.
        const revoke = (await this.deps.revokeNodeOps?.(nodeId)) ?? [];
        if (!revoke.some((op) => op.op === 'put')) throw new NotFoundError(`node ${nodeId}`);
        await store.commit(revoke);
        return undefined;
      }
      const cur = decodeVersioned(nodeCodec, kv);
      if (!force) {
        if (cur.value.state === 'ready')
          throw new FailedPreconditionError(
            `node ${nodeId} is ready: drain it (berth nodes drain ${nodeId}), stop its agent, then remove it; or pass --force`,
          );
        const held = (await this.deps.services.tasks({ nodeId })).filter((t) => t.value.desiredState === 'running');
        if (held.length > 0)
          throw new FailedPreconditionError(
            `node ${nodeId} still holds ${held.length} task(s) (${held
              .slice(0, 3)
              .map((t) => t.value.id)
              .join(', ')}${held.length > 3 ? ', …' : ''}): drain it first, or pass --force`,
          );
      }
      const revoke = (await this.deps.revokeNodeOps?.(nodeId)) ?? [];
      await store.commit([{ op: 'delete', key: keys.node(nodeId), modRevision: cur.modRevision }, ...revoke]);
      return cur;
    });
  }

  private async read(nodeId: string): Promise<Versioned<NodeRecord>> {
    const kv = await this.deps.store.get(this.deps.keys.node(nodeId));
    if (!kv) throw new NotFoundError(`node ${nodeId}`);
    return decodeVersioned(nodeCodec, kv);
  }

  /** Read, change, write at the read revision; on a lost race read again (unless expectedRevision). */
  private async change(nodeId: string, expectedRevision: number, fn: (n: NodeRecord) => NodeRecord): Promise<Versioned<NodeRecord>> {
    // A named revision is the caller's condition: losing that race is the answer, not a retry.
    return retryOnConflict(
      async () => {
        const cur = await this.read(nodeId);
        if (expectedRevision && cur.modRevision !== expectedRevision) {
          throw new ConflictError(
            `node ${nodeId} changed since revision ${expectedRevision}`,
            [this.deps.keys.node(nodeId)],
            cur.modRevision,
          );
        }
        const next = fn(cur.value);
        if (nodeCodec.encode(next) === nodeCodec.encode(cur.value)) return cur;
        const r = await this.deps.store.commit([updateOp(this.deps.keys.node(nodeId), nodeCodec, next, cur.modRevision)]);
        return { value: next, modRevision: r, createRevision: cur.createRevision };
      },
      { attempts: expectedRevision ? 1 : undefined },
    );
  }

  async label(
    nodeId: string,
    set: Record<string, string>,
    remove: readonly string[],
    expectedRevision = 0,
  ): Promise<Versioned<NodeRecord>> {
    const issues = validateNodeLabels(set, remove);
    if (issues.length > 0) throw new ValidationError(issues, 'node labels');
    return this.change(nodeId, expectedRevision, (n) => {
      const labels: Record<string, string> = { ...n.labels, ...set };
      for (const k of remove) delete labels[k];
      if (Object.keys(labels).length > MAX_NODE_LABELS)
        throw new ValidationError([{ path: 'labels', message: `at most ${MAX_NODE_LABELS} operator labels per node` }], 'node labels');
      return { ...n, labels };
    });
  }

  async setAvailability(nodeId: string, availability: string): Promise<Versioned<NodeRecord>> {
    if (!(AVAILABILITIES as readonly string[]).includes(availability)) {
      throw new ValidationError(
        [{ path: 'availability', message: `must be one of ${AVAILABILITIES.join(', ')}; got ${JSON.stringify(availability)}` }],
        'request',
      );
    }
    return this.change(nodeId, 0, (n) => ({ ...n, availability: availability as NodeAvailability }));
  }

  async plan(manifestsJson: readonly string[], seed: number): Promise<WhatIf> {
    if (manifestsJson.length === 0) throw new ValidationError([{ path: 'manifests', message: 'no manifest given' }], 'request');
    if (manifestsJson.length > MAX_PLAN_MANIFESTS)
      throw new ValidationError([{ path: 'manifests', message: `at most ${MAX_PLAN_MANIFESTS} per plan` }], 'request');
    const services: WhatIfService[] = [];
    for (const json of manifestsJson) {
      const { service, result } = await this.deps.services.apply(this.deps.services.parseDocument(json), { dryRun: true });
      services.push({ record: service.value, result });
    }
    const { store, keys, clock } = this.deps;
    const [nodes, tasks] = await Promise.all([store.list(keys.nodes), store.list(keys.tasks)]);
    return planWhatIf({
      services,
      nodes: nodes.items.map((kv) => nodeCodec.decode(kv)),
      tasks: tasks.items.map((kv) => taskCodec.decode(kv)),
      nowMs: clock.now(),
      seed,
    });
  }

  /** A node as the API shows it, with what its tasks reserve. */
  async view(node: Versioned<NodeRecord>): Promise<Node> {
    const all = await this.deps.services.nodes();
    const e = all.find((n) => n.node.value.id === node.value.id);
    return nodeToPb(node.value, {
      allocated: e?.allocated ?? { cpuMilli: 0, memoryBytes: 0 },
      tasks: e?.tasks ?? 0,
      modRevision: node.modRevision,
    });
  }
}

/** The rate limiter of NodeAPI.Plan (--plan-rate, --plan-burst). */
export function planRateLimiter(limit: RateLimit = DEFAULT_PLAN_RATE): RateLimiter {
  return new RateLimiter(limit, { what: 'plans', flags: '--plan-rate, --plan-burst' });
}

export function nodeHandlers(
  api: NodeApi,
  deps: {
    log: Logger;
    metrics?: ControllerMetrics | undefined;
    /** Plans per caller identity, on a monotonic clock; absent: no limit. */
    planRate?: { limiter: RateLimiter; now: MonotonicNow } | undefined;
  },
): NodeAPIHandlers {
  const unary = unaryFactory(deps);
  const plan = unary('Plan', async (req: PlanRequest__Output) => api.plan(req.manifestsJson, req.seed));
  return {
    RemoveNode: unary('RemoveNode', async (req) => {
      const removed = await api.remove(req.nodeId, req.force);
      return removed ? api.view(removed) : { id: req.nodeId };
    }),
    LabelNode: unary('LabelNode', async (req) => api.view(await api.label(req.nodeId, req.set, req.remove, req.expectedRevision))),
    SetAvailability: unary('SetAvailability', async (req) => api.view(await api.setAvailability(req.nodeId, req.availability))),
    Plan: (call, callback) => {
      const rate = deps.planRate;
      const taken = rate?.limiter.take(callerOf(call), rate.now());
      if (taken && !taken.ok) {
        deps.metrics?.apiRequests.labels('Plan', 'RESOURCE_EXHAUSTED').inc();
        return callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: taken.message, metadata: new grpc.Metadata() }, null);
      }
      return plan(call, callback);
    },
  };
}
