// Test images beyond the imported busybox: `docker import` cannot set a HEALTHCHECK, so an image
// with one is committed from a container of the busybox image, its config given in the body of
// the engine's commit call (POST /commit with a container config, as `docker commit` sends it).
import type Docker from 'dockerode';
import { LOCAL_IMAGE } from '../../cli/src/local/image.js';

/** Docker measures health check durations in nanoseconds. */
const NS_PER_MS = 1_000_000;

export interface ImageHealthcheck {
  /** As in a Dockerfile's HEALTHCHECK CMD-SHELL. */
  shell: string;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
}

/** Commits `ref` from the busybox image with this CMD and HEALTHCHECK (unless the engine has it). */
export async function ensureImageWithHealthcheck(docker: Docker, ref: string, cmd: string[], hc: ImageHealthcheck): Promise<void> {
  try {
    await docker.getImage(ref).inspect();
    return;
  } catch {
    /* build it */
  }
  const [repo, tag] = ref.split(':') as [string, string];
  const c = await docker.createContainer({ Image: LOCAL_IMAGE, Cmd: cmd });
  try {
    await c.commit({
      _query: { container: c.id, repo, tag, comment: 'berth test image with a HEALTHCHECK' },
      _body: {
        Cmd: cmd,
        Healthcheck: {
          Test: ['CMD-SHELL', hc.shell],
          Interval: hc.intervalMs * NS_PER_MS,
          Timeout: hc.timeoutMs * NS_PER_MS,
          Retries: hc.retries,
        },
      },
    });
  } finally {
    await c.remove({ force: true });
  }
  const img = await docker.getImage(ref).inspect();
  if (!img.Config.Healthcheck?.Test?.includes(hc.shell))
    throw new Error(`${ref} was committed without its HEALTHCHECK: ${JSON.stringify(img.Config.Healthcheck)}`);
}
