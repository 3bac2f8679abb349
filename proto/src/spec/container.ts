// The container fields of a Service spec: what a user passes to `docker run` for a long-running
// service, beyond image, command, env, ports, resources and stop (service.ts). Spread into
// serviceSpecSchema; every field here is mapped onto the engine by
// agent/src/runtime/docker/create-options.ts. All are optional without defaults, so a spec
// stored before a field existed stays canonical (re-applying it writes nothing).
import {
  ArraySchema,
  BoolSchema,
  type Ctx,
  MapSchema,
  StringSchema,
  UnitSchema,
  obj,
  optional,
  required,
  type Infer,
  type ObjectOf,
} from './dsl.js';
import { formatBytes, parseBytes } from './units.js';

/** Longest path accepted (Linux PATH_MAX). */
const MAX_PATH_CHARS = 4096;
/** Mounts per container; far above any real service, low enough to bound a create request. */
export const MAX_VOLUMES = 100;

const CONTROL_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f]/;
/** Paths take no control character at all (not even tab or newline). */
const PATH_CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const noNul = (s: string): string | undefined => (s.includes('\u0000') ? 'must not contain NUL' : undefined);

/** A list of command-line words (entrypoint, command, args); numbers become strings. */
export const argList = (): ArraySchema<string> =>
  new ArraySchema(new StringSchema({ max: 32 * 1024, coerceScalars: true, check: noNul }), { max: 1000 });

/** Why `s` is not a clean absolute path, or undefined when it is one. */
export function absolutePathProblem(s: string): string | undefined {
  if (!s.startsWith('/')) return `${JSON.stringify(s)} is not an absolute path (it must start with "/")`;
  if (PATH_CONTROL_CHARS.test(s)) return 'must not contain control characters';
  if (s.length > 1 && s.endsWith('/')) return `${JSON.stringify(s)}: remove the trailing "/"`;
  if (s.includes('//')) return `${JSON.stringify(s)}: remove the repeated "/"`;
  if (s.split('/').some((seg) => seg === '.' || seg === '..')) return `${JSON.stringify(s)}: "." and ".." are not allowed in paths`;
  return undefined;
}

const absolutePath = (): StringSchema =>
  new StringSchema({ min: 1, max: MAX_PATH_CHARS, check: absolutePathProblem, typeName: 'absolute path' });

// ---- volumes ----

export const VOLUME_TYPES = ['volume', 'bind', 'tmpfs'] as const;
export type VolumeType = (typeof VOLUME_TYPES)[number];
/** Docker's rule for volume names (at least two characters). */
const VOLUME_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,254}$/;

/** tmpfs permission bits written as an octal string ("1777", "0755"), stored as a number. */
function parseMode(input: unknown): number | string {
  if (typeof input === 'number') return `write the mode as a quoted octal string such as "1777" (YAML reads ${input} as a decimal number)`;
  if (typeof input !== 'string' || !/^0?[0-7]{3,4}$/.test(input))
    return `expected octal permission bits such as "1777" or "0755", got ${JSON.stringify(input)}`;
  return parseInt(input, 8);
}
const formatMode = (mode: number): string => mode.toString(8).padStart(4, '0');

export const volumeSchema = obj({
  type: required(
    new StringSchema({ oneOf: VOLUME_TYPES }),
    "volume: a named (or anonymous) volume of the node's engine; bind: a path of the node (only under a path the node's agent allows with --allow-host-path); tmpfs: memory-backed, gone with the container.",
  ),
  source: optional(
    new StringSchema({ min: 1, max: MAX_PATH_CHARS }),
    "volume: the volume's name (created on first use, kept when the service is deleted; omitted: an anonymous volume removed with its container). bind: the absolute path on the node. Not used by tmpfs.",
  ),
  target: required(absolutePath(), 'Absolute path inside the container.'),
  readOnly: optional(new BoolSchema(), 'Mount read-only.'),
  size: optional(
    new UnitSchema('size', parseBytes, formatBytes, { min: 1, max: 2 ** 50 }),
    "tmpfs only: size limit (e.g. 64Mi); default: the engine's (half the node's memory).",
  ),
  mode: optional(
    new UnitSchema('octal mode', parseMode, formatMode),
    'tmpfs only: permission bits of its root, as a quoted octal string ("1777"); default "1777".',
  ),
}).refine((v, path, ctx) => {
  const at = (k: string): string => `${path}.${k}`;
  if (v.target === '/') ctx.add(at('target'), 'cannot mount over the root filesystem "/"');
  if (v.type !== 'tmpfs') {
    if (v.size !== undefined) ctx.add(at('size'), `only tmpfs volumes have a size (this one is ${v.type})`);
    if (v.mode !== undefined) ctx.add(at('mode'), `only tmpfs volumes have a mode (this one is ${v.type})`);
  }
  switch (v.type) {
    case 'volume':
      if (v.source !== undefined && !VOLUME_NAME_RE.test(v.source)) {
        ctx.add(
          at('source'),
          `${JSON.stringify(v.source)} is not a volume name: letters, digits, "_", "." and "-", at least two characters, starting with a letter or digit`,
        );
      }
      break;
    case 'bind': {
      if (v.source === undefined) ctx.add(at('source'), 'required for a bind volume: the absolute path on the node');
      else {
        const why = absolutePathProblem(v.source);
        if (why) ctx.add(at('source'), why);
      }
      break;
    }
    case 'tmpfs':
      if (v.source !== undefined) ctx.add(at('source'), 'a tmpfs volume has no source');
      break;
  }
}, 'volume: source, if given, is a volume name (letters, digits, "_", "." and "-", at least two characters). bind: source is required, an absolute path. tmpfs: no source. size and mode only for tmpfs. target is not "/".');
export type VolumeSpec = Infer<typeof volumeSchema>;

