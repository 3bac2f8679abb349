// Image pulls of one node: one pull per image at a time, shared by every task that waits for it,
// so 50 replicas landing on a node cost one download. Pull policy decides whether to pull at all.
import type { PullPolicy } from '../../proto/src/spec/lifecycle.js';
import { EngineUnavailableError, type ContainerRuntime, type PullAuth } from './runtime/runtime.js';

/** The image cannot be had on this node (yet): the task retries with backoff, nothing is wasted. */
export class ImageUnavailableError extends Error {
  override readonly name = 'ImageUnavailableError';
}

export class ImagePuller {
  private inflight = new Map<string, Promise<void>>();

  constructor(private readonly runtime: ContainerRuntime) {}

  /**
   * Makes `ref` present per policy. Throws ImageUnavailableError (pull refused, or missing with
   * policy never) or EngineUnavailableError.
   */
  async ensure(ref: string, policy: PullPolicy, auth: PullAuth | undefined, onPull?: () => void): Promise<void> {
    if (policy !== 'always' && (await this.runtime.hasImage(ref))) return;
    if (policy === 'never') throw new ImageUnavailableError(`image ${ref} is not on this node and pullPolicy is never`);
    // Tasks pulling with other credentials do not share a pull: each proves its own access.
    const key = `${ref}\u0000${auth?.server ?? ''}\u0000${auth?.username ?? ''}\u0000${auth?.password ?? ''}`;
    let p = this.inflight.get(key);
    if (!p) {
      onPull?.();
      p = this.runtime.pullImage(ref, undefined, auth).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    } else onPull?.();
    try {
      await p;
    } catch (err) {
      if (err instanceof EngineUnavailableError) throw err;
      throw new ImageUnavailableError(`pull of ${ref} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
