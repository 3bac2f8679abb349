// Compose's variable interpolation in values (not keys): $VAR, ${VAR}, ${VAR:-default},
// ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alternative}, ${VAR+alternative}, and $$
// for a literal $. An unset variable without a default becomes "" and is reported, as Compose
// does. Pure: the environment is an input.

export interface InterpolationProblem {
  path: string;
  message: string;
}

const NAME = '[A-Za-z_][A-Za-z0-9_]*';
const TOKEN = new RegExp(`\\$(?:(\\$)|(${NAME})|\\{(${NAME})(?:(:?[-?+])((?:[^{}]|\\{[^{}]*\\})*))?\\})|\\$\\{`, 'g');

/** One string; `unset` collects variables used without a value, `errors` the ${VAR?msg} failures. */
export function interpolateString(
  s: string,
  env: Readonly<Record<string, string | undefined>>,
  path: string,
  out: { unset: InterpolationProblem[]; errors: InterpolationProblem[] },
): string {
  if (!s.includes('$')) return s;
  return s.replace(
    TOKEN,
    (
      whole,
      dollar: string | undefined,
      bare: string | undefined,
      braced: string | undefined,
      op: string | undefined,
      arg: string | undefined,
    ) => {
      if (dollar) return '$';
      const name = bare ?? braced;
      if (!name) {
        out.errors.push({ path, message: `invalid interpolation ${JSON.stringify(whole)}: write \${NAME}, or $$ for a literal $` });
        return whole;
      }
      const value = env[name];
      const set = value !== undefined;
      const nonEmpty = set && value !== '';
      const nested = (): string => interpolateString(arg ?? '', env, path, out);
      switch (op) {
        case ':-':
          return nonEmpty ? value : nested();
        case '-':
          return set ? value : nested();
        case ':?':
        case '?':
          if (op === ':?' ? nonEmpty : set) return value!;
          out.errors.push({ path, message: `required variable ${name} is ${set ? 'empty' : 'not set'}${arg ? `: ${nested()}` : ''}` });
          return '';
        case ':+':
          return nonEmpty ? nested() : '';
        case '+':
          return set ? nested() : '';
        case undefined:
        default:
          if (!set) out.unset.push({ path, message: `variable ${name} is not set; using an empty string` });
          return value ?? '';
      }
    },
  );
}

/** Every string value of a document (keys stay as written). */
export function interpolate(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  path = '',
  out: { unset: InterpolationProblem[]; errors: InterpolationProblem[] } = { unset: [], errors: [] },
): { value: unknown; unset: InterpolationProblem[]; errors: InterpolationProblem[] } {
  const walk = (v: unknown, p: string): unknown => {
    if (typeof v === 'string') return interpolateString(v, env, p, out);
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${p}[${i}]`));
    if (v !== null && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = k.startsWith('x-') ? x : walk(x, p ? `${p}.${k}` : k);
      return o;
    }
    return v;
  };
  return { value: walk(value, path), ...out };
}

/**
 * Parses a .env / env_file text: KEY=VALUE lines, # comments, optional quotes, `export ` prefix.
 * A bare KEY (no "=") is undefined: its value comes from the environment of the CLI.
 */
export function parseEnvFile(text: string): {
  vars: Record<string, string | undefined>;
  problems: Array<{ line: number; message: string }>;
} {
  const vars: Record<string, string | undefined> = {};
  const problems: Array<{ line: number; message: string }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:=\s*(.*))?$/.exec(line);
    if (!m) {
      problems.push({
        line: i + 1,
        message: `expected KEY=VALUE, got ${JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}…` : line)}`,
      });
      return;
    }
    const key = m[1]!;
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
      problems.push({ line: i + 1, message: `the name ${key} is not allowed` });
      return;
    }
    if (m[2] === undefined) {
      vars[key] = undefined;
      return;
    }
    let value = m[2];
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    } else value = value.replace(/\s+#.*$/, '');
    vars[key] = value;
  });
  return { vars, problems };
}