// ---- labels, logging, capabilities ----

/** Container labels Berth sets itself (proto/src/labels.ts) all start with this. */
export const RESERVED_LABEL_PREFIX = 'berth.';
const CONTAINER_LABEL_KEY_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
const containerLabels = new MapSchema(
  new StringSchema({
    min: 1,
    max: 253,
    pattern: CONTAINER_LABEL_KEY_RE,
    patternHint:
      'label keys are letters, digits, ".", "_", "-" and "/", starting and ending with a letter or digit (e.g. com.example.team)',
    check: (k) =>
      k.toLowerCase().startsWith(RESERVED_LABEL_PREFIX)
        ? `the "${RESERVED_LABEL_PREFIX}" prefix is reserved for the labels Berth sets (berth.task, berth.service, …)`
        : undefined,
    typeName: 'label key',
  }),
  new StringSchema({
    max: 4096,
    coerceScalars: true,
    check: (s) => (CONTROL_CHARS.test(s) ? 'must not contain control characters' : undefined),
  }),
  { max: 128 },
);

export const loggingSchema = obj({
  driver: required(
    new StringSchema({
      min: 1,
      max: 128,
      pattern: /^[a-z0-9][a-z0-9_.:/-]*$/,
      patternHint: 'a log driver name such as json-file, local, syslog, journald, gelf, fluentd, none, or a plugin name',
      typeName: 'log driver',
    }),
    'Log driver of the engine (json-file, local, syslog, journald, gelf, fluentd, none, or an installed plugin).',
  ),
  options: optional(
    new MapSchema(
      new StringSchema({
        min: 1,
        max: 128,
        pattern: /^[a-zA-Z0-9][a-zA-Z0-9._-]*$/,
        patternHint: 'option names are letters, digits, ".", "_" and "-" (e.g. max-size)',
        typeName: 'option name',
      }),
      new StringSchema({
        max: 4096,
        coerceScalars: true,
        check: (s) => (CONTROL_CHARS.test(s) ? 'must not contain control characters' : undefined),
      }),
      { max: 64 },
    ),
    "Options of the driver (e.g. max-size: 10m for json-file). The engine checks them when it creates the container; an unknown option rejects the task with the engine's message.",
  ),
});

/** Linux capabilities (capabilities(7)) as Docker names them, plus ALL. */
export const CAPABILITIES = [
  'ALL',
  'AUDIT_CONTROL',
  'AUDIT_READ',
  'AUDIT_WRITE',
  'BLOCK_SUSPEND',
  'BPF',
  'CHECKPOINT_RESTORE',
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'IPC_LOCK',
  'IPC_OWNER',
  'KILL',
  'LEASE',
  'LINUX_IMMUTABLE',
  'MAC_ADMIN',
  'MAC_OVERRIDE',
  'MKNOD',
  'NET_ADMIN',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_RAW',
  'PERFMON',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYSLOG',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_CHROOT',
  'SYS_MODULE',
  'SYS_NICE',
  'SYS_PACCT',
  'SYS_PTRACE',
  'SYS_RAWIO',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'WAKE_ALARM',
] as const;
const canonicalCapability = (s: string): string => s.toUpperCase().replace(/^CAP_/, '');
export const capabilityList = (): ArraySchema<string> =>
  new ArraySchema(
    new StringSchema({
      min: 1,
      max: 64,
      typeName: 'capability',
      check: (s) =>
        (CAPABILITIES as readonly string[]).includes(canonicalCapability(s))
          ? undefined
          : `unknown capability ${JSON.stringify(s)}; use names such as NET_ADMIN, SYS_TIME, CHOWN or ALL (see capabilities(7))`,
      normalize: canonicalCapability,
    }),
    { max: CAPABILITIES.length },
  );

