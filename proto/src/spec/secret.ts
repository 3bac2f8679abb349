// The Secret manifest (DESIGN.md §3): named values, given base64-encoded in `data` or as text in
// `stringData`, stored encrypted by the controller. Containers cannot use them yet (that comes
// with the security work); the controller stores, lists (names, keys and sizes) and deletes them.
import { Ctx, INVALID, MapSchema, StringSchema, obj, optional, required, type Infer } from './dsl.js';
import { API_VERSION, metadataSchema, type Validated } from './service.js';

/** Decoded bytes of one secret, all keys together: well under etcd's request limit (1.5 MiB). */
export const MAX_SECRET_BYTES = 512 * 1024;
/** Keys per secret. */
export const MAX_SECRET_KEYS = 256;

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// Kubernetes' rule for secret keys: they become file names when mounted.
const secretKey = (): StringSchema =>
  new StringSchema({
    min: 1,
    max: 253,
    pattern: /^[-._a-zA-Z0-9]+$/,
    patternHint: 'secret keys are letters, digits, "-", "_" and "." (they may become file names)',
    check: (k) => (k === '.' || k === '..' ? 'must not be "." or ".."' : undefined),
    typeName: 'secret key',
  });

const base64Value = new StringSchema({
  max: Math.ceil(MAX_SECRET_BYTES / 3) * 4,
  check: (s) =>
    BASE64_RE.test(s)
      ? undefined
      : 'not valid base64 (standard alphabet with = padding, no spaces or line breaks); put plain text in stringData instead',
  typeName: 'base64',
});

export const secretManifestSchema = obj({
  apiVersion: required(new StringSchema({ oneOf: [API_VERSION] as const }), `Always ${API_VERSION}.`),
  kind: required(new StringSchema({ oneOf: ['Secret'] as const }), 'Secret.'),
  metadata: required(metadataSchema, 'Name, namespace and labels.'),
  data: optional(new MapSchema(secretKey(), base64Value, { max: MAX_SECRET_KEYS }), 'Values, base64-encoded (any bytes).'),
  stringData: optional(
    new MapSchema(secretKey(), new StringSchema({ max: MAX_SECRET_BYTES, coerceScalars: true }), { max: MAX_SECRET_KEYS }),
    'Values as text (stored as their UTF-8 bytes); a convenience for data.',
  ),
}).refine((s, path, ctx) => {
  const at = (k: string): string => (path ? `${path}.${k}` : k);
  for (const k of Object.keys(s.stringData ?? {})) {
    if (s.data && Object.prototype.hasOwnProperty.call(s.data, k))
      ctx.add(at(`stringData.${k}`), `the key ${k} is also in data; give each key once`);
  }
  const keys = Object.keys(s.data ?? {}).length + Object.keys(s.stringData ?? {}).length;
  if (keys > MAX_SECRET_KEYS) ctx.add(at('data'), `at most ${MAX_SECRET_KEYS} keys per secret (got ${keys})`);
  const total = Object.values(secretValues(s)).reduce((n, v) => n + v.length, 0);
  if (total > MAX_SECRET_BYTES) ctx.add(at('data'), `the values total ${total} bytes; a secret holds at most ${MAX_SECRET_BYTES} (512Ki)`);
}, `A key appears in data or stringData, not both; at most ${MAX_SECRET_KEYS} keys; the decoded values total at most 512Ki.`);
export type SecretManifest = Infer<typeof secretManifestSchema>;

export function validateSecretManifest(doc: unknown): Validated<SecretManifest> {
  const ctx = new Ctx();
  const v = secretManifestSchema.parse(doc, '', ctx);
  if (v === INVALID || ctx.issues.length > 0) return { ok: false, issues: ctx.issues };
  return { ok: true, value: v };
}

/** Every key's bytes, data and stringData together, keys sorted. */
export function secretValues(s: Pick<SecretManifest, 'data' | 'stringData'>): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const entries: Array<[string, Buffer]> = [
    ...Object.entries(s.data ?? {}).map(([k, v]): [string, Buffer] => [k, Buffer.from(v, 'base64')]),
    ...Object.entries(s.stringData ?? {}).map(([k, v]): [string, Buffer] => [k, Buffer.from(v, 'utf8')]),
  ];
  for (const [k, v] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = v;
  return out;
}
