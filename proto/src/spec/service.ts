// The Service manifest: the one schema behind validation, defaults, the stored canonical form and
// docs/manifest.md. Add a field here and every consumer (API validation, `berth diff`, the docs
// generator and the agent's container mapping) sees it.
import {
  ArraySchema,
  Ctx,
  INVALID,
  IntSchema,
  MapSchema,
  StringSchema,
  UnitSchema,
  duration,
  obj,
  optional,
  port,
  required,
  withDefault,
  type Infer,
  type Issue,
} from './dsl.js';
import { formatBytes, formatCpu, parseBytes, parseCpu } from './units.js';
import { nodeLossFields } from './ha.js';
import { ROLLOUT_ONLY_FIELDS, lifecycleFields } from './lifecycle.js';
import { checkMetricsPort, observabilityFields } from './observability.js';
import { checkPlacementSpec, placementFields } from './placement.js';
import { argList, CONTAINER_RULES, containerFields, refineContainer } from './container.js';

export const API_VERSION = 'berth.dev/v1';
/** Bounded so a typo (replicas: 1000000) cannot flood the cluster. */
export const MAX_REPLICAS = 10_000;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const dnsLabel = (): StringSchema =>
  new StringSchema({
    min: 1,
    max: 63,
    pattern: DNS1123_LABEL,
    patternHint: 'use lowercase letters, digits and "-", starting and ending with a letter or digit (DNS-1123 label)',
    typeName: 'DNS-1123 label',
  });

// Docker image reference: [registry[:port]/]path[:tag][@sha256:digest]
const IMAGE_RE =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const image = new StringSchema({
  min: 1,
  max: 255,
  pattern: IMAGE_RE,
  patternHint: 'expected an image reference such as registry:5000/team/web:1.2 (lowercase repository, optional tag and @sha256 digest)',
  typeName: 'image reference',
});

const LABEL_KEY_RE = /^(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const labels = (): MapSchema<string> =>
  new MapSchema(
    new StringSchema({
      min: 1,
      max: 253,
      pattern: LABEL_KEY_RE,
      patternHint: 'label keys are [prefix/]name with letters, digits, "-", "_" and "."',
      typeName: 'label key',
    }),
    new StringSchema({ max: 253, coerceScalars: true, check: noControlChars }),
    { max: 64 },
  );

function noControlChars(s: string): string | undefined {
  return /[\u0000-\u0008\u000b-\u001f\u007f]/.test(s) ? 'must not contain control characters' : undefined;
}

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const env = new MapSchema(
  new StringSchema({
    min: 1,
    max: 255,
    pattern: ENV_NAME_RE,
    patternHint: 'environment variable names are letters, digits and "_" (not starting with a digit)',
    typeName: 'variable name',
  }),
  new StringSchema({ max: 32 * 1024, coerceScalars: true, check: (s) => (s.includes('\u0000') ? 'must not contain NUL' : undefined) }),
  { max: 1000 },
);

const IP_RE = /^(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])$|^[0-9a-fA-F:]+$/;

export const portSchema = obj({
  containerPort: required(port(), 'Port inside the container.'),
  hostPort: optional(port(), 'Port on the node. Omitted: the engine assigns a free one (see `berth get tasks`).'),
  protocol: withDefault(new StringSchema({ oneOf: ['tcp', 'udp'] as const }), 'tcp', 'Transport protocol.'),
  hostIP: optional(
    new StringSchema({ pattern: IP_RE, patternHint: 'expected an IPv4 or IPv6 address', typeName: 'IP address' }),
    "Node address to bind; default all of the engine's default addresses.",
  ),
});

const memory = (): UnitSchema => new UnitSchema('size', parseBytes, formatBytes, { min: 0, max: 2 ** 50 });
const cpu = (): UnitSchema => new UnitSchema('CPUs', parseCpu, formatCpu, { min: 0, max: 1024 * 1000 });

export const resourcesSchema = obj({
  cpu: withDefault(cpu(), 0, 'CPUs reserved for each replica: the scheduler places it only where this much is unreserved.'),
  memory: withDefault(memory(), 0, 'Memory reserved for each replica (e.g. 64Mi).'),
  limits: optional(
    obj({
      cpu: optional(cpu(), 'CPU limit enforced by the engine (cgroup CPU quota).'),
      memory: optional(memory(), 'Memory limit enforced by the engine; the container is killed above it.'),
    }),
    'Hard limits enforced by the engine.',
  ),
}).refine((r, path, ctx) => {
  if (r.limits?.cpu !== undefined && r.limits.cpu > 0 && r.limits.cpu < r.cpu)
    ctx.add(`${path}.limits.cpu`, 'must not be below the reservation resources.cpu');
  if (r.limits?.memory !== undefined && r.limits.memory > 0 && r.limits.memory < r.memory)
    ctx.add(`${path}.limits.memory`, 'must not be below the reservation resources.memory');
  if (r.limits?.memory !== undefined && r.limits.memory > 0 && r.limits.memory < 6 * 2 ** 20)
    ctx.add(`${path}.limits.memory`, 'must be at least 6Mi (the engine refuses less)');
}, 'A limit (when not 0) is at least its reservation; a memory limit is at least 6Mi.');

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGKILL', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGPWR', 'SIGSTOP'] as const;
const signal = new StringSchema({
  typeName: 'signal name',
  check: (s) =>
    SIGNALS.includes(s as (typeof SIGNALS)[number]) ? undefined : `unknown signal ${JSON.stringify(s)}; use one of ${SIGNALS.join(', ')}`,
});

