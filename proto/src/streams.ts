// Helpers for gRPC streams that carry a lot (logs, exec output): writes wait for the peer to
// read (bounded memory), and every wait ends when the call ends.
import * as grpc from '@grpc/grpc-js';

interface WritableLike<T> {
  write(msg: T): boolean;
  once(event: 'drain' | 'close' | 'error', fn: () => void): unknown;
  removeListener(event: 'drain' | 'close' | 'error', fn: () => void): unknown;
}

/**
 * Writes one message; when the stream's buffer is full, resolves only once the peer has read
 * enough ('drain'), the stream closed, or the signal aborted. A producer that awaits this never
 * holds more than one buffer's worth per stream.
 */
export async function writeWithBackpressure<T>(stream: WritableLike<T>, msg: T, signal?: AbortSignal): Promise<void> {
  if (stream.write(msg) || signal?.aborted) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      stream.removeListener('drain', done);
      stream.removeListener('close', done);
      stream.removeListener('error', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
    stream.once('error', done);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A gRPC status error to end a server stream with. */
export function statusError(code: grpc.status, details: string): Partial<grpc.StatusObject> {
  return { code, details, metadata: new grpc.Metadata() };
}

/** Message of any thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
