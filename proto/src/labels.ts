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
