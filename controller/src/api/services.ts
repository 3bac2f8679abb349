// The service API's logic, free of gRPC: apply (create-or-update with optimistic concurrency and
// numbered revisions), get, list, delete; task and node listings with computed status.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../../proto/src/clock.js';
import { ConflictError, FailedPreconditionError, NotFoundError, ValidationError } from '../../../proto/src/errors.js';
import type { NodeRecord, Resources, RevisionRecord, ServiceRecord, TaskRecord, Versioned } from '../../../proto/src/model.js';
import { canonicalJson, validateServiceManifest } from '../../../proto/src/spec/service.js';
import { MAX_DOCUMENT_BYTES } from '../../../proto/src/spec/limits.js';
import { parseJsonDocument } from '../../../proto/src/spec/safe-json.js';
import { modeOf } from '../../../proto/src/spec/placement.js';
import { isTerminal } from '../../../proto/src/types.js';
import type { Keys } from '../store/keys.js';
import type { Store, WriteOp } from '../store/store.js';
import type { EventSink } from '../events/events.js';
import { revisionOps } from '../store/revisions.js';
import { decodeVersioned, nodeCodec, serviceCodec, taskCodec } from '../store/codecs.js';
import { createOp, updateOp } from '../store/ops.js';
import { workloadViolations } from '../../../proto/src/security/workload-policy.js';
import { namespaceRules, usageGuard, type NamespaceRules } from './policy-grants.js';
import { NO_USAGE, addUsage, quotaViolations, serviceUsage } from '../../../proto/src/security/quota.js';
import type { ServiceSpec } from '../../../proto/src/spec/service.js';

/** Revisions kept per service: `berth rollout history` shows them, undo picks from them. */
/** Largest manifest document accepted. */
export const MAX_MANIFEST_BYTES = MAX_DOCUMENT_BYTES;

export type ApplyResult = 'created' | 'updated' | 'unchanged';

export function newUid(): string {
  return randomBytes(5).readUIntBE(0, 5).toString(36).padStart(8, '0').slice(-8);
}

export function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  return canonicalJson(Object.entries(a).sort()) === canonicalJson(Object.entries(b).sort());
}

export class ServiceApi {
  constructor(private readonly deps: { store: Store; keys: Keys; clock: Clock; events: EventSink }) {}

  /**
   * Parses a manifest document given as JSON text, strictly (size, depth, duplicate and
   * prototype keys, broken Unicode: proto/src/spec/safe-json.ts); apply() validates it.
   */
  parseDocument(json: string): unknown {
    const r = parseJsonDocument(json, { maxBytes: MAX_MANIFEST_BYTES });
    if (!r.ok) throw new ValidationError(r.issues);
    return r.value;
  }

