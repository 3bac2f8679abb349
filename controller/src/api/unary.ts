// One gRPC unary handler shape for every API area of the controller: run the call, count it by
// method and status code, time it, and map typed errors to gRPC status (errors.ts) at this edge.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../../proto/src/log.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import { toStatus } from './errors.js';

export interface UnaryDeps {
  log: Logger;
  metrics?: ControllerMetrics | undefined;
}

export function unaryHandler<Req, Res>(deps: UnaryDeps, method: string, fn: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  const { log, metrics } = deps;
  return (call, callback) => {
    const end = metrics?.apiDuration.labels(method).startTimer();
    fn(call.request).then(
      (res) => {
        end?.();
        metrics?.apiRequests.labels(method, 'OK').inc();
        callback(null, res);
      },
      (err: unknown) => {
        end?.();
        const st = toStatus(err);
        metrics?.apiRequests.labels(method, grpc.status[st.code ?? grpc.status.UNKNOWN] ?? 'UNKNOWN').inc();
        if (st.code === grpc.status.INTERNAL) log.error({ method, err: err instanceof Error ? err.stack : String(err) }, 'internal error');
        callback(st, null);
      },
    );
  };
}
