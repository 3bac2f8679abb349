// berth ca init DIR: a cluster CA and an admin credential made by hand, for a first controller
// started with --ca-cert/--ca-key (berth up makes its own). berth ca revoke SERIAL: one certificate refused.
import type { Command } from 'commander';
import { certDigest } from '../../../proto/src/security/pki.js';
import { nameProblem } from '../../../proto/src/security/identity.js';
import { ensureLocalPki } from '../local/pki.js';
import { CliError, EXIT_USAGE } from '../errors.js';
import { CertificateClient } from '../security-client.js';
import { oneLine } from '../output.js';
import { controllerAddress } from './common.js';

export function registerCa(program: Command): void {
  const ca = program.command('ca').description('The cluster CA: bootstrapping a cluster by hand, revoking a certificate');
  ca.command('revoke')
    .description("Revoke one certificate (an operator's or a monitor's) by serial: every listener refuses it from now on (admin)")
    .argument('<serial>', 'the serial, hex (berth login prints it)')
    .action(async (serial: string, _opts: unknown, cmd: Command) => {
      if (!/^[0-9a-fA-F]{1,40}$/.test(serial.trim()))
        throw new CliError(`<serial>: ${JSON.stringify(serial)} is not a certificate serial (1–40 hex digits)`, EXIT_USAGE);
      const c = new CertificateClient(controllerAddress(cmd));
      try {
        const res = await c.revoke(serial);
        process.stdout.write(oneLine(`certificate ${res.serial} revoked`) + '\n');
      } finally {
        c.close();
      }
    });
  ca.command('init')
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
