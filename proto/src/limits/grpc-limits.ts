// Per-method message limits on a grpc-js server. grpc-js has one receive limit per server; this
// adds one per method: each method's deserializer sees the message's bytes first and hands on a
// marker for one over its limit, and the interceptor answers that marker with RESOURCE_EXHAUSTED
// naming the method, the size, the limit and the caller, before any handler sees it.
import * as grpc from '@grpc/grpc-js';
import { peerIdentity } from '../security/tls.js';
import { describeIdentity } from '../security/identity.js';
import { callerOf } from '../security/caller.js';
import { INSECURE_DEV_IDENTITY } from '../security/guard.js';
import type { StreamLimiter } from './stream-limiter.js';
import { oversizeMessage, requestLimit, transportLimit, type RequestLimits } from './message-limits.js';

class Oversize {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {}
}

/** Flags that set a method's limit, named in its refusals. */
export type LimitFlags = Readonly<Record<string, string>>;

/** `def` with each method's requests limited to its entry of `limits` (DEFAULT_REQUEST_BYTES otherwise). */
export function limitRequests(service: string, def: grpc.ServiceDefinition, limits: RequestLimits): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(def) as Array<[string, grpc.MethodDefinition<unknown, unknown>]>) {
    const limit = requestLimit(limits, `${service}.${name}`);
    out[name] = {
      ...m,
      requestDeserialize: (buf: Buffer) => (buf.length > limit ? new Oversize(buf.length, limit) : m.requestDeserialize(buf)),
    };
  }
  return out;
}

/** The server interceptor that refuses the messages limitRequests marked. */
export function oversizeInterceptor(flags: LimitFlags = {}): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, pass) => {
            if (!(message instanceof Oversize)) return pass(message);
            // "/berth.v1.Dispatcher/Session" → "Dispatcher.Session"
            const name = method.path.replace(/^\/(?:[^/]*\.)?([^./]+)\/([^/]+)$/, '$1.$2');
            call.sendStatus({
              code: grpc.status.RESOURCE_EXHAUSTED,
              details: oversizeMessage(name, message.bytes, message.limit, describeIdentity(peerIdentity(call)), flags[name]),
              metadata: new grpc.Metadata(),
            });
          },
        }),
    });
}

/** Server options for `limits`: its transport limit, and the interceptor. */
export function limitedServerOptions(base: grpc.ServerOptions, limits: RequestLimits, flags: LimitFlags = {}): grpc.ServerOptions {
  return {
    ...base,
    'grpc.max_receive_message_length': transportLimit(limits),
    interceptors: [...(base.interceptors ?? []), oversizeInterceptor(flags)],
  };
}

/**
 * One stream of `limiter` for the caller of `call` (the identity the guard set), or the
 * RESOURCE_EXHAUSTED status that refuses it. Under --insecure-dev nobody has an identity of their
 * own: only the total applies.
 */
export function acquireStream(
  limiter: StreamLimiter,
  call: object,
): { ok: true; release: () => void } | { ok: false; status: Partial<grpc.StatusObject> } {
  const who = callerOf(call);
  const a = limiter.acquire(who === INSECURE_DEV_IDENTITY ? undefined : who);
  if (a.ok) return a;
  return { ok: false, status: { code: grpc.status.RESOURCE_EXHAUSTED, details: a.message, metadata: new grpc.Metadata() } };
}

export type StreamCall = {
  on(event: string, fn: () => void): unknown;
  emit(event: 'error', st: Partial<grpc.StatusObject>): unknown;
} & object;

/** `handler` served only within `limiter`: the stream is held until the call closes, however it ends. */
export function limitStream<C extends StreamCall>(
  limiter: StreamLimiter,
  handler: (call: C) => void,
  onRefused?: () => void,
): (call: C) => void {
  return (call) => {
    const taken = acquireStream(limiter, call);
    if (!taken.ok) {
      onRefused?.();
      call.emit('error', taken.status);
      return;
    }
    for (const e of ['close', 'cancelled', 'finish', 'error']) call.on(e, taken.release);
    handler(call);
  };
}
