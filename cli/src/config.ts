// The CLI's config file, like a kubeconfig: named contexts, each naming a controller, and the
// current one. Credentials join a context later as one more field of it. Which controller a
// command talks to:
//
//   --controller ADDR  >  --context NAME  >  BERTH_CONTROLLER  >  current-context  >  127.0.0.1:7070
//
// The file is read only when the answer depends on it, so a broken file never gets in the way of
// an explicit --controller or BERTH_CONTROLLER; when it is read, an invalid file is an error that
// names the file and the field.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { ArraySchema, Ctx, INVALID, StringSchema, obj, optional, required, withDefault, type Infer } from '../../proto/src/spec/dsl.js';
import { DEFAULT_CONTROLLER } from './client.js';

export const CONFIG_API_VERSION = 'berth.dev/v1';
export const CONFIG_KIND = 'Config';
/** A config file is a few contexts; anything near this size is not one. */
const MAX_CONFIG_BYTES = 256 * 1024;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const CONTEXT_NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._@-]*[A-Za-z0-9])?$/;
const contextName = (): StringSchema =>
  new StringSchema({
    min: 1,
    max: 253,
    pattern: CONTEXT_NAME_RE,
    patternHint: 'use letters, digits, ".", "_", "@" and "-", starting and ending with a letter or digit',
    typeName: 'context name',
  });

const ADDRESS_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})$/;

/** Why `s` is not a controller address (host:port), or undefined when it is one. */
export function addressProblem(s: string): string | undefined {
  const m = ADDRESS_RE.exec(s);
  if (!m) return `${JSON.stringify(s)} is not a controller address: expected host:port, e.g. 10.0.0.5:7070 or [::1]:7070`;
  const port = Number(m[1]);
  if (port < 1 || port > 65535) return `port ${port} is out of range 1–65535`;
  return undefined;
}

const address = (): StringSchema => new StringSchema({ min: 1, max: 260, check: addressProblem, typeName: 'host:port' });

const pem = (label: string): StringSchema =>
  new StringSchema({
    min: 1,
    max: 16 * 1024,
    pattern: new RegExp(`^-----BEGIN ${label}-----`),
    patternHint: `a PEM ${label.toLowerCase()}`,
    typeName: 'PEM',
  });

export const credentialSchema = obj({
  ca: required(pem('CERTIFICATE'), "The cluster CA's certificate (PEM): the controller must present a certificate it issued."),
  cert: required(pem('CERTIFICATE'), 'Your client certificate (PEM), naming your user and role.'),
  key: required(pem('PRIVATE KEY'), 'The key of cert (PEM). The file must be readable by you only.'),
});

export const contextSchema = obj({
  name: required(contextName(), 'Name of the context (berth config use-context NAME).'),
  controller: required(address(), 'Controller API address, host:port.'),
  credential: optional(credentialSchema, 'The credential `berth login` stored: client certificate, key and the cluster CA.'),
});

export const configSchema = obj({
  apiVersion: withDefault(new StringSchema({ oneOf: [CONFIG_API_VERSION] as const }), CONFIG_API_VERSION, `Always ${CONFIG_API_VERSION}.`),
  kind: withDefault(new StringSchema({ oneOf: [CONFIG_KIND] as const }), CONFIG_KIND, `Always ${CONFIG_KIND}.`),
  'current-context': optional(
    contextName(),
    'The context commands use when neither --controller, --context nor BERTH_CONTROLLER says otherwise.',
  ),
  contexts: withDefault(new ArraySchema(contextSchema, { max: 1000 }), [], 'Named controllers.'),
}).refine((c, _path, ctx) => {
  const seen = new Map<string, number>();
  c.contexts.forEach((x, i) => {
    const prev = seen.get(x.name);
    if (prev !== undefined) ctx.add(`contexts[${i}].name`, `${JSON.stringify(x.name)} is already the name of contexts[${prev}]`);
    seen.set(x.name, i);
  });
  const cur = c['current-context'];
  if (cur !== undefined && !seen.has(cur)) ctx.add('current-context', `names no context (known: ${[...seen.keys()].join(', ') || 'none'})`);
});

export type BerthConfig = Infer<typeof configSchema>;
export type Context = Infer<typeof contextSchema>;

export const emptyConfig = (): BerthConfig => ({ apiVersion: CONFIG_API_VERSION, kind: CONFIG_KIND, contexts: [] });

/**
 * Where the config file is: $BERTH_CONFIG, else $XDG_CONFIG_HOME/berth/config.yaml (the XDG spec
 * ignores a relative XDG_CONFIG_HOME), else ~/.config/berth/config.yaml.
 */
export function configPath(env: NodeJS.ProcessEnv = process.env, home: () => string = homedir): string {
  const explicit = env['BERTH_CONFIG'];
  if (explicit) return explicit;
  const xdg = env['XDG_CONFIG_HOME'];
  const base = xdg && isAbsolute(xdg) ? xdg : join(home(), '.config');
  return join(base, 'berth', 'config.yaml');
}

