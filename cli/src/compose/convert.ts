// Compose import: a Compose file (top-level `services:`, no apiVersion/kind) becomes one Berth
// Service manifest per Compose service. Every key is either mapped or reported by its path as
// not honoured (never dropped in silence); `x-` extension fields are ignored, as Compose itself
// ignores them. The result is validated like any manifest afterwards. Pure: the environment and
// file reads (env_file) are inputs. docs/manifest.md has the mapping table.
import { basename, isAbsolute, resolve } from 'node:path';
import { formatBytes, formatDuration } from '../../../proto/src/spec/units.js';
import { API_VERSION, serviceSpecSchema } from '../../../proto/src/spec/service.js';
import { interpolate, parseEnvFile } from './interpolate.js';
import { convertHealthcheck, convertPlacement, convertRestart, convertRestartPolicy, convertUpdateConfig } from './lifecycle.js';
import { dockerBytes, goDurationMs, scalarString } from './values.js';

export { dockerBytes, goDurationMs };

export interface ComposeIssue {
  /** Where in the Compose file: `services.web.deploy.placement`. */
  path: string;
  message: string;
}

export interface ComposeContext {
  /** Directory of the Compose file: relative bind sources and env_file paths start there. */
  projectDir: string;
  /** Variables for interpolation and bare environment entries (the CLI's environment and .env). */
  env: Readonly<Record<string, string | undefined>>;
  /** Reads an env_file (absolute path); throws when it cannot. */
  readFile: (path: string) => string;
  /** For ~ in bind sources. */
  home?: string | undefined;
}

export interface ComposeConversion {
  project: string;
  manifests: Array<Record<string, unknown>>;
  /** Keys not honoured: warnings, or errors with --strict. */
  ignored: ComposeIssue[];
  /** Worth knowing, not a loss: renamed services, unset variables. */
  notes: ComposeIssue[];
  /** The file cannot be converted. */
  errors: ComposeIssue[];
}

/** Label keys on the converted Services (metadata, for `berth get -l`), not on containers. */
export const LABEL_PROJECT = 'com.docker.compose.project';
export const LABEL_COMPOSE_SERVICE = 'com.docker.compose.service';
/** Ports one range may expand to. */
const MAX_PORT_RANGE = 100;

export function isComposeDocument(doc: unknown): boolean {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return false;
  const o = doc as Record<string, unknown>;
  return Object.prototype.hasOwnProperty.call(o, 'services') && !('apiVersion' in o) && !('kind' in o);
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Why a key is not honoured, for the keys people use most; others get a generic reason. */
const REASONS: Record<string, string> = {
  build: 'Berth runs images: build and push the image, then set image',
  container_name: 'Berth names containers itself (one per replica)',
  depends_on: 'Berth starts services independently; let them retry their connections',
  networks: "Berth uses the engine's bridge network (or networkMode host/none); containers reach each other through published ports",
  links: 'use published ports instead',
  external_links: 'use published ports instead',
  expose: 'Berth has no unpublished ports list; use ports to publish',
  secrets: 'Berth Secrets cannot be given to containers yet',
  configs: 'not supported by Berth',
  profiles: 'Berth applies every service of the file',
  extends: 'not supported by Berth; merge the service by hand or with YAML anchors',
  hostname: "not supported by Berth (each container gets the engine's default)",
  privileged: 'not supported by Berth',
  devices: 'not supported by Berth',
  version: 'obsolete in the Compose specification',
  rollback_config: 'a failed update rolls back with the update settings (update.failureAction: rollback)',
};

function reason(key: string): string {
  return REASONS[key] ?? 'not supported by Berth';
}

/** POSIX-like word splitting of a command string ("sh -c 'echo hi'"), as Compose does. */
export function shellWords(s: string): string[] | string {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return 'unterminated single quote';
      cur += s.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < s.length && s[j] !== '"'; j++) {
        if (s[j] === '\\' && j + 1 < s.length && '"\\$`'.includes(s[j + 1]!)) j++;
        cur += s[j];
      }
      if (j >= s.length) return 'unterminated double quote';
      i = j;
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** A tmpfs mode as Compose files write it (1777, "1777", 0o1777 read as 1023) → octal string. */
function octalMode(v: unknown): string | undefined {
  if (typeof v === 'string' && /^0?[0-7]{3,4}$/.test(v)) return v.padStart(4, '0');
  // A YAML 1777 is the number 1777 whose digits mean octal bits.
  if (typeof v === 'number' && Number.isInteger(v) && /^[0-7]{3,4}$/.test(String(v))) return String(v).padStart(4, '0');
  return undefined;
}

/** Berth's DNS-1123 name for a Compose service name, or undefined when none fits. */
export function berthName(name: string): string | undefined {
  const n = name.toLowerCase().replace(/[_.]/g, '-');
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n) && n.length <= 63 ? n : undefined;
}

