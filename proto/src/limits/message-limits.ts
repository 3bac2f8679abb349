// The largest request message each RPC accepts, in bytes as it arrives (before decoding). A
// server no longer takes 64 MiB from every caller: each method takes what it needs, and the
// server's transport limit (grpc.max_receive_message_length) is the largest of its methods'.
// Replies are not limited here (clients keep proto/src/grpc.ts's CLIENT limit: a full assignment
// set or a long task list can be large).
//
// Pure: no I/O.
import { MAX_DOCUMENT_BYTES } from '../spec/limits.js';

const KIB = 1024;
const MIB = 1024 * KIB;

/** Any method not named below: ids, names, selectors, a CSR, a registry password. */
export const DEFAULT_REQUEST_BYTES = 64 * KIB;
/** One manifest (≤ MAX_DOCUMENT_BYTES of JSON) and the fields around it. */
export const MANIFEST_REQUEST_BYTES = MAX_DOCUMENT_BYTES + 64 * KIB;
/** `berth plan`: every manifest of the plan together. */
export const PLAN_REQUEST_BYTES = 8 * MIB;
/** One exec message: a chunk of stdin (the CLI reads 64 KiB at a time). */
export const EXEC_REQUEST_BYTES = 1 * MIB;
/**
 * One Dispatcher message from an agent (Hello with every container of its node, a status batch):
 * the default of the controller's --max-agent-message.
 */
export const DEFAULT_AGENT_MESSAGE_BYTES = 4 * MIB;

export type RequestLimits = Readonly<Record<string, number>>;

/** Per method (Service.Method) of the controller's server; `agentMessageBytes`: --max-agent-message. */
export function controllerRequestLimits(agentMessageBytes: number = DEFAULT_AGENT_MESSAGE_BYTES): RequestLimits {
  return {
    'ControlAPI.ApplyService': MANIFEST_REQUEST_BYTES,
    'ManageAPI.DiffService': MANIFEST_REQUEST_BYTES,
    'SecretAPI.ApplySecret': MANIFEST_REQUEST_BYTES,
    'NodeAPI.Plan': PLAN_REQUEST_BYTES,
    'ObserveAPI.Exec': EXEC_REQUEST_BYTES,
    'Dispatcher.Session': agentMessageBytes,
  };
}

/** Per method of the agent's AgentAPI (only controllers call it). */
export function agentRequestLimits(): RequestLimits {
  return { 'AgentAPI.Exec': EXEC_REQUEST_BYTES };
}

export function requestLimit(limits: RequestLimits, method: string): number {
  return limits[method] ?? DEFAULT_REQUEST_BYTES;
}

/** The server's transport limit: no method's message is refused by it before its own limit speaks. */
export function transportLimit(limits: RequestLimits): number {
  return Math.max(DEFAULT_REQUEST_BYTES, ...Object.values(limits));
}

/** The refusal of a message over its method's limit. */
export function oversizeMessage(method: string, bytes: number, limit: number, caller: string, flag?: string): string {
  return `${method}: a message of ${bytes} bytes from ${caller}; this server takes at most ${limit} bytes per message of this method${flag ? ` (${flag})` : ''}`;
}
