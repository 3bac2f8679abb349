// PURE handling of host ports held outside Berth. Berth never gives one host port to two of its
// own tasks on a node (the scheduler's port filter); a port held by some other process or
// container shows up only when a task's container fails to bind it. Then the node is marked:
// tasks needing that port stay off it for a while (the hold doubles with each repeated failure,
// capped), and the scheduler names the port as the reason. So a busy port costs one failed start
// per hold period, not a crash loop, and a port freed on the host is used again after the hold.
import type { NodeRecord, TaskRecord, UnavailablePort } from '../../../proto/src/model.js';
import type { HostPortRequest } from '../scheduler/types.js';

/** First hold of a port found busy: long enough for the slot to be placed elsewhere. */
export const PORT_HOLD_MS = 30_000;
/** Longest hold: a port freed on the host is tried again at least this often. */
export const PORT_HOLD_MAX_MS = 10 * 60_000;

const ADDR = '\\[?([0-9a-fA-F.:]*?)\\]?';
const PATTERNS: Array<{ re: RegExp; ip: number; port: number; proto?: number }> = [
  // userland proxy: "Error starting userland proxy: listen tcp4 127.0.0.5:18080: bind: address already in use"
  { re: new RegExp(`listen (tcp|udp)[46]? ${ADDR}:(\\d+): bind: address already in use`), proto: 1, ip: 2, port: 3 },
  // engine's own allocator: "Bind for 0.0.0.0:8080 failed: port is already allocated"
  { re: new RegExp(`Bind for ${ADDR}:(\\d+) failed: port is already allocated`), ip: 1, port: 2 },
  // newer engines: "failed to bind host port for 0.0.0.0:8080:172.17.0.2:80/tcp: address already in use"
  { re: new RegExp(`failed to bind host port for ${ADDR}:(\\d+):\\S*/(tcp|udp): address already in use`), ip: 1, port: 2, proto: 3 },
];

/** The host port a failed task could not bind, from the engine's error; undefined otherwise. */
export function portConflictOf(t: TaskRecord): HostPortRequest | undefined {
  if (t.status.state !== 'failed' && t.status.state !== 'rejected') return undefined;
  const text = `${t.status.err ?? ''}\n${t.status.message}`;
  for (const p of PATTERNS) {
    const m = p.re.exec(text);
    if (!m) continue;
    const port = Number(m[p.port]);
    const ip = m[p.ip] ?? '';
    const declared = (t.spec.ports ?? []).find((x) => x.hostPort === port);
    const protocol = p.proto !== undefined ? m[p.proto]! : (declared?.protocol ?? 'tcp');
    // Held in the terms of the task's request: a port asked on every address blocks every address.
    const hostIp = declared ? (declared.hostIP ?? '') : ip === '0.0.0.0' || ip === '::' ? '' : ip;
    return { protocol, port, hostIp };
  }
  return undefined;
}

/** The node's list after one more failure to bind `p` at nowMs (expired holds are dropped). */
export function holdPort(node: Pick<NodeRecord, 'unavailablePorts'>, p: HostPortRequest, nowMs: number): UnavailablePort[] {
  const kept = (node.unavailablePorts ?? []).filter((u) => u.untilMs + PORT_HOLD_MAX_MS > nowMs);
  const prev = kept.find((u) => u.protocol === p.protocol && u.port === p.port && u.hostIp === p.hostIp);
  const failures = (prev?.failures ?? 0) + 1;
  const holdMs = Math.min(PORT_HOLD_MAX_MS, PORT_HOLD_MS * 2 ** (failures - 1));
  const next: UnavailablePort = { protocol: p.protocol, port: p.port, hostIp: p.hostIp, untilMs: nowMs + holdMs, failures };
  return [...kept.filter((u) => u !== prev), next].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}
