// A small schema language: one definition drives validation (every error with its path, all at
// once), defaults, the canonical form the system stores, the human form it prints, and the docs.
//
// Canonical values use base units: bytes, milliseconds, thousandths of a CPU. Object outputs are
// built only from declared fields, so unknown keys (including "__proto__" and "constructor")
// never reach a stored object: they are reported as unknown fields.
import { formatDuration, parseDuration } from './units.js';

export interface Issue {
  /** Where, as users write it: `spec.ports[1].hostPort`. */
  path: string;
  /** Why, in words a user can act on. */
  message: string;
}

export class Ctx {
  readonly issues: Issue[] = [];
  add(path: string, message: string): void {
    this.issues.push({ path: path || '(document)', message });
  }
}

/** Returned by parse() when the input was invalid (the issue is already recorded). */
export const INVALID: unique symbol = Symbol('invalid');
export type Parsed<T> = T | typeof INVALID;

export abstract class Schema<T> {
  doc = '';
  abstract readonly typeName: string;
  abstract parse(input: unknown, path: string, ctx: Ctx): Parsed<T>;
  /** Canonical → the form a person writes (e.g. 67108864 → "64Mi"). */
  format(value: T): unknown {
    return value;
  }
  describe(doc: string): this {
    this.doc = doc;
    return this;
  }
  /** The checked limits in words, for the docs ("1–65535", "at most 63 characters"); '' if none. */
  constraint(): string {
    return '';
  }
}

const range = (min: number | undefined, max: number | undefined, unit: string, show: (n: number) => string = String): string => {
  if (min !== undefined && max !== undefined) return min === max ? `exactly ${show(min)}${unit}` : `${show(min)}–${show(max)}${unit}`;
  if (min !== undefined) return `at least ${show(min)}${unit}`;
  if (max !== undefined) return `at most ${show(max)}${unit}`;
  return '';
};

export function describeType(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') return 'a string';
  return `a ${typeof input}`;
}

const quote = (s: string): string => JSON.stringify(s);

export class StringSchema extends Schema<string> {
  readonly typeName: string;
  constructor(
    private readonly opts: {
      min?: number;
      max?: number;
      pattern?: RegExp;
      patternHint?: string;
      oneOf?: readonly string[];
      check?: (s: string) => string | undefined;
      /** Accept numbers and booleans and turn them into strings (env values, labels). */
      coerceScalars?: boolean;
      /** The canonical spelling of a valid value (e.g. "CAP_NET_ADMIN" → "NET_ADMIN"). */
      normalize?: (s: string) => string;
      typeName?: string;
    } = {},
  ) {
    super();
    this.typeName = opts.typeName ?? (opts.oneOf ? opts.oneOf.map(quote).join(' | ') : 'string');
  }
  parse(input: unknown, path: string, ctx: Ctx): Parsed<string> {
    let s: string;
    if (typeof input === 'string') s = input;
    else if (this.opts.coerceScalars && (typeof input === 'number' || typeof input === 'boolean')) s = String(input);
    else {
      ctx.add(path, `expected ${this.opts.oneOf ? 'one of ' + this.typeName : 'a string'}, got ${describeType(input)}`);
      return INVALID;
    }
    const { min, max, pattern, oneOf, check } = this.opts;
    if (oneOf && !oneOf.includes(s)) {
      ctx.add(path, `must be one of ${oneOf.map(quote).join(', ')}; got ${quote(s)}`);
      return INVALID;
    }
    if (min !== undefined && s.length < min) {
      ctx.add(path, min === 1 ? 'must not be empty' : `must be at least ${min} characters`);
      return INVALID;
    }
    if (max !== undefined && s.length > max) {
      ctx.add(path, `must be at most ${max} characters (got ${s.length})`);
      return INVALID;
    }
    if (pattern && !pattern.test(s)) {
      ctx.add(path, `${quote(s.length > 80 ? s.slice(0, 80) + '…' : s)} is not valid: ${this.opts.patternHint ?? `must match ${pattern}`}`);
      return INVALID;
    }
    const why = check?.(s);
    if (why) {
      ctx.add(path, why);
      return INVALID;
    }
    return this.opts.normalize ? this.opts.normalize(s) : s;
  }
  override constraint(): string {
    const { min, max, oneOf, patternHint } = this.opts;
    if (oneOf) return '';
    const parts = [range(min, max, ' characters')];
    if (patternHint) parts.push(patternHint);
    return parts.filter(Boolean).join('; ');
  }
}

