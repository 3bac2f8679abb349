// describe's text: fields, spec in the human form, why tasks are pending, task rows with
// history, everything from the server escaped.
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
import * as convert from '../../proto/src/convert.js';
import type { Node__Output } from '../../proto/gen/berth/v1/Node.js';
import type { Service__Output } from '../../proto/gen/berth/v1/Service.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';
import { mockNode, mockService, mockTask, T0 } from './fixtures.js';

// What the client receives: the messages as decoded (every field present).
const serviceToPb = (...a: Parameters<typeof convert.serviceToPb>) => convert.serviceToPb(...a) as unknown as Service__Output;
const taskToPb = (...a: Parameters<typeof convert.taskToPb>) => convert.taskToPb(...a) as unknown as Task__Output;
const nodeToPb = (...a: Parameters<typeof convert.nodeToPb>) => convert.nodeToPb(...a) as unknown as Node__Output;

const ctx = { client: {} as BerthClient, now: T0 + 90_000, color: false };

describe('describe service', () => {
  it('shows status, the pending reason, the spec with units and the tasks with history', async () => {
    const svc = mockService({ replicas: 2, spec: { resources: { cpu: 500, memory: 64 * 2 ** 20 } } });
    svc.meta.labels = { tier: 'front' };
    const tasks = [
      {
        ...mockTask(svc, {
          slot: 1,
          instance: 0,
          state: 'failed',
          desiredState: 'shutdown',
          status: { message: 'container exited with code 1', err: 'exit code 1' },
        }),
        createdAtMs: T0,
      },
      {
        ...mockTask(svc, {
          slot: 1,
          instance: 1,
          status: { message: 'container running', ports: [{ containerPort: 80, hostPort: 32768, protocol: 'tcp', hostIp: '0.0.0.0' }] },
        }),
        createdAtMs: T0 + 1,
      },
      mockTask(svc, { slot: 2, nodeId: '', state: 'pending', status: { message: 'no suitable node: n1: memory short by 200Mi' } }),
    ].map((t) => taskToPb(t, { nodeAddress: '10.0.0.1' }));
    const data = { service: serviceToPb(svc, 5), tasks };
    const text = await renderDescription(serviceFields(data, ctx.now), SERVICE_SECTIONS, data, ctx);
    expect(text).toMatch(/^Name: +web$/m);
    expect(text).toMatch(/^Labels: +tier=front$/m);
    expect(text).toMatch(/^Created: +2023\-11\-14T22:13:20\.000Z\ \(90s\ ago\)$/m);
    expect(text).toMatch(/^Status: +progressing: 1\/2 running, 1 pending \(no suitable node: n1: memory short by 200Mi\)$/m);
    expect(text).toMatch(/^Last failure: +web\.1 failed: container exited with code 1: exit code 1$/m);
    expect(text).toContain('Spec:\n  image: berth-local/web:1\n  replicas: 2\n  resources:\n    cpu: 0.5\n    memory: 64Mi\n');
    expect(text).toContain('Pending:\n  web.2: no suitable node: n1: memory short by 200Mi\n');
    const rows = text.slice(text.indexOf('Tasks:')).split('\n');
    expect(rows[1]).toMatch(/^ {2}NAME +ID +NODE +DESIRED +STATE +SINCE +ADDRESS +REVISION +MESSAGE$/);
    expect(rows[2]).toMatch(/^ {2}web\.1 +u1-1-1 +n1 +running +running +90s +10\.0\.0\.1:32768 +1 +container running$/);
    expect(rows[3]).toMatch(/^ {2} \\_ web\.1 +u1-1-0 +n1 +shutdown +failed .* container exited with code 1 \(exit code 1\)$/);
    expect(rows[4]).toMatch(/^ {2}web\.2 +u1-2-0 +- +running +pending .* no suitable node/);
  });

  it('escapes control characters in every field and section', async () => {
    const svc = mockService({ replicas: 1 });
    const t = mockTask(svc, { state: 'pending', nodeId: '', status: { message: 'evil\u001b]0;pwned\u0007\u009b2J' } });
    const data = { service: serviceToPb(svc, 1), tasks: [taskToPb(t)] };
    const text = await renderDescription(serviceFields(data, ctx.now), SERVICE_SECTIONS, data, ctx);
    expect(text).toContain('evil\\x1b]0;pwned\\x07\\x9b2J');
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });
});

describe('describe task and node', () => {
  it('task: state, node, exit code, error, container, spec', async () => {
    const svc = mockService();
    const t = taskToPb(
      mockTask(svc, {
        state: 'failed',
        status: { message: 'container exited with code 2', err: 'exit code 2', exitCode: 2, containerId: '0123456789abcdef' },
      }),
      { nodeAddress: '10.0.0.1' },
    );
    const text = await renderDescription(taskFields({ task: t }, ctx.now), TASK_SECTIONS, { task: t }, ctx);
    expect(text).toMatch(/^Node: +n1\ \(10\.0\.0\.1\)$/m);
    expect(text).toMatch(/^Exit\ code: +2$/m);
    expect(text).toMatch(/^Error: +exit\ code\ 2$/m);
    expect(text).toMatch(/^Container: +berth\-default\-web\-1\-0\-u1\ \(0123456789ab\)$/m);
    expect(text).toContain('Spec:\n  image: berth-local/web:1\n');
  });

  it('task: a container killed by its memory limit says so (docker inspect: State.OOMKilled)', async () => {
    const svc = mockService();
    const of = (oomKilled: boolean) =>
      taskToPb(
        mockTask(svc, {
          state: 'failed',
          status: { message: 'killed: out of memory (limit 8Mi)', exitCode: 137, ...(oomKilled ? { oomKilled } : {}) },
        }),
      );
    const oom = of(true);
    expect(await renderDescription(taskFields({ task: oom }, ctx.now), TASK_SECTIONS, { task: oom }, ctx)).toMatch(
      /^OOM killed: +yes \(the container went past its memory limit\)$/m,
    );
    const plain = of(false);
    expect(await renderDescription(taskFields({ task: plain }, ctx.now), TASK_SECTIONS, { task: plain }, ctx)).not.toContain('OOM killed');
  });

  it('node: capacity and reservations in units, labels, its tasks', async () => {
    const n = nodeToPb(
      { ...mockNode('n1'), labels: { zone: 'a' } },
      { allocated: { cpuMilli: 500, memoryBytes: 2 ** 30 }, tasks: 1, modRevision: 3 },
    );
    const tasks = [taskToPb(mockTask(mockService()))];
    const text = await renderDescription(nodeFields({ node: n, tasks }, ctx.now), NODE_SECTIONS, { node: n, tasks }, ctx);
    expect(text).toMatch(/^CPU: +0\.5\ of\ 4\ reserved$/m);
    expect(text).toMatch(/^Memory: +1Gi\ of\ 8Gi\ reserved$/m);
    expect(text).toMatch(/^Operator\ labels: +zone=a$/m);
    expect(text).toMatch(/Tasks:\n {2}NAME .*\n {2}web\.1 /);
  });
});
