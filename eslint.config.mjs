// Lint with type information: promises handled, switches exhaustive, type imports explicit, and
// the boundaries of DESIGN.md §2 (pure planners and scheduler; dockerode and etcd3 only where
// they belong; production code never imports tests), and the package graph: no import cycle
// between files, and each component's folders in a declared order of layers (a folder imports
// only from layers below it), which rules out cycles between folders too.
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const IO_MODULES = [
  'node:fs',
  'node:net',
  'node:http',
  'node:child_process',
  'node:crypto',
  'node:os',
  'fs',
  'net',
  'http',
  'child_process',
  'dockerode',
  'etcd3',
  'nats',
  '@grpc/grpc-js',
];

/**
 * The layers of each component, lowest first. A folder may import from the layers below it and
 * from proto/src (shared by all), never from its own layer's peers or from above. `*.ts` stands
 * for the component's top-level files (composition root, runnables).
 */
const LAYERS = {
  controller: [
    ['model'], // pure task identity, node attributes, service status: no controller imports
    ['metrics'], // the prom-client registry and metric names
    ['secrets'], // sealing of secret values
    ['store'], // Store, etcd and memory stores, informers, keys, revision writes
    ['security'], // the cluster CA, join tokens, certificates and their revocation
    ['events'], // event publisher, reader, recorder
    ['reconcile'], // work queue, runner, bounded concurrency
    ['scheduler', 'orchestrator'], // placement; service orchestrators (peers: neither imports the other)
    ['nodes'], // node liveness and node-loss handling
    ['dispatcher'], // agent sessions, assignments, status writes
    ['api'], // ControlAPI and the other user-facing APIs
    ['observe'], // logs, exec, top, service discovery, cluster-state metrics
    ['audit'], // the audit log: records of mutating calls and exec, their listing and pruning
    ['*.ts'], // main.ts, manager.ts, leader.ts
  ],
  agent: [
    ['runtime'], // the ContainerRuntime interfaces
    ['runtime/docker'], // the Docker implementation (the only dockerode user)
    ['metrics'],
    ['health'],
    ['observe'],
    ['*.ts'], // agent, session, worker, task runner, fence, wrappers, main.ts
  ],
};

/** import-x/no-restricted-paths zones from LAYERS: each folder is refused its peers and everything above. */
function layerZones() {
  const zones = [];
  for (const [component, layers] of Object.entries(LAYERS)) {
    const all = layers.flat();
    const path = (layer) => (layer === '*.ts' ? `./${component}/src/*.ts` : `./${component}/src/${layer}`);
    layers.forEach((group, i) => {
      for (const layer of group) {
        const from = [...group.filter((p) => p !== layer), ...layers.slice(i + 1).flat()].map((l) =>
          l === '*.ts' ? path(l) : `${path(l)}/**`,
        );
        if (from.length === 0) continue;
        // A folder whose subfolder is a layer of its own (runtime, runtime/docker): only its own files.
        const nested = all.some((l) => l.startsWith(`${layer}/`));
        const target = layer === '*.ts' ? path(layer) : nested ? `${path(layer)}/*.ts` : `${path(layer)}/**`;
        zones.push({
          target,
          from,
          message: `${component}/src/${layer} sits below it in the declared layers (eslint.config.mjs LAYERS): move the shared part down instead`,
        });
      }
    });
  }
  return zones;
}

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'proto/gen/**',
      'proto/gen.mjs',
      'test/chaos/soak.mjs',
      'test/chaos/series.mjs',
      'test/bench/compare.mjs',
      'deploy/dev/check.mjs',
      'eslint.config.mjs',
      '.berth/**',
      '.chaos/**',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      '@typescript-eslint/no-redundant-type-constituents': 'off',
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/test/**', '../test/*'], message: 'production code never imports tests' }] },
      ],
    },
  },
  {
    // Pure code: no I/O, no clock, no randomness (time and seeds are inputs).
    files: [
      'controller/src/scheduler/*.ts',
      'controller/src/**/*-plan.ts',
      'controller/src/dispatcher/assignments.ts',
      'proto/src/spec/**/*.ts',
      'proto/src/limits/*.ts',
      'agent/src/runtime/docker/create-options.ts',
      'agent/src/task-plan.ts',
      'agent/src/restart-plan.ts',
    ],
    ignores: ['controller/src/scheduler/shell.ts', 'proto/src/limits/grpc-limits.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: IO_MODULES.filter((m) => m !== 'dockerode').map((name) => ({ name, message: 'pure module: no I/O' })) },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'pure module: take a seed' },
        { object: 'Date', property: 'now', message: 'pure module: take the time as input' },
      ],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date']", message: 'pure module: take the time as input' }],
    },
  },
  {
    // dockerode only in agent/src/runtime/docker/ and the local-cluster starter; etcd3 only in the store and leader.
    files: ['controller/src/**/*.ts', 'agent/src/**/*.ts', 'proto/src/**/*.ts'],
    ignores: [
      'agent/src/runtime/docker/**',
      'controller/src/store/**',
      'controller/src/leader.ts',
      'controller/src/manager.ts',
      'controller/src/main.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'dockerode', message: 'only agent/src/runtime/docker/ talks to Docker' },
            { name: 'etcd3', message: 'only controller/src/store/ and leader.ts talk to etcd' },
          ],
          patterns: [{ group: ['**/test/**'], message: 'production code never imports tests' }],
        },
      ],
    },
  },
  {
    // One Docker client factory: every dockerode client of the agent is made by docker-client.ts.
    files: ['agent/src/runtime/docker/*.ts'],
    ignores: ['agent/src/runtime/docker/docker-client.ts', 'agent/src/runtime/docker/create-options.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Docker']",
          message: 'make dockerode clients with dockerClient() (runtime/docker/docker-client.ts)',
        },
      ],
    },
  },
  {
    // The CLI talks to Docker only in local/ (berth up's engine, the tests' engines).
    files: ['cli/src/**/*.ts'],
    ignores: ['cli/src/local/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'dockerode', message: 'only cli/src/local/ talks to Docker' }],
          patterns: [{ group: ['**/test/**'], message: 'production code never imports tests' }],
        },
      ],
    },
  },
  {
    // The package graph: no cycles between files; layers between folders (LAYERS above).
    files: ['controller/src/**/*.ts', 'agent/src/**/*.ts', 'cli/src/**/*.ts', 'proto/src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            ...layerZones(),
            // Components: proto/src is shared by all and imports none; agent and controller never import each other or the CLI.
            {
              target: './proto/src/**',
              from: ['./controller/**', './agent/**', './cli/**'],
              message: 'proto/src is shared by every component and imports none of them',
            },
            {
              target: './agent/src/**',
              from: ['./controller/**', './cli/**'],
              message: 'the agent never imports the controller or the CLI',
            },
            {
              target: './controller/src/**',
              from: ['./agent/**', './cli/**'],
              message: 'the controller never imports the agent or the CLI',
            },
            // The CLI: its commands sit above its library files; only main.ts registers them.
            {
              target: './cli/src/!(main).ts',
              from: ['./cli/src/commands/**'],
              message: 'only cli/src/main.ts imports the commands; shared CLI code lives beside it',
            },
            {
              target: ['./cli/src/local/**', './cli/src/compose/**'],
              from: ['./cli/src/commands/**'],
              message: 'local/ and compose/ sit below the commands',
            },
            { target: './cli/src', from: './cli/src/main.ts', message: 'cli/src/main.ts is the entry point: nothing imports it' },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'vitest.config.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-restricted-imports': 'off',
    },
  },
);
