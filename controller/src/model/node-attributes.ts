// PURE node attributes: what constraints and spreadBy look at (id, hostname, os, arch, labels),
// how a constraint is judged on a node, and which nodes a global service belongs on. The
// scheduler, the global orchestrator and `berth plan` judge placement with these same rules.
import type { NodeRecord, ServiceRecord } from '../../../proto/src/model.js';
import { parseConstraint, type Constraint } from '../../../proto/src/spec/placement.js';

/** What constraints and spreadBy can look at. */
export interface NodeAttributes {
  id: string;
  hostname?: string | undefined;
  os?: string | undefined;
  arch?: string | undefined;
  labels?: Readonly<Record<string, string>> | undefined;
}

/** A node's labels as placement sees them: the agent's own, overridden by the operator's. */
export function effectiveLabels(n: NodeRecord): Record<string, string> {
  return { ...n.description.labels, ...n.labels };
}

export function attributesOf(node: NodeRecord): NodeAttributes {
  return {
    id: node.id,
    hostname: node.description.hostname,
    os: node.description.os,
    arch: node.description.arch,
    labels: effectiveLabels(node),
  };
}

/** Value of a node attribute (constraints, spreadBy); undefined when the node lacks it. */
export function nodeAttribute(n: NodeAttributes, attribute: string): string | undefined {
  switch (attribute) {
    case 'node.id':
      return n.id;
    case 'node.hostname':
      return n.hostname;
    case 'node.os':
      return n.os;
    case 'node.arch':
      return n.arch;
    default:
      return attribute.startsWith('node.labels.') ? n.labels?.[attribute.slice('node.labels.'.length)] : undefined;
  }
}

export function constraintHolds(n: NodeAttributes, c: Constraint): boolean {
  const v = nodeAttribute(n, c.attribute);
  return c.op === '==' ? v === c.value : v !== c.value;
}

/** The service's placement constraints (validated at the API edge; unparsable ones are skipped). */
export function constraintsOf(svc: ServiceRecord): Constraint[] {
  return (svc.spec.placement?.constraints ?? []).map((s) => parseConstraint(s)).filter((c): c is Constraint => !('error' in c));
}

/** Whether the node meets every constraint. */
export function meetsConstraints(node: NodeRecord, constraints: readonly Constraint[]): boolean {
  const view = attributesOf(node);
  return constraints.every((c) => constraintHolds(view, c));
}

/** The nodes on which a global service should have a task now (ready, active, constraints met). */
export function eligibleNodes(svc: ServiceRecord, nodes: readonly NodeRecord[]): NodeRecord[] {
  const cs = constraintsOf(svc);
  return nodes.filter((n) => n.state === 'ready' && n.availability === 'active' && meetsConstraints(n, cs));
}

/**
 * A node ready again: what its outage recorded (last contact, an exited agent) no longer holds.
 * Both writers of `ready` (the node lifecycle, the Dispatcher's register) call this, so a field
 * added to the outage is cleared in one place.
 */
export function clearOutage(node: NodeRecord): void {
  delete node.lastContactMs;
  delete node.agentExited;
}
