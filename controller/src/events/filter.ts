// PURE event filtering for `berth events`: which NATS subject to subscribe to (narrowed as far as
// the subject's tokens allow) and which events of it to pass on.
import { EVENTS_SUBJECT_PREFIX, subjectToken } from './subject.js';
import type { BerthEvent } from './events.js';

export interface EventFilter {
  /** Only events of this namespace (node events have none and are left out). */
  namespace?: string;
  service?: string;
  /** Events about this node: its own state, and tasks placed on it. */
  node?: string;
  /** Exact types (task.state) or whole-word prefixes (task); empty: all. */
  types?: string[];
}

export function typeMatches(type: string, wanted: string): boolean {
  return type === wanted || type.startsWith(`${wanted}.`);
}

export function matchesEvent(f: EventFilter, e: BerthEvent): boolean {
  if (f.namespace && e.namespace !== f.namespace) return false;
  if (f.service && e.service !== f.service) return false;
  if (f.node && e.node !== f.node) return false;
  if (f.types && f.types.length > 0 && !f.types.some((t) => typeMatches(e.type, t))) return false;
  return true;
}

/**
 * The subject that covers every event the filter can match:
 * berth.events.<object>.<change>.<namespace>.<service or node>. Tokens the filter cannot pin
 * down are wildcards; matchesEvent() does the rest.
 */
export function filterSubject(f: EventFilter): string {
  let object = '*';
  let change = '*';
  const types = f.types ?? [];
  if (types.length === 1) {
    const words = types[0]!.split('.');
    if (words.length === 1) object = subjectToken(words[0]);
    else if (words.length === 2) [object, change] = [subjectToken(words[0]), subjectToken(words[1])];
  }
  const namespace = f.namespace ? subjectToken(f.namespace) : '*';
  // The last token is the service, or the node for events without a service (node events).
  const last = f.service ? subjectToken(f.service) : f.node && object === 'node' ? subjectToken(f.node) : '*';
  return `${EVENTS_SUBJECT_PREFIX}.${object}.${change}.${namespace}.${last}`;
}
