// berth up: a working local cluster in one command. Starts etcd, nats-server (JetStream), a
// Docker engine if none answers on the default socket, a controller and one agent; builds the
// local busybox image; then runs an example (in its own namespace, `example`) and prints where
// each replica answers. Ctrl-C stops everything it started and removes the containers Berth ran.
// All data lives in one folder, so the next `berth up` resumes the same cluster.
//
// Two promises to the user: only a component that fails to start stops the start-up (the example
// not converging is reported, and the cluster keeps running until Ctrl-C); and a resumed cluster
// never changes the user's objects (the example is created only when it does not exist, never
// re-applied over what is stored).
import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { status as grpcStatus } from '@grpc/grpc-js';
import { ApiError, BerthClient } from '../client.js';
import { TokenClient } from '../security-client.js';
import { ensureBackendPki, ensureLocalPki } from '../local/pki.js';
import { localPrometheusConfig } from '../local/prometheus.js';
import { CredentialSource } from '../../../proto/src/security/tls.js';
import type { Credentials } from '../../../proto/src/security/pki.js';
import { configPath, loadConfig, saveConfig, setContext, useContext } from '../config.js';
import { loadManifests } from '../manifest.js';
import { oneLine, servicesTable, taskAddresses, tasksTable } from '../output.js';
import { LOCAL_IMAGE } from '../local/image.js';
import { portInUse, spawnProc, waitUntil, type Proc } from '../local/process.js';
import { connectEngine, type LocalEngine } from '../local/engine.js';
import { dockerAnswers, ensureDir, startDockerd, startEtcd, startNats } from '../local/services.js';
import { waitAndReport } from './apply.js';
import { parseTimeout, type WaitTarget } from '../wait.js';
import { ensureKeyFile } from '../../../controller/src/secrets/cipher.js';
import { CliError, EXIT_USAGE } from '../errors.js';

const DEFAULT_SOCKET = '/var/run/docker.sock';
/** How long berth up waits for its example: three local replicas of a local image start in seconds. */
const DEFAULT_EXAMPLE_TIMEOUT = '2m';

/** Where the example's lines go: berth up's own lines (say) and plain text (print). */
interface Out {
  say: (s: string) => void;
  print: (s: string) => void;
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A create-only apply that found the service existing: undefined; any other error is thrown. */
function existed(err: unknown): undefined {
  if (err instanceof ApiError && err.code === grpcStatus.ABORTED) return undefined;
  throw err;
}

/**
 * Creates the example's services that do not exist yet and leaves every existing one exactly as
 * it is stored (the user may have changed it; a resumed cluster must not roll it back). Returns
 * what to wait for: all of the example's services, at their stored revision.
 */
async function applyExample(client: BerthClient, file: string, say: Out['say']): Promise<WaitTarget[]> {
  const targets: WaitTarget[] = [];
  for (const d of loadManifests([file])) {
    const manifestJson = JSON.stringify(d.doc);
    // A dry run validates the document and says whether the service exists, writing nothing.
    const probe = await client.applyService({ manifestJson, dryRun: true });
    const namespace = probe.service?.meta?.namespace ?? '';
    const name = probe.service?.meta?.name ?? '';
    // Created only if still absent: a service made meanwhile (by the user) is never overwritten.
    const res = probe.result === 'created' ? await client.applyService({ manifestJson, createOnly: true }).catch(existed) : undefined;
    if (res) {
      say(`service/${namespace}/${name} ${res.result} (revision ${res.service?.specRevision})`);
      targets.push({ namespace, name, revision: res.service?.specRevision ?? 0 });
    } else {
      const stored = await client.getService(namespace, name);
      const differs = probe.result === 'updated' ? `; it differs from ${file} (berth apply -f ${file} resets it)` : '';
      say(`service/${namespace}/${name} exists (revision ${stored.specRevision}); left as it is${differs}`);
      targets.push({ namespace, name, revision: stored.specRevision });
    }
  }
  return targets;
}

/**
 * Runs the example once the cluster is up: applies it (applyExample), waits the way
 * `apply --wait` does, prints the services, tasks and where each replica answers. Never throws:
 * an example that cannot be applied or does not converge is reported and the cluster keeps running.
 */
async function runExample(client: BerthClient, file: string, timeoutMs: number, { say, print }: Out): Promise<void> {
  let targets: WaitTarget[];
  try {
    targets = await applyExample(client, file, say);
  } catch (err) {
    say(`the example was not applied: ${errorText(err)}`);
    say('the cluster keeps running');
    return;
  }
  let converged = true;
  try {
    // The same convergence `apply --wait` judges: every replica ready at the stored spec (a
    // resumed cluster may first roll its tasks to a newer spec).
    await waitAndReport(client, targets, timeoutMs);
  } catch (err) {
    converged = false;
    say(`the example did not converge: ${errorText(err).split('\n').join('; ')}`);
    const named = targets.map((t) => `-n ${t.namespace} ${t.name}`).join(', ');
    say(`the cluster keeps running; see berth describe service ${named}, or delete the example with berth delete service ${named}`);
  }
  try {
    const services = await client.listServices();
    const tasks = await client.listTasks({});
    print(`\n$ berth get services -A\n${servicesTable(services)}\n\n$ berth get tasks -A\n${tasksTable(tasks)}\n\n`);
    if (!converged) return;
    const ofExample = new Set(targets.map((t) => `${t.namespace}/${t.name}`));
    for (const t of tasks.filter((x) => ofExample.has(`${x.namespace}/${x.service}`)).sort((a, b) => a.slot - b.slot)) {
      for (const a of taskAddresses(t)) print(oneLine(`${t.service}.${t.slot} answers at http://${a}/`) + '\n');
    }
  } catch (err) {
    say(`could not list the services and tasks: ${errorText(err)}`);
  }
}

/** The berth entry point of this installation (to start controller and agent as processes). */
function berthBin(): string {
  return fileURLToPath(new URL('../main.js', import.meta.url));
}

/** Stops a process a previous `berth up` left behind, known by the pid file it wrote. */
async function stopStale(pidFile: string, log: (s: string) => void): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // not running
  }
  log(`stopping process ${pid} left by an earlier berth up (${pidFile})`);
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/**
 * A port flag: a whole number from 1 to 65535, leaving room for the ports berth up derives from
 * it (`above`: the highest offset it adds). A usage error naming the flag otherwise.
 */
