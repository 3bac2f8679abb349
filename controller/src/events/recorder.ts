// Events for the changes that no single writer announces: a task created (by the orchestrator,
// waiting for placement), a task placed on a node (by the scheduler), a task whose state stays
// but which reports a new error (an image pull failing, with its reason), health (healthy,
// unhealthy) or in-place restart (the container ended: why, and when it restarts), a node's availability changed (active, pause, drain). The leader records them from its caches: handlers run in the
// order of the store's revisions, before any loop reacts to the change, so these events come
// before the ones they cause (an agent's report of a task can only follow its placement).
// Every other change is published by the code that makes it (API, status writer, node lifecycle).
import type { ClusterCache } from '../store/cluster.js';
import type { EventSink } from './events.js';

export function recordCacheEvents(cache: Pick<ClusterCache, 'tasks' | 'nodes'>, events: EventSink): () => void {
  const offTasks = cache.tasks.addHandler({
    onUpsert: (_k, { value: t }, old) => {
      const base = { namespace: t.namespace, service: t.service, task: t.id, slot: t.slot };
      if (!old) {
        events.publish({
          type: 'task.state',
          ...base,
          state: t.status.state,
          message: `created for revision ${t.specRevision}: ${t.status.message}`,
        });
      } else if (old.value.nodeId === '' && t.nodeId !== '') {
        events.publish({ type: 'task.state', ...base, node: t.nodeId, state: t.status.state, message: t.status.message });
      } else if (old.value.status.state === t.status.state && t.nodeId !== '') {
        // State changes are announced by the status writer; these are the news within a state.
        const s = t.status;
        const o = old.value.status;
        const restarted = (s.restarts ?? 0) > (o.restarts ?? 0);
        if ((s.err && s.err !== o.err) || (s.health ?? '') !== (o.health ?? '') || restarted) {
          events.publish({ type: 'task.state', ...base, node: t.nodeId, state: s.state, message: s.message });
        }
      }
    },
  });
  const offNodes = cache.nodes.addHandler({
    onUpsert: (_k, { value: n }, old) => {
      if (old && old.value.availability !== n.availability) {
        events.publish({ type: 'node.availability', node: n.id, state: n.availability, message: `node ${n.id} is now ${n.availability}` });
      }
    },
  });
  return () => {
    offTasks();
    offNodes();
  };
}