/** Compose's project name rule: lowercase letters, digits, "_" and "-". */
function projectName(doc: Record<string, unknown>, dir: string): string {
  const raw = typeof doc['name'] === 'string' ? doc['name'] : basename(dir);
  return (
    raw
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, '')
      .replace(/^[_-]+/, '') || 'default'
  );
}

interface Out {
  ignored: ComposeIssue[];
  notes: ComposeIssue[];
  errors: ComposeIssue[];
}

export function convertCompose(input: unknown, ctx: ComposeContext): ComposeConversion {
  const out: Out = { ignored: [], notes: [], errors: [] };
  const fail = (path: string, message: string): void => void out.errors.push({ path, message });
  const ignore = (path: string, message: string): void => void out.ignored.push({ path, message: `not honoured: ${message}` });
  const interpolated = interpolate(input, ctx.env);
  for (const e of interpolated.errors) fail(e.path, e.message);
  for (const u of interpolated.unset) out.notes.push(u);
  const doc = interpolated.value;
  if (!isRecord(doc))
    return { project: 'default', manifests: [], ...out, errors: [{ path: '(document)', message: 'a Compose file is a mapping' }] };
  const project = projectName(doc, ctx.projectDir);

  for (const key of Object.keys(doc)) {
    if (key === 'services' || key === 'volumes' || key === 'name' || key.startsWith('x-')) continue;
    ignore(key, reason(key));
  }

  // Top-level volumes: the engine name of each (Compose prefixes the project unless external or named).
  const volumeNames = new Map<string, string>();
  const topVolumes = doc['volumes'];
  if (topVolumes !== undefined && topVolumes !== null && !isRecord(topVolumes)) fail('volumes', 'expected a mapping of volume names');
  for (const [name, def] of Object.entries(isRecord(topVolumes) ? topVolumes : {})) {
    const p = `volumes.${name}`;
    let engineName = `${project}_${name}`;
    if (isRecord(def)) {
      for (const [k, v] of Object.entries(def)) {
        if (k === 'name' && typeof v === 'string') engineName = v;
        else if (k === 'external') {
          if (v === true) engineName = typeof def['name'] === 'string' ? def['name'] : name;
        } else if (!k.startsWith('x-'))
          ignore(`${p}.${k}`, k === 'driver' || k === 'driver_opts' ? "Berth volumes use the engine's default (local) driver" : reason(k));
      }
    } else if (def !== null && def !== undefined) fail(p, 'expected a mapping (or nothing)');
    volumeNames.set(name, engineName);
  }

  const services = doc['services'];
  const manifests: Array<Record<string, unknown>> = [];
  if (!isRecord(services)) {
    fail('services', 'expected a mapping of service names to services');
    return { project, manifests, ...out };
  }
  const taken = new Map<string, string>();
  for (const [composeName, svc] of Object.entries(services)) {
    const base = `services.${composeName}`;
    const name = berthName(composeName);
    if (!name) {
      fail(base, `the name ${JSON.stringify(composeName)} cannot become a Berth name (lowercase letters, digits and "-", at most 63)`);
      continue;
    }
    const clash = taken.get(name);
    if (clash !== undefined) {
      fail(base, `becomes the Berth name ${name}, like services.${clash}; rename one`);
      continue;
    }
    taken.set(name, composeName);
    if (name !== composeName) out.notes.push({ path: base, message: `named ${name} in Berth (names are DNS-1123 labels)` });
    if (!isRecord(svc)) {
      fail(base, 'expected a mapping');
      continue;
    }
    const spec = convertService(svc, base, { ...ctx, project, volumeNames }, out);
    if (spec) {
      manifests.push({
        apiVersion: API_VERSION,
        kind: 'Service',
        metadata: { name, labels: { [LABEL_PROJECT]: project, [LABEL_COMPOSE_SERVICE]: composeName } },
        spec,
      });
    }
  }
  return { project, manifests, ...out };
}

