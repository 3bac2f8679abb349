// The completion scripts are generated from the command tree: argument kinds by name, every
// command and flag present. (Shells load them in test/integration/cli.test.ts.)
import { describe, expect, it } from 'vitest';
import { argKind, bashScript, collectSpecs, zshScript } from '../../cli/src/completion.js';
import { buildProgram } from '../../cli/src/main.js';

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
    expect(root.subs).toEqual(expect.arrayContaining(['apply', 'diff', 'get', 'describe', 'scale', 'delete', 'version', 'config', 'completion']));
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

  it('quotes what it embeds', () => {
    for (const script of [bashScript(buildProgram()), zshScript(buildProgram())]) {
      expect(script).toContain("'config set-context') subs='';");
      expect(script).not.toContain('undefined');
    }
  });
});