export class IntSchema extends Schema<number> {
  readonly typeName = 'integer';
  constructor(private readonly opts: { min?: number; max?: number } = {}) {
    super();
  }
  parse(input: unknown, path: string, ctx: Ctx): Parsed<number> {
    if (typeof input !== 'number' || !Number.isInteger(input)) {
      ctx.add(path, `expected an integer, got ${typeof input === 'number' ? String(input) : describeType(input)}`);
      return INVALID;
    }
    const { min, max } = this.opts;
    if (min !== undefined && input < min) {
      ctx.add(path, `must be at least ${min} (got ${input})`);
      return INVALID;
    }
    if (max !== undefined && input > max) {
      ctx.add(path, `must be at most ${max} (got ${input})`);
      return INVALID;
    }
    return input;
  }
  override constraint(): string {
    return range(this.opts.min, this.opts.max, '');
  }
}

export class BoolSchema extends Schema<boolean> {
  readonly typeName = 'boolean';
  parse(input: unknown, path: string, ctx: Ctx): Parsed<boolean> {
    if (typeof input !== 'boolean') {
      ctx.add(path, `expected true or false, got ${describeType(input)}`);
      return INVALID;
    }
    return input;
  }
}

/** A value written with a unit (64Mi, 500ms, 0.5 CPU) stored as an integer in base units. */
export class UnitSchema extends Schema<number> {
  constructor(
    readonly typeName: string,
    private readonly parseUnit: (input: unknown) => number | string,
    private readonly formatUnit: (value: number) => unknown,
    private readonly opts: { min?: number; max?: number } = {},
  ) {
    super();
  }
  parse(input: unknown, path: string, ctx: Ctx): Parsed<number> {
    const v = this.parseUnit(input);
    if (typeof v === 'string') {
      ctx.add(path, v);
      return INVALID;
    }
    const { min, max } = this.opts;
    if (min !== undefined && v < min) {
      ctx.add(path, `must be at least ${String(this.formatUnit(min))}`);
      return INVALID;
    }
    if (max !== undefined && v > max) {
      ctx.add(path, `must be at most ${String(this.formatUnit(max))}`);
      return INVALID;
    }
    return v;
  }
  override format(value: number): unknown {
    return this.formatUnit(value);
  }
  override constraint(): string {
    const show = (n: number): string => String(this.formatUnit(n));
    return range(this.opts.min, this.opts.max, '', show);
  }
}

export class ArraySchema<T> extends Schema<T[]> {
  constructor(
    readonly item: Schema<T>,
    private readonly opts: { max?: number; min?: number } = {},
  ) {
    super();
  }
  get typeName(): string {
    return `list of ${this.item.typeName}`;
  }
  parse(input: unknown, path: string, ctx: Ctx): Parsed<T[]> {
    if (!Array.isArray(input)) {
      ctx.add(path, `expected ${this.typeName}, got ${describeType(input)}`);
      return INVALID;
    }
    if (this.opts.max !== undefined && input.length > this.opts.max) {
      ctx.add(path, `at most ${this.opts.max} items allowed (got ${input.length})`);
      return INVALID;
    }
    if (this.opts.min !== undefined && input.length < this.opts.min) {
      ctx.add(path, this.opts.min === 1 ? 'must not be empty' : `at least ${this.opts.min} items required`);
      return INVALID;
    }
    const out: T[] = [];
    let ok = true;
    input.forEach((item: unknown, i) => {
      const v = this.item.parse(item, `${path}[${i}]`, ctx);
      if (v === INVALID) ok = false;
      else out.push(v);
    });
    return ok ? out : INVALID;
  }
  override format(value: T[]): unknown {
    return value.map((v) => this.item.format(v));
  }
  override constraint(): string {
    return [range(this.opts.min, this.opts.max, ' items'), this.item.constraint() ? `each: ${this.item.constraint()}` : '']
      .filter(Boolean)
      .join('; ');
  }
}

