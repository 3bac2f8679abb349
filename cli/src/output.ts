// Output for people: aligned tables, escaped control characters (a hostile server or container
// name cannot drive the terminal), colors only on a terminal.
import type { Node__Output } from '../../proto/gen/berth/v1/Node.js';
import type { Service__Output } from '../../proto/gen/berth/v1/Service.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';
import { humanBytes } from '../../proto/src/spec/units.js';
import { Document, Scalar, visit } from 'yaml';

/** Replaces control characters (C0 but tab and newline, DEL, C1, so ESC sequences too) by visible escapes. */
export function escapeControl(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** For one-line places (table cells, `Key: value` lines): escaped, and tabs and newlines become spaces. */
export function oneLine(s: string): string {
  return escapeControl(s).replace(/[\t\n]/g, ' ');
}

/** Whether to color: a terminal, NO_COLOR unset or empty (no-color.org), and not TERM=dumb. */
export function colorEnabled(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return !!stream.isTTY && !env['NO_COLOR'] && env['TERM'] !== 'dumb';
}
export const useColor = (): boolean => colorEnabled();

/** SGR color codes by meaning. */
export const COLOR = { green: '32', red: '31', yellow: '33', dim: '2', bold: '1' } as const;
export type Color = (typeof COLOR)[keyof typeof COLOR];

/** Wraps already-escaped text in a color when coloring is on. */
export function paint(text: string, color: Color | undefined, on = useColor()): string {
  return color && on ? `\u001b[${color}m${text}\u001b[0m` : text;
}

/** A table cell: text (escaped when rendered) and an optional color, applied after alignment. */
export type Cell = string | { text: string; color?: Color | undefined };

export function table(headers: string[], rows: Cell[][], opts: { color?: boolean } = {}): string {
  const on = opts.color ?? useColor();
  const clean = rows.map((r) =>
    r.map((c) => (typeof c === 'string' ? { text: oneLine(c), color: undefined } : { text: oneLine(c.text), color: c.color })),
  );
  const widths = headers.map((h, i) => Math.max(h.length, ...clean.map((r) => (r[i]?.text ?? '').length)));
  const line = (cells: Array<{ text: string; color?: Color | undefined }>): string =>
    cells
      .map((c, i) => paint(i === cells.length - 1 ? c.text : c.text.padEnd(widths[i]!), c.color, on))
      .join('   ')
      .trimEnd();
  return [line(headers.map((h) => ({ text: h }))), ...clean.map(line)].join('\n');
}

export function age(ms: number, now = Date.now()): string {
  if (!ms) return '-';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

const STATE_COLORS: Record<string, Color> = {
  running: COLOR.green,
  ready: COLOR.green,
  complete: COLOR.green,
  healthy: COLOR.green,
  failed: COLOR.red,
  rejected: COLOR.red,
  down: COLOR.red,
  orphaned: COLOR.red,
  unhealthy: COLOR.red,
  pending: COLOR.yellow,
  restarting: COLOR.yellow,
  unknown: COLOR.yellow,
  preparing: COLOR.yellow,
  starting: COLOR.yellow,
  assigned: COLOR.yellow,
};
/** A task or node state as a cell, colored by what it means (its first word: "healthy (2 restarts)"). */
export function colorState(s: string): Cell {
  return { text: s, color: STATE_COLORS[s.split(' ')[0] ?? ''] };
}

/** C1 controls and DEL survive JSON.stringify and YAML plain scalars; escape them in both. */
const RAW_CONTROL = /[\u007f-\u009f]/g;

const escapeRawControl = (json: string): string => json.replace(RAW_CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** JSON for -o json: two-space indent, every control character escaped. */
export function toJson(data: unknown): string {
  return escapeRawControl(JSON.stringify(data, null, 2)) + '\n';
}

/** One JSON document per line (streams such as `events -o json`), control characters escaped. */
export function toJsonLine(data: unknown): string {
  return escapeRawControl(JSON.stringify(data)) + '\n';
}

/**
 * YAML for -o yaml: strings holding control characters are double-quoted with escapes (the yaml
 * library escapes C0 there but not DEL and C1), no line folding, so the output is stable.
 */
export function toYaml(data: unknown): string {
  const doc = new Document(data);
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    },
  });
  return doc.toString({ lineWidth: 0 }).replace(RAW_CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Where to reach a task's published ports: node address for wildcard bindings. */
export function taskAddresses(t: Task__Output): string[] {
  return (t.status?.ports ?? []).map((p) => {
    const host = !p.hostIp || p.hostIp === '0.0.0.0' || p.hostIp === '::' ? t.nodeAddress || '127.0.0.1' : p.hostIp;
    return `${host.includes(':') ? `[${host}]` : host}:${p.hostPort}${p.protocol === 'udp' ? '/udp' : ''}`;
  });
}

export function servicesTable(services: Service__Output[], wide = false): string {
  const rows = services.map((s) => {
    const spec = JSON.parse(s.specJson) as {
      image: string;
      replicas: number;
      ports?: Array<{ containerPort: number; hostPort?: number; protocol: string }>;
    };
    const ports = (spec.ports ?? []).map((p) => `${p.hostPort ?? '*'}->${p.containerPort}/${p.protocol}`).join(',');
    const st = s.status;
    const replicas = `${st?.running ?? 0}/${st?.desired ?? spec.replicas}`;
    const base = [
      s.meta?.namespace ?? '',
      s.meta?.name ?? '',
      replicas,
      spec.image,
      ports || '-',
      String(s.specRevision),
      age(s.meta?.createdAtMs ?? 0),
    ];
    return wide ? [...base, labelList(s.meta?.labels), s.deleting ? 'deleting' : (st?.message ?? '')] : base;
  });
  const headers = ['NAMESPACE', 'NAME', 'REPLICAS', 'IMAGE', 'PORTS', 'REVISION', 'AGE'];
  return table(wide ? [...headers, 'LABELS', 'STATUS'] : headers, rows);
}

/**
 * The state column: `healthy`/`unhealthy` for a running task with a health check, `restarting`
 * while its container waits for an in-place restart, with its restarts.
 */
export function stateText(t: Task__Output): string {
  const st = t.status;
  const running = st?.state === 'running';
  const shown =
    running && st.container === 'backoff'
      ? 'restarting'
      : running && (st.health === 'healthy' || st.health === 'unhealthy')
        ? st.health
        : (st?.state ?? '');
  return st?.restarts ? `${shown} (${st.restarts} restarts)` : shown;
}

/** The name people use for a task: SERVICE.SLOT, or SERVICE.NODE for a global service. */
export function taskName(t: Pick<Task__Output, 'service' | 'slot' | 'targetNodeId'>): string {
  return t.slot === 0 && t.targetNodeId ? `${t.service}.${t.targetNodeId}` : `${t.service}.${t.slot}`;
}

export function tasksTable(tasks: Task__Output[], wide = false): string {
  const sorted = [...tasks].sort(
    (a, b) =>
      a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service) || a.slot - b.slot || b.createdAtMs - a.createdAtMs,
  );
  const rows = sorted.map((t) => {
    const base = [
      taskName(t),
      t.namespace,
      t.nodeId || '-',
      t.desiredState,
      colorState(stateText(t)),
      age(t.status?.timestampMs ?? 0),
      taskAddresses(t).join(',') || '-',
    ];
    return wide ? [...base, t.id, t.specRevision.toString(), t.status?.message ?? ''] : [...base, t.status?.message ?? ''];
  });
  const headers = ['NAME', 'NAMESPACE', 'NODE', 'DESIRED', 'STATE', 'SINCE', 'ADDRESS'];
  return table(wide ? [...headers, 'ID', 'REVISION', 'MESSAGE'] : [...headers, 'MESSAGE'], rows);
}

/** k=v,k2=v2 sorted by key, or "-". */
export function labelList(labels: Readonly<Record<string, string>> | undefined): string {
  return (
    Object.entries(labels ?? {})
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-'
  );
}

export function nodesTable(nodes: Node__Output[], wide = false): string {
  const rows = [...nodes]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((n) => {
      const cap = n.description?.capacity;
      const alloc = n.allocated;
      const row = [
        n.id,
        n.description?.hostname ?? '',
        colorState(n.state),
        n.availability,
        `${(alloc?.cpuMilli ?? 0) / 1000}/${(cap?.cpuMilli ?? 0) / 1000}`,
        `${humanBytes(alloc?.memoryBytes ?? 0)}/${humanBytes(cap?.memoryBytes ?? 0)}`,
        String(n.tasks),
        n.description?.address ?? '',
        n.description?.engineVersion ?? '',
        labelList({ ...(n.description?.labels ?? {}), ...n.labels }),
      ];
      return wide
        ? [...row, n.description?.agentVersion ?? '', `${n.description?.os ?? ''}/${n.description?.arch ?? ''}`, n.message || '-']
        : row;
    });
  const headers = ['ID', 'HOSTNAME', 'STATE', 'AVAILABILITY', 'CPU', 'MEMORY', 'TASKS', 'ADDRESS', 'ENGINE', 'LABELS'];
  return table(wide ? [...headers, 'AGENT', 'OS/ARCH', 'MESSAGE'] : headers, rows);
}
