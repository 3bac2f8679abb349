// Image pulls of one node: one pull per image at a time, shared by every task that waits for it,
// so 50 replicas landing on a node cost one download. Pull policy decides whether to pull at all.
// A task that stops waiting (its service was deleted, a newer revision replaced it) leaves the
// shared pull; the pull itself is aborted when nobody waits for it any more.
import type { PullPolicy } from '../../proto/src/spec/lifecycle.js';
import { EngineUnavailableError, type ContainerRuntime, type PullAuth } from './runtime/runtime.js';

/** The image cannot be had on this node (yet): the task retries with backoff, nothing is wasted. */
export class ImageUnavailableError extends Error {
  override readonly name = 'ImageUnavailableError';
}

/** The waiting task no longer wants the image (its signal aborted). */
export class PullAbandonedError extends Error {
  override readonly name = 'PullAbandonedError';
}

interface SharedPull {
  done: Promise<void>;
  abort: AbortController;
  waiters: number;
}

/** How a pull this node started ended: the image arrived, the engine failed it, or nobody waited for it any more. */
export type PullOutcome = 'pulled' | 'failed' | 'abandoned';

export class ImagePuller {
  private inflight = new Map<string, SharedPull>();

  constructor(
    private readonly runtime: ContainerRuntime,
    /** Told once per pull started, when it ends (the agent counts them: berth_agent_image_pulls_total). */
    private readonly onOutcome?: (outcome: PullOutcome) => void,
  ) {}

  /**
   * Makes `ref` present per policy. Throws ImageUnavailableError (pull refused, or missing with
   * policy never), EngineUnavailableError, or PullAbandonedError once `signal` aborts.
   */
  async ensure(ref: string, policy: PullPolicy, auth: PullAuth | undefined, onPull?: () => void, signal?: AbortSignal): Promise<void> {
    if (policy !== 'always' && (await this.runtime.hasImage(ref))) return;
    if (policy === 'never') throw new ImageUnavailableError(`image ${ref} is not on this node and pullPolicy is never`);
    if (signal?.aborted) throw new PullAbandonedError(`pull of ${ref} no longer wanted`);
    // Tasks pulling with other credentials do not share a pull: each proves its own access.
    const key = `${ref}\u0000${auth?.server ?? ''}\u0000${auth?.username ?? ''}\u0000${auth?.password ?? ''}`;
    let p = this.inflight.get(key);
    if (!p) {
      const abort = new AbortController();
      const done = this.runtime.pullImage(ref, abort.signal, auth).finally(() => this.inflight.delete(key));
      // Every waiter sees the outcome; an abandoned pull's is nobody's, but it is counted.
      done.then(
        () => this.onOutcome?.('pulled'),
        () => this.onOutcome?.(abort.signal.aborted ? 'abandoned' : 'failed'),
      );
      p = { done, abort, waiters: 0 };
      this.inflight.set(key, p);
    }
    onPull?.();
    p.waiters++;
    try {
      await (signal ? untilAborted(p.done, signal) : p.done);
    } catch (err) {
      if (signal?.aborted) throw new PullAbandonedError(`pull of ${ref} no longer wanted`);
      if (err instanceof EngineUnavailableError) throw err;
      throw new ImageUnavailableError(`pull of ${ref} failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      p.waiters--;
      if (p.waiters === 0 && signal?.aborted) {
        this.inflight.delete(key);
        p.abort.abort();
      }
    }
  }
}

/** `p`, or a rejection as soon as `signal` aborts. */
function untilAborted(p: Promise<void>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(new PullAbandonedError('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
