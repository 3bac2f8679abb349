// The authorization guard of every gRPC server of the controller (and, with the controller-only
// rules, of the agent's AgentAPI): each handler of a service is wrapped so that it runs only if
// decide() (proto/src/security/authz.ts) allows the caller, whose identity comes from its
// certificate (proto/src/security/tls.ts), never from a message. A service method without a rule
// is refused when the server starts, so a new RPC cannot be served unguarded.
//
// With --insecure-dev there are no certificates: every caller is treated as an admin operator
// (and agents are trusted for the node id they name), which is why that flag logs a warning.
import * as grpc from '@grpc/grpc-js';
import type { AuthContext } from '@grpc/grpc-js/build/src/auth-context.js';
import { peerIdentity, peerSerial } from './tls.js';
import type { Identity } from './identity.js';
import { parseJsonDocument } from '../spec/safe-json.js';
import { callerOf, setCaller } from './caller.js';
import { decide, NOT_YET, RULES, type Decision, type Rule } from './authz.js';

/** Certificates the cluster no longer honours (revoked serials, removed nodes), kept current by the caller. */
export interface Revocations {
  /** Why a presented certificate is refused although the CA signed it, or undefined. */
  refused(identity: Identity, serial: string | undefined, notBeforeMs: number): string | undefined;
}

export interface GuardOptions {
  /** Plaintext, no identities: every caller acts as admin (--insecure-dev). */
  insecureDev: boolean;
  revocations?: Revocations | undefined;
  /** Called with every refusal (metrics, logs). */
  onDenied?: ((method: string, who: Identity | undefined, d: Exclude<Decision, { ok: true }>) => void) | undefined;
}

/** What stands for the caller under --insecure-dev. */
export const INSECURE_DEV_IDENTITY: Identity = { kind: 'operator', user: 'insecure-dev', role: 'admin', namespaces: ['*'] };

type AnyCall = { getAuthContext(): AuthContext } & object;

const laterRules = new WeakMap<object, { method: string; rule: Rule }>();

/** Trailer of every refusal the guard makes (so a client, and the authorization matrix, tell it from a handler's). */
export const DENIED_METADATA = 'berth-authz';

/** The status of a refusal, with the guard's trailer (for handlers that decide `later`). */
export function deniedStatus(d: Exclude<Decision, { ok: true }>): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set(DENIED_METADATA, 'denied');
  return { code: grpc.status[d.code], details: d.message, metadata };
}

export { callerOf };

/**
 * The decision for a call whose rule reads the namespace later (a stream's first message): the
 * handler calls this once it knows the namespace.
 */
export function authorizeLater(call: object, namespace: string): Decision {
  const r = laterRules.get(call);
  if (!r) return { ok: true }; // not a guarded `later` method (tests serving a handler alone)
  return decide(r.method, r.rule, callerOf(call), namespace);
}

/** A manifest's metadata.namespace, read with the parser the API then uses; null: it cannot be read. */
function manifestNamespace(text: unknown): string | null {
  if (typeof text !== 'string') return null;
  const doc = parseJsonDocument(text);
  if (!doc.ok) return null;
  const meta = (doc.value as { metadata?: { namespace?: unknown } } | null)?.metadata;
  if (meta?.namespace === undefined) return 'default';
  return typeof meta.namespace === 'string' ? meta.namespace : null;
}

/**
 * The namespaces a request names under a rule: [undefined] for every namespace, [] for none
 * (a rule without namespace); null when one cannot be read.
 */
function namespacesOf(rule: Rule, req: unknown): Array<string | undefined> | null {
  if (rule.who !== 'operator' || !('namespace' in rule)) return [undefined];
  const from = rule.namespace;
  const r = (req ?? {}) as Record<string, unknown>;
  if ('field' in from) {
    const v = r[from.field];
    if (typeof v === 'string' && v !== '') return [v];
    return [from.emptyMeansAll ? undefined : 'default'];
  }
  if ('manifest' in from) {
    const ns = manifestNamespace(r[from.manifest]);
    return ns === null ? null : [ns];
  }
  if ('manifests' in from) {
    const list = r[from.manifests];
    if (!Array.isArray(list)) return null;
    const out: string[] = [];
    for (const m of list) {
      const ns = manifestNamespace(m);
      if (ns === null) return null;
      if (!out.includes(ns)) out.push(ns);
    }
    return out;
  }
  return [undefined]; // later: decided by the handler
}

