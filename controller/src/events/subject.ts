// The event stream's names: stream, subjects and how a name becomes a subject token.
import type { BerthEvent } from './events.js';

export const EVENTS_STREAM = 'BERTH_EVENTS';
export const EVENTS_SUBJECT_PREFIX = 'berth.events';

/** A name as one subject token: names are DNS labels; anything else becomes "_". */
export function subjectToken(s: string | undefined): string {
  return s && /^[A-Za-z0-9_-]+$/.test(s) ? s : '_';
}

/** berth.events.<type>.<namespace>.<service or node> — filterable with NATS wildcards. */
export function eventSubject(e: BerthEvent): string {
  return `${EVENTS_SUBJECT_PREFIX}.${e.type}.${subjectToken(e.namespace)}.${subjectToken(e.service ?? e.node)}`;
}
