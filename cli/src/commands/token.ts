// berth token create | ls | revoke | rotate: join tokens (admin). berth login: an operator's
// token exchanged for a client certificate, stored in a context of the config file.
import type { Command } from 'commander';
import { parseDuration } from '../../../proto/src/spec/units.js';
import { createCsr } from '../../../proto/src/security/pki.js';
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
  return t.operatorRole === 'admin' ? `${t.user}: admin` : `${t.user}: ${t.operatorRole} of ${t.namespaces.join(',')}`;
}

function when(ms: number): string {
  return ms ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : 'never';
}

export function registerToken(program: Command): void {
  const token = program.command('token').description('Join tokens for agents and operators (admin only)');

  token
    .command('create')
    .description('Create a join token; prints the token (shown once) on stdout')
    .requiredOption('--role <role>', 'agent (berth agent --join) or operator (berth login --token)')
    .option('--operator-role <role>', 'for operator tokens: admin | deployer | viewer')
    .option('-n, --namespace <ns>', 'for deployer and viewer tokens: a namespace they cover (repeatable; * for all)', collect, [])
    .option('--user <name>', 'for operator tokens: the user the credential names')
    .option('--ttl <duration>', 'refused after this long', '24h')
    .action(async (opts: { role: string; operatorRole?: string; namespace: string[]; user?: string; ttl: string }, cmd: Command) => {
      if (opts.role !== 'agent' && opts.role !== 'operator')
        throw new CliError(`--role: must be agent or operator, got ${JSON.stringify(opts.role)}`, EXIT_USAGE);
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
    .action(async (opts: { token: string; name?: string }, cmd: Command) => {
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
      const { csrPem, keyPem } = await createCsr('operator');
      const c = new CertificateClient(address, { kind: 'ca-only', caPem });
      let res;
      try {
        res = await c.join(opts.token, csrPem);
      } finally {
        c.close();
      }
      const id = parseIdentityUri(res.identity);
      if (id?.kind !== 'operator')
        throw new CliError(`the token is not an operator token (it grants ${res.identity}); agents join with berth agent --join`);
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
