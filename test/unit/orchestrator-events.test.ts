// Which task updates wake the orchestrators (replicated and global share the rule): whatever
// readiness (isReady) and rollout failure (hasFailed) are judged on, and nothing else.
import { describe, expect, it } from 'vitest';
import { concernsOrchestrator } from '../../controller/src/orchestrator/service-orchestrator.js';
import type { TaskRecord, TaskStatus } from '../../proto/src/model.js';
import { mockService, mockTask } from './fixtures.js';

const base = mockTask(mockService(), { nodeId: 'n1', status: { message: 'container running' } });
const withStatus = (s: Partial<TaskStatus>): TaskRecord => ({ ...base, status: { ...base.status, ...s } });

describe('concernsOrchestrator', () => {
  it('wakes on what readiness and failure are judged on', () => {
    for (const s of [
      { state: 'failed' as const },
      { health: 'healthy' },
      { health: 'unhealthy' },
      { container: 'backoff' as const },
      { restarts: 1 },
      { err: 'pull failed' },
    ]) {
      expect(concernsOrchestrator(base, withStatus(s)), JSON.stringify(s)).toBe(true);
    }
    expect(concernsOrchestrator(base, { ...base, desiredState: 'shutdown' })).toBe(true);
    expect(concernsOrchestrator(base, { ...base, nodeId: 'n2' })).toBe(true);
  });

  it('ignores status chatter of a running task', () => {
    expect(concernsOrchestrator(base, withStatus({ message: 'still running', timestampMs: base.status.timestampMs + 1_000 }))).toBe(false);
  });
});
