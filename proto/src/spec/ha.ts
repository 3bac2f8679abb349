// Spec fields of failure handling (issue 6): what happens to a replica when its node is lost.
import { StringSchema, withDefault } from './dsl.js';

/** The two behaviours on node loss; see docs/reliability.md. */
export const NODE_LOSS_MODES = ['replace', 'waitForNode'] as const;
export type NodeLossMode = (typeof NODE_LOSS_MODES)[number];

export const nodeLossFields = {
  onNodeLoss: withDefault(
    new StringSchema({ oneOf: NODE_LOSS_MODES }),
    'replace',
    'What happens to a replica whose node is lost. `replace` (at least once): after the node has been ' +
      'down for the grace period a replacement starts elsewhere; the old copy is stopped and removed when the ' +
      "node returns. `waitForNode` (at most once): never two copies of a slot; the node's agent stops the " +
      'copy by itself once it has lost the controller for the fencing time (controller flag --fence-after), ' +
      'and the controller starts a replacement only after that time plus a margin.',
  ),
};

export function nodeLossMode(spec: { onNodeLoss?: string }): NodeLossMode {
  return spec.onNodeLoss === 'waitForNode' ? 'waitForNode' : 'replace';
}
