// The node's image puller: one pull per image shared by its waiters, and each pull counted once
// by how it ended (berth_agent_image_pulls_total).
import { describe, expect, it } from 'vitest';
import { ImagePuller, ImageUnavailableError, PullAbandonedError, type PullOutcome } from '../../agent/src/images.js';
import { FakeRuntime } from './fake-runtime.js';

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

function puller(rt: FakeRuntime): { p: ImagePuller; outcomes: PullOutcome[] } {
  const outcomes: PullOutcome[] = [];
  return { p: new ImagePuller(rt, (o) => outcomes.push(o)), outcomes };
}

describe('ImagePuller outcomes', () => {
  it('two waiters of one image share one pull, counted once as pulled; a present image is not pulled', async () => {
    const rt = new FakeRuntime();
    const { p, outcomes } = puller(rt);
    await Promise.all([p.ensure('a:1', 'ifNotPresent', undefined), p.ensure('a:1', 'ifNotPresent', undefined)]);
    await p.ensure('a:1', 'ifNotPresent', undefined);
    await settle();
    expect(rt.calls.filter((c) => c.op === 'pullImage')).toHaveLength(1);
    expect(outcomes).toEqual(['pulled']);
  });

  it('a pull the engine fails is counted failed, and the waiter gets ImageUnavailableError', async () => {
    const rt = new FakeRuntime();
    rt.pullError = new Error('manifest unknown');
    const { p, outcomes } = puller(rt);
    await expect(p.ensure('b:1', 'ifNotPresent', undefined)).rejects.toBeInstanceOf(ImageUnavailableError);
    await settle();
    expect(outcomes).toEqual(['failed']);
  });

  it('a hanging pull whose last waiter leaves is aborted and counted abandoned, not failed', async () => {
    const rt = new FakeRuntime();
    rt.pullsHang = true;
    const { p, outcomes } = puller(rt);
    const a = new AbortController();
    const b = new AbortController();
    const first = p.ensure('c:1', 'ifNotPresent', undefined, undefined, a.signal);
    const second = p.ensure('c:1', 'ifNotPresent', undefined, undefined, b.signal);
    await settle();
    a.abort();
    await expect(first).rejects.toBeInstanceOf(PullAbandonedError);
    await settle();
    expect(rt.abortedPulls).toEqual([]); // one waiter is left: the pull goes on
    expect(outcomes).toEqual([]);
    b.abort();
    await expect(second).rejects.toBeInstanceOf(PullAbandonedError);
    await settle();
    expect(rt.abortedPulls).toEqual(['c:1']);
    expect(outcomes).toEqual(['abandoned']);
  });
});