interface ServiceContext extends ComposeContext {
  project: string;
  volumeNames: ReadonlyMap<string, string>;
}

function convertService(svc: Record<string, unknown>, base: string, ctx: ServiceContext, out: Out): Record<string, unknown> | undefined {
  const fail = (path: string, message: string): void => void out.errors.push({ path, message });
  const ignore = (path: string, message: string): void => void out.ignored.push({ path, message: `not honoured: ${message}` });
  const spec: Record<string, unknown> = {};
  const resources: Record<string, unknown> = {};
  const limits: Record<string, unknown> = {};
  const volumes: Array<Record<string, unknown>> = [];

  const words = (v: unknown, p: string): string[] | undefined => {
    if (typeof v === 'string') {
      const w = shellWords(v);
      if (typeof w === 'string') return void fail(p, w);
      return w;
    }
    if (Array.isArray(v)) return v.map((x) => scalarString(x) ?? JSON.stringify(x));
    return void fail(p, 'expected a string or a list of strings');
  };
  const bytes = (v: unknown, p: string): string | number | undefined => {
    const b = dockerBytes(v);
    if (typeof b === 'string') return void fail(p, b);
    return formatBytes(b);
  };
  const cpus = (v: unknown, p: string): number | undefined => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isFinite(n)) return void fail(p, `expected a number of CPUs such as 0.5, got ${JSON.stringify(v)}`);
    return n;
  };

  for (const [key, value] of Object.entries(svc)) {
    const p = `${base}.${key}`;
    if (key.startsWith('x-') || value === null || value === undefined) continue;
    switch (key) {
      case 'image':
        spec['image'] = scalarString(value) ?? void fail(p, 'expected a string');
        break;
      case 'command':
      case 'entrypoint': {
        const w = words(value, p);
        if (w) spec[key] = w;
        break;
      }
      case 'environment':
      case 'env_file':
        break; // below, env_file first, then environment
      case 'ports':
        spec['ports'] = convertPorts(value, p, out);
        break;
      case 'volumes':
        if (!Array.isArray(value)) fail(p, 'expected a list');
        else
          value.forEach((v, i) => {
            const m = convertVolume(v, `${p}[${i}]`, ctx, out);
            if (m) volumes.push(m);
          });
        break;
      case 'tmpfs':
        for (const [i, t] of (Array.isArray(value) ? value : [value]).entries()) {
          const m = convertTmpfs(t, Array.isArray(value) ? `${p}[${i}]` : p, out);
          if (m) volumes.push(m);
        }
        break;
      case 'deploy':
        convertDeploy(value, p, { spec, resources, limits, bytes, cpus }, out);
        break;
      case 'healthcheck': {
        const h = convertHealthcheck(value, p, out);
        if (h) spec['health'] = h;
        break;
      }
      case 'restart': {
        // deploy.restart_policy, when present, wins (as in Compose).
        if (isRecord(svc['deploy']) && svc['deploy']['restart_policy'] !== undefined) {
          out.notes.push({ path: p, message: 'deploy.restart_policy is used instead' });
          break;
        }
        const r = convertRestart(value, p, out);
        if (r) spec['restart'] = r;
        break;
      }
      case 'scale':
        spec['replicas'] = value;
        break;
      case 'cpus': {
        const n = cpus(value, p);
        if (n !== undefined) limits['cpu'] = n;
        break;
      }
      case 'mem_limit': {
        const b = bytes(value, p);
        if (b !== undefined) limits['memory'] = b;
        break;
      }
      case 'mem_reservation': {
        const b = bytes(value, p);
        if (b !== undefined) resources['memory'] = b;
        break;
      }
      case 'working_dir':
        spec['workingDir'] = value;
        break;
      case 'user':
        spec['user'] = scalarString(value) ?? value;
        break;
      case 'init':
        spec['init'] = value;
        break;
      case 'read_only':
        spec['readOnlyRootFilesystem'] = value;
        break;
      case 'cap_add':
        spec['capAdd'] = value;
        break;
      case 'cap_drop':
        spec['capDrop'] = value;
        break;
      case 'labels':
        spec['labels'] = keyValues(value, p, out);
        break;
      case 'logging':
        if (!isRecord(value)) fail(p, 'expected a mapping');
        else {
          const logging: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(value)) {
            if (k === 'driver') logging['driver'] = v;
            else if (k === 'options') logging['options'] = v;
            else if (!k.startsWith('x-')) ignore(`${p}.${k}`, reason(k));
          }
          if (logging['driver'] === undefined) logging['driver'] = 'json-file';
          spec['logging'] = logging;
        }
        break;
      case 'network_mode':
        if (value === 'bridge' || value === 'host' || value === 'none') spec['networkMode'] = value;
        else if (value !== 'default')
          ignore(p, `network mode ${JSON.stringify(value)}; Berth has bridge, host and none (the service runs on bridge)`);
        break;
      case 'stop_signal':
        spec['stop'] = { ...(spec['stop'] as object | undefined), signal: value };
        break;
      case 'stop_grace_period': {
        const ms = goDurationMs(value);
        if (typeof ms === 'string') fail(p, ms);
        else spec['stop'] = { ...(spec['stop'] as object | undefined), gracePeriod: formatDuration(ms) };
        break;
      }
      default:
        ignore(p, reason(key));
    }
  }

  const env = convertEnvironment(svc, base, ctx, out);
  if (env && Object.keys(env).length > 0) spec['env'] = env;
  if (volumes.length > 0) spec['volumes'] = volumes;
  if (Object.keys(limits).length > 0) resources['limits'] = limits;
  if (Object.keys(resources).length > 0) spec['resources'] = resources;
  if (spec['image'] === undefined) {
    fail(
      `${base}.image`,
      svc['build'] !== undefined
        ? 'required: Berth does not build images; build and push it, then name it here'
        : 'required field is missing',
    );
    return undefined;
  }
  // In the order of the Berth schema, as a person would write it.
  const order = Object.keys(serviceSpecSchema.fields);
  return Object.fromEntries(Object.entries(spec).sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)));
}

