// Lifecycle fields of a Service: health checks, restart policy, rolling updates and image pulls.
// Spread into serviceSpecSchema (service.ts); docs/lifecycle.md explains what each one does.
import {
  ArraySchema,
  INVALID,
  IntSchema,
  MapSchema,
  Schema,
  StringSchema,
  describeType,
  duration,
  obj,
  optional,
  port,
  required,
  withDefault,
  withDerivedDefault,
  type Ctx,
  type Infer,
  type Parsed,
} from './dsl.js';

const HOUR_MS = 3_600_000;

/** A decimal number in a range (multipliers, ratios). */
export class NumberSchema extends Schema<number> {
  readonly typeName = 'number';
  constructor(private readonly opts: { min: number; max: number }) {
    super();
  }
  parse(input: unknown, path: string, ctx: Ctx): Parsed<number> {
    if (typeof input !== 'number' || !Number.isFinite(input)) {
      ctx.add(path, `expected a number, got ${describeType(input)}`);
      return INVALID;
    }
    if (input < this.opts.min || input > this.opts.max) {
      ctx.add(path, `must be between ${this.opts.min} and ${this.opts.max} (got ${input})`);
      return INVALID;
    }
    return input;
  }
  override constraint(): string {
    return `${this.opts.min}–${this.opts.max}`;
  }
}

/** A count of tasks, absolute (2) or a share of the replicas ("25%"); canonical: number or "N%". */
export class CountOrPercentSchema extends Schema<number | string> {
  readonly typeName = 'count or percentage';
  override constraint(): string {
    return '0–10000, or 0%–100%';
  }
  parse(input: unknown, path: string, ctx: Ctx): Parsed<number | string> {
    if (typeof input === 'number') {
      if (!Number.isInteger(input) || input < 0 || input > 10_000) {
        ctx.add(path, `expected a whole number of tasks (0–10000) or a percentage such as "25%", got ${input}`);
        return INVALID;
      }
      return input;
    }
    if (typeof input === 'string') {
      const m = /^([0-9]{1,3})%$/.exec(input.trim());
      if (m && Number(m[1]) <= 100) return `${Number(m[1])}%`;
      if (/^[0-9]+$/.test(input.trim())) return this.parse(Number(input.trim()), path, ctx);
      ctx.add(
        path,
        `${JSON.stringify(input)} is not valid: use a number of tasks (1) or a percentage of the replicas ("25%", at most 100%)`,
      );
      return INVALID;
    }
    ctx.add(path, `expected a number or a percentage such as "25%", got ${describeType(input)}`);
    return INVALID;
  }
}

/**
 * Tasks a count or percentage stands for with `replicas` replicas. Percentages of maxSurge round
 * up and of maxUnavailable round down (as Kubernetes does), so 10% of 5 is 1 surge task and 0
 * unavailable ones.
 */
export function resolveCount(v: number | string, replicas: number, round: 'up' | 'down'): number {
  if (typeof v === 'number') return v;
  const share = (Number(v.slice(0, -1)) * replicas) / 100;
  return round === 'up' ? Math.ceil(share) : Math.floor(share);
}

const STATUS_RANGE_RE = /^([1-5][0-9]{2})(?:-([1-5][0-9]{2}))?$/;
const statusRange = new StringSchema({
  typeName: 'status range',
  check: (s) => {
    const m = STATUS_RANGE_RE.exec(s);
    if (!m) return `${JSON.stringify(s)} is not a status range: use a code (200) or a range (200-399)`;
    if (m[2] !== undefined && Number(m[2]) < Number(m[1])) return `range ${s} is empty: the upper code is below the lower one`;
    return undefined;
  },
});

/** [low, high] of a status range such as "200-399" or "204". */
export function parseStatusRange(s: string): [number, number] {
  const m = STATUS_RANGE_RE.exec(s);
  const low = Number(m?.[1] ?? 200);
  return [low, Number(m?.[2] ?? low)];
}

const HEADER_NAME_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const headers = new MapSchema(
  new StringSchema({
    min: 1,
    max: 256,
    pattern: HEADER_NAME_RE,
    patternHint: "HTTP header names are letters, digits and !#$%&'*+.^_`|~-",
    typeName: 'header name',
  }),
  new StringSchema({
    max: 4096,
    coerceScalars: true,
    check: (s) => (/[\r\n\u0000]/.test(s) ? 'must not contain CR, LF or NUL' : undefined),
  }),
  { max: 32 },
);

