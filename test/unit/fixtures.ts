// Fixture builders for unit tests: small, explicit defaults that a test overrides where it matters.
import fc from 'fast-check';
import type { NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../../proto/src/model.js';
import { validateServiceManifest, type ServiceSpec } from '../../proto/src/spec/service.js';
import type { DesiredState, NodeAvailability, NodeState, TaskState } from '../../proto/src/types.js';
import { containerName, taskId } from '../../controller/src/model/task-identity.js';

/** A fixed point in time for tests that do not care about the clock. */
export const T0 = 1_700_000_000_000;

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;

/** What the validator fills in for a manifest that names only its image (the defaults test pins these values). */
const DEFAULT_SPEC: ServiceSpec = (() => {
  const r = validateServiceManifest({
    apiVersion: 'berth.dev/v1',
    kind: 'Service',
    metadata: { name: 'fixture' },
    spec: { image: 'berth-local/web:1' },
  });
  if (!r.ok) throw new Error(`fixtures: the minimal manifest is invalid: ${JSON.stringify(r.issues)}`);
  return r.value.spec;
})();

export function mockSpec(over: Partial<ServiceSpec> = {}): ServiceSpec {
  return { ...structuredClone(DEFAULT_SPEC), ...over };
}

export interface MockServiceOptions {
  name?: string;
  namespace?: string;
  uid?: string;
  replicas?: number;
  specRevision?: number;
  deleting?: boolean;
  spec?: Partial<ServiceSpec>;
}

export function mockService(o: MockServiceOptions = {}): ServiceRecord {
  return {
    meta: {
      name: o.name ?? 'web',
      namespace: o.namespace ?? 'default',
      labels: {},
      uid: o.uid ?? 'u1',
      createdAtMs: T0,
      updatedAtMs: T0,
    },
    spec: mockSpec({ ...(o.spec ?? {}), replicas: o.replicas ?? o.spec?.replicas ?? 1 }),
    specRevision: o.specRevision ?? 1,
    deleting: o.deleting ?? false,
  };
}

export interface MockTaskOptions {
  slot?: number;
  instance?: number;
  nodeId?: string;
  state?: TaskState;
  desiredState?: DesiredState;
  specRevision?: number;
  /** Timestamp of the status. */
  timestampMs?: number;
  serviceUid?: string;
  status?: Partial<TaskStatus>;
}

/** A task of `svc` in slot/instance, placed on n1 and running unless told otherwise. */
export function mockTask(svc: ServiceRecord, o: MockTaskOptions = {}): TaskRecord {
  const slot = o.slot ?? 1;
  const instance = o.instance ?? 0;
  const uid = o.serviceUid ?? svc.meta.uid;
  const s: ServiceRecord = { ...svc, meta: { ...svc.meta, uid } };
  return {
    id: taskId(uid, slot, instance),
    namespace: svc.meta.namespace,
    service: svc.meta.name,
    serviceUid: uid,
    slot,
    nodeId: o.nodeId ?? 'n1',
    specRevision: o.specRevision ?? svc.specRevision,
    desiredState: o.desiredState ?? 'running',
    spec: svc.spec,
    containerName: containerName(s, slot, instance),
    createdAtMs: T0,
    status: { state: o.state ?? 'running', message: '', timestampMs: o.timestampMs ?? T0, ...(o.status ?? {}) },
  };
}

export interface MockNodeOptions {
  state?: NodeState;
  availability?: NodeAvailability;
  cpuMilli?: number;
  memoryBytes?: number;
  stateChangedAtMs?: number;
}

export function mockNode(id: string, o: MockNodeOptions = {}): NodeRecord {
  return {
    id,
    description: {
      hostname: `host-${id}`,
      capacity: { cpuMilli: o.cpuMilli ?? 4000, memoryBytes: o.memoryBytes ?? 8 * GiB },
      engineVersion: '27.0',
      os: 'linux',
      arch: 'amd64',
      labels: {},
      address: '127.0.0.1',
      agentVersion: '0.1.0',
    },
    state: o.state ?? 'ready',
    availability: o.availability ?? 'active',
    labels: {},
    stateChangedAtMs: o.stateChangedAtMs ?? T0,
    message: '',
  };
}

/** Lets every queued microtask and promise continuation run (no timers involved). */
export async function flushMicrotasks(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}

/** Lets pending I/O-free async work (promise chains over fakes) run to completion. */
export async function idle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Runs pending I/O-free async work until `cond` holds; fails after `turns` event-loop turns. */
export async function settle(cond: () => boolean, what = 'condition', turns = 200): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (cond()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

/**
 * Property tests run with a fixed seed so the suite is deterministic. To explore further, run
 * with FC_SEED=<n> (another seed) and/or FC_RUNS=<n> (more cases per property).
 */
export function configureProperties(): void {
  const seed = process.env['FC_SEED'];
  const runs = process.env['FC_RUNS'];
  fc.configureGlobal({ seed: seed ? Number(seed) : 0x0be27, numRuns: runs ? Number(runs) : 200 });
}