function keyValues(value: unknown, p: string, out: Out): Record<string, string> | undefined {
  const result: Record<string, string> = {};
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      const s = scalarString(item);
      const eq = s?.indexOf('=') ?? -1;
      if (s === undefined || eq <= 0) out.errors.push({ path: `${p}[${i}]`, message: 'expected KEY=VALUE' });
      else result[s.slice(0, eq)] = s.slice(eq + 1);
    });
    return result;
  }
  if (isRecord(value)) {
    for (const [k, v] of Object.entries(value)) result[k] = scalarString(v) ?? '';
    return result;
  }
  out.errors.push({ path: p, message: 'expected a mapping or a list of KEY=VALUE' });
  return undefined;
}

function convertEnvironment(svc: Record<string, unknown>, base: string, ctx: ServiceContext, out: Out): Record<string, string> | undefined {
  const env: Record<string, string> = {};
  const fromCli = (name: string, path: string): void => {
    const v = ctx.env[name];
    if (v === undefined) out.notes.push({ path, message: `${name} takes its value from the environment, where it is not set; left out` });
    else env[name] = v;
  };
  const files = svc['env_file'];
  if (files !== undefined && files !== null) {
    const list = Array.isArray(files) ? files : [files];
    list.forEach((f, i) => {
      const p = Array.isArray(files) ? `${base}.env_file[${i}]` : `${base}.env_file`;
      const rel = typeof f === 'string' ? f : isRecord(f) ? f['path'] : undefined;
      const required = isRecord(f) ? f['required'] !== false : true;
      if (typeof rel !== 'string') return void out.errors.push({ path: p, message: 'expected a file path' });
      const file = isAbsolute(rel) ? rel : resolve(ctx.projectDir, rel);
      let text: string;
      try {
        text = ctx.readFile(file);
      } catch (err) {
        if (required) out.errors.push({ path: p, message: `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}` });
        return;
      }
      const parsed = parseEnvFile(text);
      for (const pr of parsed.problems) out.errors.push({ path: p, message: `${file} line ${pr.line}: ${pr.message}` });
      for (const [k, v] of Object.entries(parsed.vars)) {
        if (v === undefined) fromCli(k, p);
        else env[k] = v;
      }
    });
  }
  const e = svc['environment'];
  const p = `${base}.environment`;
  if (Array.isArray(e)) {
    e.forEach((item, i) => {
      const s = scalarString(item);
      if (s === undefined) return void out.errors.push({ path: `${p}[${i}]`, message: 'expected KEY=VALUE or KEY' });
      const eq = s.indexOf('=');
      if (eq < 0) fromCli(s, `${p}[${i}]`);
      else env[s.slice(0, eq)] = s.slice(eq + 1);
    });
  } else if (isRecord(e)) {
    for (const [k, v] of Object.entries(e)) {
      if (v === null || v === undefined) fromCli(k, `${p}.${k}`);
      else env[k] = scalarString(v) ?? JSON.stringify(v);
    }
  } else if (e !== undefined && e !== null) out.errors.push({ path: p, message: 'expected a mapping or a list of KEY=VALUE' });
  return env;
}

