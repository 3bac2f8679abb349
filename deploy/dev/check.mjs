// `npm run check`: the generated protos are current, then the type check, the linter and the
// formatter run side by side (each is one thread; together they take the time of the slowest,
// the linter, instead of the sum). Each one's output is printed whole when it ends; the check
// fails when any of them does.
import { spawn, execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const bin = (pkg, file) => resolve(ROOT, 'node_modules', pkg, file);

execFileSync(process.execPath, [resolve(ROOT, 'proto/gen.mjs'), '--check'], { cwd: ROOT, stdio: 'inherit' });

const STEPS = [
  ['tsc', [bin('typescript', 'bin/tsc'), '-p', 'tsconfig.json', '--noEmit']],
  ['eslint', [bin('eslint', 'bin/eslint.js'), '.']],
  ['prettier', [bin('prettier', 'bin/prettier.cjs'), '--check', '--log-level', 'warn', '**/*.{ts,mjs}']],
];

const results = await Promise.all(
  STEPS.map(
    ([name, args]) =>
      new Promise((done) => {
        const t0 = performance.now();
        const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (b) => (out += b));
        child.stderr.on('data', (b) => (out += b));
        child.on('error', (err) => done({ name, code: 1, out: `${out}${err.message}\n`, ms: performance.now() - t0 }));
        child.on('close', (code) => done({ name, code: code ?? 1, out, ms: performance.now() - t0 }));
      }),
  ),
);

let failed = false;
for (const r of results) {
  if (r.out.trim()) process.stdout.write(`--- ${r.name}\n${r.out}${r.out.endsWith('\n') ? '' : '\n'}`);
  if (r.code !== 0) {
    failed = true;
    process.stderr.write(`check: ${r.name} failed (exit ${r.code})\n`);
  }
}
if (!failed) process.stdout.write(`check: ${results.map((r) => `${r.name} ${(r.ms / 1000).toFixed(1)} s`).join(', ')}\n`);
process.exit(failed ? 1 : 0);
