// The local engine as `berth up` uses it: the busybox image made ready, and the containers of its
// node removed when it stops. dockerode stays in local/ (lint): the commands see only this.
import { LABEL_MANAGED, LABEL_NODE } from '../../../proto/src/labels.js';
import { ensureBusyboxImage, LOCAL_IMAGE } from './image.js';

export interface LocalEngine {
  readonly socket: string;
  /** Imports the local busybox image unless the engine has it; returns its name. */
  ensureImage(): Promise<string>;
  /** Removes (forced) every Berth container of the node; returns how many there were. */
  removeNodeContainers(nodeId: string): Promise<number>;
}

export async function connectEngine(socket: string): Promise<LocalEngine> {
  const docker = new (await import('dockerode')).default({ socketPath: socket });
  return {
    socket,
    ensureImage: async () => {
      await ensureBusyboxImage(docker);
      return LOCAL_IMAGE;
    },
    removeNodeContainers: async (nodeId) => {
      const leftovers = await docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_NODE}=${nodeId}`] },
      });
      for (const c of leftovers)
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
      return leftovers.length;
    },
  };
}
