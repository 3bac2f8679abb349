// Output for people: aligned tables, escaped control characters (a hostile server or container
// name cannot drive the terminal), colors only on a terminal.
import type { Node__Output } from '../../proto/gen/berth/v1/Node.js';
import type { Service__Output } from '../../proto/gen/berth/v1/Service.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';
import { humanBytes } from '../../proto/src/spec/units.js';

/** Replaces control characters (C0, DEL, C1, ESC sequences) by visible escapes. */
export function escapeControl(s: string): string {
   
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function table(headers: string[], rows: string[][]): string {
  const clean = rows.map((r) => r.map((c) => escapeControl(c).replace(/\n/g, ' ')));
  const widths = headers.map((h, i) => Math.max(h.length, ...clean.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(headers), ...clean.map(line)].join('\n');
}

export function age(ms: number, now = Date.now()): string {
  if (!ms) return '-';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export const useColor = (): boolean => !!process.stdout.isTTY && !process.env['NO_COLOR'];

const COLORS: Record<string, string> = { healthy: '32', unhealthy: '31', running: '32', ready: '32', failed: '31', rejected: '31', down: '31', pending: '33', unknown: '33', orphaned: '31' };
export function colorState(s: string): string {
  const c = COLORS[s];
  return c && useColor() ? `\u001b[${c}m${s}\u001b[0m` : s;
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
    const spec = JSON.parse(s.specJson) as { image: string; replicas: number; ports?: Array<{ containerPort: number; hostPort?: number; protocol: string }> };
    const ports = (spec.ports ?? []).map((p) => `${p.hostPort ?? '*'}->${p.containerPort}/${p.protocol}`).join(',');
    const st = s.status;
    const replicas = `${st?.running ?? 0}/${st?.desired ?? spec.replicas}`;
    const base = [s.meta?.namespace ?? '', s.meta?.name ?? '', replicas, spec.image, ports || '-', String(s.specRevision), age(s.meta?.createdAtMs ?? 0)];
    return wide ? [...base, s.deleting ? 'deleting' : st?.message ?? ''] : base;
  });
  const headers = ['NAMESPACE', 'NAME', 'REPLICAS', 'IMAGE', 'PORTS', 'REVISION', 'AGE'];
  return table(wide ? [...headers, 'STATUS'] : headers, rows);
}

/** The state column: `healthy`/`unhealthy` for a running task with a health check, with its restarts. */
export function stateText(t: Task__Output): string {
  const st = t.status;
  const health = st?.state === 'running' && (st.health === 'healthy' || st.health === 'unhealthy') ? st.health : (st?.state ?? '');
  return st?.restarts ? `${health} (${st.restarts} restarts)` : health;
}

export function tasksTable(tasks: Task__Output[], wide = false): string {
  const sorted = [...tasks].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service) || a.slot - b.slot || b.createdAtMs - a.createdAtMs);
  const rows = sorted.map((t) => {
    const base = [
      t.slot === 0 && t.targetNodeId ? `${t.service}.${t.targetNodeId}` : `${t.service}.${t.slot}`,
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

export function nodesTable(nodes: Node__Output[]): string {
  const rows = [...nodes].sort((a, b) => a.id.localeCompare(b.id)).map((n) => {
    const cap = n.description?.capacity;
    const alloc = n.allocated;
    return [
      n.id,
      n.description?.hostname ?? '',
      colorState(n.state),
      n.availability,
      `${(alloc?.cpuMilli ?? 0) / 1000}/${(cap?.cpuMilli ?? 0) / 1000}`,
      `${humanBytes(alloc?.memoryBytes ?? 0)}/${humanBytes(cap?.memoryBytes ?? 0)}`,
      String(n.tasks),
      n.description?.address ?? '',
      n.description?.engineVersion ?? '',
      Object.entries({ ...(n.description?.labels ?? {}), ...n.labels }).map(([k, v]) => `${k}=${v}`).join(',') || '-',
    ];
  });
  return table(['ID', 'HOSTNAME', 'STATE', 'AVAILABILITY', 'CPU', 'MEMORY', 'TASKS', 'ADDRESS', 'ENGINE', 'LABELS'], rows);
}
