// berth token create | ls | revoke | rotate: join tokens (admin). berth login: an operator's
// token exchanged for a client certificate, stored in a context of the config file.
import type { Command } from 'commander';
import { parseDuration } from '../../../proto/src/spec/units.js';
import { certInfo, createCsr } from '../../../proto/src/security/pki.js';
import { checkOutDir, writeCredentialDir } from '../local/pki.js';
import { describeIdentity, parseIdentityUri } from '../../../proto/src/security/identity.js';
import { parseToken } from '../../../proto/src/security/tokens.js';
import { fetchPinnedCa } from '../../../proto/src/security/tls.js';
import type { JoinToken__Output } from '../../../proto/gen/berth/v1/JoinToken.js';
import { CertificateClient, TokenClient } from '../security-client.js';
import { configPath, loadConfig, saveConfig, setContext, useContext } from '../config.js';
import { oneLine, table, toJson } from '../output.js';
import { collect, controllerAddress } from './common.js';
import { checkOutputFormat } from './get.js';
import { CliError, EXIT_UNAVAILABLE, EXIT_USAGE } from '../errors.js';

async function withTokens<T>(cmd: Command, fn: (c: TokenClient) => Promise<T>): Promise<T> {
  const c = new TokenClient(controllerAddress(cmd));
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

function grantOf(t: JoinToken__Output): string {
  if (t.role === 'agent') return 'agent';
  if (t.role === 'monitor') return `${t.user}: monitor (scrapes /metrics and /sd)`;
  return t.operatorRole === 'admin' ? `${t.user}: admin` : `${t.user}: ${t.operatorRole} of ${t.namespaces.join(',')}`;
}

/** A certificate's serial as the cluster stores it (what `berth ca revoke` takes). */
function normalSerialOf(certPem: string): string {
  return certInfo(certPem)
    .serial.toLowerCase()
    .replace(/^0+(?=.)/, '');
}

const say = (s: string): void => void process.stderr.write(oneLine(s) + '\n');

function when(ms: number): string {
  return ms ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : 'never';
}

export function registerToken(program: Command): void {
  const token = program.command('token').description('Join tokens for agents and operators (admin only)');

  token
    .command('create')
    .description('Create a join token; prints the token (shown once) on stdout')
    .requiredOption(
      '--role <role>',
      'agent (berth agent --join), operator (berth login --token) or monitor (a scrape credential: berth login --token --out DIR)',
    )
    .option('--operator-role <role>', 'for operator tokens: admin | deployer | viewer')
    .option('-n, --namespace <ns>', 'for deployer and viewer tokens: a namespace they cover (repeatable; * for all)', collect, [])
    .option('--user <name>', 'for operator and monitor tokens: the user (or monitor name) the credential names')
    .option('--ttl <duration>', 'refused after this long', '24h')
    .action(async (opts: { role: string; operatorRole?: string; namespace: string[]; user?: string; ttl: string }, cmd: Command) => {
      if (opts.role !== 'agent' && opts.role !== 'operator' && opts.role !== 'monitor')
        throw new CliError(`--role: must be agent, operator or monitor, got ${JSON.stringify(opts.role)}`, EXIT_USAGE);
      const ttl = parseDuration(opts.ttl);
      if (typeof ttl === 'string') throw new CliError(`--ttl: ${ttl}`, EXIT_USAGE);
      if (ttl < 1000) throw new CliError('--ttl: must be at least 1s', EXIT_USAGE);
      const res = await withTokens(cmd, (c) =>
        c.create({ role: opts.role, operatorRole: opts.operatorRole ?? '', namespaces: opts.namespace, user: opts.user ?? '', ttlMs: ttl }),
      );
      process.stderr.write(`token ${res.token!.id} (${grantOf(res.token!)}), expires ${when(res.token!.expiresAtMs)}\n`);
      process.stdout.write(res.secret + '\n');
    });

  token
    .command('ls')
    .description('List join tokens (never their secrets)')
    .option('-o, --output <format>', 'json')
    .action(async (opts: { output?: string }, cmd: Command) => {
      checkOutputFormat(opts.output, ['json']);
      const list = await withTokens(cmd, (c) => c.list());
      if (opts.output === 'json') return void process.stdout.write(toJson(list));
      process.stdout.write(
        table(
          ['ID', 'GRANTS', 'CREATED', 'EXPIRES', 'USES', 'STATE', 'CREATED BY'],
          list.map((t) => [
            t.id,
            grantOf(t),
            when(t.createdAtMs),
            when(t.expiresAtMs),
            String(t.uses),
            t.revoked ? 'revoked' : t.expiresAtMs && t.expiresAtMs < Date.now() ? 'expired' : 'valid',
            t.createdBy,
          ]),
        ) + '\n',
      );
    });

  token
    .command('revoke')
    .description('Revoke a token: it is refused from now on (certificates issued with it stay valid)')
    .argument('<id>', 'token id (berth token ls)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const t = await withTokens(cmd, (c) => c.revoke(id));
      process.stdout.write(oneLine(`token ${t.id} revoked`) + '\n');
    });

  token
    .command('rotate')
    .description('Revoke a token and create one with the same grant; prints the new token on stdout')
    .argument('<id>', 'token id (berth token ls)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const res = await withTokens(cmd, (c) => c.rotate(id));
      process.stderr.write(
        `token ${id} revoked; new token ${res.token!.id} (${grantOf(res.token!)}), expires ${when(res.token!.expiresAtMs)}\n`,
      );
      process.stdout.write(res.secret + '\n');
    });

  program
    .command('login')
    .description('Exchange an operator token for a client certificate, stored in a context of the config file (mode 600)')
    .requiredOption('--token <token>', 'operator token (berth token create --role operator); env BERTH_TOKEN', process.env['BERTH_TOKEN'])
    .option('--name <context>', 'context to store it in (default: USER@HOST:PORT of the controller)')
    .option(
      '--out <dir>',
      'write ca.pem, cert.pem and key.pem (key mode 600) to DIR instead of a context: for a monitor token, the files Prometheus scrapes with',
    )
    .action(async (opts: { token: string; name?: string; out?: string }, cmd: Command) => {
      if (opts.out !== undefined && opts.name !== undefined)
        throw new CliError('--out and --name: give one (files or a context)', EXIT_USAGE);
      let parsed;
      try {
        parsed = parseToken(opts.token);
      } catch (err) {
        throw new CliError(`--token: ${err instanceof Error ? err.message : String(err)}`, EXIT_USAGE);
      }
      const address = controllerAddress(cmd);
      let caPem: string;
      try {
        // The CA is read off the handshake and checked against the token before anything is sent.
        caPem = await fetchPinnedCa(address, parsed.caDigest);
      } catch (err) {
        throw new CliError(err instanceof Error ? err.message : String(err), EXIT_UNAVAILABLE);
      }
      if (opts.out !== undefined) checkOutDir(opts.out);
      const { csrPem, keyPem } = await createCsr('operator');
      const c = new CertificateClient(address, { kind: 'ca-only', caPem });
      let res;
      try {
        res = await c.join(opts.token, csrPem);
      } finally {
        c.close();
      }
      const id = parseIdentityUri(res.identity);
      if (opts.out !== undefined) {
        if (id?.kind !== 'operator' && id?.kind !== 'monitor')
          throw new CliError(
            `the token is not an operator or monitor token (it grants ${res.identity}); agents join with berth agent --join`,
          );
        writeCredentialDir(opts.out, { caPem: res.caPem, certPem: res.certPem, keyPem });
        process.stdout.write(
          oneLine(
            `credential of ${describeIdentity(id)} in ${opts.out} (ca.pem, cert.pem, key.pem), certificate serial ${normalSerialOf(res.certPem)} valid until ${when(res.notAfterMs)}`,
          ) + '\n',
        );
        return;
      }
      if (id?.kind === 'monitor')
        throw new CliError(`a monitor token is a scrape credential, not a CLI login: write it to files with --out DIR`, EXIT_USAGE);
      if (id?.kind !== 'operator')
        throw new CliError(`the token is not an operator token (it grants ${res.identity}); agents join with berth agent --join`);
      say(`certificate serial ${normalSerialOf(res.certPem)} (berth ca revoke SERIAL refuses it)`);
      const name = opts.name ?? `${id.user}@${address}`.replace(/[^A-Za-z0-9._@-]/g, '-');
      const path = configPath();
      const { config } = setContext(loadConfig(path), name, address, { ca: res.caPem, cert: res.certPem, key: keyPem });
      saveConfig(useContext(config, name, path), path);
      process.stdout.write(
        oneLine(
          `logged in as ${describeIdentity(id)} at ${address}; context ${name} (current), certificate valid until ${when(res.notAfterMs)}`,
        ) + '\n',
      );
    });
}
