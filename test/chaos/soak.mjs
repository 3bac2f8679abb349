// `npm run test:chaos -- --faults 60 [--seed 7]`: runs the chaos soak (test/chaos/soak.soak.ts)
// under vitest (test/chaos/vitest.soak.config.ts) with the integration set-up, passing the options through the environment.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${name}: expected a whole number ≥ 1, got ${JSON.stringify(args[i + 1])}`);
    process.exit(2);
  }
  return v;
};
const faults = opt('faults', 60);
const seed = opt('seed', Date.now() % 1_000_000);
console.log(`chaos soak: ${faults} faults, seed ${seed}`);
const res = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/chaos/vitest.soak.config.ts'], {
  stdio: 'inherit',
  env: { ...process.env, CHAOS_FAULTS: String(faults), CHAOS_SEED: String(seed) },
});
process.exit(res.status ?? 1);
