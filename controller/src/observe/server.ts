// ObserveAPI server (every controller replica): events from JetStream; logs, exec and top
// through the agents. Requests are counted by method and gRPC code like the ControlAPI's.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../../proto/src/log.js';
import { UnavailableError } from '../../../proto/src/errors.js';
import { errorMessage, statusError, writeWithBackpressure } from '../../../proto/src/streams.js';
import type { ObserveAPIHandlers } from '../../../proto/gen/berth/v1/ObserveAPI.js';
import type { Event } from '../../../proto/gen/berth/v1/Event.js';
import type { EventsRequest__Output } from '../../../proto/gen/berth/v1/EventsRequest.js';
import { EVENT_TYPES } from '../events/events.js';
import { typeMatches, type EventFilter } from '../events/filter.js';
import type { EventReader, StoredEvent } from '../events/nats-reader.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import type { ClusterCache } from '../store/cluster.js';
import type { AgentClients } from './agent-clients.js';
import { serveExec } from './exec.js';
import { LogSession } from './logs.js';
import { topUsage } from './top.js';
import { DEFAULT_CONTROLLER_STREAMS } from '../../../proto/src/limits/defaults.js';
import { StreamLimiter, type StreamLimits } from '../../../proto/src/limits/stream-limiter.js';
import { acquireStream } from '../../../proto/src/limits/grpc-limits.js';
import { unaryFactory } from '../api/control.js';
import type { TopRequest__Output } from '../../../proto/gen/berth/v1/TopRequest.js';

/** Events, logs and exec streams one controller serves at once, by default; more are refused (RESOURCE_EXHAUSTED). */
export const MAX_OPEN_STREAMS = DEFAULT_CONTROLLER_STREAMS.total;

/** The stream limiter of a controller's flags (--max-streams, --max-streams-per-identity). */
export function controllerStreamLimiter(limits: StreamLimits = DEFAULT_CONTROLLER_STREAMS): StreamLimiter {
  return new StreamLimiter(limits, {
    what: 'events, logs, exec and watch streams',
    where: 'this controller',
    totalFlag: '--max-streams',
    perIdentityFlag: '--max-streams-per-identity',
  });
}

export interface ObserveDeps {
  cache: ClusterCache;
  agents: AgentClients;
  /** undefined when the controller runs without NATS. */
  events: EventReader | undefined;
  log: Logger;
  metrics?: ControllerMetrics | undefined;
  /** Caps the streams, in all and per caller identity (shared with the RolloutAPI's watches); default controllerStreamLimiter(). */
  streams?: StreamLimiter | undefined;
}

export function eventToPb(e: StoredEvent): Event {
  return {
    type: e.type,
    namespace: e.namespace ?? '',
    service: e.service ?? '',
    node: e.node ?? '',
    task: e.task ?? '',
    slot: e.slot ?? 0,
    state: e.state ?? '',
    message: e.message,
    timeMs: e.timeMs,
    seq: e.seq,
  };
}

/** The filter of a request, or the reason it is invalid. */
export function eventFilter(req: Pick<EventsRequest__Output, 'namespace' | 'service' | 'node' | 'types'>): EventFilter | string {
  for (const [i, t] of req.types.entries()) {
    if (!EVENT_TYPES.some((known) => typeMatches(known, t)))
      return `types[${i}]: unknown event type ${JSON.stringify(t)}; known: ${EVENT_TYPES.join(', ')}`;
  }
  return {
    ...(req.namespace ? { namespace: req.namespace } : {}),
    ...(req.service ? { service: req.service } : {}),
    ...(req.node ? { node: req.node } : {}),
    ...(req.types.length > 0 ? { types: req.types } : {}),
  };
}

export function observeHandlers(deps: ObserveDeps): ObserveAPIHandlers {
  const { metrics, log } = deps;
  const streams = deps.streams ?? controllerStreamLimiter();
  /** Takes a stream for the caller; undefined (and the call refused) beyond a limit. */
  const counted = (
    method: string,
    call: { emit(event: 'error', st: Partial<grpc.StatusObject>): unknown },
  ): ((code: grpc.status) => void) | undefined => {
    const taken = acquireStream(streams, call);
    if (!taken.ok) {
      metrics?.apiRequests.labels(method, 'RESOURCE_EXHAUSTED').inc();
      call.emit('error', taken.status);
      return undefined;
    }
    metrics?.apiStreams.labels(method).inc();
    let once = false;
    return (code) => {
      if (once) return;
      once = true;
      taken.release();
      metrics?.apiStreams.labels(method).dec();
      metrics?.apiRequests.labels(method, grpc.status[code] ?? 'UNKNOWN').inc();
    };
  };

  return {
    Events: (call) => {
      const done = counted('Events', call);
      if (!done) return;
      const filter = eventFilter(call.request);
      if (typeof filter === 'string') {
        done(grpc.status.INVALID_ARGUMENT);
        call.emit('error', statusError(grpc.status.INVALID_ARGUMENT, filter));
        return;
      }
      if (!deps.events) {
        done(grpc.status.UNAVAILABLE);
        call.emit('error', statusError(grpc.status.UNAVAILABLE, 'events are off: this controller runs without NATS (--nats)'));
        return;
      }
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      call.on('close', () => ac.abort());
      const { sinceMs, limit, follow } = call.request;
      deps.events
        .read(filter, { sinceMs, limit, follow }, (e) => writeWithBackpressure(call, eventToPb(e), ac.signal), ac.signal)
        .then(
          () => {
            done(ac.signal.aborted ? grpc.status.CANCELLED : grpc.status.OK);
            if (!ac.signal.aborted) call.end();
          },
          (err: unknown) => {
            const code = err instanceof UnavailableError ? grpc.status.UNAVAILABLE : grpc.status.INTERNAL;
            done(code);
            if (code === grpc.status.INTERNAL) log.error({ err: errorMessage(err) }, 'events request failed');
            if (!ac.signal.aborted) call.emit('error', statusError(code, errorMessage(err)));
          },
        );
    },

    Logs: (call) => {
      const done = counted('Logs', call);
      if (done) new LogSession(deps, call, done).start();
    },

    Exec: (call) => {
      const done = counted('Exec', call);
      if (done) serveExec(deps, call, done);
    },

    Top: unaryFactory({ log, metrics })('Top', (req: TopRequest__Output) => topUsage(deps, req.namespace)),
  };
}