  async apply(
    doc: unknown,
    opts: {
      expectedRevision?: number;
      dryRun?: boolean;
      /** ConflictError when the service exists */ createOnly?: boolean;
      /** why the new revision exists (default "apply") */ cause?: string;
    } = {},
  ): Promise<{ service: Versioned<ServiceRecord>; result: ApplyResult }> {
    const { store, keys, clock } = this.deps;
    const v = validateServiceManifest(doc);
    if (!v.ok) throw new ValidationError(v.issues);
    const { metadata, spec } = v.value;
    // The default-deny workload policy, with the exceptions the namespace's Policies allow.
    const rules = await namespaceRules(store, keys, metadata.namespace);
    const refused = workloadViolations(spec, metadata.namespace, rules.grants);
    if (refused.length > 0) throw new ValidationError(refused.map((r) => ({ path: `spec.${r.path}`, message: r.message })));
    const labels = metadata.labels ?? {};
    const key = keys.service(metadata.namespace, metadata.name);
    // Quotas: the guard is read before the use is counted, so a change committed in between conflicts.
    const guard = rules.quotas.length > 0 ? await usageGuard(store, keys, metadata.namespace, clock.now()) : undefined;
    const cur = await store.get(key);
    if (guard) await this.checkQuota(metadata.namespace, metadata.name, spec, rules);
    if (opts.expectedRevision && (cur?.modRevision ?? 0) !== opts.expectedRevision) {
      throw new ConflictError(
        `service ${metadata.namespace}/${metadata.name} changed since revision ${opts.expectedRevision}`,
        [key],
        cur?.modRevision ?? 0,
      );
    }
    if (opts.createOnly && cur) throw new ConflictError(`service ${metadata.namespace}/${metadata.name} exists`, [key], cur.modRevision);
    const now = clock.now();
    if (!cur) {
      const record: ServiceRecord = {
        meta: { name: metadata.name, namespace: metadata.namespace, labels, uid: newUid(), createdAtMs: now, updatedAtMs: now },
        spec,
        specRevision: 1,
        deleting: false,
      };
      if (opts.dryRun) return { service: { value: record, modRevision: 0, createRevision: 0 }, result: 'created' };
      const rev: RevisionRecord = {
        namespace: metadata.namespace,
        name: metadata.name,
        specRevision: 1,
        spec,
        labels,
        createdAtMs: now,
        cause: opts.cause ?? 'apply',
      };
      const r = await store.commit([createOp(key, serviceCodec, record), ...revisionOps(keys, rev), ...(guard ? [guard] : [])]);
      this.deps.events.publish({
        type: 'service.applied',
        namespace: metadata.namespace,
        service: metadata.name,
        message: `created at revision 1 (${spec.replicas} replicas of ${spec.image})`,
      });
      return { service: { value: record, modRevision: r, createRevision: r }, result: 'created' };
    }
    const old = decodeVersioned(serviceCodec, cur);
    if (old.value.deleting)
      throw new FailedPreconditionError(`service ${metadata.namespace}/${metadata.name} is being deleted; apply again when it is gone`);
    if (modeOf(old.value.spec) !== modeOf(spec)) {
      throw new ValidationError([
        {
          path: 'spec.mode',
          message: `cannot change from ${modeOf(old.value.spec)} to ${modeOf(spec)}; delete the service and apply it again`,
        },
      ]);
    }
    const specChanged = canonicalJson(spec) !== canonicalJson(old.value.spec);
    if (!specChanged && sameLabels(labels, old.value.meta.labels)) return { service: old, result: 'unchanged' };
    const n = specChanged ? old.value.specRevision + 1 : old.value.specRevision;
    const record: ServiceRecord = { ...old.value, meta: { ...old.value.meta, labels, updatedAtMs: now }, spec, specRevision: n };
    if (opts.dryRun) return { service: { ...old, value: record }, result: 'updated' };
    const ops: WriteOp[] = [updateOp(key, serviceCodec, record, cur.modRevision), ...(guard ? [guard] : [])];
    if (specChanged) {
      const rev: RevisionRecord = {
        namespace: metadata.namespace,
        name: metadata.name,
        specRevision: n,
        spec,
        labels,
        createdAtMs: now,
        cause: opts.cause ?? 'apply',
      };
      ops.push(...revisionOps(keys, rev));
    }
    const r = await store.commit(ops);
    this.deps.events.publish({
      type: 'service.applied',
      namespace: metadata.namespace,
      service: metadata.name,
      message: specChanged ? `updated to revision ${n}` : 'labels updated',
    });
    return { service: { value: record, modRevision: r, createRevision: old.createRevision }, result: 'updated' };
  }