function portRange(s: string): [number, number] | undefined {
  const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(s);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = m[2] !== undefined ? Number(m[2]) : a;
  return b >= a ? [a, b] : undefined;
}

function convertPorts(value: unknown, p: string, out: Out): Array<Record<string, unknown>> {
  const ports: Array<Record<string, unknown>> = [];
  if (!Array.isArray(value)) {
    out.errors.push({ path: p, message: 'expected a list' });
    return ports;
  }
  value.forEach((entry, i) => {
    const ep = `${p}[${i}]`;
    if (isRecord(entry)) {
      const port: Record<string, unknown> = {};
      let published: [number, number] | undefined;
      for (const [k, v] of Object.entries(entry)) {
        if (k === 'target') port['containerPort'] = v;
        else if (k === 'published') {
          published = portRange(String(v));
          if (!published) out.errors.push({ path: `${ep}.published`, message: `expected a port or range, got ${JSON.stringify(v)}` });
        } else if (k === 'host_ip') port['hostIP'] = v;
        else if (k === 'protocol') port['protocol'] = v;
        else if (k === 'mode') {
          if (v !== 'host')
            out.ignored.push({
              path: `${ep}.mode`,
              message: `not honoured: ${JSON.stringify(v)}; Berth publishes on the node that runs each container, like mode: host`,
            });
        } else if (!k.startsWith('x-')) out.ignored.push({ path: `${ep}.${k}`, message: `not honoured: ${reason(k)}` });
      }
      if (published && published[0] !== published[1])
        out.errors.push({
          path: `${ep}.published`,
          message: 'a range of published ports for one target port is not supported; publish one port',
        });
      else if (published) port['hostPort'] = published[0];
      ports.push(port);
      return;
    }
    const s0 = scalarString(entry);
    if (s0 === undefined)
      return void out.errors.push({ path: ep, message: 'expected "[host_ip:][published:]target[/protocol]" or a mapping' });
    let s = s0;
    let protocol: string | undefined;
    const slash = s.lastIndexOf('/');
    if (slash >= 0) {
      protocol = s.slice(slash + 1);
      s = s.slice(0, slash);
    }
    let hostIP: string | undefined;
    if (s.startsWith('[')) {
      const end = s.indexOf(']:');
      if (end < 0) return void out.errors.push({ path: ep, message: `cannot read ${JSON.stringify(s0)}` });
      hostIP = s.slice(1, end);
      s = s.slice(end + 2);
    }
    const parts = s.split(':');
    if (parts.length === 3 && hostIP === undefined) hostIP = parts.shift();
    if (parts.length > 2 || parts.length === 0) return void out.errors.push({ path: ep, message: `cannot read ${JSON.stringify(s0)}` });
    const target = portRange(parts[parts.length - 1]!);
    const published = parts.length === 2 && parts[0] !== '' ? portRange(parts[0]!) : undefined;
    if (!target || (parts.length === 2 && parts[0] !== '' && !published))
      return void out.errors.push({
        path: ep,
        message: `cannot read ${JSON.stringify(s0)}: expected [host_ip:][published:]target[/protocol]`,
      });
    const n = target[1] - target[0] + 1;
    if (published && published[1] - published[0] + 1 !== n)
      return void out.errors.push({ path: ep, message: 'the published and target ranges differ in length' });
    if (n > MAX_PORT_RANGE) return void out.errors.push({ path: ep, message: `a range of at most ${MAX_PORT_RANGE} ports` });
    for (let k = 0; k < n; k++) {
      ports.push({
        containerPort: target[0] + k,
        ...(published ? { hostPort: published[0] + k } : {}),
        ...(protocol !== undefined ? { protocol } : {}),
        ...(hostIP ? { hostIP } : {}),
      });
    }
  });
  return ports;
}

