// A thin promise-based ControlAPI client for the CLI and tests.
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, protos } from '../../proto/src/grpc.js';
import type { ControlAPIClient } from '../../proto/gen/berth/v1/ControlAPI.js';
import type { ApplyServiceRequest } from '../../proto/gen/berth/v1/ApplyServiceRequest.js';
import type { ApplyServiceResponse__Output } from '../../proto/gen/berth/v1/ApplyServiceResponse.js';
import type { Service__Output } from '../../proto/gen/berth/v1/Service.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';
import type { Node__Output } from '../../proto/gen/berth/v1/Node.js';
import type { ListTasksRequest } from '../../proto/gen/berth/v1/ListTasksRequest.js';

export const DEFAULT_CONTROLLER = '127.0.0.1:7070';
/** A CLI call that takes longer than this fails (the controller or etcd is not answering). */
export const CALL_TIMEOUT_MS = 30_000;

/** The error of a call, as the user should read it. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(readonly code: grpc.status, message: string, readonly metadata?: grpc.Metadata) {
    super(message);
  }
}

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall;

export class BerthClient {
  readonly raw: ControlAPIClient;

  constructor(readonly address: string) {
    const { control } = protos();
    this.raw = new control.berth.v1.ControlAPI(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  }

  private call<Req, Res>(method: Unary<Req, Res>, req: Req, timeoutMs = CALL_TIMEOUT_MS): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(this.raw, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) {
          const msg = err.code === grpc.status.UNAVAILABLE && /No connection|ECONNREFUSED|connect/i.test(err.details)
            ? `cannot reach the controller at ${this.address} (${err.details}); start one with \`berth up\` or set BERTH_CONTROLLER / --controller`
            : err.code === grpc.status.DEADLINE_EXCEEDED
              ? `the controller at ${this.address} did not answer within ${timeoutMs / 1000}s`
              : err.details || err.message;
          reject(new ApiError(err.code, msg, err.metadata));
        } else resolve(res as Res);
      });
    });
  }

  applyService(req: ApplyServiceRequest): Promise<ApplyServiceResponse__Output> {
    return this.call(this.raw.ApplyService as Unary<ApplyServiceRequest, ApplyServiceResponse__Output>, req);
  }
  getService(namespace: string, name: string): Promise<Service__Output> {
    return this.call(this.raw.GetService as Unary<{ namespace: string; name: string }, Service__Output>, { namespace, name });
  }
  async listServices(namespace = ''): Promise<Service__Output[]> {
    const r = await this.call(this.raw.ListServices as Unary<{ namespace: string }, { services: Service__Output[] }>, { namespace });
    return r.services;
  }
  async deleteService(namespace: string, name: string): Promise<Service__Output | null> {
    const r = await this.call(this.raw.DeleteService as Unary<{ namespace: string; name: string }, { service: Service__Output | null }>, { namespace, name });
    return r.service;
  }
  async listTasks(req: ListTasksRequest = {}): Promise<Task__Output[]> {
    const r = await this.call(this.raw.ListTasks as Unary<ListTasksRequest, { tasks: Task__Output[] }>, req);
    return r.tasks;
  }
  async listNodes(): Promise<Node__Output[]> {
    const r = await this.call(this.raw.ListNodes as Unary<object, { nodes: Node__Output[] }>, {});
    return r.nodes;
  }

  close(): void {
    this.raw.close();
  }
}
