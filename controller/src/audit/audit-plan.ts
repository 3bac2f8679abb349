// The audit log's pure part: what a record holds, how it is read from a call (names only, never
// a value), which records the leader prunes, and which ones a listing returns. No I/O, no clock.
import type { AuditObject } from '../../../proto/src/security/authz.js';
import type { Identity } from '../../../proto/src/security/identity.js';
import { identityUri } from '../../../proto/src/security/identity.js';
import { parseJsonDocument } from '../../../proto/src/spec/safe-json.js';

/** Records kept at most (--audit-max-records): ~300 bytes each, a few MiB of etcd. */
export const DEFAULT_AUDIT_MAX_RECORDS = 10_000;
/** Records older than this go (--audit-max-age). */
export const DEFAULT_AUDIT_MAX_AGE_MS = 7 * 24 * 3600_000;
/** How often the leader prunes (--audit-prune-interval). */
export const DEFAULT_AUDIT_PRUNE_INTERVAL_MS = 5 * 60_000;
/** A listing returns this many records when the request names no limit, and never more than AUDIT_LIST_MAX. */
export const AUDIT_LIST_DEFAULT = 1000;
export const AUDIT_LIST_MAX = 10_000;
/** Error messages are cut to this length: a record says why, it is not a log. */
const MAX_MESSAGE_CHARS = 500;

/** One record as stored (JSON) under keys.audit. */
export interface AuditEntry {
  timeMs: number;
  /** identityUri of the caller; "" when anonymous. */
  identity: string;
  user: string;
  role: string;
  serial: string;
  rpc: string;
  kind: string;
  namespace: string;
  name: string;
  /** "OK" or a gRPC code name. */
  code: string;
  message: string;
  /**
   * The revision the call wrote. A record written in the same transaction as the call's write
   * leaves it out (inTxn): its own modRevision is that revision.
   */
  revision?: number;
  inTxn?: boolean;
  detail: string;
}

/** A record as read: with its key and revision resolved. */
export interface AuditView extends Omit<AuditEntry, 'revision' | 'inTxn'> {
  id: string;
  revision: number;
}

export interface AuditCaller {
  identity: string;
  user: string;
  role: string;
  serial: string;
}

/** Who a call was, as the record names it (the certificate's identity and serial). */
export function callerFields(who: Identity | undefined, serial: string | undefined): AuditCaller {
  if (!who) return { identity: '', user: '', role: 'anonymous', serial: serial ?? '' };
  const identity = identityUri(who);
  switch (who.kind) {
    case 'operator':
      return { identity, user: who.user, role: who.role, serial: serial ?? '' };
    case 'agent':
      return { identity, user: who.nodeId, role: 'agent', serial: serial ?? '' };
    case 'controller':
      return { identity, user: who.id, role: 'controller', serial: serial ?? '' };
    case 'monitor':
      return { identity, user: who.name, role: 'monitor', serial: serial ?? '' };
  }
}