/** A mapping with free keys (env, labels): keys checked by `key`, values by `value`. */
export class MapSchema<T> extends Schema<Record<string, T>> {
  constructor(
    readonly key: StringSchema,
    readonly value: Schema<T>,
    private readonly opts: { max?: number } = {},
  ) {
    super();
  }
  get typeName(): string {
    return `map of ${this.key.typeName} to ${this.value.typeName}`;
  }
  parse(input: unknown, path: string, ctx: Ctx): Parsed<Record<string, T>> {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      ctx.add(path, `expected a mapping, got ${describeType(input)}`);
      return INVALID;
    }
    const keys = Object.keys(input);
    if (this.opts.max !== undefined && keys.length > this.opts.max) {
      ctx.add(path, `at most ${this.opts.max} entries allowed (got ${keys.length})`);
      return INVALID;
    }
    // Null prototype while filling: a key named "__proto__" is data, never the prototype.
    const out = Object.create(null) as Record<string, T>;
    let ok = true;
    for (const k of keys.sort()) {
      const p = `${path}.${k}`;
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') {
        ctx.add(p, 'reserved key name');
        ok = false;
        continue;
      }
      if (this.key.parse(k, p, ctx) === INVALID) {
        ok = false;
        continue;
      }
      const v = this.value.parse((input as Record<string, unknown>)[k], p, ctx);
      if (v === INVALID) ok = false;
      else out[k] = v;
    }
    return ok ? { ...out } : INVALID;
  }
  override format(value: Record<string, T>): unknown {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.value.format(v)]));
  }
  override constraint(): string {
    return [
      range(undefined, this.opts.max, ' entries'),
      this.key.constraint() ? `keys: ${this.key.constraint()}` : '',
      this.value.constraint() ? `values: ${this.value.constraint()}` : '',
    ]
      .filter(Boolean)
      .join('; ');
  }
}

export type FieldMode = 'required' | 'optional' | 'default';

export interface Field<T, M extends FieldMode = FieldMode> {
  readonly schema: Schema<T>;
  readonly mode: M;
  /** Canonical default (present when mode is 'default'). */
  readonly defaultValue?: T;
  /**
   * A default that depends on the object's other fields (withDerivedDefault): computed from
   * them once they parsed; `defaultValue` is then only what it is when they are defaults too.
   */
  readonly derive?: (siblings: Record<string, unknown>) => T;
  /** The derived default in words, for the docs. */
  readonly deriveDoc?: string;
  readonly doc: string;
}

export function required<T>(schema: Schema<T>, doc: string): Field<T, 'required'> {
  return { schema, mode: 'required', doc };
}
export function optional<T>(schema: Schema<T>, doc: string): Field<T, 'optional'> {
  return { schema, mode: 'optional', doc };
}
/** A field with a default, given in the form a user writes it (e.g. "10s"). */
export function withDefault<T>(schema: Schema<T>, defaultInput: unknown, doc: string): Field<T, 'default'> {
  const ctx = new Ctx();
  const v = schema.parse(defaultInput, 'default', ctx);
  if (v === INVALID) throw new Error(`bad default for ${doc}: ${ctx.issues.map((i) => i.message).join('; ')}`);
  return { schema, mode: 'default', defaultValue: v, doc };
}
/**
 * A field whose default follows from the object's other fields (parsed, defaults applied), e.g.
 * update.order from update.maxSurge. `deriveDoc` says the rule for the docs.
 */
export function withDerivedDefault<T>(
  schema: Schema<T>,
  derive: (siblings: Record<string, unknown>) => T,
  deriveDoc: string,
  doc: string,
): Field<T, 'default'> {
  return { schema, mode: 'default', derive, deriveDoc, doc };
}

// `any` here lets fields of different value types share one record type (Field is invariant in T).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fields = Record<string, Field<any, FieldMode>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ValueOf<F> = F extends Field<infer T, FieldMode> ? T : never;
export type ObjectOf<F extends Fields> = Simplify<
  { [K in keyof F as F[K]['mode'] extends 'optional' ? never : K]: ValueOf<F[K]> } & {
    [K in keyof F as F[K]['mode'] extends 'optional' ? K : never]?: ValueOf<F[K]>;
  }
>;
export type Infer<S> = S extends Schema<infer T> ? T : never;

