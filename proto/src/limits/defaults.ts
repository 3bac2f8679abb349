// Defaults of the limit flags of the controller and the agent (docs/security.md "Limits"), with
// the reason for each. Pure: constants only.
import { DEFAULT_AGENT_MESSAGE_BYTES } from './message-limits.js';
import type { RateLimit } from './rate-limiter.js';
import type { StreamLimits } from './stream-limiter.js';

/**
 * Events, logs and exec streams of the controller's ObserveAPI and the watch streams of its
 * RolloutAPI (--max-streams, --max-streams-per-identity): an idle `logs -f` costs a socket and a
 * little memory; one identity may hold a quarter, so it cannot lock out the others.
 */
export const DEFAULT_CONTROLLER_STREAMS: StreamLimits = { total: 256, perIdentity: 64 };

/**
 * Logs and exec streams of an agent's AgentAPI (--max-api-streams,
 * --max-api-streams-per-controller): every operator's stream to this node arrives as one of a few
 * controllers, so a controller may hold half, and a second controller is still served.
 */
export const DEFAULT_AGENT_STREAMS: StreamLimits = { total: 256, perIdentity: 128 };

/**
 * NodeAPI.Plan per caller (--plan-rate, --plan-burst): it runs the whole scheduler on a snapshot
 * of the cluster; a person runs a few plans in a row, a loop runs one a second at most.
 */
export const DEFAULT_PLAN_RATE: RateLimit = { ratePerSec: 1, burst: 5 };

/** The limits of a controller (its flags; docs/security.md "Limits"). */
export interface ControllerLimits {
  streams: StreamLimits;
  planRate: RateLimit;
  /** Bytes of one Dispatcher message from an agent (--max-agent-message). */
  agentMessageBytes: number;
}

export const DEFAULT_CONTROLLER_LIMITS: ControllerLimits = {
  streams: DEFAULT_CONTROLLER_STREAMS,
  planRate: DEFAULT_PLAN_RATE,
  agentMessageBytes: DEFAULT_AGENT_MESSAGE_BYTES,
};
