// Recent events of one object (a service, a task, a node), for `berth describe`: issue-3-cli's
// describe puts an "Events" section at the end of each kind (cli/src/describe.ts), built here.
import type { Event__Output } from '../../proto/gen/berth/v1/Event.js';
import { consume, type ObserveClient } from './observe-client.js';
import { age, table } from './output.js';

/** Events a description shows at most (the newest). */
export const DESCRIBE_EVENTS = 10;

export interface EventsOf {
  namespace?: string;
  service?: string;
  node?: string;
  /** Only events of this task (of `service`). */
  task?: string;
}

/** The newest events of the object, oldest first. Asks for more when filtering by task. */
export async function recentEvents(client: ObserveClient, of: EventsOf, limit = DESCRIBE_EVENTS): Promise<Event__Output[]> {
  const out: Event__Output[] = [];
  const stream = client.events({ namespace: of.namespace ?? '', service: of.service ?? '', node: of.node ?? '', types: [], sinceMs: 0, limit: of.task ? limit * 20 : limit, follow: false });
  await consume(stream, client.address, (e) => {
    if (!of.task || e.task === of.task) out.push(e);
  });
  return out.slice(-limit);
}

/** `Events:` with one row per event (age, type, state, replica, message), or `<none>`. */
export function eventsSection(events: Event__Output[], now: number): { title: string; lines: string[] } {
  if (events.length === 0) return { title: 'Events', lines: ['<none>'] };
  const rows = events.map((e) => [
    `${age(e.timeMs, now)} ago`,
    e.type,
    e.state || '-',
    e.service ? `${e.service}${e.slot ? `.${e.slot}` : ''}${e.node ? `@${e.node}` : ''}` : e.node ? `node/${e.node}` : '-',
    e.message,
  ]);
  return { title: 'Events', lines: table(['AGE', 'TYPE', 'STATE', 'OBJECT', 'MESSAGE'], rows).split('\n') };
}
