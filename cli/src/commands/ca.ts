// berth ca init DIR: a cluster CA and an admin credential made by hand, for a first controller
// started with --ca-cert/--ca-key (berth up makes its own).
import type { Command } from 'commander';
import { certDigest } from '../../../proto/src/security/pki.js';
import { nameProblem } from '../../../proto/src/security/identity.js';
import { ensureLocalPki } from '../local/pki.js';
import { CliError, EXIT_USAGE } from '../errors.js';

export function registerCa(program: Command): void {
  program
    .command('ca')
    .description('The cluster CA for bootstrapping a cluster by hand')
    .command('init')
    .description('Make a CA (ca.pem, ca-key.pem) and an admin credential (admin/) in DIR, or reuse those there')
    .argument('<dir>', 'folder to write (created mode 700)')
    .option('--admin <name>', 'user name of the admin credential', 'admin')
    .action(async (dir: string, opts: { admin: string }) => {
      const problem = nameProblem(opts.admin);
      if (problem) throw new CliError(`--admin: ${problem}`, EXIT_USAGE);
      const pki = await ensureLocalPki(dir, { adminUser: opts.admin });
      process.stdout.write(
        `CA ${pki.caCertFile} (key ${pki.caKeyFile}, mode 600; digest ${certDigest(pki.admin.caPem).slice(0, 16)}…)\n` +
          `admin credential ${pki.adminDir} (use: BERTH_CREDENTIALS=${pki.adminDir})\n` +
          `start the first controller with --ca-cert ${pki.caCertFile} --ca-key ${pki.caKeyFile}\n`,
      );
    });
}