export const stopSchema = obj({
  signal: withDefault(signal, 'SIGTERM', `Signal sent to stop the container: ${SIGNALS.join(', ')}.`),
  gracePeriod: withDefault(duration({ min: 0, max: 3_600_000 }), '10s', 'Time between the stop signal and SIGKILL.'),
});

export const serviceSpecSchema = obj({
  image: required(image, 'Image to run. An image already on the engine is used as it is; a missing one is pulled.'),
  replicas: withDefault(new IntSchema({ min: 0, max: MAX_REPLICAS }), 1, `Number of copies (0–${MAX_REPLICAS}).`),
  entrypoint: optional(
    argList(),
    "Replaces the image's ENTRYPOINT (`docker run --entrypoint`, Compose `entrypoint`, Kubernetes `command`). Docker then also drops the image's CMD.",
  ),
  command: optional(
    argList(),
    "Replaces the image's CMD, the words after the entrypoint (`docker run IMAGE COMMAND…`, Compose `command`, Kubernetes `args`).",
  ),
  env: optional(env, 'Environment variables.'),
  ports: optional(new ArraySchema(portSchema, { max: 100 }), 'Published ports.'),
  resources: withDefault(resourcesSchema, {}, 'Reservations (for placement) and limits (enforced by the engine).'),
  stop: withDefault(stopSchema, {}, 'How containers are stopped.'),
  ...nodeLossFields,
  ...lifecycleFields,
  ...placementFields,
  ...containerFields,
  ...observabilityFields,
})
  .refine(checkMetricsPort)
  .refine((spec, path, ctx) => {
    checkPlacementSpec(spec, path, ctx);
    const seenContainer = new Map<string, number>();
    const seenHost = new Map<string, number>();
    (spec.ports ?? []).forEach((p, i) => {
      const ck = `${p.containerPort}/${p.protocol}`;
      const prev = seenContainer.get(ck);
      if (prev !== undefined) ctx.add(`${path}.ports[${i}].containerPort`, `${ck} is already published by ports[${prev}]`);
      seenContainer.set(ck, i);
      if (p.hostPort !== undefined) {
        const hk = `${p.hostIP ?? '*'}:${p.hostPort}/${p.protocol}`;
        const prevH = seenHost.get(hk);
        if (prevH !== undefined)
          ctx.add(`${path}.ports[${i}].hostPort`, `host port ${p.hostPort}/${p.protocol} is already used by ports[${prevH}]`);
        seenHost.set(hk, i);
      }
    });
  }, 'Each containerPort/protocol is published once; each hostIP:hostPort/protocol is used once.')
  .refine(refineContainer, CONTAINER_RULES);

export type ServiceSpec = Infer<typeof serviceSpecSchema>;
export type PortSpec = Infer<typeof portSchema>;

export const metadataSchema = obj({
  name: required(dnsLabel(), 'Name, unique in its namespace (DNS-1123 label).'),
  namespace: withDefault(dnsLabel(), 'default', 'Namespace (DNS-1123 label).'),
  labels: optional(labels(), 'Labels of the object, for selection (`berth get -l`).'),
});
export type Metadata = Infer<typeof metadataSchema>;

export const serviceManifestSchema = obj({
  apiVersion: required(new StringSchema({ oneOf: [API_VERSION] as const }), `Always ${API_VERSION}.`),
  kind: required(new StringSchema({ oneOf: ['Service'] as const }), 'Service.'),
  metadata: required(metadataSchema, 'Name, namespace and labels.'),
  spec: required(serviceSpecSchema, 'What to run.'),
});
export type ServiceManifest = Infer<typeof serviceManifestSchema>;

export type Validated<T> = { ok: true; value: T } | { ok: false; issues: Issue[] };

export function validateServiceManifest(doc: unknown): Validated<ServiceManifest> {
  const ctx = new Ctx();
  const v = serviceManifestSchema.parse(doc, '', ctx);
  if (v === INVALID || ctx.issues.length > 0) return { ok: false, issues: ctx.issues };
  return { ok: true, value: v };
}

/** The spec as a person writes it (sizes, durations), for `-o yaml` and `berth diff`. */
export function formatServiceSpec(spec: ServiceSpec): unknown {
  return serviceSpecSchema.format(spec);
}

/**
 * Fields that change how many tasks run, not what a task runs: changing only these scales the
 * service without replacing any container.
 */
export const SCALE_FIELDS = ['replicas'] as const;

/** The part of a spec that a running task embodies; tasks are replaced when it changes. */
export function taskSpecKey(spec: ServiceSpec): string {
  const rest: Record<string, unknown> = { ...spec };
  for (const f of [...SCALE_FIELDS, ...ROLLOUT_ONLY_FIELDS]) delete rest[f];
  return JSON.stringify(rest);
}

/** Stable JSON of a canonical value: key order is the schema's, so equal specs give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value);
}