export class Guard {
  constructor(private readonly opts: GuardOptions) {}

  /** The identity of a call, after the revocation check; undefined when it has none (or a refused one). */
  identify(call: AnyCall): Identity | undefined {
    if (this.opts.insecureDev) return INSECURE_DEV_IDENTITY;
    // Each getAuthContext() decodes the peer's certificate anew (grpc-js): once per call.
    const auth = call.getAuthContext();
    const once = { getAuthContext: () => auth };
    const id = peerIdentity(once);
    if (!id || !this.opts.revocations) return id;
    const cert = auth.sslPeerCertificate;
    const notBefore = cert?.valid_from ? Date.parse(cert.valid_from) : 0;
    return this.opts.revocations.refused(id, peerSerial(once), notBefore) ? undefined : id;
  }

  /** Decides a call before its handler runs; `later` rules are decided only as far as the identity goes. */
  private check(method: string, rule: Rule, call: AnyCall, req: unknown): Decision {
    const who = this.identify(call);
    setCaller(call, who);
    if (this.opts.insecureDev) return { ok: true };
    let d: Decision;
    if (rule.who === 'operator' && 'namespace' in rule && 'later' in rule.namespace) {
      laterRules.set(call, { method, rule });
      d = decide(method, rule, who, NOT_YET);
    } else {
      const nss = namespacesOf(rule, req);
      if (nss === null)
        return who?.kind === 'operator' && who.role === 'admin'
          ? { ok: true }
          : {
              ok: false,
              code: 'PERMISSION_DENIED',
              message: `${method}: the manifest's metadata.namespace cannot be read, so access cannot be decided`,
            };
      d = { ok: true };
      for (const ns of nss.length > 0 ? nss : [undefined]) {
        d = decide(method, rule, who, ns);
        if (!d.ok) break;
      }
    }
    if (!d.ok) this.opts.onDenied?.(method, who, d);
    return d;
  }

  /**
   * The handlers of one service, each behind its rule. Throws when a method of the definition has
   * no rule (RULES in proto/src/security/authz.ts).
   */
  wrap<H extends object>(service: string, definition: grpc.ServiceDefinition, handlers: H): H {
    const out: Record<string, unknown> = {};
    for (const [name, def] of Object.entries(definition)) {
      const method = `${service}.${name}`;
      const rule = RULES[method];
      if (!rule) throw new Error(`no authorization rule for ${method} (proto/src/security/authz.ts RULES)`);
      const h =
        (handlers as Record<string, unknown>)[name] ?? (handlers as Record<string, unknown>)[name.charAt(0).toLowerCase() + name.slice(1)];
      if (typeof h !== 'function') continue;
      const fn = h as (...args: unknown[]) => unknown;
      if (!def.requestStream && !def.responseStream) {
        out[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
          const d = this.check(method, rule, call, call.request);
          if (!d.ok) return cb(deniedStatus(d), null);
          return fn.call(handlers, call, cb);
        };
      } else if (!def.requestStream) {
        out[name] = (call: grpc.ServerWritableStream<unknown, unknown>) => {
          const d = this.check(method, rule, call, call.request);
          if (!d.ok) return call.emit('error', deniedStatus(d));
          return fn.call(handlers, call);
        };
      } else if (!def.responseStream) {
        out[name] = (call: grpc.ServerReadableStream<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
          const d = this.check(method, rule, call, undefined);
          if (!d.ok) return cb(deniedStatus(d), null);
          return fn.call(handlers, call, cb);
        };
      } else {
        out[name] = (call: grpc.ServerDuplexStream<unknown, unknown>) => {
          const d = this.check(method, rule, call, undefined);
          if (!d.ok) return call.emit('error', deniedStatus(d));
          return fn.call(handlers, call);
        };
      }
    }
    return out as H;
  }
}
