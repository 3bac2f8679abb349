// Lint with type information: promises handled, switches exhaustive, type imports explicit, and
// the boundaries of DESIGN.md §2 (pure planners and scheduler; dockerode and etcd3 only where
// they belong; production code never imports tests).
import tseslint from 'typescript-eslint';

const IO_MODULES = ['node:fs', 'node:net', 'node:http', 'node:child_process', 'node:crypto', 'node:os', 'fs', 'net', 'http', 'child_process', 'dockerode', 'etcd3', 'nats', '@grpc/grpc-js'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'proto/gen/**', 'proto/gen.mjs', 'test/chaos/soak.mjs', 'test/chaos/series.mjs', 'eslint.config.mjs', '.berth/**', '.chaos/**'] },
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
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/test/**', '../test/*'], message: 'production code never imports tests' }] }],
    },
  },
  {
    // Pure code: no I/O, no clock, no randomness (time and seeds are inputs).
    files: ['controller/src/scheduler/*.ts', 'controller/src/**/*-plan.ts', 'controller/src/api/assignments.ts', 'proto/src/spec/**/*.ts', 'agent/src/runtime/docker/create-options.ts'],
    ignores: ['controller/src/scheduler/shell.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: IO_MODULES.filter((m) => m !== 'dockerode').map((name) => ({ name, message: 'pure module: no I/O' })) }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'pure module: take a seed' }, { object: 'Date', property: 'now', message: 'pure module: take the time as input' }],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date']", message: 'pure module: take the time as input' }],
    },
  },
  {
    // dockerode only in agent/src/runtime/docker/ and the local-cluster starter; etcd3 only in the store and leader.
    files: ['controller/src/**/*.ts', 'agent/src/**/*.ts', 'proto/src/**/*.ts'],
    ignores: ['agent/src/runtime/docker/**', 'controller/src/store/**', 'controller/src/leader.ts', 'controller/src/manager.ts', 'controller/src/main.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          { name: 'dockerode', message: 'only agent/src/runtime/docker/ talks to Docker' },
          { name: 'etcd3', message: 'only controller/src/store/ and leader.ts talk to etcd' },
        ],
        patterns: [{ group: ['**/test/**'], message: 'production code never imports tests' }],
      }],
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
