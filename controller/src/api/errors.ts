// Typed errors → gRPC status, at the API edge only.
import * as grpc from '@grpc/grpc-js';
import {
  ConflictError,
  FailedPreconditionError,
  NotFoundError,
  PermissionDeniedError,
  UnavailableError,
  ValidationError,
} from '../../../proto/src/errors.js';

/** Trailer naming the current revision when an update lost its race (ABORTED). */
export const CURRENT_REVISION_METADATA = 'berth-current-revision';

export function toStatus(err: unknown): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (err instanceof ValidationError) return { code: grpc.status.INVALID_ARGUMENT, details: err.message, metadata };
  if (err instanceof ConflictError) {
    if (err.currentRevision !== undefined) metadata.set(CURRENT_REVISION_METADATA, String(err.currentRevision));
    const rev = err.currentRevision !== undefined ? ` (current revision ${err.currentRevision})` : '';
    return { code: grpc.status.ABORTED, details: `${err.message}${rev}; read it again and retry`, metadata };
  }
  if (err instanceof NotFoundError) return { code: grpc.status.NOT_FOUND, details: err.message, metadata };
  if (err instanceof FailedPreconditionError) return { code: grpc.status.FAILED_PRECONDITION, details: err.message, metadata };
  if (err instanceof PermissionDeniedError) return { code: grpc.status.PERMISSION_DENIED, details: err.message, metadata };
  if (err instanceof UnavailableError) return { code: grpc.status.UNAVAILABLE, details: err.message, metadata };
  return { code: grpc.status.INTERNAL, details: `internal error: ${err instanceof Error ? err.message : String(err)}`, metadata };
}
