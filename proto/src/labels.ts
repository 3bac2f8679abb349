// Container labels by which agents own and adopt their containers.
export const LABEL_TASK = 'berth.task';
export const LABEL_SERVICE = 'berth.service';
export const LABEL_NAMESPACE = 'berth.namespace';
export const LABEL_SLOT = 'berth.slot';
export const LABEL_NODE = 'berth.node';
export const LABEL_REVISION = 'berth.revision';
/** Marks every container Berth created, whatever its node: cleanup selects by it. */
export const LABEL_MANAGED = 'berth.managed';
/**
 * When the task record was created: a re-created slot can reuse a task id (and container name),
 * and this tells a leftover container of the earlier incarnation from the task's own.
 */
export const LABEL_TASK_CREATED = 'berth.task.created';
/** The service's onNodeLoss mode; `waitForNode` containers are stopped by their agent's fence. */
export const LABEL_ON_NODE_LOSS = 'berth.on-node-loss';
/** The stop grace period of the task (ms), for an agent that fences after a restart. */
export const LABEL_STOP_GRACE_MS = 'berth.stop-grace-ms';