export class ObjectSchema<F extends Fields> extends Schema<ObjectOf<F>> {
  readonly typeName = 'mapping';
  private refinements: Array<(value: ObjectOf<F>, path: string, ctx: Ctx, given: ReadonlySet<string>) => void> = [];
  /** The cross-field rules in words, for the docs. */
  readonly rules: string[] = [];
  constructor(readonly fields: F) {
    super();
  }
  /**
   * Cross-field rule, run when every field parsed (defaults applied; `given`: the fields the input
   * wrote itself); `doc` says it in words for the docs.
   */
  refine(rule: (value: ObjectOf<F>, path: string, ctx: Ctx, given: ReadonlySet<string>) => void, doc?: string): this {
    this.refinements.push(rule);
    if (doc) this.rules.push(doc);
    return this;
  }
  parse(input: unknown, path: string, ctx: Ctx): Parsed<ObjectOf<F>> {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      ctx.add(path, `expected a mapping, got ${describeType(input)}`);
      return INVALID;
    }
    const rec = input as Record<string, unknown>;
    const join = (k: string): string => (path ? `${path}.${k}` : k);
    let ok = true;
    for (const k of Object.keys(rec)) {
      if (!Object.prototype.hasOwnProperty.call(this.fields, k)) {
        ctx.add(join(k), `unknown field (known: ${Object.keys(this.fields).join(', ')})`);
        ok = false;
      }
    }
    const out: Record<string, unknown> = {};
    const given = new Set<string>();
    const derived: Array<[string, Field<unknown>]> = [];
    for (const [k, field] of Object.entries(this.fields)) {
      const present = Object.prototype.hasOwnProperty.call(rec, k) && rec[k] !== undefined && rec[k] !== null;
      if (!present) {
        if (field.mode === 'required') {
          ctx.add(join(k), 'required field is missing');
          ok = false;
        } else if (field.derive) derived.push([k, field]);
        else if (field.mode === 'default') out[k] = structuredClone(field.defaultValue);
        continue;
      }
      given.add(k);
      const v = field.schema.parse(rec[k], join(k), ctx);
      if (v === INVALID) ok = false;
      else out[k] = v;
    }
    if (!ok) return INVALID;
    let value = out as ObjectOf<F>;
    if (derived.length > 0) {
      // Computed from the others, then put in its place: the canonical form keeps the schema's order.
      const computed = new Map(derived.map(([k, field]) => [k, field.derive!(out)]));
      const ordered: Record<string, unknown> = {};
      for (const k of Object.keys(this.fields)) {
        if (computed.has(k)) ordered[k] = computed.get(k);
        else if (k in out) ordered[k] = out[k];
      }
      value = ordered as ObjectOf<F>;
    }
    const before = ctx.issues.length;
    for (const rule of this.refinements) rule(value, path, ctx, given);
    return ctx.issues.length > before ? INVALID : value;
  }
  override format(value: ObjectOf<F>): unknown {
    const out: Record<string, unknown> = {};
    for (const [k, field] of Object.entries(this.fields)) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = field.schema.format(v);
    }
    return out;
  }
}

export const obj = <F extends Fields>(fields: F): ObjectSchema<F> => new ObjectSchema(fields);

/** One row of the generated field reference. */
export interface DocRow {
  path: string;
  type: string;
  presence: string;
  /** Limits the schema checks, in words. */
  constraint: string;
  doc: string;
}

/** The cross-field rules of a schema and every object in it, with the path they apply to. */
export function docRules(schema: Schema<unknown>, path: string): Array<{ path: string; rule: string }> {
  const out: Array<{ path: string; rule: string }> = [];
  const visit = (s: Schema<unknown>, p: string): void => {
    if (s instanceof ObjectSchema) {
      for (const rule of s.rules) out.push({ path: p, rule });
      for (const [k, field] of Object.entries(s.fields as Fields)) visit(field.schema, p ? `${p}.${k}` : k);
    } else if (s instanceof ArraySchema) visit(s.item as Schema<unknown>, `${p}[]`);
    else if (s instanceof MapSchema) visit(s.value as Schema<unknown>, `${p}.<key>`);
  };
  visit(schema, path);
  return out;
}

/** Walks a schema into rows for docs/manifest.md. */
export function docRows(schema: Schema<unknown>, path: string): DocRow[] {
  const rows: DocRow[] = [];
  const visit = (s: Schema<unknown>, p: string): void => {
    if (s instanceof ObjectSchema) {
      for (const [k, field] of Object.entries(s.fields as Fields)) {
        const fp = p ? `${p}.${k}` : k;
        const presence =
          field.mode === 'required'
            ? 'required'
            : field.deriveDoc
              ? `default: ${field.deriveDoc}`
              : field.mode === 'default'
                ? `default ${JSON.stringify(field.schema.format(field.defaultValue))}`
                : 'optional';
        rows.push({ path: fp, type: field.schema.typeName, presence, constraint: field.schema.constraint(), doc: field.doc });
        visit(field.schema, fp);
      }
    } else if (s instanceof ArraySchema) {
      visit(s.item as Schema<unknown>, `${p}[]`);
    } else if (s instanceof MapSchema) {
      visit(s.value as Schema<unknown>, `${p}.<key>`);
    }
  };
  visit(schema, path);
  return rows;
}

/** A TCP/UDP port, 1–65535. */
export const port = (): IntSchema => new IntSchema({ min: 1, max: 65535 });

/** A duration with units ("500ms", "1m"), canonical in milliseconds. */
export const duration = (opts: { min?: number; max?: number } = {}): UnitSchema =>
  new UnitSchema('duration', parseDuration, formatDuration, opts);
