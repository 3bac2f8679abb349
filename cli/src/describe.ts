// What `berth describe` prints, built from sections. Each section is a function of the data
// fetched for the object (and the time, for ages), so the text is testable without a cluster.
// Every string from the server is escaped (oneLine / table) before it reaches the terminal.
//
// Adding a section: write a SectionBuilder and put it in the list of its kind below, in the order
// it should print. Recent events (`berth events`, cli/src/events-view.ts) end SERVICE_SECTIONS,
// TASK_SECTIONS and NODE_SECTIONS, read through the ObserveAPI of the client's controller.
import type { Node__Output } from '../../proto/gen/berth/v1/Node.js';
import type { Service__Output } from '../../proto/gen/berth/v1/Service.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';
import { taskFromPb } from '../../proto/src/convert.js';
import { evaluateConvergence } from '../../proto/src/convergence.js';
import type { ServiceSpec } from '../../proto/src/spec/service.js';
import { formatCpu, humanBytes } from '../../proto/src/spec/units.js';
import { nodeEventsSection, serviceEventsSection, taskEventsSection, type EventsSource } from './events-view.js';
import { age, colorState, labelList, oneLine, stateText, table, taskAddresses, taskName, toYaml, type Cell } from './output.js';
import { humanSpec, isoTime, sortTasks } from './views.js';

export interface DescribeContext {
  now: number;
  color: boolean;
  /** The object's recent events (the Events section); absent: no such section. */
  events?: EventsSource | undefined;
}

/** A titled block: `Title:` then its lines indented, or `Title:  value` when it is one short line. */
export interface Section {
  title: string;
  lines: string[];
}

/** Field rows print as aligned `Key:  value` lines at the top. */
export type Field = [key: string, value: string];

export type SectionBuilder<T> = (data: T, ctx: DescribeContext) => Section | undefined | Promise<Section | undefined>;

export interface ServiceData {
  service: Service__Output;
  /** Every task of the service, history included. */
  tasks: Task__Output[];
}

export interface TaskData {
  task: Task__Output;
}

export interface NodeData {
  node: Node__Output;
  /** Tasks assigned to the node (live ones). */
  tasks: Task__Output[];
}

function when(ms: number | undefined, now: number): string {
  const iso = isoTime(ms);
  return iso ? `${iso} (${age(ms!, now)} ago)` : '-';
}

function indentBlock(text: string): string[] {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `  ${l}`);
}

/** Task rows: live tasks of a slot first, then its history marked with \_ as in `docker service ps`. */
export function taskTable(tasks: Task__Output[], ctx: Pick<DescribeContext, 'now' | 'color'>): string[] {
  const sorted = sortTasks(tasks);
  const seenSlot = new Set<string>();
  const rows: Cell[][] = sorted.map((t) => {
    const slotKey = `${t.namespace}/${taskName(t)}`;
    const history = seenSlot.has(slotKey) || t.desiredState !== 'running';
    seenSlot.add(slotKey);
    const name = `${history ? ' \\_ ' : ''}${taskName(t)}`;
    const st = t.status;
    const msg = [st?.message ?? '', st?.err && !(st.message ?? '').includes(st.err) ? `(${st.err})` : ''].filter(Boolean).join(' ');
    return [
      name,
      t.id,
      t.nodeId || '-',
      t.desiredState,
      colorState(stateText(t)),
      age(st?.timestampMs ?? 0, ctx.now),
      taskAddresses(t).join(',') || '-',
      String(t.specRevision),
      msg,
    ];
  });
  return table(['NAME', 'ID', 'NODE', 'DESIRED', 'STATE', 'SINCE', 'ADDRESS', 'REVISION', 'MESSAGE'], rows, { color: ctx.color }).split(
    '\n',
  );
}

// ---- service --------------------------------------------------------------------------------

export const specSection: SectionBuilder<{ service: Pick<Service__Output, 'specJson'> } | TaskData> = (data) => {
  const specJson = 'service' in data ? data.service.specJson : data.task.specJson;
  return { title: 'Spec', lines: indentBlock(toYaml(humanSpec(specJson))) };
};

export const pendingSection: SectionBuilder<ServiceData> = ({ tasks }) => {
  const pending = sortTasks(tasks).filter((t) => t.desiredState === 'running' && t.status?.state === 'pending');
  if (pending.length === 0) return undefined;
  return { title: 'Pending', lines: pending.map((t) => `  ${oneLine(`${taskName(t)}: ${t.status?.message || 'waiting for placement'}`)}`) };
};

export const serviceTasksSection: SectionBuilder<ServiceData> = ({ tasks }, ctx) => ({
  title: 'Tasks',
  lines: tasks.length === 0 ? ['  <none>'] : taskTable(tasks, ctx).map((l) => `  ${l}`),
});

/** Sections of `describe service`, in print order. */
export const SERVICE_SECTIONS: Array<SectionBuilder<ServiceData>> = [
  specSection,
  pendingSection,
  serviceTasksSection,
  serviceEventsSection,
];