function bindSource(src: string, ctx: ServiceContext): string {
  if (src === '~' || src.startsWith('~/')) return resolve(ctx.home ?? '/', `.${src.slice(1)}`);
  return isAbsolute(src) ? resolve(src) : resolve(ctx.projectDir, src);
}

function namedVolume(name: string, p: string, ctx: ServiceContext, out: Out): string | undefined {
  const engineName = ctx.volumeNames.get(name);
  if (engineName === undefined)
    out.errors.push({ path: p, message: `refers to the volume ${JSON.stringify(name)}, which the top-level volumes do not declare` });
  return engineName;
}

function convertVolume(v: unknown, p: string, ctx: ServiceContext, out: Out): Record<string, unknown> | undefined {
  if (typeof v === 'string') {
    const parts = v.split(':');
    if (parts.length > 3 || parts.some((x) => x === ''))
      return void out.errors.push({ path: p, message: `cannot read ${JSON.stringify(v)}: expected [source:]target[:mode]` });
    if (parts.length === 1) return { type: 'volume', target: parts[0] };
    const [src, target, mode] = parts as [string, string, string | undefined];
    const m: Record<string, unknown> = {};
    if (src.startsWith('/') || src.startsWith('.') || src.startsWith('~')) Object.assign(m, { type: 'bind', source: bindSource(src, ctx) });
    else {
      const name = namedVolume(src, p, ctx, out);
      if (name === undefined) return undefined;
      Object.assign(m, { type: 'volume', source: name });
    }
    m['target'] = target;
    for (const opt of (mode ?? '').split(',').filter(Boolean)) {
      if (opt === 'ro') m['readOnly'] = true;
      else if (opt !== 'rw') out.ignored.push({ path: p, message: `not honoured: the mount option ${JSON.stringify(opt)}` });
    }
    return m;
  }
  if (!isRecord(v)) return void out.errors.push({ path: p, message: 'expected a string or a mapping' });
  const type = v['type'] ?? 'volume';
  if (type !== 'volume' && type !== 'bind' && type !== 'tmpfs')
    return void out.errors.push({
      path: `${p}.type`,
      message: `${JSON.stringify(type)} volumes are not supported (volume, bind and tmpfs are)`,
    });
  const m: Record<string, unknown> = { type };
  for (const [k, x] of Object.entries(v)) {
    const kp = `${p}.${k}`;
    if (k === 'type' || k.startsWith('x-') || x === null || x === undefined) continue;
    if (k === 'target') m['target'] = x;
    else if (k === 'read_only') m['readOnly'] = x;
    else if (k === 'source') {
      if (typeof x !== 'string') out.errors.push({ path: kp, message: 'expected a string' });
      else if (type === 'bind') m['source'] = bindSource(x, ctx);
      else if (type === 'volume') {
        const name = namedVolume(x, kp, ctx, out);
        if (name !== undefined) m['source'] = name;
      } else m['source'] = x; // tmpfs: Berth's validation names it
    } else if (k === 'tmpfs' && isRecord(x)) {
      for (const [tk, tv] of Object.entries(x)) {
        if (tk === 'size') {
          const b = dockerBytes(tv);
          if (typeof b === 'string') out.errors.push({ path: `${kp}.size`, message: b });
          else m['size'] = formatBytes(b);
        } else if (tk === 'mode') {
          const mode = octalMode(tv);
          if (mode === undefined)
            out.errors.push({ path: `${kp}.mode`, message: `expected octal permission bits such as 1777, got ${JSON.stringify(tv)}` });
          else m['mode'] = mode;
        } else out.ignored.push({ path: `${kp}.${tk}`, message: `not honoured: ${reason(tk)}` });
      }
    } else if (k === 'bind' && isRecord(x)) {
      for (const bk of Object.keys(x)) {
        out.ignored.push({
          path: `${kp}.${bk}`,
          message:
            bk === 'create_host_path'
              ? 'not honoured: Berth never creates host paths; the path must exist on the node'
              : `not honoured: ${reason(bk)}`,
        });
      }
    } else out.ignored.push({ path: kp, message: `not honoured: ${reason(k)}` });
  }
  return m;
}

