// Exit codes of the real `berth` binary (dist/cli/src/main.js) for mistakes in the command line:
// every usage mistake exits 2 with a message naming what is wrong, prints nothing on stdout, and
// is caught before anything is asked of a controller (the one configured does not exist, so a
// check that came after a call would exit 3). Failures at run time stay 1. docs/cli.md, Exit codes.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BERTH_BIN } from '../harness/cluster.js';
import { EXIT_FAILED, EXIT_USAGE } from '../../cli/src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-usage-'));
const xdg = join(dir, 'xdg');
/** berth up's folder in the usage rows: a refused command line creates nothing there. */
const upData = join(dir, 'up-data');
const good = join(dir, 'web.yaml');
writeFileSync(
  good,
  'apiVersion: berth.dev/v1\nkind: Service\nmetadata: {name: web}\nspec: {image: "berth-local/busybox:1", replicas: 1}\n',
);
const invalid = join(dir, 'bad.yaml');
writeFileSync(
  invalid,
  'apiVersion: berth.dev/v1\nkind: Service\nmetadata: {name: web}\nspec: {image: "berth-local/busybox:1", replicas: -1}\n',
);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function berth(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, BERTH_CONTROLLER: '127.0.0.1:1', XDG_CONFIG_HOME: xdg, NO_COLOR: '1' };
    delete env['BERTH_CONFIG'];
    const child = spawn(process.execPath, [BERTH_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** [command line, what stderr must say]. */
const USAGE_MISTAKES: Array<[string[], RegExp]> = [
  // commander: unknown command or flag, missing argument or option, incomplete command
  [[], /^Usage: berth /m],
  [['nodes'], /^Usage: berth nodes /m],
  [['rollout'], /^Usage: berth rollout /m],
  [['frobnicate'], /error: unknown command 'frobnicate'/],
  [['get', '--bogus', 'services'], /error: unknown option '--bogus'/],
  [['get'], /error: missing required argument 'kind'/],
  [['apply'], /error: required option '-f, --filename <path\.\.\.>' not specified/],
  [['scale'], /error: missing required argument 'name=replicas'/],
  [['logs'], /error: missing required argument 'service'/],
  [['exec', 'web'], /error: missing required argument 'command'/],
  [['config', 'use-context'], /error: missing required argument 'context'/],
  // kinds
  [['get', 'widgets'], /^error: unknown kind "widgets"; use services, tasks, nodes, secrets or policies$/m],
  [['describe', 'secret', 'x'], /^error: unknown kind "secret"; use service, task or node$/m],
  [['delete'], /^error: usage: berth delete service\|secret\|policy NAME\.\.\. \| berth delete -f FILE$/m],
  [['delete', 'tasks', 'x'], /unknown kind "tasks"; use service, secret or policy/],
  [['delete', 'service'], /^error: name the service\(s\) to delete$/m],
  [['delete', 'secret'], /^error: name the secret\(s\) to delete$/m],
  // bad flag values
  [['get', 'services', '-o', 'xml'], /^error: -o: unknown output format "xml"; use wide, json, yaml$/m],
  [['get', 'secrets', '-o', 'xml'], /^error: -o: unknown output format "xml"/m],
  [['get', 'services', '-l', '=x'], /^error: -l: "=x": /m],
  [['get', 'secrets', '-l', '=x'], /^error: -l: "=x": /m],
  [['top', '-o', 'xml'], /^error: -o: unknown output format "xml"; use wide, json$/m],
  [['version', '-o', 'xml'], /^error: -o: unknown output format "xml"; use json, yaml$/m],
  [['events', '-o', 'yaml'], /^error: -o: unknown output format "yaml"; use json$/m],
  [['plan', '-f', good, '-o', 'yaml'], /^error: -o: unknown output format "yaml"; use json$/m],
  [['scale', 'web'], /^error: "web": expected NAME=REPLICAS, e\.g\. web=3$/m],
  [['scale', 'Web=1'], /is not a service name/],
  [['scale', 'web=x'], /replicas must be a whole number/],
  [['scale', 'web=1', '--expected-revision', '0'], /^error: --expected-revision: expected a positive whole number$/m],
  [['scale', 'web=1', '--wait', '--timeout', 'xx'], /^error: --timeout: "xx" is not a duration/m],
  [['logs', 'Web'], /expected SERVICE, SERVICE\/SLOT or SERVICE@NODE/],
  [['logs', 'web', '--since', 'yesterday'], /^error: --since: "yesterday" is neither a duration/m],
  [['logs', 'web', '--tail', '-1'], /^error: --tail: expected a whole number, got "-1"$/m],
  [['events', '--limit', 'x'], /^error: --limit: expected a whole number, got "x"$/m],
  [['exec', 'web/0', '--', 'ls'], /slots are numbered from 1/],
  [['completion', 'fish'], /^error: unknown shell "fish"; use bash or zsh$/m],
  [['nodes', 'label', 'h1', 'bad'], /^error: expected KEY=VALUE to set or KEY- to remove, got "bad"$/m],
  [['nodes', 'drain', 'h1', '--timeout', '0'], /^error: --timeout: expected a positive number of seconds$/m],
  [['rollout', 'status', 'web', '--timeout', 'xx'], /^error: --timeout: "xx" is not a duration/m],
  [['rollout', 'undo', 'web', '--to-revision', 'x'], /^error: --to-revision: expected a revision number, got "x"$/m],
  [['registry', 'login', 'r:5000', '--name', 'n', '-u', 'u'], /--password-stdin/],
  [['agent', '--label', 'bad'], /^error: --label: expected key=value, got "bad"$/m],
  [['agent', '--cpus', 'lots'], /^error: --cpus: /m],
  [['agent', '--memory', 'lots'], /^error: --memory: /m],
  [
    ['up', '--data', upData, '--etcd-port', 'x'],
    /^error: --etcd-port: expected a port from 1 to 65534 \(berth up also uses port \+ 1\), got "x"$/m,
  ],
  [['up', '--data', upData, '--nats-port', '70000'], /^error: --nats-port: expected a port from 1 to 61535 /m],
  [['up', '--data', upData, '--metrics-port', '0'], /^error: --metrics-port: expected a port from 1 to 65534 /m],
  [['up', '--data', upData, '--api', '127.0.0.1:http'], /^error: --api: expected a port from 1 to 65535, got "http"$/m],
  [['up', '--data', upData, '--example-timeout', 'soon'], /^error: --example-timeout: /m],
  [['controller', '--lease-ttl', '0'], /^error: --lease-ttl: must be a whole number of seconds ≥ 1$/m],
  [['controller', '--heartbeat-period', 'soon'], /^error: --heartbeat-period: /m],
  [['--controller', 'no-port', 'get', 'services'], /^error: --controller: "no-port" is not a controller address/m],
  [['--context', 'nope', 'get', 'services'], /^error: --context nope: no such context/m],
  [['config', 'set-context', 'x'], /^error: set-context: --controller HOST:PORT is required$/m],
  [['config', 'set-context', 'x', '--controller', 'no-port'], /^error: --controller: "no-port" is not a controller address/m],
  [['config', 'use-context', 'nope'], /no context named "nope"/],
  // flags that exclude or need each other
  [['apply', '-f', good, '--timeout', '5s'], /^error: --timeout needs --wait$/m],
  [['apply', '-f', good, '--wait', '--dry-run'], /^error: --wait and --dry-run exclude each other/m],
  [['scale', 'web=1', '--timeout', '5s'], /^error: --timeout needs --wait$/m],
  [['scale', 'web=1', 'api=2', '--expected-revision', '3'], /^error: --expected-revision applies to one service at a time$/m],
  [['scale', 'web=1', 'web=2'], /^error: web is named twice$/m],
  [['delete', 'service', 'web', '-f', good], /^error: -f names what to delete; give no kind or names with it/m],
];

/** Failures at run time, not in the command line: exit 1. */
const RUNTIME_FAILURES: Array<[string[], RegExp]> = [
  [['apply', '-f', join(dir, 'nope.yaml')], /nope\.yaml: no such file or directory/],
  [['apply', '-f', invalid], /^error: invalid manifest, nothing applied:\n[^]*spec\.replicas: must be at least 0/m],
  [['config', 'current-context'], /^error: no current context in /m],
];

/** Runs the table a few at a time (each is a node process). */
async function runAll(rows: Array<[string[], RegExp]>): Promise<Array<{ args: string[]; want: RegExp; run: Run }>> {
  const out: Array<{ args: string[]; want: RegExp; run: Run }> = [];
  for (let i = 0; i < rows.length; i += 4) {
    const batch = rows.slice(i, i + 4);
    out.push(...(await Promise.all(batch.map(async ([args, want]) => ({ args, want, run: await berth(args) })))));
  }
  return out;
}

describe('berth exit codes for usage mistakes (the real binary)', () => {
  it('every usage mistake exits 2 with a message saying what is wrong, and prints nothing on stdout', async () => {
    const results = await runAll(USAGE_MISTAKES);
    const wrong = results
      .filter(({ want, run }) => run.code !== EXIT_USAGE || !want.test(run.stderr) || run.stdout !== '')
      .map(({ args, run }) => ({ args: args.join(' '), code: run.code, stdout: run.stdout, stderr: run.stderr.slice(0, 300) }));
    expect(wrong).toEqual([]);
    // None of them wrote the config file, or berth up's folder.
    expect(readdirSync(dir)).toEqual(['bad.yaml', 'web.yaml']);
  });

  it('failures at run time exit 1', async () => {
    const results = await runAll(RUNTIME_FAILURES);
    const wrong = results
      .filter(({ want, run }) => run.code !== EXIT_FAILED || !want.test(run.stderr))
      .map(({ args, run }) => ({ args: args.join(' '), code: run.code, stderr: run.stderr.slice(0, 300) }));
    expect(wrong).toEqual([]);
  });

  it('--help, --version and help exit 0 on stdout', async () => {
    for (const args of [['--help'], ['--version'], ['help'], ['get', '--help'], ['nodes', '--help']]) {
      const run = await berth(args);
      expect({ args, code: run.code, out: run.stdout.length > 0 }).toEqual({ args, code: 0, out: true });
    }
  });
});
