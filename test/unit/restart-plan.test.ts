// The controller's refill of a slot whose task ended: the backoff exponent is the slot's failures
// in a row as the agent counts them, so a replica that ran healthy for a long time and then lost
// its engine is refilled after the initial delay, not after a delay grown over unrelated incidents.
import { describe, expect, it } from 'vitest';
import { refillDecision } from '../../controller/src/orchestrator/restart-plan.js';
import { statusFromPb, statusToPb } from '../../proto/src/convert.js';
import type { TaskRecord } from '../../proto/src/model.js';
import { T0, mockService, mockTask } from './fixtures.js';

const svc = mockService(); // restart always; backoff 1s × 2, max 300s
const ended = (o: { priorFailures?: number; restarts?: number; failuresInRow?: number }): TaskRecord => {
  const t = mockTask(svc, { nodeId: 'n1', state: 'failed' });
  return {
    ...t,
    ...(o.priorFailures !== undefined ? { priorFailures: o.priorFailures } : {}),
    status: {
      state: 'failed',
      message: 'start failed',
      timestampMs: T0,
      ...(o.restarts !== undefined ? { restarts: o.restarts } : {}),
      ...(o.failuresInRow !== undefined ? { failuresInRow: o.failuresInRow } : {}),
    },
  };
};

describe('refillDecision', () => {
  it('without a reset: priorFailures + restarts in a row', () => {
    expect(refillDecision(svc, [ended({ priorFailures: 2, restarts: 3 })], T0)).toMatchObject({
      refill: true,
      waitMs: 32_000,
      priorFailures: 6,
    });
  });

  it('after a healthy period the agent started the count over: that count, not the lifetime restarts', () => {
    expect(refillDecision(svc, [ended({ priorFailures: 2, restarts: 7, failuresInRow: 1 })], T0)).toMatchObject({
      refill: true,
      waitMs: 2_000,
      priorFailures: 2,
    });
    expect(refillDecision(svc, [ended({ priorFailures: 4, restarts: 1, failuresInRow: 0 })], T0)).toMatchObject({
      refill: true,
      waitMs: 1_000,
      priorFailures: 1,
    });
  });

  it('the count crosses the session edge, zero included', () => {
    for (const n of [0, 3])
      expect(
        statusFromPb({
          ...statusToPb({ state: 'running', message: '', timestampMs: T0, restarts: 5, failuresInRow: n }),
          ports: [],
        } as never).failuresInRow,
      ).toBe(n);
    expect(
      statusFromPb({ ...statusToPb({ state: 'running', message: '', timestampMs: T0, restarts: 5 }), ports: [] } as never).failuresInRow,
    ).toBeUndefined();
  });
});
