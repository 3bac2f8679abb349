// Compose keys that map onto Berth's lifecycle and placement fields: healthcheck, restart,
// deploy.restart_policy, deploy.update_config, deploy.mode and deploy.placement. Same contract as
// convert.ts: every key is mapped or reported by its path. Pure.
import { parseAttribute, parseConstraint } from '../../../proto/src/spec/placement.js';
import { formatDuration } from '../../../proto/src/spec/units.js';
import type { ComposeIssue } from './convert.js';
import { goDurationMs } from './values.js';

export interface LifecycleOut {
  ignored: ComposeIssue[];
  notes: ComposeIssue[];
  errors: ComposeIssue[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Docker's defaults for a HEALTHCHECK, used where the Compose file leaves a value out. */
const DOCKER_HEALTH_DEFAULTS = { interval: '30s', timeout: '30s', retries: 3, startPeriod: '0s' } as const;

/** healthcheck → health (an exec check: Compose's CMD runs as is, CMD-SHELL through /bin/sh -c). */
export function convertHealthcheck(v: unknown, p: string, out: LifecycleOut): Record<string, unknown> | undefined {
  if (!isRecord(v)) return void out.errors.push({ path: p, message: 'expected a mapping' });
  if (v['disable'] === true)
    return void out.ignored.push({
      path: `${p}.disable`,
      message: "not honoured: Berth cannot switch off an image's HEALTHCHECK; without a health check it is used",
    });
  const health: Record<string, unknown> = { ...DOCKER_HEALTH_DEFAULTS };
  let command: string[] | undefined;
  for (const [k, x] of Object.entries(v)) {
    const kp = `${p}.${k}`;
    if (k.startsWith('x-') || x === null || x === undefined) continue;
    if (k === 'test') {
      const t = typeof x === 'string' ? ['CMD-SHELL', x] : Array.isArray(x) ? x.map(String) : undefined;
      if (!t || t.length === 0)
        out.errors.push({ path: kp, message: 'expected a string or a list such as ["CMD", "curl", "-f", "http://localhost/"]' });
      else if (t[0] === 'NONE')
        return void out.ignored.push({
          path: kp,
          message: "not honoured: Berth cannot switch off an image's HEALTHCHECK; without a health check it is used",
        });
      else if (t[0] === 'CMD' && t.length > 1) command = t.slice(1);
      else if (t[0] === 'CMD-SHELL' && t.length === 2) command = ['/bin/sh', '-c', t[1]!];
      else out.errors.push({ path: kp, message: `expected ["CMD", …], ["CMD-SHELL", "command"] or a string, got ${JSON.stringify(x)}` });
    } else if (k === 'interval' || k === 'timeout' || k === 'start_period') {
      const ms = goDurationMs(x);
      if (typeof ms === 'string') out.errors.push({ path: kp, message: ms });
      else health[k === 'start_period' ? 'startPeriod' : k] = formatDuration(ms);
    } else if (k === 'retries') health['retries'] = x;
    else if (k !== 'disable')
      out.ignored.push({
        path: kp,
        message: `not honoured: ${k === 'start_interval' ? 'Berth checks at the same interval during the start period' : 'not supported by Berth'}`,
      });
  }
  if (!command) {
    if (!out.errors.some((e) => e.path.startsWith(p)))
      out.errors.push({ path: `${p}.test`, message: 'required: the command of the check' });
    return undefined;
  }
  // Berth's checks never overlap the next one: a timeout longer than the interval is cut to it.
  const intervalMs = goDurationMs(String(health['interval']));
  const timeoutMs = goDurationMs(String(health['timeout']));
  if (typeof intervalMs === 'number' && typeof timeoutMs === 'number' && timeoutMs > intervalMs) {
    out.notes.push({
      path: `${p}.timeout`,
      message: `${String(health['timeout'])}${v['timeout'] === undefined ? " (Docker's default)" : ''} is longer than the interval; Berth uses ${String(health['interval'])}`,
    });
    health['timeout'] = health['interval'];
  }
  return { exec: { command }, ...health };
}

/** restart → restart.policy (unless-stopped is always: Berth has no stopped state to remember). */
export function convertRestart(v: unknown, p: string, out: LifecycleOut): Record<string, unknown> | undefined {
  const s = typeof v === 'string' ? v.trim() : '';
  if (s === 'no') return { policy: 'never' };
  if (s === 'always') return { policy: 'always' };
  if (s === 'unless-stopped') {
    out.notes.push({
      path: p,
      message: 'unless-stopped is restart policy always in Berth (a service is stopped by deleting it or scaling it to 0)',
    });
    return { policy: 'always' };
  }
  const m = /^on-failure(?::([0-9]+))?$/.exec(s);
  if (m) return { policy: 'on-failure', ...(m[1] !== undefined && Number(m[1]) > 0 ? { maxAttempts: Number(m[1]) } : {}) };
  return void out.errors.push({ path: p, message: `expected no, always, on-failure[:N] or unless-stopped, got ${JSON.stringify(v)}` });
}

/** deploy.restart_policy → restart (condition, max_attempts, delay → backoff.initial, window → backoff.resetAfter). */
export function convertRestartPolicy(v: unknown, p: string, out: LifecycleOut): Record<string, unknown> | undefined {
  if (!isRecord(v)) return void out.errors.push({ path: p, message: 'expected a mapping' });
  const restart: Record<string, unknown> = { policy: 'always' };
  const backoff: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const kp = `${p}.${k}`;
    if (k.startsWith('x-') || x === null || x === undefined) continue;
    if (k === 'condition') {
      const policy = x === 'none' ? 'never' : x === 'on-failure' ? 'on-failure' : x === 'any' ? 'always' : undefined;
      if (!policy) out.errors.push({ path: kp, message: `expected none, on-failure or any, got ${JSON.stringify(x)}` });
      else restart['policy'] = policy;
    } else if (k === 'max_attempts') restart['maxAttempts'] = x;
    else if (k === 'delay' || k === 'window') {
      const ms = goDurationMs(x);
      if (typeof ms === 'string') out.errors.push({ path: kp, message: ms });
      else backoff[k === 'delay' ? 'initial' : 'resetAfter'] = formatDuration(ms);
    } else out.ignored.push({ path: kp, message: 'not honoured: not supported by Berth' });
  }
  if (restart['maxAttempts'] !== undefined && restart['policy'] !== 'on-failure') {
    out.ignored.push({ path: `${p}.max_attempts`, message: 'not honoured: Berth limits attempts only with condition on-failure' });
    delete restart['maxAttempts'];
  }
  if (Object.keys(backoff).length > 0) restart['backoff'] = backoff;
  return restart;
}

/** deploy.update_config → update (parallelism is maxSurge for start-first, maxUnavailable for stop-first). */
export function convertUpdateConfig(v: unknown, p: string, out: LifecycleOut): Record<string, unknown> | undefined {
  if (!isRecord(v)) return void out.errors.push({ path: p, message: 'expected a mapping' });
  const update: Record<string, unknown> = {};
  let parallelism: unknown;
  for (const [k, x] of Object.entries(v)) {
    const kp = `${p}.${k}`;
    if (k.startsWith('x-') || x === null || x === undefined) continue;
    if (k === 'parallelism') parallelism = x;
    else if (k === 'order') update['order'] = x;
    else if (k === 'failure_action') update['failureAction'] = x;
    else if (k === 'max_failure_ratio') update['maxFailureRatio'] = x;
    else if (k === 'delay' || k === 'monitor') {
      const ms = goDurationMs(x);
      if (typeof ms === 'string') out.errors.push({ path: kp, message: ms });
      else update[k] = formatDuration(ms);
    } else out.ignored.push({ path: kp, message: 'not honoured: not supported by Berth' });
  }
  if (parallelism !== undefined) {
    // Swarm's 0 means every task at once.
    const n = parallelism === 0 ? '100%' : parallelism;
    update[update['order'] === 'stop-first' ? 'maxUnavailable' : 'maxSurge'] = n;
  }
  return update;
}

/** deploy.placement → placement (constraints Berth can evaluate, spread preference, max per node). */
export function convertPlacement(v: unknown, p: string, out: LifecycleOut): Record<string, unknown> | undefined {
  if (!isRecord(v)) return void out.errors.push({ path: p, message: 'expected a mapping' });
  const placement: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const kp = `${p}.${k}`;
    if (k.startsWith('x-') || x === null || x === undefined) continue;
    if (k === 'constraints' && Array.isArray(x)) {
      const kept: string[] = [];
      x.forEach((c, i) => {
        const parsed = parseConstraint(String(c));
        if ('error' in parsed) out.ignored.push({ path: `${kp}[${i}]`, message: `not honoured: ${parsed.error}` });
        else kept.push(String(c));
      });
      if (kept.length > 0) placement['constraints'] = kept;
    } else if (k === 'preferences' && Array.isArray(x)) {
      x.forEach((pref, i) => {
        const spread = isRecord(pref) ? pref['spread'] : undefined;
        const attr = typeof spread === 'string' ? parseAttribute(spread) : undefined;
        if (i === 0 && typeof attr === 'string') placement['spreadBy'] = attr;
        else
          out.ignored.push({
            path: `${kp}[${i}]`,
            message: i === 0 ? 'not honoured: expected spread: <node attribute>' : 'not honoured: Berth spreads by one attribute',
          });
      });
    } else if (k === 'max_replicas_per_node') placement['maxPerNode'] = x;
    else out.ignored.push({ path: kp, message: 'not honoured: not supported by Berth' });
  }
  return Object.keys(placement).length > 0 ? placement : undefined;
}
