// PURE assignment diffing: what to tell an agent about the tasks that changed since the last
// message. Only what the agent acts on counts (desired state, spec revision, node): status
// chatter that the agent itself reported is never echoed back.
import type { TaskRecord } from '../../../proto/src/model.js';

export function assignmentSignature(t: TaskRecord): string {
  return `${t.desiredState}|${t.specRevision}|${t.nodeId}`;
}

export interface AssignmentDelta {
  upsert: TaskRecord[];
  remove: string[];
}

/**
 * Compares what the agent was last sent (`sent`: task id → signature) with the current version
 * of each changed task id. Updates `sent` in place to what this delta tells the agent.
 */
export function diffAssignments(
  nodeId: string,
  sent: Map<string, string>,
  changed: Iterable<string>,
  lookup: (taskId: string) => TaskRecord | undefined,
): AssignmentDelta {
  const upsert: TaskRecord[] = [];
  const remove: string[] = [];
  for (const id of changed) {
    const t = lookup(id);
    if (t && t.nodeId === nodeId) {
      const sig = assignmentSignature(t);
      if (sent.get(id) !== sig) {
        sent.set(id, sig);
        upsert.push(t);
      }
    } else if (sent.delete(id)) remove.push(id);
  }
  return { upsert, remove };
}

/** The full set for a node, and the `sent` map that goes with it. */
export function fullAssignments(tasks: TaskRecord[]): { upsert: TaskRecord[]; sent: Map<string, string> } {
  return { upsert: tasks, sent: new Map(tasks.map((t) => [t.id, assignmentSignature(t)])) };
}
