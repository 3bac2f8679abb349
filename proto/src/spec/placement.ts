// Placement fields of the Service manifest: `mode` (replicated | global) and `placement`
// (strategy, constraints, spreadBy, maxPerNode, affinity, antiAffinity, rebalance). Spread into
// serviceSpecSchema (service.ts). The scheduler (controller/src/scheduler/) and the global
// orchestrator evaluate what is parsed here; docs/scheduling.md explains it to users.
import { ArraySchema, IntSchema, StringSchema, obj, optional, withDefault, type Ctx, type Infer } from './dsl.js';

export const MODES = ['replicated', 'global'] as const;
export type ServiceMode = (typeof MODES)[number];
export const STRATEGIES = ['spread', 'binpack'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** Bounded so a manifest cannot make every placement decision expensive. */
export const MAX_CONSTRAINTS = 32;
export const MAX_AFFINITY_TERMS = 16;

const LABEL_KEY_RE = /^(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** Node attributes a constraint or spreadBy can name, besides node.labels.<key>. */
export const NODE_ATTRIBUTES = ['node.id', 'node.hostname', 'node.os', 'node.arch', 'node.platform.os', 'node.platform.arch'] as const;

export interface Constraint {
  /** Canonical attribute: node.id, node.hostname, node.os, node.arch or node.labels.<key>. */
  attribute: string;
  op: '==' | '!=';
  value: string;
  /** As the user wrote it (trimmed): shown in reasons. */
  text: string;
}

/** Canonical attribute name, or an error message. */
export function parseAttribute(s: string): string | { error: string } {
  const a = s.trim();
  if (a === 'node.platform.os') return 'node.os';
  if (a === 'node.platform.arch') return 'node.arch';
  if ((NODE_ATTRIBUTES as readonly string[]).includes(a)) return a;
  if (a.startsWith('node.labels.')) {
    const key = a.slice('node.labels.'.length);
    if (LABEL_KEY_RE.test(key) && key.length <= 253) return a;
    return { error: `${JSON.stringify(key)} is not a valid label key` };
  }
  return { error: `unknown attribute ${JSON.stringify(a)}; use node.labels.<key>, ${NODE_ATTRIBUTES.join(', ')}` };
}

const CONSTRAINT_RE = /^\s*([^\s=!]+)\s*(==|!=)\s*(.*?)\s*$/;

/** `node.labels.zone == a` → Constraint, or an error message naming what is wrong. */
export function parseConstraint(s: string): Constraint | { error: string } {
  const m = CONSTRAINT_RE.exec(s);
  if (!m)
    return {
      error: `${JSON.stringify(s)} is not a constraint: write ATTRIBUTE == VALUE or ATTRIBUTE != VALUE, e.g. node.labels.zone == a`,
    };
  const attribute = parseAttribute(m[1]!);
  if (typeof attribute !== 'string') return attribute;
  let value = m[3]!;
  if (value.length >= 2 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))))
    value = value.slice(1, -1);
  if (value === '') return { error: `${JSON.stringify(s)}: the value after ${m[2]} is missing` };
  if (/[\s=!]/.test(value) && !/^["'].*["']$/.test(m[3]!))
    return { error: `${JSON.stringify(s)}: the value ${JSON.stringify(value)} contains spaces or operators; quote it` };
  return { attribute, op: m[2] as '==' | '!=', value, text: s.trim() };
}

const constraintSchema = new StringSchema({
  min: 1,
  max: 512,
  typeName: 'constraint',
  check: (s) => {
    const c = parseConstraint(s);
    return 'error' in c ? c.error : undefined;
  },
});

const attributeSchema = new StringSchema({
  min: 1,
  max: 300,
  typeName: 'node attribute',
  check: (s) => {
    const a = parseAttribute(s);
    return typeof a === 'string' ? undefined : a.error;
  },
});

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** `name` (same namespace) or `namespace/name`. */
const serviceRef = new StringSchema({
  min: 1,
  max: 127,
  typeName: 'service name',
  check: (s) => {
    const parts = s.split('/');
    if (parts.length > 2 || !parts.every((p) => DNS1123_LABEL.test(p) && p.length <= 63)) {
      return `${JSON.stringify(s)} is not a service: write NAME (same namespace) or NAMESPACE/NAME`;
    }
    return undefined;
  },
});

export const rebalanceSchema = obj({
  maxMoving: withDefault(
    new IntSchema({ min: 1, max: 1000 }),
    1,
    'Disruption budget: at most this many replicas of the service move at the same time.',
  ),
});

export const placementSchema = obj({
  strategy: withDefault(
    new StringSchema({ oneOf: STRATEGIES }),
    'spread',
    'spread: fewest replicas of this service per node, then least loaded; binpack: the most allocated node that still fits.',
  ),
  constraints: optional(
    new ArraySchema(constraintSchema, { max: MAX_CONSTRAINTS }),
    'Every one must hold on a node: `node.labels.zone == a`, `node.hostname != h3`, `node.arch == amd64` (attributes: node.id, node.hostname, node.os, node.arch, node.labels.<key>).',
  ),
  spreadBy: optional(
    attributeSchema,
    'Spread replicas evenly over the values of this node attribute first (e.g. node.labels.zone); nodes without it form one group.',
  ),
  maxPerNode: optional(new IntSchema({ min: 1, max: 10_000 }), 'At most this many replicas of the service on one node.'),
  affinity: optional(
    new ArraySchema(serviceRef, { max: MAX_AFFINITY_TERMS }),
    'Only on nodes that run a task of each of these services (NAME or NAMESPACE/NAME).',
  ),
  antiAffinity: optional(
    new ArraySchema(serviceRef, { max: MAX_AFFINITY_TERMS }),
    'Never on a node that runs a task of any of these services.',
  ),
  rebalance: optional(
    rebalanceSchema,
    'Opt in to rebalancing: when a node joins or returns, replicas move onto it (start-first, within maxMoving, only while every replica runs). Spread strategy only.',
  ),
}).refine((p, path, ctx) => {
  if (p.strategy === 'binpack' && p.spreadBy !== undefined)
    ctx.add(`${path}.spreadBy`, 'spreadBy needs strategy spread (binpack fills nodes instead of spreading)');
  if (p.strategy === 'binpack' && p.rebalance !== undefined)
    ctx.add(`${path}.rebalance`, 'rebalance needs strategy spread (binpack keeps replicas together)');
});

export type Placement = Infer<typeof placementSchema>;

/** The fields spread into serviceSpecSchema. */
export const placementFields = {
  mode: optional(
    new StringSchema({ oneOf: MODES }),
    'replicated (default): `replicas` copies; global: one task on every eligible node, following nodes as they join, leave or change labels.',
  ),
  placement: optional(placementSchema, 'Where replicas may run and how they are spread (docs/scheduling.md).'),
};

/** Cross-field rules of the placement fields against the rest of the spec. */
export function checkPlacementSpec(spec: { mode?: string; replicas: number; placement?: Placement }, path: string, ctx: Ctx): void {
  if (spec.mode === 'global') {
    if (spec.replicas !== 1) ctx.add(`${path}.replicas`, 'must not be set with mode: global (one task runs on every eligible node)');
    if (spec.placement?.maxPerNode !== undefined)
      ctx.add(`${path}.placement.maxPerNode`, 'does not apply to mode: global (one task per node)');
    if (spec.placement?.spreadBy !== undefined) ctx.add(`${path}.placement.spreadBy`, 'does not apply to mode: global (one task per node)');
    if (spec.placement?.rebalance !== undefined)
      ctx.add(`${path}.placement.rebalance`, 'does not apply to mode: global (one task per node)');
  }
}

/** Mode of a spec ('replicated' when absent). */
export function modeOf(spec: { mode?: string }): ServiceMode {
  return spec.mode === 'global' ? 'global' : 'replicated';
}
