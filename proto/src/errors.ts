// Typed errors shared by every component. Classified once; mapped to gRPC status at the API edge.
import type { Issue } from './spec/dsl.js';

/** Input that does not satisfy the schema; carries every issue found. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(
    readonly issues: Issue[],
    readonly subject = 'manifest',
  ) {
    super(`invalid ${subject}:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
  }
}

/** A conditional write lost its race: the stored object changed since it was read. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  constructor(
    message: string,
    readonly keys: string[] = [],
    readonly currentRevision?: number,
  ) {
    super(message);
  }
}

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(readonly what: string) {
    super(`${what} not found`);
  }
}

/** The request is valid but the object's state forbids it (e.g. applying to a service being deleted). */
export class FailedPreconditionError extends Error {
  override readonly name = 'FailedPreconditionError';
}

/** The store (etcd) cannot be reached: retriable. */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The caller's credential does not allow the call (or a token it presents is not valid). */
export class PermissionDeniedError extends Error {
  override readonly name = 'PermissionDeniedError';
}