function field(obj: unknown, path: string): unknown {
  let v: unknown = obj;
  for (const p of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The manifest a request carries, parsed; undefined when it does not parse. */
function manifestOf(req: unknown, spec: AuditObject): Record<string, unknown> | undefined {
  if (!spec.manifest) return undefined;
  const text = field(req, spec.manifest);
  if (typeof text !== 'string') return undefined;
  const doc = parseJsonDocument(text);
  return doc.ok && doc.value !== null && typeof doc.value === 'object' ? (doc.value as Record<string, unknown>) : undefined;
}

/** The object a call names (kind, namespace, name): names only, read from the request (and the response, for a made token). */
export function auditObject(spec: AuditObject, req: unknown, res?: unknown): { kind: string; namespace: string; name: string } {
  if (spec.manifest) {
    const m = manifestOf(req, spec);
    const meta = m?.['metadata'];
    return {
      kind: spec.kind,
      namespace: str(field(meta, 'namespace')) || 'default',
      name: str(field(meta, 'name')),
    };
  }
  const name = spec.name ? str(field(req, spec.name)) : spec.nameFromResponse ? str(field(res, spec.nameFromResponse)) : '';
  const namespace = spec.namespace !== undefined ? str(field(req, spec.namespace)) || 'default' : '';
  return { kind: spec.kind, namespace, name };
}

/** A request's words that would mean something to whoever reads a record: dry runs, forces. */
export function auditDetail(req: unknown): string {
  const parts: string[] = [];
  if (field(req, 'dryRun') === true) parts.push('dry run');
  if (field(req, 'force') === true) parts.push('force');
  const replicas = field(req, 'replicas');
  if (typeof replicas === 'number') parts.push(`replicas=${replicas}`);
  const availability = field(req, 'availability');
  if (typeof availability === 'string' && availability) parts.push(`availability=${availability}`);
  return parts.join(', ');
}

/** An exec's record detail: the program (never its arguments, which may hold a password) and the replica. */
export function execDetail(
  start: { command: string[]; slot: number; node: string; tty?: boolean },
  started?: { slot: number; node: string },
): string {
  const prog = start.command[0] ?? '';
  const args = start.command.length - 1;
  const where = started ? ` on replica ${started.slot}@${started.node}` : '';
  return `${prog}${args > 0 ? ` (+${args} args)` : ''}${start.tty ? ' tty' : ''}${where}`;
}

function strings(v: unknown, out: string[]): void {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (v !== null && typeof v === 'object') for (const x of Object.values(v)) strings(x, out);
}

/**
 * Every value in a request that must never reach a record: secret data (and its decoded text),
 * environment values, registry passwords, join tokens, CSRs.
 */
export function sensitiveValues(spec: AuditObject | undefined, req: unknown): string[] {
  const out: string[] = [];
  for (const f of ['password', 'token', 'csrPem']) strings(field(req, f), out);
  if (spec?.manifest) {
    const m = manifestOf(req, spec);
    if (m) {
      strings(m['data'], out);
      strings(m['stringData'], out);
      strings(field(m, 'spec.env'), out);
      for (const v of Object.values((m['data'] ?? {}) as Record<string, unknown>))
        if (typeof v === 'string') out.push(Buffer.from(v, 'base64').toString('utf8'));
    }
  }
  // Short values (a flag "1") would redact half a message; 3 characters is no secret worth hiding anyway.
  return [...new Set(out.filter((s) => s.length >= 3))].sort((a, b) => b.length - a.length);
}

/** A message with every sensitive value (and its JSON-quoted form) replaced, cut to a record's length. */
export function redact(message: string, sensitive: readonly string[]): string {
  let m = message;
  for (const s of sensitive) {
    const quoted = JSON.stringify(s).slice(1, -1);
    m = m.split(s).join('[redacted]');
    if (quoted !== s) m = m.split(quoted).join('[redacted]');
  }
  return m.length > MAX_MESSAGE_CHARS ? `${m.slice(0, MAX_MESSAGE_CHARS)}…` : m;
}

export function encodeAuditEntry(e: AuditEntry): string {
  return JSON.stringify(e);
}

/** A stored record read back; undefined when it does not parse (left for pruning). */
export function decodeAuditEntry(key: string, value: string, modRevision: number, prefix: string): AuditView | undefined {
  let raw: Partial<AuditEntry>;
  try {
    raw = JSON.parse(value) as Partial<AuditEntry>;
  } catch {
    return undefined;
  }
  if (typeof raw.timeMs !== 'number' || typeof raw.rpc !== 'string') return undefined;
  const s = (v: unknown): string => (typeof v === 'string' ? v : '');
  return {
    id: key.startsWith(prefix) ? key.slice(prefix.length) : key,
    timeMs: raw.timeMs,
    identity: s(raw.identity),
    user: s(raw.user),
    role: s(raw.role),
    serial: s(raw.serial),
    rpc: raw.rpc,
    kind: s(raw.kind),
    namespace: s(raw.namespace),
    name: s(raw.name),
    code: s(raw.code) || 'UNKNOWN',
    message: s(raw.message),
    revision: raw.inTxn ? modRevision : typeof raw.revision === 'number' ? raw.revision : 0,
    detail: s(raw.detail),
  };
}

/** The time a record's key names (keys.auditRecord), NaN when it names none. */
export function auditKeyTime(key: string, prefix: string): number {
  const m = /^(\d+)-/.exec(key.slice(prefix.length));
  return m ? Number(m[1]) : NaN;
}

export interface AuditLimits {
  maxRecords: number;
  maxAgeMs: number;
}

/**
 * The keys to delete (pure): those older than maxAgeMs, then the oldest beyond maxRecords, and
 * keys that name no time. `keys` in any order; the result oldest first.
 */
export function auditPrunePlan(keys: readonly string[], prefix: string, nowMs: number, limits: AuditLimits): string[] {
  const timed = keys.map((k) => ({ k, t: auditKeyTime(k, prefix) }));
  const junk = timed.filter((x) => Number.isNaN(x.t)).map((x) => x.k);
  const kept = timed.filter((x) => !Number.isNaN(x.t)).sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  const cutoff = nowMs - limits.maxAgeMs;
  let i = 0;
  while (i < kept.length && kept[i]!.t < cutoff) i++;
  const excess = Math.max(0, kept.length - i - Math.max(0, limits.maxRecords));
  return [...junk, ...kept.slice(0, i + excess).map((x) => x.k)];
}

export interface AuditFilter {
  sinceMs?: number;
  user?: string;
  limit?: number;
}

/** The records a listing returns: filtered, the newest `limit`, oldest first. */
export function filterAudit(records: readonly AuditView[], f: AuditFilter): AuditView[] {
  const limit = Math.min(AUDIT_LIST_MAX, f.limit && f.limit > 0 ? f.limit : AUDIT_LIST_DEFAULT);
  const out = records
    .filter((r) => (!f.sinceMs || r.timeMs >= f.sinceMs) && (!f.user || r.user === f.user))
    .sort((a, b) => a.timeMs - b.timeMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out.slice(Math.max(0, out.length - limit));
}
