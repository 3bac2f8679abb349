// Client of the controller's ObserveAPI (events, logs, exec, top) for the CLI and tests. Streams
// are returned as they are (grpc-js streams); their errors, like those of Top, go through the
// shared toApiError (ApiClient.streamError, consume).
import type * as grpc from '@grpc/grpc-js';
import { loadProto } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as ObserveProto } from '../../proto/gen/observe.js';
import type { ObserveAPIClient } from '../../proto/gen/berth/v1/ObserveAPI.js';
import type { EventsRequest } from '../../proto/gen/berth/v1/EventsRequest.js';
import type { Event__Output } from '../../proto/gen/berth/v1/Event.js';
import type { LogsRequest } from '../../proto/gen/berth/v1/LogsRequest.js';
import type { LogLine__Output } from '../../proto/gen/berth/v1/LogLine.js';
import type { TopResponse__Output } from '../../proto/gen/berth/v1/TopResponse.js';
import { ApiClient, type ClientTransport } from './client.js';

export class ObserveClient extends ApiClient {
  readonly raw: ObserveAPIClient;

  constructor(address: string, transport?: ClientTransport) {
    super(address, transport);
    const proto = loadProto<ObserveProto>('observe');
    this.raw = this.open(proto.berth.v1.ObserveAPI);
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
    return this.call((md, o, cb) => this.raw.Top({ namespace }, md, o, cb));
  }
}

/** Hands every message of a server stream of `client` to `each` until it ends; errors as ApiError. */
export function consume<T>(stream: grpc.ClientReadableStream<T>, client: ApiClient, each: (m: T) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on('data', each);
    stream.on('error', (err: grpc.ServiceError) => reject(client.streamError(err)));
    stream.on('end', () => resolve());
  });
}