export const healthSchema = obj({
  http: optional(
    obj({
      port: required(port(), 'Container port the check connects to.'),
      path: withDefault(
        new StringSchema({
          min: 1,
          max: 2048,
          pattern: /^\/[^\s]*$/,
          patternHint: 'a path starting with "/" and without spaces',
          typeName: 'path',
        }),
        '/',
        'Path requested (GET).',
      ),
      status: withDefault(statusRange, '200-399', 'Status codes that count as healthy: a code or a range.'),
      headers: optional(headers, 'Request headers (e.g. Host).'),
    }),
    "HTTP GET from the agent to the container; healthy when the answer's status is in range.",
  ),
  tcp: optional(
    obj({ port: required(port(), 'Container port that must accept a connection.') }),
    'TCP connect from the agent to the container.',
  ),
  exec: optional(
    obj({
      command: required(
        new ArraySchema(new StringSchema({ min: 1, max: 4096 }), { min: 1, max: 100 }),
        'Command and arguments, run in the container without a shell (exit 0 = healthy).',
      ),
    }),
    'A command run inside the container.',
  ),
  interval: withDefault(duration({ min: 100, max: HOUR_MS }), '5s', 'Time between checks.'),
  timeout: withDefault(duration({ min: 100, max: HOUR_MS }), '2s', 'A check that takes longer fails.'),
  retries: withDefault(new IntSchema({ min: 1, max: 100 }), 3, 'Consecutive failures that make the task unhealthy.'),
  startPeriod: withDefault(
    duration({ min: 0, max: HOUR_MS }),
    '0s',
    'Failures during this time after a start do not count (a success still makes the task healthy).',
  ),
}).refine((h, path, ctx) => {
  const kinds = (['http', 'tcp', 'exec'] as const).filter((k) => h[k] !== undefined);
  if (kinds.length !== 1)
    ctx.add(path, kinds.length === 0 ? 'choose one check: http, tcp or exec' : `choose one check, not ${kinds.join(' and ')}`);
  if (h.timeout > h.interval) ctx.add(`${path}.timeout`, 'must not be longer than health.interval');
});
export type HealthSpec = Infer<typeof healthSchema>;

