// The identity the authorization guard established for a call (controller/src/api/guard.ts sets
// it before the handler runs), for handlers below the API layer that must act on it: the
// Dispatcher binds a session to the node its certificate names. No I/O.
import type { Identity } from './identity.js';

const callers = new WeakMap<object, Identity | undefined>();

export function setCaller(call: object, who: Identity | undefined): void {
  callers.set(call, who);
}

/** The caller of a guarded call; undefined for an unguarded one (a handler served alone in a test). */
export function callerOf(call: object): Identity | undefined {
  return callers.get(call);
}