export function serviceFields({ service: s, tasks }: ServiceData, now: number): Field[] {
  const spec = JSON.parse(s.specJson) as ServiceSpec;
  const conv = evaluateConvergence(
    { uid: s.meta?.uid ?? '', specRevision: s.specRevision, spec, deleting: s.deleting },
    tasks.map(taskFromPb),
  );
  const fields: Field[] = [
    ['Name', s.meta?.name ?? ''],
    ['Namespace', s.meta?.namespace ?? ''],
    ['Labels', labelList(s.meta?.labels)],
    ['UID', s.meta?.uid ?? ''],
    ['Created', when(s.meta?.createdAtMs, now)],
    ['Updated', when(s.meta?.updatedAtMs, now)],
    ['Revision', String(s.specRevision)],
    ['Image', spec.image],
    ['Replicas', `${spec.replicas} desired, ${conv.ready} running`],
    ['Status', s.deleting ? 'deleting: its containers are being stopped' : `${conv.phase}: ${conv.summary}`],
  ];
  if (conv.reason && !s.deleting) fields.push(['Reason', conv.reason]);
  else if (conv.lastFailure) fields.push(['Last failure', conv.lastFailure]);
  return fields;
}

// ---- task -----------------------------------------------------------------------------------

export function taskFields({ task: t }: TaskData, now: number): Field[] {
  const st = t.status;
  const fields: Field[] = [
    ['ID', t.id],
    ['Name', taskName(t)],
    ['Service', `${t.namespace}/${t.service}`],
    ['Slot', String(t.slot)],
    ['Revision', String(t.specRevision)],
    ['Node', t.nodeId ? `${t.nodeId}${t.nodeAddress ? ` (${t.nodeAddress})` : ''}` : '- (not placed)'],
    ['Desired state', t.desiredState],
    [
      'State',
      `${st?.state ?? ''}${st?.container === 'backoff' ? ' (container waiting for its restart)' : ''} since ${when(st?.timestampMs, now)}`,
    ],
    ['Message', st?.message || '-'],
  ];
  if (st?.err) fields.push(['Error', st.err]);
  if (st && ['failed', 'complete', 'shutdown'].includes(st.state)) fields.push(['Exit code', String(st.exitCode)]);
  if (st?.oomKilled) fields.push(['OOM killed', 'yes (the container went past its memory limit)']);
  if (st?.health) fields.push(['Health', st.health]);
  if (st?.restarts) fields.push(['Restarts', `${st.restarts} (in place, on this node)`]);
  if (t.priorFailures) fields.push(['Prior failures', `${t.priorFailures} (of earlier tasks of this slot)`]);
  fields.push(['Container', `${t.containerName}${st?.containerId ? ` (${st.containerId.slice(0, 12)})` : ''}`]);
  fields.push(['Addresses', taskAddresses(t).join(', ') || '-']);
  fields.push(['Created', when(t.createdAtMs, now)]);
  if (st?.startedAtMs) fields.push(['Started', when(st.startedAtMs, now)]);
  return fields;
}

/** Sections of `describe task`, in print order. */
export const TASK_SECTIONS: Array<SectionBuilder<TaskData>> = [specSection, taskEventsSection];

// ---- node -----------------------------------------------------------------------------------

export function nodeFields({ node: n }: NodeData, now: number): Field[] {
  const d = n.description;
  const cap = d?.capacity;
  const alloc = n.allocated;
  return [
    ['ID', n.id],
    ['Hostname', d?.hostname ?? ''],
    ['State', `${n.state} since ${when(n.stateChangedAtMs, now)}`],
    ['Availability', n.availability],
    ['Message', n.message || '-'],
    ['Address', d?.address || '-'],
    ['Labels', labelList({ ...(d?.labels ?? {}), ...n.labels })],
    ['Agent labels', labelList(d?.labels)],
    ['Operator labels', labelList(n.labels)],
    ['CPU', `${formatCpu(alloc?.cpuMilli ?? 0)} of ${formatCpu(cap?.cpuMilli ?? 0)} reserved`],
    ['Memory', `${humanBytes(alloc?.memoryBytes ?? 0)} of ${humanBytes(cap?.memoryBytes ?? 0)} reserved`],
    ['Tasks', String(n.tasks)],
    ['Engine', d?.engineVersion || '-'],
    ['Agent', d?.agentVersion || '-'],
    ['OS/Arch', `${d?.os ?? ''}/${d?.arch ?? ''}`],
  ];
}

export const nodeTasksSection: SectionBuilder<NodeData> = ({ tasks }, ctx) => ({
  title: 'Tasks',
  lines: tasks.length === 0 ? ['  <none>'] : taskTable(tasks, ctx).map((l) => `  ${l}`),
});

/** Sections of `describe node`, in print order. */
export const NODE_SECTIONS: Array<SectionBuilder<NodeData>> = [nodeTasksSection, nodeEventsSection];

// ---- rendering ------------------------------------------------------------------------------

export async function renderDescription<T>(
  fields: Field[],
  sections: Array<SectionBuilder<T>>,
  data: T,
  ctx: DescribeContext,
): Promise<string> {
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  const out = fields.map(([k, v]) => `${`${k}:`.padEnd(width)}${oneLine(v)}`);
  for (const build of sections) {
    const s = await build(data, ctx);
    if (!s) continue;
    out.push(`${s.title}:`, ...s.lines);
  }
  return out.join('\n') + '\n';
}