export const NETWORK_MODES = ['bridge', 'host', 'none'] as const;

// ---- the fields ----

export const containerFields = {
  args: optional(
    argList(),
    'Arguments appended to the command line: after `command` if given, otherwise after the image\'s CMD (none when `entrypoint` is set, as Docker drops the image\'s CMD then). See "Command line" below.',
  ),
  workingDir: optional(absolutePath(), "Working directory of the process; default: the image's WORKDIR."),
  user: optional(
    new StringSchema({
      min: 1,
      max: 256,
      pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/,
      patternHint: 'expected user[:group] as names or numeric ids, e.g. 1000, 1000:1000, app or app:staff',
      typeName: 'user[:group]',
    }),
    "User (name or uid) and optional group the process runs as: 1000, 1000:1000, app:staff. Default: the image's USER.",
  ),
  volumes: optional(new ArraySchema(volumeSchema, { max: MAX_VOLUMES }), 'Mounts: named volumes, tmpfs, and host paths the node allows.'),
  networkMode: optional(
    new StringSchema({ oneOf: NETWORK_MODES }),
    "bridge (default: the engine's bridge network, ports published), host (the node's network stack; no ports to publish), none (loopback only).",
  ),
  labels: optional(
    containerLabels,
    `Labels set on every container of the service (visible in docker inspect / docker ps). Keys starting with "${RESERVED_LABEL_PREFIX}" are reserved.`,
  ),
  logging: optional(loggingSchema, "Log driver and its options; default: the engine's default driver."),
  init: optional(new BoolSchema(), 'Run an init process (docker-init) as PID 1 that forwards signals and reaps zombies.'),
  readOnlyRootFilesystem: optional(
    new BoolSchema(),
    "Mount the container's root filesystem read-only (write to volumes or tmpfs instead).",
  ),
  capAdd: optional(
    capabilityList(),
    "Linux capabilities (capabilities(7) names; a CAP_ prefix and lower case are accepted and stored without) to add to the baseline set (docs/security.md: Docker's defaults without NET_RAW). One beyond the baseline needs a Policy of the namespace that allows it.",
  ),
  capDrop: optional(
    capabilityList(),
    'Linux capabilities to drop from the baseline set (ALL drops every one; combine with capAdd to keep a few).',
  ),
  allowPrivilegeEscalation: optional(
    new BoolSchema(),
    'true: no-new-privileges is off, so setuid programs may gain privileges (default false). Needs a Policy of the namespace with allowPrivilegeEscalation.',
  ),
};

export type ContainerFields = ObjectOf<typeof containerFields>;

export const CONTAINER_RULES =
  'No ports with networkMode host or none; each volume target once; each capability once per list, and not in both capAdd and capDrop.';

/** Cross-field rules of the container fields, run on the whole spec. */
export function refineContainer(spec: ContainerFields & { ports?: unknown[] | undefined }, path: string, ctx: Ctx): void {
  const at = (k: string): string => `${path}.${k}`;
  if ((spec.networkMode === 'host' || spec.networkMode === 'none') && (spec.ports?.length ?? 0) > 0) {
    ctx.add(
      at('ports'),
      spec.networkMode === 'host'
        ? "cannot publish ports with networkMode host: the container listens on the node's own ports; remove ports"
        : 'cannot publish ports with networkMode none: the container has no network; remove ports',
    );
  }
  const targets = new Map<string, number>();
  (spec.volumes ?? []).forEach((v, i) => {
    const prev = targets.get(v.target);
    if (prev !== undefined) ctx.add(at(`volumes[${i}].target`), `${v.target} is already mounted by volumes[${prev}]`);
    else targets.set(v.target, i);
  });
  for (const field of ['capAdd', 'capDrop'] as const) {
    const seen = new Set<string>();
    (spec[field] ?? []).forEach((c, i) => {
      if (seen.has(c)) ctx.add(at(`${field}[${i}]`), `${c} is listed twice`);
      seen.add(c);
    });
  }
  const dropped = new Set(spec.capDrop ?? []);
  (spec.capAdd ?? []).forEach((c, i) => {
    if (dropped.has(c)) ctx.add(at(`capAdd[${i}]`), `${c} is both added and dropped (capDrop); keep it in one list`);
  });
}