  /** Refuses a spec that would take the namespace past a quota of its Policies (figure and limit named). */
  private async checkQuota(namespace: string, name: string, spec: ServiceSpec, rules: NamespaceRules): Promise<void> {
    const { store, keys } = this.deps;
    const services = (await store.list(`${keys.services}${namespace}/`)).items.map((kv) => serviceCodec.decode(kv));
    const nodes = [spec, ...services.map((s) => s.spec)].some((s) => modeOf(s) === 'global')
      ? (await store.list(keys.nodes)).items.length
      : 0;
    let before = NO_USAGE;
    let others = NO_USAGE;
    for (const s of services) {
      const u = serviceUsage({ ...s.spec, mode: modeOf(s.spec) }, nodes);
      before = addUsage(before, u);
      if (s.meta.name !== name) others = addUsage(others, u);
    }
    const after = addUsage(others, serviceUsage({ ...spec, mode: modeOf(spec) }, nodes));
    const PATH: Record<string, string> = {
      services: 'metadata.name',
      replicas: 'spec.replicas',
      cpu: 'spec.resources.cpu',
      memory: 'spec.resources.memory',
    };
    const over = quotaViolations(namespace, before, after, rules.quotas);
    if (over.length > 0)
      throw new ValidationError(
        over.map((v) => ({ path: PATH[v.field] ?? `spec.${v.field}`, message: v.message })),
        'apply (over quota)',
      );
  }

  async get(namespace: string, name: string): Promise<Versioned<ServiceRecord>> {
    const kv = await this.deps.store.get(this.deps.keys.service(namespace, name));
    if (!kv) throw new NotFoundError(`service ${namespace}/${name}`);
    return decodeVersioned(serviceCodec, kv);
  }

  async list(namespace?: string): Promise<Array<Versioned<ServiceRecord>>> {
    const { keys } = this.deps;
    const prefix = namespace ? `${keys.services}${namespace}/` : keys.services;
    const { items } = await this.deps.store.list(prefix);
    return items.map((kv) => decodeVersioned(serviceCodec, kv));
  }

  async delete(namespace: string, name: string): Promise<Versioned<ServiceRecord>> {
    const cur = await this.get(namespace, name);
    if (cur.value.deleting) return cur;
    const next: ServiceRecord = { ...cur.value, deleting: true, meta: { ...cur.value.meta, updatedAtMs: this.deps.clock.now() } };
    const r = await this.deps.store.commit([updateOp(this.deps.keys.service(namespace, name), serviceCodec, next, cur.modRevision)]);
    this.deps.events.publish({ type: 'service.deleting', namespace, service: name, message: 'stopping its containers' });
    return { value: next, modRevision: r, createRevision: cur.createRevision };
  }

  async tasks(
    filter: { namespace?: string; service?: string; nodeId?: string; all?: boolean } = {},
  ): Promise<Array<Versioned<TaskRecord>>> {
    const { items } = await this.deps.store.list(this.deps.keys.tasks);
    return items
      .map((kv) => decodeVersioned(taskCodec, kv))
      .filter(
        ({ value: t }) =>
          (!filter.namespace || t.namespace === filter.namespace) &&
          (!filter.service || t.service === filter.service) &&
          (!filter.nodeId || t.nodeId === filter.nodeId) &&
          (filter.all || t.desiredState === 'running'),
      );
  }

  async nodes(): Promise<Array<{ node: Versioned<NodeRecord>; allocated: Resources; tasks: number }>> {
    const [{ items }, tasks] = await Promise.all([this.deps.store.list(this.deps.keys.nodes), this.tasks({ all: true })]);
    const per = new Map<string, { allocated: Resources; tasks: number }>();
    for (const { value: t } of tasks) {
      if (!t.nodeId || isTerminal(t.status.state)) continue;
      const e = per.get(t.nodeId) ?? { allocated: { cpuMilli: 0, memoryBytes: 0 }, tasks: 0 };
      e.allocated.cpuMilli += t.spec.resources.cpu;
      e.allocated.memoryBytes += t.spec.resources.memory;
      if (t.desiredState === 'running') e.tasks++;
      per.set(t.nodeId, e);
    }
    return items.map((kv) => {
      const node = decodeVersioned(nodeCodec, kv);
      const e = per.get(node.value.id) ?? { allocated: { cpuMilli: 0, memoryBytes: 0 }, tasks: 0 };
      return { node, ...e };
    });
  }
}
