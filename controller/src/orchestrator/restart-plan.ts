// PURE: what a replicated slot whose task ended gets next. The agent restarts containers in place
// (agent/src/restart-plan.ts); a task reaches the controller as ended only when the agent gave it
// up on its node or the policy let it end. Here: refill the slot or not, after which backoff,
// carrying the failure count on, and ranking the nodes where the slot failed last.
import type { ServiceRecord, TaskRecord } from '../../../proto/src/model.js';
import { failuresInRow, isOutdated } from '../../../proto/src/lifecycle-model.js';
import { restartDelayMs } from '../../../proto/src/spec/lifecycle.js';

export type RefillDecision =
  { refill: false; reason: string } | { refill: true; waitMs: number; priorFailures: number; avoidNodes: string[] };

const ENDED_ON_ITS_OWN = ['failed', 'complete', 'rejected'];

/** Nodes where tasks of the slot failed (recent history): the scheduler ranks them last. */
export function failedNodes(slotTasks: readonly TaskRecord[]): string[] {
  const out: string[] = [];
  for (const t of slotTasks)
    if (t.nodeId && (t.status.state === 'failed' || t.status.state === 'rejected') && !out.includes(t.nodeId)) out.push(t.nodeId);
  return out.sort();
}

/** `slotTasks`: every task of the slot, oldest first; the last one is the one that ended. */
export function refillDecision(svc: ServiceRecord, slotTasks: readonly TaskRecord[], nowMs: number): RefillDecision {
  const last = slotTasks[slotTasks.length - 1];
  if (!last || !ENDED_ON_ITS_OWN.includes(last.status.state)) return { refill: true, waitMs: 0, priorFailures: 0, avoidNodes: [] };
  // A new spec gets a fresh start.
  if (isOutdated(last, svc)) return { refill: true, waitMs: 0, priorFailures: 0, avoidNodes: [] };
  const r = svc.spec.restart;
  const failures = failuresInRow(last);
  if (r.policy === 'never') return { refill: false, reason: 'restart policy never' };
  if (r.policy === 'on-failure' && last.status.state === 'complete')
    return { refill: false, reason: 'completed (restart policy on-failure)' };
  if (r.policy === 'on-failure' && r.maxAttempts !== undefined && failures >= r.maxAttempts) {
    return { refill: false, reason: `gave up after ${failures} restarts in a row (maxAttempts ${r.maxAttempts})` };
  }
  return {
    refill: true,
    waitMs: last.status.timestampMs + restartDelayMs(r, failures) - nowMs,
    priorFailures: failures + 1,
    avoidNodes: failedNodes(slotTasks),
  };
}
