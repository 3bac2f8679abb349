// Loads the berth.v1 protos at run time with @grpc/proto-loader and exposes the service
// definitions and client constructors, typed by the generated code in proto/gen.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as ControlProto } from '../gen/control.js';
import type { ProtoGrpcType as DispatcherProto } from '../gen/dispatcher.js';

/**
 * Metadata key of the Dispatcher: a follower controller that refuses an agent's session names the
 * leader's address under it, and the agent reconnects there.
 */
export const LEADER_METADATA = 'berth-leader-address';

/** Must match the flags proto/gen.mjs passes to proto-loader-gen-types. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The folder that holds berth/v1/*.proto, found from this file (source or dist). */
function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto', 'berth', 'v1', 'objects.proto');
    if (existsSync(candidate)) return join(dir, 'proto');
    if (existsSync(join(dir, 'berth', 'v1', 'objects.proto'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find proto/berth/v1 from ' + fileURLToPath(import.meta.url));
}

const loaded = new Map<string, unknown>();

/**
 * Loads one proto file of berth/v1 (e.g. 'control') and returns its package tree, typed by the
 * ProtoGrpcType generated for that file (proto/gen/<file>.ts).
 */
export function loadProto<T>(file: string): T {
  let pkg = loaded.get(file);
  if (!pkg) {
    const root = protoRoot();
    pkg = grpc.loadPackageDefinition(protoLoader.loadSync(`berth/v1/${file}.proto`, { ...LOADER_OPTIONS, includeDirs: [root] }));
    loaded.set(file, pkg);
  }
  return pkg as T;
}

export function protos(): { control: ControlProto; dispatcher: DispatcherProto } {
  return { control: loadProto<ControlProto>('control'), dispatcher: loadProto<DispatcherProto>('dispatcher') };
}

/** Largest message either side accepts (manifests are limited to 1 MiB; full assignment sets can be large). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  // Keepalive pings find a dead peer behind a silent link; the session's own heartbeats do the
  // same at the application level.
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
};
