// A promise-based RolloutAPI client for the CLI and tests (rollouts and registry credentials).
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as RolloutProto } from '../../proto/gen/rollout.js';
import type { RolloutAPIClient } from '../../proto/gen/berth/v1/RolloutAPI.js';
import type { RolloutStatus__Output } from '../../proto/gen/berth/v1/RolloutStatus.js';
import type { ListRevisionsResponse__Output } from '../../proto/gen/berth/v1/ListRevisionsResponse.js';
import type { UndoRolloutResponse__Output } from '../../proto/gen/berth/v1/UndoRolloutResponse.js';
import type { RegistryCredential__Output } from '../../proto/gen/berth/v1/RegistryCredential.js';
import type { SetRegistryCredentialRequest } from '../../proto/gen/berth/v1/SetRegistryCredentialRequest.js';
import type { ServiceWatchEvent__Output } from '../../proto/gen/berth/v1/ServiceWatchEvent.js';
import { stuckNote } from '../../proto/src/convergence.js';
import { ApiClient, type ClientTransport } from './client.js';

export class RolloutClient extends ApiClient {
  readonly raw: RolloutAPIClient;

  constructor(address: string, transport?: ClientTransport) {
    super(address, transport);
    this.raw = this.open(loadProto<RolloutProto>('rollout').berth.v1.RolloutAPI);
  }

  get(namespace: string, name: string): Promise<RolloutStatus__Output> {
    return this.call((md, o, cb) => this.raw.GetRollout({ namespace, name }, md, o, cb));
  }
  history(namespace: string, name: string): Promise<ListRevisionsResponse__Output> {
    return this.call((md, o, cb) => this.raw.ListRevisions({ namespace, name }, md, o, cb));
  }
  undo(namespace: string, name: string, toRevision = 0): Promise<UndoRolloutResponse__Output> {
    return this.call((md, o, cb) => this.raw.UndoRollout({ namespace, name, toRevision }, md, o, cb));
  }
  restart(namespace: string, name: string): Promise<RolloutStatus__Output> {
    return this.call((md, o, cb) => this.raw.RestartRollout({ namespace, name }, md, o, cb));
  }
  pause(namespace: string, name: string): Promise<RolloutStatus__Output> {
    return this.call((md, o, cb) => this.raw.PauseRollout({ namespace, name }, md, o, cb));
  }
  resume(namespace: string, name: string): Promise<RolloutStatus__Output> {
    return this.call((md, o, cb) => this.raw.ResumeRollout({ namespace, name }, md, o, cb));
  }
  setCredential(req: SetRegistryCredentialRequest): Promise<RegistryCredential__Output> {
    return this.call((md, o, cb) => this.raw.SetRegistryCredential(req, md, o, cb));
  }
  async listCredentials(namespace = ''): Promise<RegistryCredential__Output[]> {
    return (
      await this.call<{ credentials: RegistryCredential__Output[] }>((md, o, cb) =>
        this.raw.ListRegistryCredentials({ namespace }, md, o, cb),
      )
    ).credentials;
  }
  async deleteCredential(namespace: string, name: string): Promise<void> {
    await this.call((md, o, cb) => this.raw.DeleteRegistryCredential({ namespace, name }, md, o, cb));
  }

  /**
   * Streams the rollout's status until it is over (resolves with the last status), the signal
   * aborts, or the stream fails (rejects with ApiError).
   */
  watch(
    namespace: string,
    name: string,
    onStatus: (s: RolloutStatus__Output) => void,
    signal?: AbortSignal,
  ): Promise<RolloutStatus__Output | undefined> {
    return new Promise((resolve, reject) => {
      let last: RolloutStatus__Output | undefined;
      const stream = this.raw.WatchRollout({ namespace, name });
      const onAbort = (): void => stream.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (s: RolloutStatus__Output) => {
        last = s;
        onStatus(s);
      });
      stream.on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(last);
      });
      stream.on('error', (err: grpc.ServiceError) => {
        signal?.removeEventListener('abort', onAbort);
        if (err.code === grpc.status.CANCELLED) resolve(last);
        else reject(this.streamError(err));
      });
    });
  }

  /**
   * Streams the service, its tasks and its rollout (WatchService) until the service is deleted
   * (resolves), the signal aborts (resolves), or the stream fails (rejects with ApiError).
   */
  watchService(namespace: string, name: string, onStep: (s: ServiceWatchEvent__Output) => void, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return resolve();
      const stream = this.raw.WatchService({ namespace, name });
      const onAbort = (): void => stream.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('data', onStep);
      stream.on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      stream.on('error', (err: grpc.ServiceError) => {
        signal?.removeEventListener('abort', onAbort);
        if (err.code === grpc.status.CANCELLED) resolve();
        else reject(this.streamError(err));
      });
    });
  }
}

/** One line for a person: "revision 3 updating: 4/10 updated, 9 ready, 6 outdated — rolling out revision 3". */
export function describeRollout(s: RolloutStatus__Output): string {
  const failed = s.failedSlots.length > 0 ? `, ${s.failedSlots.length} failed` : '';
  const stuck = stuckNote(s);
  return `revision ${s.revision} ${s.state}: ${s.updated}/${s.replicas} updated, ${s.ready} ready, ${s.outdated} outdated${failed} — ${stuck ?? s.message}`;
}

/** A rollout that ended well: completed (not paused, not rolled back). */
export function rolloutSucceeded(s: RolloutStatus__Output): boolean {
  return s.state === 'completed';
}
