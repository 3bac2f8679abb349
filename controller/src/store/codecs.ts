// One codec per kind of stored record: the only place that turns a stored value into a typed
// record and back. decode = JSON.parse plus a structural check of the fields the controller relies
// on (required fields present with their JSON type; optional fields of the right type when
// present), so a bad record fails at the read, naming its key and the field, instead of somewhere
// later as `undefined`. encode = JSON.stringify. The check is structural, not a validation of
// values (states, ranges): records of a newer version with states this one does not know still read.
import type {
  NodeRecord,
  PolicyRecord,
  RevisionRecord,
  SecretRecord,
  ServiceRecord,
  TaskRecord,
  Versioned,
} from '../../../proto/src/model.js';
import type { RegistryCredentialRecord, RolloutRecord } from '../../../proto/src/lifecycle-model.js';

/** A stored value that is not the record its key says it is. */
export class RecordDecodeError extends Error {
  override readonly name = 'RecordDecodeError';
  constructor(
    readonly key: string,
    readonly kind: string,
    /** Dotted path of the bad field ('' for the whole value, e.g. not JSON). */
    readonly field: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${kind} record at ${key}: ${field ? `${field}: ` : ''}${reason}`, options);
  }
}

type JsonType = 'string' | 'number' | 'boolean' | 'object' | 'array';
/** Required fields by name; a trailing `?` makes a field optional (checked only when present). */
export interface Shape {
  [field: string]: JsonType | `${JsonType}?` | Shape;
}

export interface Codec<T> {
  /** What the record is, for errors: "task", "node", … */
  readonly kind: string;
  /** Parses and checks `value` stored at `key`; throws RecordDecodeError. */
  decode(kv: { key: string; value: string }): T;
  encode(record: T): string;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

const a = (type: string): string => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

function check(key: string, kind: string, shape: Shape, obj: Record<string, unknown>, path: string): void {
  for (const [field, want] of Object.entries(shape)) {
    const at = path ? `${path}.${field}` : field;
    const v = obj[field];
    if (typeof want !== 'string') {
      if (typeOf(v) !== 'object') throw new RecordDecodeError(key, kind, at, `expected an object, got ${typeOf(v)}`);
      check(key, kind, want, v as Record<string, unknown>, at);
      continue;
    }
    const optional = want.endsWith('?');
    const type = optional ? want.slice(0, -1) : want;
    if (v === undefined && optional) continue;
    if (v === undefined) throw new RecordDecodeError(key, kind, at, `missing (expected ${a(type)})`);
    if (typeOf(v) !== type || (type === 'number' && !Number.isFinite(v)))
      throw new RecordDecodeError(key, kind, at, `expected ${a(type)}, got ${typeOf(v)}`);
  }
}

/** A codec for records of `kind` whose fields satisfy `shape`. */
export function defineCodec<T>(kind: string, shape: Shape): Codec<T> {
  return {
    kind,
    decode({ key, value }) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch (err) {
        throw new RecordDecodeError(key, kind, '', `not JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
      }
      if (typeOf(parsed) !== 'object') throw new RecordDecodeError(key, kind, '', `expected an object, got ${typeOf(parsed)}`);
      check(key, kind, shape, parsed as Record<string, unknown>, '');
      return parsed as T;
    },
    encode: (record) => JSON.stringify(record),
  };
}

/** A stored record with the revisions it was read at. */
export function decodeVersioned<T>(
  codec: Codec<T>,
  kv: { key: string; value: string; modRevision: number; createRevision: number },
): Versioned<T> {
  return { value: codec.decode(kv), modRevision: kv.modRevision, createRevision: kv.createRevision };
}

/** Freezes `v` and everything reachable from it (cached records are shared: nobody may change them). */
export function deepFreeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v;
  Object.freeze(v);
  for (const child of Object.values(v)) deepFreeze(child);
  return v;
}

const meta: Shape = { name: 'string', namespace: 'string', labels: 'object', uid: 'string', createdAtMs: 'number', updatedAtMs: 'number' };
const spec: Shape = { image: 'string', replicas: 'number', resources: 'object' };

export const serviceCodec = defineCodec<ServiceRecord>('service', {
  meta,
  spec,
  specRevision: 'number',
  deleting: 'boolean',
  restartGeneration: 'number?',
});

export const revisionCodec = defineCodec<RevisionRecord>('revision', {
  namespace: 'string',
  name: 'string',
  specRevision: 'number',
  spec,
  labels: 'object',
  createdAtMs: 'number',
  cause: 'string',
});

export const taskCodec = defineCodec<TaskRecord>('task', {
  id: 'string',
  namespace: 'string',
  service: 'string',
  serviceUid: 'string',
  slot: 'number',
  nodeId: 'string',
  specRevision: 'number',
  desiredState: 'string',
  spec,
  containerName: 'string',
  createdAtMs: 'number',
  status: { state: 'string', message: 'string', timestampMs: 'number', ports: 'array?', restarts: 'number?' },
  priorFailures: 'number?',
  avoidNodes: 'array?',
  restartGeneration: 'number?',
  targetNodeId: 'string?',
  handoverFrom: 'string?',
});

export const nodeCodec = defineCodec<NodeRecord>('node', {
  id: 'string',
  description: { hostname: 'string', capacity: { cpuMilli: 'number', memoryBytes: 'number' }, labels: 'object', address: 'string' },
  state: 'string',
  availability: 'string',
  labels: 'object',
  stateChangedAtMs: 'number',
  message: 'string',
  lastContactMs: 'number?',
  agentExited: 'boolean?',
  unavailablePorts: 'array?',
});

export const rolloutCodec = defineCodec<RolloutRecord>('rollout', {
  namespace: 'string',
  name: 'string',
  revision: 'number',
  previousRevision: 'number',
  state: 'string',
  paused: 'boolean',
  failedSlots: 'array',
  message: 'string',
  startedAtMs: 'number',
  updatedAtMs: 'number',
  rollbackOf: 'number?',
  progressAtMs: 'number?',
  progressMark: 'object?',
});

export const secretCodec = defineCodec<SecretRecord>('secret', {
  meta,
  keys: 'array',
  version: 'number',
  sealed: { alg: 'string', keyId: 'string', iv: 'string', tag: 'string', ciphertext: 'string' },
});

export const policyCodec = defineCodec<PolicyRecord>('policy', { meta, spec: 'object' });

export const registryCredentialCodec = defineCodec<RegistryCredentialRecord>('registry credential', {
  namespace: 'string',
  name: 'string',
  server: 'string',
  username: 'string',
  sealed: 'object?',
  password: 'string?',
  updatedAtMs: 'number',
});

/** A live controller (members/<id>, lease-bound): service discovery lists them. */
export interface MemberRecord {
  id: string;
  /** host:port of its gRPC API. */
  apiAddress: string;
  /** host:port of /metrics ('' when it serves none). */
  metricsAddress: string;
  startedAtMs: number;
}

export const memberCodec = defineCodec<MemberRecord>('member', {
  id: 'string',
  apiAddress: 'string',
  metricsAddress: 'string',
  startedAtMs: 'number',
});

/** The election key's value: who leads, and which process of it (to clear its own stale key). */
export interface LeaderRecord {
  id: string;
  address: string;
  incarnation?: string;
}

export const leaderCodec = defineCodec<LeaderRecord>('leader', { id: 'string', address: 'string', incarnation: 'string?' });