export function portFlag(flag: string, text: string, above = 0): number {
  const n = /^\d{1,5}$/.test(text.trim()) ? Number(text) : NaN;
  const max = 65_535 - above;
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new CliError(
      `${flag}: expected a port from 1 to ${max}${above ? ` (berth up also uses port + ${above})` : ''}, got ${JSON.stringify(text)}`,
      EXIT_USAGE,
    );
  return n;
}

/**
 * Stores the admin credential in the context "local" and makes it the current one (as kind and
 * minikube switch to the cluster they start); the config file stays mode 600.
 */
function saveLocalContext(api: string, admin: Credentials, say: (s: string) => void): void {
  const path = configPath();
  const cfg = loadConfig(path);
  const prev = cfg['current-context'];
  const { config } = setContext(cfg, 'local', api, { ca: admin.caPem, cert: admin.certPem, key: admin.keyPem });
  saveConfig(useContext(config, 'local', path), path);
  say(`context "local" of ${path} holds the admin credential${prev && prev !== 'local' ? ` (it is current now; it was "${prev}")` : ''}`);
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('Start a local cluster (etcd, NATS, Docker if needed, controller, agent) and run an example')
    .option('--data <dir>', 'folder for all local cluster data', '.berth')
    .option(
      '--example <file>',
      'manifest whose services are created once the cluster is up, each only when it does not exist yet',
      'deploy/examples/web.yaml',
    )
    .option('--no-example', 'apply nothing')
    .option(
      '--example-timeout <duration>',
      'how long to wait for the example to converge before reporting that it did not (the cluster keeps running)',
      DEFAULT_EXAMPLE_TIMEOUT,
    )
    .option('--api <host:port>', 'controller API address', '127.0.0.1:7070')
    .option('--etcd-port <port>', 'etcd client port', '2379')
    .option('--nats-port <port>', 'NATS client port', '4222')
    .option('--metrics-port <port>', "controller's Prometheus metrics port (the agent's is the next one)", '9470')
    .option('--node-id <id>', 'node id of the local agent', hostname())
    .option('--detach', 'start, apply, print, then leave the cluster running and exit')
    .action(
      async (opts: {
        data: string;
        example: string | false;
        exampleTimeout: string;
        api: string;
        etcdPort: string;
        natsPort: string;
        metricsPort: string;
        nodeId: string;
        detach?: boolean;
      }) => {
        const exampleTimeoutMs = parseTimeout(opts.exampleTimeout);
        if (typeof exampleTimeoutMs === 'string') throw new CliError(`--example-timeout: ${exampleTimeoutMs}`, EXIT_USAGE);
        // Every flag is checked before anything is written or stopped.
        const etcdPort = portFlag('--etcd-port', opts.etcdPort, 1);
        const natsPort = portFlag('--nats-port', opts.natsPort, 4000);
        const metricsPort = portFlag('--metrics-port', opts.metricsPort, 1);
        const apiPort = portFlag('--api', opts.api.slice(opts.api.lastIndexOf(':') + 1));
        const data = resolve(opts.data);
        const logs = ensureDir(data, 'logs');
        const run = ensureDir(data, 'run');
        const say = (s: string): void => void process.stdout.write(`berth up: ${oneLine(s)}\n`);
        const started: Proc[] = [];
        const pidFiles = new Map<Proc, string>();
        const pid = (name: string, p: Proc): void => {
          started.push(p);
          pidFiles.set(p, join(run, `${name}.pid`));
          writeFileSync(join(run, `${name}.pid`), String(p.pid));
        };
        for (const name of ['agent', 'controller', 'nats', 'etcd', 'dockerd']) await stopStale(join(run, `${name}.pid`), say);

        for (const [what, port] of [
          ['etcd', etcdPort],
          ['etcd peer', etcdPort + 1],
          ['NATS', natsPort],
          ['NATS monitor', natsPort + 4000],
          ['controller API', apiPort],
          ['controller metrics', metricsPort],
          ['agent metrics', metricsPort + 1],
        ] as const) {
          if (await portInUse(port))
            throw new CliError(
              `port ${port} (${what}) is in use on 127.0.0.1; stop what holds it or choose another with the berth up flags`,
            );
        }

        let engine: LocalEngine | undefined;
        const stopAll = async (): Promise<void> => {
          say('stopping');
          const agentProc = started.find((p) => p.name === 'agent');
          await agentProc?.stop();
          try {
            if (!engine) throw new Error('no engine');
            const removed = await engine.removeNodeContainers(opts.nodeId);
            if (removed > 0) say(`removed ${removed} container(s)`);
          } catch (err) {
            say(`could not remove containers: ${err instanceof Error ? err.message : String(err)}`);
          }
          for (const p of [...started].reverse()) {
            await p.stop();
            rmSync(pidFiles.get(p) ?? '', { force: true });
          }
          say('stopped; data kept in ' + data);
        };

        let cancelled = false;
        const interrupted = new Promise<void>((resolveWait) => {
          const on = (): void => {
            cancelled = true;
            resolveWait();
          };
          process.once('SIGINT', on);
          process.once('SIGTERM', on);
        });
        const check = (): void => {
          if (cancelled) throw new CliError('interrupted', 130);
        };

        let client: BerthClient | undefined;
        // Start-up: the components. Any error here stops everything started so far.
        const startup = async (): Promise<void> => {
          // Docker: use the engine on the socket of DOCKER_HOST (default /var/run/docker.sock), or
          // start one there with its data in our folder.
          const host = process.env['DOCKER_HOST'];
          if (host && !host.startsWith('unix://'))
            throw new CliError(
              `DOCKER_HOST=${host}: berth up runs a local cluster and talks to its engine over a unix socket (unix:///path)`,
            );
          const socket = host ? host.slice('unix://'.length) : DEFAULT_SOCKET;
          if (!(await dockerAnswers(socket))) {
            check();
            say(
              `no Docker engine answers on ${socket}; starting dockerd there (data in ${join(data, 'docker')}; published ports on 127.0.0.1)`,
            );
            const d = await startDockerd({
              dataRoot: join(data, 'docker'),
              execRoot: socket === DEFAULT_SOCKET ? '/var/run/berth-docker' : join(dirname(socket), 'berth-docker-exec'),
              socket,
              pidFile: join(run, 'dockerd.docker.pid'),
              logFile: join(logs, 'dockerd.log'),
              // A local cluster: what its replicas publish is reachable from this machine only.
              ip: '127.0.0.1',
              detached: true,
            });
            pid('dockerd', d.proc);
          } else say(`using the Docker engine on ${socket}`);
          engine = await connectEngine(socket);
          await engine.ensureImage();
          say(`image ${LOCAL_IMAGE} ready`);

          check();
          // etcd and nats-server speak TLS and take only clients with a certificate of a CA of
          // their own (not the cluster CA, which signs agents' and operators' certificates).
          const backends = await ensureBackendPki(join(data, 'tls', 'backends'));
          const etcd = await startEtcd({
            dir: join(data, 'etcd'),
            clientPort: etcdPort,
            peerPort: etcdPort + 1,
            logFile: join(logs, 'etcd.log'),
            detached: true,
            tls: { server: backends.etcd, client: backends.client },
          });
          pid('etcd', etcd.proc);
          say(`etcd on ${etcd.endpoint}`);
          check();
          const nats = await startNats({
            dir: join(data, 'nats'),
            port: natsPort,
            monitorPort: natsPort + 4000,
            logFile: join(logs, 'nats.log'),
            detached: true,
            tls: { server: backends.nats, client: backends.client },
          });
          pid('nats', nats.proc);
          say(`nats-server (JetStream) on ${nats.url}`);

          check();
          // The key that encrypts secrets at rest: made once, kept with the cluster's data (mode 0600).
          const secretKey = join(data, 'secret.key');
          if (ensureKeyFile(secretKey)) say(`generated the secret encryption key ${secretKey}`);
          // TLS on every listener: a local CA (given to the controller, which seals it in etcd) and
          // an admin credential, made once in the data folder; the CLI's context "local" holds it.
          const pki = await ensureLocalPki(join(data, 'tls'), { adminUser: 'admin' });
          const transport = { kind: 'tls' as const, source: new CredentialSource(pki.admin) };
          saveLocalContext(opts.api, pki.admin, say);
          const controller = spawnProc(
            'controller',
            process.execPath,
            [
              berthBin(),
              'controller',
              '--listen',
              opts.api,
              '--etcd',
              etcd.endpoint,
              '--etcd-cacert',
              backends.client.caFile,
              '--etcd-cert',
              backends.client.certFile,
              '--etcd-key',
              backends.client.keyFile,
              '--nats',
              nats.url,
              '--nats-cacert',
              backends.client.caFile,
              '--nats-cert',
              backends.client.certFile,
              '--nats-key',
              backends.client.keyFile,
              '--metrics',
              `127.0.0.1:${metricsPort}`,
              '--id',
              'local',
              '--secret-key-file',
              secretKey,
              '--ca-cert',
              pki.caCertFile,
              '--ca-key',
              pki.caKeyFile,
            ],
            { logFile: join(logs, 'controller.log'), detached: true },
          );
          pid('controller', controller);
          const c = new BerthClient(opts.api, transport);
          client = c;
          await waitUntil(async () => (await c.listNodes(), true), 'the controller API', { proc: controller, timeoutMs: 30_000 });
          say(`controller on ${opts.api} (logs: ${join(logs, 'controller.log')})`);

          check();
          // The agent joins with a token on its first start; later starts use its stored credentials.
          let joinToken = '';
          if (!existsSync(join(data, 'agent', 'tls', 'cert.pem'))) {
            const tokens = new TokenClient(opts.api, transport);
            try {
              joinToken = (await tokens.create({ role: 'agent', ttlMs: 3600_000 })).secret;
            } finally {
              tokens.close();
            }
          }
          const agent = spawnProc(
            'agent',
            process.execPath,
            [
              berthBin(),
              'agent',
              '--controller',
              opts.api,
              '--docker',
              `unix://${socket}`,
              '--node-id',
              opts.nodeId,
              '--address',
              '127.0.0.1',
              '--metrics',
              `127.0.0.1:${metricsPort + 1}`,
              '--state-dir',
              join(data, 'agent'),
            ],
            { logFile: join(logs, 'agent.log'), detached: true, env: { ...process.env, BERTH_JOIN_TOKEN: joinToken } },
          );
          pid('agent', agent);
          await waitUntil(
            async () => (await c.listNodes()).some((n) => n.id === opts.nodeId && n.state === 'ready'),
            `node ${opts.nodeId} to be ready`,
            { proc: agent, timeoutMs: 30_000 },
          );
          say(`agent for node ${opts.nodeId} ready (logs: ${join(logs, 'agent.log')})`);
          // Prometheus: /metrics and /sd speak mTLS only; the monitor credential is in the data folder.
          const promConfig = join(data, 'prometheus.yml');
          const rules = fileURLToPath(new URL('../../../../deploy/prometheus/rules.yml', import.meta.url));
          writeFileSync(
            promConfig,
            localPrometheusConfig({
              controllerMetrics: `127.0.0.1:${metricsPort}`,
              credentialDir: pki.monitorDir,
              ruleFiles: existsSync(rules) ? [rules] : [],
            }),
          );
          say(`Prometheus: prometheus --config.file=${promConfig} (scrapes over mTLS as monitor prometheus, credential ${pki.monitorDir})`);
        };

        try {
          await Promise.race([startup(), interrupted]);
          check();
          // The cluster runs from here on: nothing the example does stops it.
          // (After a Ctrl-C the example's calls may still fail while everything stops: not worth a line.)
          const live: Out = {
            say: (s) => {
              if (!cancelled) say(s);
            },
            print: (s) => {
              if (!cancelled) process.stdout.write(s);
            },
          };
          if (opts.example && client) await Promise.race([runExample(client, opts.example, exampleTimeoutMs, live), interrupted]);
          check();
          process.stdout.write(`\nThe cluster runs. Try:  node ${berthBin()} get tasks -A\n`);
          if (opts.detach) {
            process.stdout.write(`Detached; stop it with: kill $(cat ${run}/*.pid)\n`);
            for (const p of started) p.child.unref();
            started.length = 0;
            return;
          }
          process.stdout.write('Press Ctrl-C to stop it (containers are removed; data is kept in ' + data + ').\n');
          for (const p of started) {
            void p.exited.then((code) => {
              if (!cancelled) say(`${p.name} exited (${String(code)}); see ${p.logFile}`);
            });
          }
          await interrupted;
        } finally {
          client?.close();
          if (started.length > 0) await stopAll();
        }
      },
    );
}