/** Parses and validates config text; every problem is reported with the file and field. */
export function parseConfig(text: string, path: string): BerthConfig {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES)
    throw new ConfigError(`${path}: larger than ${MAX_CONFIG_BYTES / 1024} KiB; not a Berth config file`);
  const doc = parseDocument(text, { uniqueKeys: true, strict: true, prettyErrors: false });
  const err = doc.errors[0];
  if (err) throw new ConfigError(`${path}: not valid YAML: ${err.message.split('\n')[0]}`);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 10 });
  } catch (e) {
    throw new ConfigError(`${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (value === null || value === undefined) return emptyConfig();
  const ctx = new Ctx();
  const v = configSchema.parse(value, '', ctx);
  if (v === INVALID || ctx.issues.length > 0) {
    throw new ConfigError(`invalid config file ${path}:\n${ctx.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
  }
  return v;
}

export function loadConfig(path: string = configPath()): BerthConfig {
  if (!existsSync(path)) return emptyConfig();
  let text: string;
  let mode: number;
  try {
    text = readFileSync(path, 'utf8');
    mode = statSync(path).mode;
  } catch (err) {
    throw new ConfigError(`${path}: cannot read: ${err instanceof Error ? err.message : String(err)}`);
  }
  const cfg = parseConfig(text, path);
  // Like ssh with a private key: a credential others can read is not used.
  if ((mode & 0o077) !== 0 && cfg.contexts.some((c) => c.credential))
    throw new ConfigError(`${path}: holds credentials but other users can read it (mode ${(mode & 0o777).toString(8)}): chmod 600 ${path}`);
  return cfg;
}

export function renderConfig(c: BerthConfig): string {
  const out: Record<string, unknown> = { apiVersion: c.apiVersion, kind: c.kind };
  if (c['current-context'] !== undefined) out['current-context'] = c['current-context'];
  out['contexts'] = c.contexts.map((x) => ({
    name: x.name,
    controller: x.controller,
    ...(x.credential ? { credential: x.credential } : {}),
  }));
  return stringify(out);
}

/**
 * Writes the config atomically (a temp file renamed over it), readable only by its owner: it
 * will hold credentials.
 */
export function saveConfig(c: BerthConfig, path: string = configPath()): void {
  const text = renderConfig(c);
  parseConfig(text, path); // never write a file the next command would refuse
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export type ControllerSource = 'flag' | 'context-flag' | 'env' | 'current-context' | 'default';

export interface ResolvedController {
  address: string;
  source: ControllerSource;
  /** The context used, when one was. */
  context?: string;
}

export interface ResolveInput {
  /** --controller */
  flag?: string | undefined;
  /** --context */
  context?: string | undefined;
  /** BERTH_CONTROLLER */
  env?: string | undefined;
  /** Reads the config file; called only when the answer depends on it. */
  config: () => BerthConfig;
  /** For messages: where the config file is. */
  configPath: string;
}

/** Which controller to talk to, by the precedence documented atop this file. */
export function resolveController(input: ResolveInput): ResolvedController {
  if (input.flag) return { address: input.flag, source: 'flag' };
  if (input.context) {
    const cfg = input.config();
    const ctx = cfg.contexts.find((c) => c.name === input.context);
    if (!ctx)
      throw new ConfigError(
        `--context ${input.context}: no such context in ${input.configPath} (known: ${cfg.contexts.map((c) => c.name).join(', ') || 'none'})`,
      );
    return { address: ctx.controller, source: 'context-flag', context: ctx.name };
  }
  if (input.env) return { address: input.env, source: 'env' };
  const cfg = input.config();
  const cur = cfg['current-context'];
  if (cur !== undefined) {
    const ctx = cfg.contexts.find((c) => c.name === cur);
    if (ctx) return { address: ctx.controller, source: 'current-context', context: ctx.name };
  }
  return { address: DEFAULT_CONTROLLER, source: 'default' };
}

/** Adds or updates a context; the others and current-context stay as they are. */
export function setContext(
  c: BerthConfig,
  name: string,
  controller: string,
  credential?: Context['credential'],
): { config: BerthConfig; created: boolean } {
  const existing = c.contexts.findIndex((x) => x.name === name);
  const contexts = [...c.contexts];
  if (existing >= 0) contexts[existing] = { ...contexts[existing]!, controller, ...(credential ? { credential } : {}) };
  else contexts.push({ name, controller, ...(credential ? { credential } : {}) });
  return { config: { ...c, contexts }, created: existing < 0 };
}

export function useContext(c: BerthConfig, name: string, path: string): BerthConfig {
  if (!c.contexts.some((x) => x.name === name)) {
    throw new ConfigError(
      `no context named ${JSON.stringify(name)} in ${path} (known: ${c.contexts.map((x) => x.name).join(', ') || 'none'}); create it with: berth config set-context ${name} --controller HOST:PORT`,
    );
  }
  return { ...c, 'current-context': name };
}

export function deleteContext(c: BerthConfig, name: string, path: string): BerthConfig {
  if (!c.contexts.some((x) => x.name === name)) throw new ConfigError(`no context named ${JSON.stringify(name)} in ${path}`);
  const out: BerthConfig = { ...c, contexts: c.contexts.filter((x) => x.name !== name) };
  if (out['current-context'] === name) delete out['current-context'];
  return out;
}
