// The CLI's gRPC clients share one base, ApiClient: one deadline per unary call, and every failed
// call or stream mapped once by toApiError, so every command words an unreachable controller,
// a timeout or a refusal the same way. BerthClient (ControlAPI) is the client most commands use;
// ManageClient, NodeClient and SecretClient extend it, RolloutClient and ObserveClient extend the
// base.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  channelCredentials,
  CredentialSource,
  expectController,
  TLS_CHANNEL_OPTIONS,
  type Transport,
} from '../../proto/src/security/tls.js';
import type { Credentials } from '../../proto/src/security/pki.js';
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
  constructor(
    readonly code: grpc.status,
    message: string,
    readonly metadata?: grpc.Metadata,
  ) {
    super(message);
  }
}

/** The controller could not be reached or did not answer in time (exit 3; worth retrying). */
export function isUnreachable(err: unknown): boolean {
  return err instanceof ApiError && (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED);
}

/**
 * The channel's own failures (the controller was not reached), as grpc-js words them; an
 * UNAVAILABLE the controller answered with a reason ("etcd unavailable: ...", "the agent on h1
 * cannot be reached (connect ECONNREFUSED ...)", "event stream unavailable: ...") is not one.
 */
const CHANNEL_FAILURE = /^(No connection established|connect ECONNREFUSED|Failed to connect|Connection dropped)/i;

/** A failed call as an ApiError with a message a person can act on (every CLI client uses it). */
export function toApiError(err: grpc.ServiceError, address: string, timeoutMs = CALL_TIMEOUT_MS): ApiError {
  const msg =
    err.code === grpc.status.UNAVAILABLE && CHANNEL_FAILURE.test(err.details ?? '')
      ? `cannot reach the controller at ${address} (${err.details}); start one with \`berth up\` or set BERTH_CONTROLLER / --controller`
      : err.code === grpc.status.DEADLINE_EXCEEDED
        ? `the controller at ${address} did not answer within ${timeoutMs / 1000}s`
        : err.details || err.message;
  return new ApiError(err.code, msg, err.metadata);
}

/**
 * How a client reaches the controller: mTLS with an operator's credential, plaintext against an
 * --insecure-dev cluster, or neither (no credential found: every call fails saying what to do).
 */
export type ClientTransport = Transport | { kind: 'ca-only'; caPem: string } | { kind: 'none'; hint: string };

let resolver: (() => ClientTransport | undefined) | undefined;
let resolved: ClientTransport | undefined;

/**
 * How clients given no transport find theirs (the CLI sets it from --insecure-dev, the
 * environment and the context); asked once, when the first client opens.
 */
export function setTransportResolver(r: () => ClientTransport | undefined): void {
  resolver = r;
  resolved = undefined;
}

/** BERTH_INSECURE_DEV=1 or BERTH_CREDENTIALS=DIR (ca.pem, cert.pem, key.pem), else none. */
export function transportFromEnv(env: NodeJS.ProcessEnv = process.env): ClientTransport | undefined {
  if (env['BERTH_INSECURE_DEV'] === '1' || env['BERTH_INSECURE_DEV'] === 'true') return { kind: 'insecure' };
  const dir = env['BERTH_CREDENTIALS'];
  if (dir) return { kind: 'tls', source: new CredentialSource(readCredentialDir(dir, 'BERTH_CREDENTIALS')) };
  return undefined;
}

/** A credential folder (ca.pem, cert.pem, key.pem); a key other users can read is refused. */
export function readCredentialDir(dir: string, what: string): Credentials {
  const read = (f: string, secret: boolean): string => {
    const path = join(dir, f);
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch {
      throw new ApiError(
        grpc.status.UNAUTHENTICATED,
        `${what}: ${path} is missing (a credential folder holds ca.pem, cert.pem and key.pem)`,
      );
    }
    if (secret && (mode & 0o077) !== 0)
      throw new ApiError(
        grpc.status.UNAUTHENTICATED,
        `${what}: ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
      );
    return readFileSync(path, 'utf8');
  };
  return { caPem: read('ca.pem', false), certPem: read('cert.pem', false), keyPem: read('key.pem', true) };
}

function currentTransport(): ClientTransport {
  resolved ??= resolver?.();
  return (
    resolved ??
    transportFromEnv() ?? {
      kind: 'none',
      hint: 'no credential: log in with `berth login --token TOKEN --controller HOST:PORT`, set BERTH_CREDENTIALS, or pass --insecure-dev for a development cluster',
    }
  );
}

type Unary<Res> = (md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => void;

/**
 * Base of every CLI client: the address, the stubs it opened (closed together), unary calls with
 * a deadline and stream errors, all mapped by toApiError.
 */
export abstract class ApiClient {
  private readonly stubs: grpc.Client[] = [];
  readonly transport: ClientTransport;

  constructor(
    readonly address: string,
    transport?: ClientTransport,
  ) {
    this.transport = transport ?? currentTransport();
  }

  /** A stub of one API at this client's address (same credentials and channel options), closed with it. */
  protected open<C extends grpc.Client>(
    Stub: new (address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions) => C,
  ): C {
    const t = this.transport;
    if (t.kind === 'none') throw new ApiError(grpc.status.UNAUTHENTICATED, t.hint);
    const stub = new Stub(this.address, channelCredentials(t, expectController), {
      ...CHANNEL_OPTIONS,
      ...(t.kind === 'tls' ? TLS_CHANNEL_OPTIONS : {}),
    });
    this.stubs.push(stub);
    return stub;
  }

  /** Runs one unary call with a deadline; errors become ApiError with a readable message. */
  protected call<Res>(invoke: Unary<Res>, timeoutMs = CALL_TIMEOUT_MS): Promise<Res> {
    return new Promise((resolve, reject) => {
      invoke(new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(toApiError(err, this.address, timeoutMs));
        else resolve(res as Res);
      });
    });
  }

  /** The ApiError of a failed stream (server, client or bidi) of this client. */
  streamError(err: grpc.ServiceError): ApiError {
    return toApiError(err, this.address);
  }

  close(): void {
    for (const s of this.stubs.splice(0).reverse()) s.close();
  }
}

export class BerthClient extends ApiClient {
  readonly raw: ControlAPIClient;

  constructor(address: string, transport?: ClientTransport) {
    super(address, transport);
    const { control } = protos();
    this.raw = this.open(control.berth.v1.ControlAPI);
  }

  applyService(req: ApplyServiceRequest): Promise<ApplyServiceResponse__Output> {
    return this.call((md, o, cb) => this.raw.ApplyService(req, md, o, cb));
  }
  getService(namespace: string, name: string): Promise<Service__Output> {
    return this.call((md, o, cb) => this.raw.GetService({ namespace, name }, md, o, cb));
  }
  async listServices(namespace = ''): Promise<Service__Output[]> {
    return (await this.call<{ services: Service__Output[] }>((md, o, cb) => this.raw.ListServices({ namespace }, md, o, cb))).services;
  }
  async deleteService(namespace: string, name: string): Promise<Service__Output | null> {
    return (await this.call<{ service: Service__Output | null }>((md, o, cb) => this.raw.DeleteService({ namespace, name }, md, o, cb)))
      .service;
  }
  async listTasks(req: ListTasksRequest = {}): Promise<Task__Output[]> {
    return (await this.call<{ tasks: Task__Output[] }>((md, o, cb) => this.raw.ListTasks(req, md, o, cb))).tasks;
  }
  async listNodes(): Promise<Node__Output[]> {
    return (await this.call<{ nodes: Node__Output[] }>((md, o, cb) => this.raw.ListNodes({}, md, o, cb))).nodes;
  }
}
