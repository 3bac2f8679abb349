// docs/cli.md is checked against the command tree: every command, subcommand and long flag of
// the CLI is documented, and every exit code constant has its row.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../cli/src/main.js';
import * as errors from '../../cli/src/errors.js';

const doc = readFileSync(join(import.meta.dirname, '../../docs/cli.md'), 'utf8');

function walk(cmd: Command, path: string[], out: Array<{ path: string[]; cmd: Command }>): void {
  const help = cmd.createHelp();
  for (const c of help.visibleCommands(cmd)) {
    if (c.name() === 'help') continue;
    const p = [...path, c.name()];
    out.push({ path: p, cmd: c });
    walk(c, p, out);
  }
}

describe('docs/cli.md', () => {
  const program = buildProgram();
  const all: Array<{ path: string[]; cmd: Command }> = [];
  walk(program, [], all);

  it('names every command and subcommand', () => {
    const missing = all
      .filter(({ path }) => !doc.includes(`berth ${path.join(' ')}`) && !doc.includes(`\`${path.join(' ')}\``))
      .map(({ path }) => path.join(' '));
    expect(missing).toEqual([]);
  });

  it('lists the commands other issues add', () => {
    for (const c of ['plan', 'nodes', 'rollout', 'logs', 'events', 'exec', 'top'])
      expect(doc).toMatch(new RegExp(`^\\| \\[?\`${c}\`\\]?`, 'm'));
  });

  it('documents every long flag of the client commands and the global ones', () => {
    const daemons = new Set(['up', 'controller', 'agent']);
    const missing: string[] = [];
    for (const o of program.options) if (o.long && !doc.includes(o.long)) missing.push(o.long);
    for (const { path, cmd } of all) {
      if (daemons.has(path[0]!)) continue;
      for (const o of cmd.options) if (o.long && o.long !== '--help' && !doc.includes(o.long)) missing.push(`${path.join(' ')} ${o.long}`);
    }
    expect(missing).toEqual([]);
  });

  it('has a row for every exit code', () => {
    const codes = Object.entries(errors)
      .filter(([k]) => k.startsWith('EXIT_'))
      .map(([, v]) => v as number);
    expect(codes.length).toBeGreaterThanOrEqual(4);
    for (const c of codes) expect(doc).toMatch(new RegExp(`^\\| ${c} \\|`, 'm'));
  });
});