function convertTmpfs(t: unknown, p: string, out: Out): Record<string, unknown> | undefined {
  if (typeof t !== 'string') return void out.errors.push({ path: p, message: 'expected a path (with optional :size=…,mode=…)' });
  const [target, opts] = t.split(/:(.*)/s) as [string, string | undefined];
  const m: Record<string, unknown> = { type: 'tmpfs', target };
  for (const opt of (opts ?? '').split(',').filter(Boolean)) {
    const [k, v] = opt.split('=') as [string, string | undefined];
    if (k === 'size') {
      const b = dockerBytes(v);
      if (typeof b === 'string') out.errors.push({ path: p, message: b });
      else m['size'] = formatBytes(b);
    } else if (k === 'mode' && v !== undefined && octalMode(v) !== undefined) m['mode'] = octalMode(v);
    else out.ignored.push({ path: p, message: `not honoured: the tmpfs option ${JSON.stringify(opt)}` });
  }
  return m;
}

function convertDeploy(
  value: unknown,
  p: string,
  x: {
    spec: Record<string, unknown>;
    resources: Record<string, unknown>;
    limits: Record<string, unknown>;
    bytes: (v: unknown, p: string) => string | number | undefined;
    cpus: (v: unknown, p: string) => number | undefined;
  },
  out: Out,
): void {
  if (!isRecord(value)) return void out.errors.push({ path: p, message: 'expected a mapping' });
  for (const [k, v] of Object.entries(value)) {
    const kp = `${p}.${k}`;
    if (k.startsWith('x-') || v === null || v === undefined) continue;
    if (k === 'replicas') x.spec['replicas'] = v;
    else if (k === 'mode') {
      if (v === 'global') x.spec['mode'] = 'global';
      else if (v !== 'replicated') out.errors.push({ path: kp, message: `expected replicated or global, got ${JSON.stringify(v)}` });
    } else if (k === 'resources' && isRecord(v)) {
      for (const [rk, rv] of Object.entries(v)) {
        const rp = `${kp}.${rk}`;
        if ((rk !== 'limits' && rk !== 'reservations') || !isRecord(rv)) {
          out.ignored.push({ path: rp, message: `not honoured: ${reason(rk)}` });
          continue;
        }
        const target = rk === 'limits' ? x.limits : x.resources;
        for (const [ik, iv] of Object.entries(rv)) {
          const ip = `${rp}.${ik}`;
          if (ik === 'cpus') {
            const n = x.cpus(iv, ip);
            if (n !== undefined) target['cpu'] = n;
          } else if (ik === 'memory') {
            const b = x.bytes(iv, ip);
            if (b !== undefined) target['memory'] = b;
          } else out.ignored.push({ path: ip, message: `not honoured: ${reason(ik)}` });
        }
      }
    } else if (k === 'restart_policy') {
      // Swarm's deploy.restart_policy wins over the service's restart, as in Compose.
      const r = convertRestartPolicy(v, kp, out);
      if (r) x.spec['restart'] = r;
    } else if (k === 'update_config') {
      const u = convertUpdateConfig(v, kp, out);
      if (u) x.spec['update'] = u;
    } else if (k === 'placement') {
      const pl = convertPlacement(v, kp, out);
      if (pl) x.spec['placement'] = pl;
    } else out.ignored.push({ path: kp, message: `not honoured: ${reason(k)}` });
  }
}
