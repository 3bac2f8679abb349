// One unary gRPC handler from an async function: times it, counts it by status code, maps typed
// errors to gRPC status (errors.ts) and logs internal errors. Shared by every API of the controller.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../../proto/src/log.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import { toStatus } from './errors.js';

export type UnaryFactory = <Req, Res>(method: string, fn: (req: Req) => Promise<Res>) => grpc.handleUnaryCall<Req, Res>;

export function unaryHandlers(deps: { log: Logger; metrics?: ControllerMetrics | undefined }): UnaryFactory {
  const { log, metrics } = deps;
  return <Req, Res>(method: string, fn: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> => {
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
  };
}
