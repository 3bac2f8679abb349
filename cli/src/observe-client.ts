// Client of the controller's ObserveAPI (events, logs, exec, top) for the CLI and tests. Streams
// are returned as they are (grpc-js streams); errors become ApiError with a message for people.
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, loadProto } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as ObserveProto } from '../../proto/gen/observe.js';
import type { ObserveAPIClient } from '../../proto/gen/berth/v1/ObserveAPI.js';
import type { EventsRequest } from '../../proto/gen/berth/v1/EventsRequest.js';
import type { Event__Output } from '../../proto/gen/berth/v1/Event.js';
import type { LogsRequest } from '../../proto/gen/berth/v1/LogsRequest.js';
import type { LogLine__Output } from '../../proto/gen/berth/v1/LogLine.js';
import type { TopResponse__Output } from '../../proto/gen/berth/v1/TopResponse.js';
import { ApiError, CALL_TIMEOUT_MS } from './client.js';

/** The error of an ObserveAPI call, as the user should read it. */
export function observeError(err: grpc.ServiceError, address: string): ApiError {
  // The channel's own failures (not an UNAVAILABLE the controller answered with a reason).
  const msg = err.code === grpc.status.UNAVAILABLE && /^(No connection established|connect ECONNREFUSED|Failed to connect)/i.test(err.details)
    ? `cannot reach the controller at ${address} (${err.details})`
    : err.details || err.message;
  return new ApiError(err.code, msg, err.metadata);
}

export class ObserveClient {
  readonly raw: ObserveAPIClient;

  constructor(readonly address: string) {
    const proto = loadProto<ObserveProto>('observe');
    this.raw = new proto.berth.v1.ObserveAPI(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  }

  events(req: EventsRequest): grpc.ClientReadableStream<Event__Output> {
    return this.raw.Events(req);
  }

  logs(req: LogsRequest): grpc.ClientReadableStream<LogLine__Output> {
    return this.raw.Logs(req);
  }

  exec(): ReturnType<ObserveAPIClient['Exec']> {
    return this.raw.Exec();
  }

  top(namespace: string): Promise<TopResponse__Output> {
    return new Promise((resolve, reject) => {
      this.raw.Top({ namespace }, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) => (err ? reject(observeError(err, this.address)) : resolve(res!)));
    });
  }

  close(): void {
    this.raw.close();
  }
}

/** Hands every message of a server stream to `each` until it ends; errors as ApiError. */
export function consume<T>(stream: grpc.ClientReadableStream<T>, address: string, each: (m: T) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on('data', each);
    stream.on('error', (err: grpc.ServiceError) => reject(observeError(err, address)));
    stream.on('end', () => resolve());
  });
}
