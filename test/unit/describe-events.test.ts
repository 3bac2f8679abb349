// The Events section that `berth describe` ends with: the object's newest events, asked of the
// right object (service, task of a service, node), escaped; a failure to read them is a line,
// not a failed describe.
import { describe, expect, it } from 'vitest';
import type { BerthClient } from '../../cli/src/client.js';
import {
  NODE_SECTIONS,
  SERVICE_SECTIONS,
  TASK_SECTIONS,
  nodeFields,
  renderDescription,
  serviceFields,
  taskFields,
} from '../../cli/src/describe.js';
import type { EventsOf } from '../../cli/src/events-view.js';
import * as convert from '../../proto/src/convert.js';
import type { Event__Output } from '../../proto/gen/berth/v1/Event.js';
import type { Node__Output } from '../../proto/gen/berth/v1/Node.js';
import type { Service__Output } from '../../proto/gen/berth/v1/Service.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';
import { mockNode, mockService, mockTask, T0 } from './fixtures.js';

const ev = (over: Partial<Event__Output>): Event__Output => ({
  type: 'task.state',
  namespace: 'default',
  service: 'web',
  node: 'n1',
  task: 't',
  slot: 1,
  state: 'running',
  message: 'container running',
  timeMs: T0,
  seq: 1,
  ...over,
});

describe('describe: Events section', () => {
  const asked: EventsOf[] = [];
  const events = async (of: EventsOf): Promise<Event__Output[]> => {
    asked.push(of);
    return [
      ev({ type: 'service.applied', slot: 0, node: '', state: '', message: 'created at revision 1' }),
      ev({ message: 'evil\u001b[2J' }),
    ];
  };
  const ctx = { client: {} as BerthClient, now: T0 + 30_000, color: false, events };

  it('ends service, task and node descriptions with the events of that object', async () => {
    const svc = mockService();
    const task = convert.taskToPb(mockTask(svc)) as unknown as Task__Output;
    const service = { service: convert.serviceToPb(svc, 3) as unknown as Service__Output, tasks: [task] };
    const text = await renderDescription(serviceFields(service, ctx.now), SERVICE_SECTIONS, service, ctx);
    expect(text.slice(text.indexOf('Events:'))).toBe(
      [
        'Events:',
        '  AGE       TYPE              STATE     OBJECT     MESSAGE',
        '  30s ago   service.applied   -         web        created at revision 1',
        '  30s ago   task.state        running   web.1@n1   evil\\x1b[2J',
        '',
      ].join('\n'),
    );
    await renderDescription(taskFields({ task }, ctx.now), TASK_SECTIONS, { task }, ctx);
    const node = {
      node: convert.nodeToPb(mockNode('n1'), {
        allocated: { cpuMilli: 0, memoryBytes: 0 },
        tasks: 0,
        modRevision: 1,
      }) as unknown as Node__Output,
      tasks: [],
    };
    await renderDescription(nodeFields(node, ctx.now), NODE_SECTIONS, node, ctx);
    expect(asked).toEqual([
      { namespace: 'default', service: 'web' },
      { namespace: 'default', service: 'web', task: task.id },
      { node: 'n1' },
    ]);
  });

  it('says why when the events cannot be read, and leaves the rest as it is', async () => {
    const svc = mockService();
    const service = { service: convert.serviceToPb(svc, 3) as unknown as Service__Output, tasks: [] };
    const failing = { ...ctx, events: async () => Promise.reject(new Error('event stream unavailable: CONNECTION_REFUSED')) };
    const text = await renderDescription(serviceFields(service, ctx.now), SERVICE_SECTIONS, service, failing);
    expect(text).toMatch(/^Name: +web$/m);
    expect(text.endsWith('Events:\n  unavailable: event stream unavailable: CONNECTION_REFUSED\n')).toBe(true);
  });
});
