// Recent events of one object (a service, a task, a node), for `berth describe`: issue-3-cli's
// describe puts an "Events" section at the end of each kind (cli/src/describe.ts), built here.
import type { Event__Output } from '../../proto/gen/berth/v1/Event.js';
import type { Node__Output } from '../../proto/gen/berth/v1/Node.js';
import type { Service__Output } from '../../proto/gen/berth/v1/Service.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';
import { consume, ObserveClient } from './observe-client.js';
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
  const stream = client.events({
    namespace: of.namespace ?? '',
    service: of.service ?? '',
    node: of.node ?? '',
    types: [],
    sinceMs: 0,
    limit: of.task ? limit * 20 : limit,
    follow: false,
  });
  await consume(stream, client, (e) => {
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

/** Where describe reads an object's events from (absent: no Events section). */
export type EventsSource = (of: EventsOf) => Promise<Event__Output[]>;

/** The events of an object through the ObserveAPI of the controller at `address`. */
export function eventsFrom(address: string): EventsSource {
  return async (of) => {
    const client = new ObserveClient(address);
    try {
      return await recentEvents(client, of);
    } finally {
      client.close();
    }
  };
}

/** Describe's context, as far as the events section needs it. */
interface Ctx {
  now: number;
  events?: EventsSource | undefined;
}

/** The section, indented as describe prints sections; when events cannot be read, why (describe still prints). */
async function describeEvents(ctx: Ctx, of: EventsOf): Promise<{ title: string; lines: string[] } | undefined> {
  if (!ctx.events) return undefined;
  try {
    const s = eventsSection(await ctx.events(of), ctx.now);
    return { title: s.title, lines: s.lines.map((l) => `  ${l}`) };
  } catch (err) {
    return { title: 'Events', lines: [`  unavailable: ${err instanceof Error ? err.message : String(err)}`] };
  }
}

/** Sections for `berth describe service|task|node` (cli/src/describe.ts puts them last). */
export const serviceEventsSection = ({ service }: { service: Service__Output }, ctx: Ctx) =>
  describeEvents(ctx, { namespace: service.meta?.namespace ?? 'default', service: service.meta?.name ?? '' });
export const taskEventsSection = ({ task }: { task: Task__Output }, ctx: Ctx) =>
  describeEvents(ctx, { namespace: task.namespace, service: task.service, task: task.id });
export const nodeEventsSection = ({ node }: { node: Node__Output }, ctx: Ctx) => describeEvents(ctx, { node: node.id });
