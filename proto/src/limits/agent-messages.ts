// What a Dispatcher message from an agent may hold: counts of lists and lengths of strings. The
// controller refuses a message beyond them (INVALID_ARGUMENT, naming the field) and closes the
// session; the agent keeps inside them by itself (it splits status batches and shortens status
// texts), so only a broken or hostile agent meets a refusal. Sizes in bytes are limited before
// decoding (message-limits.ts, --max-agent-message).
//
// Pure: no I/O.
import type { AgentMessage__Output } from '../../gen/berth/v1/AgentMessage.js';

/** Containers one Hello lists (every container with the node's label). */
export const MAX_HELLO_CONTAINERS = 10_000;
/** Updates in one status batch; the agent sends more as several batches. */
export const MAX_STATUS_UPDATES = 1_000;
/** A status's message and error text; the agent shortens longer ones. */
export const MAX_STATUS_TEXT_CHARS = 8_192;
/** Ports one task status reports. */
export const MAX_STATUS_PORTS = 1_024;
/** Labels an agent starts with (--label). */
export const MAX_NODE_LABELS = 256;
export const MAX_LABEL_KEY_CHARS = 253;
export const MAX_LABEL_VALUE_CHARS = 1_024;
/** --allow-host-path flags, and one path. */
export const MAX_HOST_PATHS = 256;
export const MAX_PATH_CHARS = 4_096;
/** Ids, names, versions, addresses, states. */
export const MAX_SHORT_CHARS = 256;

function tooLong(path: string, s: string, max: number): string | undefined {
  return s.length > max ? `${path}: ${s.length} characters; at most ${max}` : undefined;
}

function tooMany(path: string, n: number, max: number): string | undefined {
  return n > max ? `${path}: ${n} entries; at most ${max}` : undefined;
}

function first(checks: Iterable<string | undefined>): string | undefined {
  for (const c of checks) if (c !== undefined) return c;
  return undefined;
}

function* helloChecks(h: NonNullable<AgentMessage__Output['hello']>): Generator<string | undefined> {
  yield tooLong('hello.nodeId', h.nodeId, MAX_SHORT_CHARS);
  const d = h.description;
  if (d) {
    for (const f of ['hostname', 'engineVersion', 'os', 'arch', 'address', 'agentVersion', 'metricsAddress', 'apiAddress'] as const)
      yield tooLong(`hello.description.${f}`, d[f], MAX_SHORT_CHARS);
    const labels = Object.entries(d.labels);
    yield tooMany('hello.description.labels', labels.length, MAX_NODE_LABELS);
    for (const [k, v] of labels) {
      yield tooLong(`hello.description.labels[${JSON.stringify(k.slice(0, 64))}] key`, k, MAX_LABEL_KEY_CHARS);
      yield tooLong(`hello.description.labels[${JSON.stringify(k)}]`, v, MAX_LABEL_VALUE_CHARS);
    }
    yield tooMany('hello.description.allowedHostPaths', d.allowedHostPaths.length, MAX_HOST_PATHS);
    for (const [i, p] of d.allowedHostPaths.entries()) yield tooLong(`hello.description.allowedHostPaths[${i}]`, p, MAX_PATH_CHARS);
  }
  yield tooMany('hello.containers', h.containers.length, MAX_HELLO_CONTAINERS);
  for (const [i, c] of h.containers.entries()) {
    yield tooLong(`hello.containers[${i}].containerId`, c.containerId, MAX_SHORT_CHARS);
    yield tooLong(`hello.containers[${i}].taskId`, c.taskId, MAX_SHORT_CHARS);
    yield tooLong(`hello.containers[${i}].state`, c.state, MAX_SHORT_CHARS);
  }
}

function* statusChecks(s: NonNullable<AgentMessage__Output['status']>): Generator<string | undefined> {
  yield tooMany('status.updates', s.updates.length, MAX_STATUS_UPDATES);
  for (const [i, u] of s.updates.entries()) {
    const at = `status.updates[${i}]`;
    yield tooLong(`${at}.taskId`, u.taskId, MAX_SHORT_CHARS);
    const st = u.status;
    if (!st) continue;
    yield tooLong(`${at}.status.message`, st.message, MAX_STATUS_TEXT_CHARS);
    yield tooLong(`${at}.status.err`, st.err, MAX_STATUS_TEXT_CHARS);
    for (const f of ['state', 'containerId', 'health', 'container'] as const) yield tooLong(`${at}.status.${f}`, st[f], MAX_SHORT_CHARS);
    yield tooMany(`${at}.status.ports`, st.ports.length, MAX_STATUS_PORTS);
    for (const [j, p] of st.ports.entries()) {
      yield tooLong(`${at}.status.ports[${j}].protocol`, p.protocol, MAX_SHORT_CHARS);
      yield tooLong(`${at}.status.ports[${j}].hostIp`, p.hostIp, MAX_SHORT_CHARS);
    }
  }
}

/** Why a message from an agent is refused (the field and the limit), or undefined. */
export function agentMessageProblem(m: AgentMessage__Output): string | undefined {
  if (m.hello) return first(helloChecks(m.hello));
  if (m.status) return first(statusChecks(m.status));
  return undefined;
}

/** Why an agent's flags (--label, --allow-host-path) would make a Hello the controller refuses, or undefined. */
export function helloLimitsProblem(labels: Record<string, string>, allowedHostPaths: readonly string[]): string | undefined {
  const entries = Object.entries(labels);
  return first([
    tooMany('--label', entries.length, MAX_NODE_LABELS),
    ...entries.flatMap(([k, v]) => [
      tooLong(`--label ${k.slice(0, 64)}`, k, MAX_LABEL_KEY_CHARS),
      tooLong(`--label ${k}`, v, MAX_LABEL_VALUE_CHARS),
    ]),
    tooMany('--allow-host-path', allowedHostPaths.length, MAX_HOST_PATHS),
    ...allowedHostPaths.map((p) => tooLong('--allow-host-path', p, MAX_PATH_CHARS)),
  ]);
}

/** A status text as the agent sends it: at most MAX_STATUS_TEXT_CHARS, marked when shortened. */
export function clipStatusText(s: string): string {
  return s.length <= MAX_STATUS_TEXT_CHARS ? s : `${s.slice(0, MAX_STATUS_TEXT_CHARS - 13)}… (shortened)`;
}

/** Splits a list into batches of at most `size`. */
export function batches<T>(items: readonly T[], size: number = MAX_STATUS_UPDATES): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
