// The scheduler places a task with bind mounts only on nodes whose advertised allowlist
// (the agent's --allow-host-path) covers every source, and says why not elsewhere. The agent
// checks again (also through symlinks): test/unit/create-options.test.ts.
import { describe, expect, it } from 'vitest';
import { schedule, type PendingTask, type SchedNode } from '../../controller/src/scheduler/scheduler.js';
import { buildNodes, placementOf } from '../../controller/src/scheduler/snapshot.js';
import { GiB, mockNode, mockSpec } from './fixtures.js';

function node(id: string, allowedHostPaths?: string[]): SchedNode {
  return {
    id,
    state: 'ready',
    availability: 'active',
    capacity: { cpuMilli: 4000, memoryBytes: 4 * GiB },
    allocated: { cpuMilli: 0, memoryBytes: 0 },
    tasksByService: new Map(),
    totalTasks: 0,
    ...(allowedHostPaths ? { allowedHostPaths } : {}),
  };
}

const bindSpec = (...sources: string[]) => mockSpec({ volumes: sources.map((source, i) => ({ type: 'bind', source, target: `/m${i}` })) });

function tasks(n: number, hostPaths: string[]): PendingTask[] {
  const placement = placementOf(bindSpec(...hostPaths), 'default');
  return Array.from({ length: n }, (_, i) => ({
    id: `t${i}`,
    serviceKey: 'default/web',
    resources: { cpuMilli: 0, memoryBytes: 0 },
    ...(placement ? { placement } : {}),
  }));
}

describe('host paths in placement', () => {
  it('placementOf carries the bind sources, also without a placement section', () => {
    expect(placementOf(bindSpec('/srv/data'), 'default')).toEqual({ strategy: 'spread', hostPaths: ['/srv/data'] });
    expect(placementOf(mockSpec({ volumes: [{ type: 'volume', source: 'data', target: '/d' }] }), 'default')).toBeUndefined();
    expect(
      placementOf(mockSpec({ placement: { strategy: 'binpack' }, volumes: [{ type: 'bind', source: '/a', target: '/a' }] }), 'default'),
    ).toEqual({ strategy: 'binpack', hostPaths: ['/a'] });
  });

  it('places only on nodes that allow every source', () => {
    const p = schedule(
      { nodes: [node('none'), node('other', ['/srv/other']), node('ok', ['/srv']), node('both', ['/srv/data', '/var/log'])] },
      tasks(4, ['/srv/data/x', '/var/log']),
      1,
    );
    expect(p.unplaced).toEqual([]);
    expect(new Set(p.assignments.map((a) => a.nodeId))).toEqual(new Set(['both']));
  });

  it('explains an unplaceable task by the path, per node', () => {
    const p = schedule({ nodes: [node('a'), node('b', ['/srv/data2'])] }, tasks(1, ['/srv/data']), 1);
    expect(p.assignments).toEqual([]);
    expect(p.unplaced).toEqual([{ taskId: 't0', reason: '2 nodes: host path /srv/data not allowed' }]);
  });

  it('buildNodes takes the allowlist from the node description', () => {
    const n = mockNode('n1');
    n.description.allowedHostPaths = ['/srv'];
    expect(buildNodes([n, mockNode('n2')], [], 0).map((x) => x.allowedHostPaths)).toEqual([['/srv'], undefined]);
  });
});
