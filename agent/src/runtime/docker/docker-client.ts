// The one place the agent makes a dockerode client: every engine connection (calls, the event
// stream, logs/exec/stats) is made here, from the same address, so they cannot drift apart.
import Docker from 'dockerode';

/** A call to the engine that takes longer is an error (a hung engine must not hang the agent). */
export const ENGINE_CALL_TIMEOUT_MS = 60_000;

export interface EngineAddress {
  socketPath?: string | undefined;
  host?: string | undefined;
}

/** From DOCKER_HOST-style addresses: unix:///path or a bare socket path. */
export function parseEngineAddress(address: string): EngineAddress {
  return { socketPath: address.startsWith('unix://') ? address.slice('unix://'.length) : address };
}

/**
 * A client for the engine at `where`. `calls`: every call times out after ENGINE_CALL_TIMEOUT_MS.
 * `streams`: no call timeout, which would cut a stream that is merely quiet (the event stream, a
 * followed log, an interactive shell).
 */
export function dockerClient(where: EngineAddress, kind: 'calls' | 'streams'): Docker {
  return new Docker({
    ...(where.socketPath ? { socketPath: where.socketPath } : {}),
    ...(where.host ? { host: where.host } : {}),
    ...(kind === 'calls' ? { timeout: ENGINE_CALL_TIMEOUT_MS } : {}),
  });
}