export const RESTART_POLICIES = ['always', 'on-failure', 'never'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

export const restartSchema = obj({
  policy: withDefault(
    new StringSchema({ oneOf: RESTART_POLICIES }),
    'always',
    'always: restart whenever the container ends or turns unhealthy; on-failure: only after a non-zero exit or unhealthy; never.',
  ),
  maxAttempts: optional(
    new IntSchema({ min: 1, max: 10_000 }),
    'on-failure only: restarts in a row (without a healthy period between) before the task is left failed.',
  ),
  backoff: withDefault(
    obj({
      initial: withDefault(duration({ min: 100, max: HOUR_MS }), '1s', 'Delay before the first restart.'),
      multiplier: withDefault(new NumberSchema({ min: 1, max: 10 }), 2, 'Each further restart in a row waits this many times longer.'),
      max: withDefault(duration({ min: 100, max: 24 * HOUR_MS }), '5m', 'Longest delay between restarts.'),
      resetAfter: withDefault(
        duration({ min: 1000, max: 24 * HOUR_MS }),
        '1m',
        'A container that ran (healthy, when checked) this long starts the backoff and the attempt count over.',
      ),
    }),
    {},
    'Exponential backoff between restarts.',
  ),
}).refine((r, path, ctx) => {
  if (r.maxAttempts !== undefined && r.policy !== 'on-failure') ctx.add(`${path}.maxAttempts`, 'only applies to policy on-failure');
  if (r.backoff.max < r.backoff.initial) ctx.add(`${path}.backoff.max`, 'must not be below backoff.initial');
});
export type RestartSpec = Infer<typeof restartSchema>;

/** Delay before a restart after `failuresInRow` failures: initial · multiplier^n, at most max. */
export function restartDelayMs(spec: RestartSpec, failuresInRow: number): number {
  const { initial, multiplier, max } = spec.backoff;
  return Math.round(Math.min(max, initial * Math.pow(multiplier, Math.max(0, failuresInRow))));
}

/** update.progressDeadline's default (also for stored specs written before the field existed). */
export const DEFAULT_PROGRESS_DEADLINE_MS = 120_000;

export const UPDATE_ORDERS = ['start-first', 'stop-first'] as const;
/** A count or percentage of no tasks at all. */
const isZero = (v: unknown): boolean => v === 0 || v === '0%';
export const FAILURE_ACTIONS = ['rollback', 'pause', 'continue'] as const;

export const updateSchema = obj({
  maxSurge: withDefault(
    new CountOrPercentSchema(),
    1,
    'Tasks above `replicas` during an update (start-first: how many slots are replaced at once). Percentages round up.',
  ),
  maxUnavailable: withDefault(
    new CountOrPercentSchema(),
    0,
    'Slots that may lack a healthy task during an update (stop-first: how many are replaced at once). Percentages round down.',
  ),
  order: withDerivedDefault(
    new StringSchema({ oneOf: UPDATE_ORDERS }),
    (u) => (isZero(u['maxSurge']) ? 'stop-first' : 'start-first'),
    '"stop-first" when maxSurge is 0, else "start-first"',
    'start-first: the new task starts and turns healthy before the old one stops; stop-first: the old one stops first.',
  ),
  monitor: withDefault(
    duration({ min: 0, max: HOUR_MS }),
    '5s',
    'A new task that fails before the update is over counts as a failure; the update is over this long after its last task turned healthy.',
  ),
  delay: withDefault(
    duration({ min: 0, max: HOUR_MS }),
    '0s',
    'Pause between batches (0: a slot is replaced as soon as the budget allows).',
  ),
  failureAction: withDefault(
    new StringSchema({ oneOf: FAILURE_ACTIONS }),
    'rollback',
    'When more tasks fail than maxFailureRatio allows, or the update makes no progress for progressDeadline: rollback (to the revision that ran before), pause, or continue.',
  ),
  progressDeadline: withDefault(
    duration({ min: 1000, max: 24 * HOUR_MS }),
    '2m',
    'An update that makes no progress (no new task turns ready, no old one is retired) for this long fails with the reason of its waiting tasks, and failureAction applies.',
  ),
  maxFailureRatio: withDefault(
    new NumberSchema({ min: 0, max: 1 }),
    0,
    'Share of the replicas whose new task may fail before failureAction applies.',
  ),
}).refine((u, path, ctx, given) => {
  if (u.order === 'start-first' && isZero(u.maxSurge))
    ctx.add(
      `${path}.maxSurge`,
      'order start-first starts a new task before stopping an old one: allow at least 1 surge task (or use order stop-first)',
    );
  if (u.order === 'stop-first' && isZero(u.maxUnavailable)) {
    ctx.add(
      `${path}.maxUnavailable`,
      given.has('order')
        ? 'order stop-first stops a task before its replacement is healthy: allow at least 1 unavailable (or use order start-first)'
        : 'with maxSurge 0 an update stops a task before its replacement starts (order stop-first): allow at least 1 unavailable, or a surge',
    );
  }
});
export type UpdateSpec = Infer<typeof updateSchema>;

/** update.progressDeadline in ms; specs stored before the field existed have its default. */
export function progressDeadlineOf(u: UpdateSpec): number {
  return (u as Partial<UpdateSpec>).progressDeadline ?? DEFAULT_PROGRESS_DEADLINE_MS;
}

export const PULL_POLICIES = ['ifNotPresent', 'always', 'never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

const credentialName = new StringSchema({
  min: 1,
  max: 63,
  pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
  patternHint: 'use lowercase letters, digits and "-" (DNS-1123 label)',
  typeName: 'DNS-1123 label',
});

/** The fields spread into serviceSpecSchema. */
export const lifecycleFields = {
  health: optional(
    healthSchema,
    "Health check run by the agent (http, tcp or exec). Without it, the image's own HEALTHCHECK (if any) is used.",
  ),
  restart: withDefault(restartSchema, {}, 'When and how fast a container that ended or turned unhealthy is restarted.'),
  update: withDefault(
    updateSchema,
    {},
    'How a change of the spec rolls out: surge, unavailability, order, monitoring and what a failure does.',
  ),
  pullPolicy: withDefault(
    new StringSchema({ oneOf: PULL_POLICIES }),
    'ifNotPresent',
    'ifNotPresent: pull only a missing image; always: pull before every new container; never: use only what the node has.',
  ),
  imagePullSecret: optional(
    credentialName,
    'Registry credential (`berth registry login --name NAME`) of the same namespace used to pull the image.',
  ),
};

/** Spec fields that only steer the controller's rollout: changing them replaces no container. */
export const ROLLOUT_ONLY_FIELDS = ['update'] as const;
