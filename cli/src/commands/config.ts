// berth config get-contexts | current-context | use-context NAME | set-context NAME --controller
// ADDR | delete-context NAME | view | path: the contexts of ../config.ts.
import type { Command } from 'commander';
import {
  addressProblem,
  configPath,
  deleteContext,
  loadConfig,
  renderConfig,
  saveConfig,
  setContext,
  useContext,
  type BerthConfig,
} from '../config.js';
import { oneLine, table, toJson, toYaml } from '../output.js';
import { checkOutputFormat } from './get.js';
import { resolvedController } from './common.js';
import { CliError, EXIT_FAILED, EXIT_USAGE } from '../errors.js';

/** Reads the config file, changes it, writes it back (atomically), and says what it did. */
function editConfig(change: (c: BerthConfig, path: string) => BerthConfig, done: string | (() => string)): void {
  const path = configPath();
  saveConfig(change(loadConfig(path), path), path);
  process.stdout.write(oneLine(typeof done === 'string' ? done : done()) + '\n');
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('Contexts: named controllers in the config file (berth config path shows where)');

  config
    .command('get-contexts')
    .description('List the contexts by name; * marks the current one')
    .option('-o, --output <format>', 'name | json | yaml')
    .action((opts: { output?: string }) => {
      checkOutputFormat(opts.output, ['name', 'json', 'yaml']);
      const cfg = loadConfig();
      const cur = cfg['current-context'];
      const contexts = [...cfg.contexts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const data = {
        currentContext: cur ?? null,
        contexts: contexts.map((c) => ({ name: c.name, controller: c.controller, current: c.name === cur })),
      };
      if (opts.output === 'json') process.stdout.write(toJson(data));
      else if (opts.output === 'yaml') process.stdout.write(toYaml(data));
      else if (opts.output === 'name') process.stdout.write(contexts.map((c) => oneLine(c.name) + '\n').join(''));
      else
        process.stdout.write(
          table(
            ['CURRENT', 'NAME', 'CONTROLLER'],
            contexts.map((c) => [c.name === cur ? '*' : '', c.name, c.controller]),
          ) + '\n',
        );
    });

  config
    .command('current-context')
    .description('Print the current context (exit 1 when none is set)')
    .action(() => {
      const cur = loadConfig()['current-context'];
      if (cur === undefined)
        throw new CliError(`no current context in ${configPath()}; set one with: berth config use-context NAME`, EXIT_FAILED);
      process.stdout.write(oneLine(cur) + '\n');
    });

  config
    .command('use-context')
    .description('Make this context the current one')
    .argument('<context>', 'context name')
    .action((name: string) => editConfig((c, path) => useContext(c, name, path), `switched to context ${JSON.stringify(name)}`));

  config
    .command('set-context')
    .description('Create or update a context (the current context stays as it is); --controller HOST:PORT is required')
    .usage('<context> --controller <host:port>')
    .argument('<context>', 'context name')
    // --controller is the global option (a subcommand option of the same name would never see
    // its value: the program takes it wherever it stands).
    .action((name: string, _opts: unknown, cmd: Command) => {
      const controller = cmd.optsWithGlobals<{ controller?: string }>().controller;
      if (!controller) throw new CliError('set-context: --controller HOST:PORT is required', EXIT_USAGE);
      const problem = addressProblem(controller);
      if (problem) throw new CliError(`--controller: ${problem}`, EXIT_USAGE);
      let created = false;
      editConfig(
        (c) => {
          const r = setContext(c, name, controller);
          created = r.created;
          return r.config;
        },
        () => `context ${JSON.stringify(name)} ${created ? 'created' : 'modified'} (controller ${controller})`,
      );
    });

  config
    .command('delete-context')
    .description('Remove a context (if it was current, no context is current afterwards)')
    .argument('<context>', 'context name')
    .action((name: string) => editConfig((c, path) => deleteContext(c, name, path), `context ${JSON.stringify(name)} deleted`));

  config
    .command('view')
    .description('Print the config file as Berth reads it (validated; credentials shown as their certificates only)')
    .action(() => {
      const cfg = loadConfig();
      const shown = {
        ...cfg,
        contexts: cfg.contexts.map((c) => (c.credential ? { ...c, credential: { ...c.credential, key: 'REDACTED' } } : c)),
      };
      process.stdout.write(renderConfig(shown).replace(/key: REDACTED/g, 'key: REDACTED (in the file)'));
    });

  config
    .command('path')
    .description('Print where the config file is, and which controller commands talk to and why')
    .action((_opts: unknown, cmd: Command) => {
      const r = resolvedController(cmd);
      const why = {
        flag: '--controller',
        'context-flag': `--context ${r.context ?? ''}`,
        env: 'BERTH_CONTROLLER',
        'current-context': `current context ${r.context ?? ''}`,
        default: 'default',
      }[r.source];
      process.stdout.write(oneLine(`config file: ${configPath()}`) + '\n' + oneLine(`controller:  ${r.address} (from ${why})`) + '\n');
    });
}
