// The completion scripts are generated from the command tree: argument kinds by name, every
// command and flag present. (Shells load them in test/integration/cli.test.ts.)
import { describe, expect, it } from 'vitest';
import { argKind, bashScript, collectSpecs, zshScript } from '../../cli/src/completion.js';
import { buildProgram } from '../../cli/src/main.js';
import { KINDS, kindList, kindWords, parseKind } from '../../cli/src/kinds.js';

describe('completion', () => {
  it('argument kinds follow the argument names', () => {
    expect(argKind('kind', [])).toBe('kind');
    expect(argKind('name', ['kind'])).toBe('names-by-kind');
    expect(argKind('names', ['kind'])).toBe('names-by-kind');
    expect(argKind('name', [])).toBe('none');
    expect(argKind('name=replicas', [])).toBe('services=');
    expect(argKind('service', [])).toBe('services');
    expect(argKind('node', [])).toBe('nodes');
    expect(argKind('context', [])).toBe('contexts');
    expect(argKind('shell', [])).toBe('shells');
  });

  it('the tree holds every visible command with its flags; hidden ones stay out', () => {
    const specs = collectSpecs(buildProgram());
    const root = specs.find((s) => s.path === '')!;
    expect(root.subs).toEqual(
      expect.arrayContaining(['apply', 'diff', 'get', 'describe', 'scale', 'delete', 'version', 'config', 'completion']),
    );
    expect(root.subs).not.toContain('__complete');
    const get = specs.find((s) => s.path === 'get')!;
    expect(get.flags).toEqual(expect.arrayContaining(['-l', '--selector', '-o', '--output', '--controller', '--context']));
    expect(get.valueFlags).toContain('--selector');
    expect(get.valueFlags).not.toContain('--all');
    expect(get.args).toEqual(['kind', 'names-by-kind']);
    expect(get.flagValues.get('-o')).toEqual(['wide', 'json', 'yaml']);
    expect(specs.find((s) => s.path === 'scale')).toMatchObject({ args: ['services='], variadic: true });
    expect(specs.find((s) => s.path === 'config use-context')!.args).toEqual(['contexts']);
  });

  it('a <kind> argument offers the kinds of its command, from the one kind registry (secrets too)', () => {
    const specs = collectSpecs(buildProgram());
    const kinds = (path: string) => specs.find((s) => s.path === path)!.kinds;
    expect(kinds('get')).toEqual(['services', 'tasks', 'nodes', 'secrets', 'policies']);
    expect(kinds('describe')).toEqual(['services', 'tasks', 'nodes']);
    expect(kinds('delete')).toEqual(['services', 'secrets', 'policies']);
    expect(kinds('scale')).toEqual([]);
    const script = bashScript(buildProgram());
    expect(script).toContain("'get:0') __berth_kind=kind; __berth_kinds='services tasks nodes secrets policies';;");
    // Names after a kind, for every way of writing every kind.
    for (const k of KINDS) expect(script).toContain(`${kindWords(k).join('|')}) names=$(__berth_names ${k.plural});;`);
    expect(script).toContain('secret|secrets) names=$(__berth_names secrets);;');
  });

  it('the kind registry: every form of a kind, only for the verbs that take it', () => {
    expect(['service', 'services', 'svc'].map((w) => parseKind('get', w))).toEqual(['service', 'service', 'service']);
    expect(parseKind('get', 'secrets')).toBe('secret');
    expect(parseKind('describe', 'secret')).toBeUndefined();
    expect(parseKind('delete', 'tasks')).toBeUndefined();
    expect(parseKind('delete', 'svc')).toBe('service');
    expect(parseKind('get', 'widget')).toBeUndefined();
    expect(kindList('get', 'plural')).toBe('services, tasks, nodes, secrets or policies');
    expect(kindList('describe', 'singular')).toBe('service, task or node');
  });

  it('quotes what it embeds', () => {
    for (const script of [bashScript(buildProgram()), zshScript(buildProgram())]) {
      expect(script).toContain("'config set-context') subs='';");
      expect(script).not.toContain('undefined');
    }
  });
});
