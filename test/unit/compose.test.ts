// Compose import: a realistic Compose file (anchors and merge keys, both port syntaxes, every
// volume kind, environment in list and map form, env_file, deploy resources in Docker's units,
// variables) becomes Berth manifests that validate; every key that is not honoured is reported
// by its path; what cannot be converted is an error naming its path.
import { describe, expect, it } from 'vitest';
import {
  berthName,
  convertCompose,
  dockerBytes,
  goDurationMs,
  isComposeDocument,
  shellWords,
  type ComposeContext,
} from '../../cli/src/compose/convert.js';
import { interpolate, parseEnvFile } from '../../cli/src/compose/interpolate.js';
import { parseDocuments } from '../../cli/src/manifest.js';
import { checkDocuments } from '../../cli/src/documents.js';
import { validateServiceManifest } from '../../proto/src/spec/service.js';

const COMPOSE = `
version: "3.8"
name: shop
x-logging: &logging
  logging:
    driver: json-file
    options: { max-size: "10m", max-file: "3" }
services:
  web:
    <<: *logging
    image: \${REGISTRY:-docker.io}/library/nginx:1.25
    command: nginx -g 'daemon off;'
    restart: unless-stopped
    ports:
      - "8080:80"
      - "127.0.0.1:8443:443/tcp"
      - "9000-9001:9000-9001/udp"
      - "7000"
      - target: 5000
        published: "5001"
        host_ip: 127.0.0.2
        protocol: tcp
        mode: host
    environment:
      - APP_ENV=\${APP_ENV:-production}
      - FROM_SHELL
      - MISSING
    env_file: ./web.env
    volumes:
      - static:/usr/share/nginx/html:ro
      - ./conf:/etc/nginx/conf.d:ro
      - /srv/certs:/certs
      - /var/cache/anon
      - type: tmpfs
        target: /var/cache/nginx
        tmpfs: { size: 64m, mode: 1777 }
      - type: volume
        source: uploads
        target: /uploads
        volume: { nocopy: true }
    depends_on: [api]
    networks: [front]
    deploy:
      replicas: 2
      resources:
        limits: { cpus: "0.5", memory: 256M, pids: 100 }
        reservations: { cpus: "0.25", memory: 128M }
      placement: { constraints: ["node.role == worker"] }
      restart_policy: { condition: on-failure }
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://localhost/"]
      interval: 10s
  api_v2:
    image: registry.local:5000/shop/api:2.1
    entrypoint: ["/app/api"]
    command: ["--port", 9090]
    environment:
      DB_URL: postgres://db:5432/shop
      WORKERS: 4
      TOKEN:
    user: 1000
    working_dir: /app
    read_only: true
    init: true
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE]
    stop_signal: SIGINT
    stop_grace_period: 1m30s
    tmpfs: ["/tmp", "/run:size=16m,mode=0755"]
    labels: ["com.example.team=shop", "com.example.tier=api"]
    mem_limit: 1g
    cpus: 2
    network_mode: host
    build: ./api
    x-custom: ignored
volumes:
  static: {}
  uploads:
    external: true
    name: shop-uploads
  unused:
    driver: nfs
networks:
  front: {}
x-anything: {}
`;

const ctx = (over: Partial<ComposeContext> = {}): ComposeContext => ({
  projectDir: '/home/me/shop',
  env: { FROM_SHELL: 'yes', HOME: '/home/me' },
  readFile: (path) => {
    if (path === '/home/me/shop/web.env') return '# web settings\nGREETING=hello\nQUOTED="a b"\nexport EXPORTED=1\nFROM_SHELL\n';
    throw new Error('ENOENT');
  },
  home: '/home/me',
  ...over,
});

function convert(text: string, c: ComposeContext = ctx()) {
  const [doc] = parseDocuments('docker-compose.yml', text);
  return convertCompose(doc!.doc, c);
}

describe('Compose import of a realistic file', () => {
  const r = convert(COMPOSE);

  it('converts without errors into Berth Services that validate', () => {
    expect(r.errors).toEqual([]);
    expect(r.project).toBe('shop');
    expect(r.manifests.map((m) => (m['metadata'] as { name: string }).name)).toEqual(['web', 'api-v2']);
    for (const m of r.manifests) {
      const v = validateServiceManifest(m);
      expect(v.ok, JSON.stringify(v)).toBe(true);
    }
    expect(checkDocuments(r.manifests.map((doc, i) => ({ source: 'docker-compose.yml', index: i + 1, doc }))).problems).toEqual([]);
  });

  it('maps the web service: image with variables, command words, ports, env, volumes, deploy, logging', () => {
    const web = r.manifests[0]!;
    expect(web['metadata']).toEqual({ name: 'web', labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'web' } });
    expect(web['spec']).toEqual({
      image: 'docker.io/library/nginx:1.25',
      replicas: 2,
      command: ['nginx', '-g', 'daemon off;'],
      env: { GREETING: 'hello', QUOTED: 'a b', EXPORTED: '1', FROM_SHELL: 'yes', APP_ENV: 'production' },
      ports: [
        { containerPort: 80, hostPort: 8080 },
        { containerPort: 443, hostPort: 8443, protocol: 'tcp', hostIP: '127.0.0.1' },
        { containerPort: 9000, hostPort: 9000, protocol: 'udp' },
        { containerPort: 9001, hostPort: 9001, protocol: 'udp' },
        { containerPort: 7000 },
        { containerPort: 5000, hostPort: 5001, hostIP: '127.0.0.2', protocol: 'tcp' },
      ],
      resources: { cpu: 0.25, memory: '128Mi', limits: { cpu: 0.5, memory: '256Mi' } },
      volumes: [
        { type: 'volume', source: 'shop_static', target: '/usr/share/nginx/html', readOnly: true },
        { type: 'bind', source: '/home/me/shop/conf', target: '/etc/nginx/conf.d', readOnly: true },
        { type: 'bind', source: '/srv/certs', target: '/certs' },
        { type: 'volume', target: '/var/cache/anon' },
        { type: 'tmpfs', target: '/var/cache/nginx', size: '64Mi', mode: '1777' },
        { type: 'volume', source: 'shop-uploads', target: '/uploads' },
      ],
      logging: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } },
      health: { exec: { command: ['wget', '-qO-', 'http://localhost/'] }, interval: '10s', timeout: '10s', retries: 3, startPeriod: '0s' },
      restart: { policy: 'on-failure' },
    });
  });

  it('maps the api service: name made DNS-1123, entrypoint, env map, user, stop, tmpfs, labels, legacy limits, host network', () => {
    const api = r.manifests[1]!;
    expect(api['metadata']).toEqual({
      name: 'api-v2',
      labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'api_v2' },
    });
    expect(api['spec']).toEqual({
      image: 'registry.local:5000/shop/api:2.1',
      entrypoint: ['/app/api'],
      command: ['--port', '9090'],
      env: { DB_URL: 'postgres://db:5432/shop', WORKERS: '4' },
      resources: { limits: { cpu: 2, memory: '1Gi' } },
      stop: { signal: 'SIGINT', gracePeriod: '90s' },
      workingDir: '/app',
      user: '1000',
      volumes: [
        { type: 'tmpfs', target: '/tmp' },
        { type: 'tmpfs', target: '/run', size: '16Mi', mode: '0755' },
      ],
      networkMode: 'host',
      labels: { 'com.example.team': 'shop', 'com.example.tier': 'api' },
      init: true,
      readOnlyRootFilesystem: true,
      capAdd: ['NET_BIND_SERVICE'],
      capDrop: ['ALL'],
    });
  });

  it('reports every key it does not honour, by path (x- extension fields excepted)', () => {
    expect(r.ignored.map((i) => i.path)).toEqual([
      'version',
      'networks',
      'volumes.unused.driver',
      'services.web.volumes[5].volume',
      'services.web.depends_on',
      'services.web.networks',
      'services.web.deploy.resources.limits.pids',
      'services.web.deploy.placement.constraints[0]',
      'services.api_v2.build',
    ]);
    expect(r.ignored.find((i) => i.path === 'services.web.deploy.placement.constraints[0]')!.message).toMatch(
      /^not honoured: unknown attribute "node.role"/,
    );
    expect(r.ignored.every((i) => i.message.startsWith('not honoured: '))).toBe(true);
  });

  it('notes renames and values the environment does not have', () => {
    expect(r.notes).toEqual([
      { path: 'services.web.restart', message: 'deploy.restart_policy is used instead' },
      { path: 'services.web.healthcheck.timeout', message: "30s (Docker's default) is longer than the interval; Berth uses 10s" },
      { path: 'services.web.environment[2]', message: 'MISSING takes its value from the environment, where it is not set; left out' },
      { path: 'services.api_v2', message: 'named api-v2 in Berth (names are DNS-1123 labels)' },
      { path: 'services.api_v2.environment.TOKEN', message: 'TOKEN takes its value from the environment, where it is not set; left out' },
    ]);
  });
});

describe('Compose import errors name their path', () => {
  it.each([
    [
      'a volume not declared at the top level',
      'services:\n  a:\n    image: x\n    volumes: ["data:/data"]\n',
      'services.a.volumes[0]',
      /which the top-level volumes do not declare/,
    ],
    ['a port it cannot read', 'services:\n  a:\n    image: x\n    ports: ["80:http"]\n', 'services.a.ports[0]', /cannot read "80:http"/],
    [
      'ranges of different length',
      'services:\n  a:\n    image: x\n    ports: ["8000-8002:80-81"]\n',
      'services.a.ports[0]',
      /differ in length/,
    ],
    ['a range too long', 'services:\n  a:\n    image: x\n    ports: ["1000-2000:1000-2000"]\n', 'services.a.ports[0]', /at most 100 ports/],
    ['a build without an image', 'services:\n  a:\n    build: .\n', 'services.a.image', /does not build images/],
    ['no image', 'services:\n  a:\n    command: x\n', 'services.a.image', /required field is missing/],
    ['a name that cannot be a DNS label', 'services:\n  "-x-":\n    image: x\n', 'services.-x-', /cannot become a Berth name/],
    ['two names that meet', 'services:\n  a_b:\n    image: x\n  a-b:\n    image: x\n', 'services.a-b', /like services\.a_b/],
    [
      'a required variable',
      'services:\n  a:\n    image: ${IMAGE:?set IMAGE}\n',
      'services.a.image',
      /required variable IMAGE is not set: set IMAGE/,
    ],
    ['an unterminated quote', "services:\n  a:\n    image: x\n    command: echo 'hi\n", 'services.a.command', /unterminated single quote/],
    ['a bad memory size', 'services:\n  a:\n    image: x\n    mem_limit: lots\n', 'services.a.mem_limit', /expected a size such as 512m/],
    ['a bad duration', 'services:\n  a:\n    image: x\n    stop_grace_period: 10\n', 'services.a.stop_grace_period', /expected a duration/],
    [
      'an env_file that is missing',
      'services:\n  a:\n    image: x\n    env_file: nope.env\n',
      'services.a.env_file',
      /cannot read \/home\/me\/shop\/nope.env/,
    ],
    [
      'an npipe volume',
      'services:\n  a:\n    image: x\n    volumes: [{ type: npipe, source: x, target: /x }]\n',
      'services.a.volumes[0].type',
      /not supported/,
    ],
  ])('%s', (_what, text, path, message) => {
    const r = convert(text);
    expect(r.errors.find((e) => e.path === path)?.message, JSON.stringify(r.errors)).toMatch(message);
  });

  it('an optional env_file that is missing is fine', () => {
    expect(convert('services:\n  a:\n    image: x\n    env_file: [{ path: nope.env, required: false }]\n').errors).toEqual([]);
  });

  it('mode: ingress is reported; the port is still published on the node', () => {
    const r = convert('services:\n  a:\n    image: x\n    ports: [{ target: 80, published: 8080, mode: ingress }]\n');
    expect(r.ignored.map((i) => i.path)).toEqual(['services.a.ports[0].mode']);
    expect((r.manifests[0]!['spec'] as { ports: unknown }).ports).toEqual([{ containerPort: 80, hostPort: 8080 }]);
  });
});

describe("Compose lifecycle and placement keys map onto Berth's fields", () => {
  const spec = (service: string): Record<string, unknown> => {
    const r = convert(`services:\n  a:\n    image: x\n${service.replace(/^/gm, '    ')}\n`);
    expect(r.errors).toEqual([]);
    const m = r.manifests[0]!;
    const v = validateServiceManifest(m);
    expect(v.ok, JSON.stringify(v)).toBe(true);
    return m['spec'] as Record<string, unknown>;
  };

  it.each([
    [
      'test: curl -f http://localhost/',
      { exec: { command: ['/bin/sh', '-c', 'curl -f http://localhost/'] }, interval: '30s', timeout: '30s', retries: 3, startPeriod: '0s' },
    ],
    [
      'test: ["CMD-SHELL", "pg_isready"]\n  interval: 5s\n  timeout: 2s\n  retries: 5\n  start_period: 1m',
      { exec: { command: ['/bin/sh', '-c', 'pg_isready'] }, interval: '5s', timeout: '2s', retries: 5, startPeriod: '1m' },
    ],
    [
      'test: ["CMD", "true"]\n  interval: 1m30s',
      { exec: { command: ['true'] }, interval: '90s', timeout: '30s', retries: 3, startPeriod: '0s' },
    ],
  ])('healthcheck %j', (hc, health) => {
    expect(spec(`healthcheck:\n  ${hc}`)['health']).toEqual(health);
  });

  it('healthcheck disable and NONE are reported (an image HEALTHCHECK cannot be switched off)', () => {
    for (const hc of ['disable: true', 'test: ["NONE"]']) {
      const r = convert(`services:\n  a:\n    image: x\n    healthcheck:\n      ${hc}\n`);
      expect(r.ignored.map((i) => i.path)).toEqual([`services.a.healthcheck.${hc.split(':')[0]}`]);
      expect(r.manifests[0]!['spec']).not.toHaveProperty('health');
    }
  });

  it.each([
    ['no', { policy: 'never' }],
    ['always', { policy: 'always' }],
    ['on-failure', { policy: 'on-failure' }],
    ['on-failure:5', { policy: 'on-failure', maxAttempts: 5 }],
    ['unless-stopped', { policy: 'always' }],
  ])('restart: %s', (value, restart) => {
    expect(spec(`restart: "${value}"`)['restart']).toEqual(restart);
  });

  it('deploy.restart_policy, update_config, mode global and placement', () => {
    expect(spec('deploy:\n  mode: global')['mode']).toBe('global');
    const s = spec(`deploy:
  replicas: 3
  restart_policy: { condition: on-failure, max_attempts: 3, delay: 5s, window: 2m }
  update_config: { parallelism: 2, delay: 10s, order: stop-first, failure_action: pause, monitor: 30s, max_failure_ratio: 0.2 }
  placement:
    constraints: ["node.labels.zone == a", "node.platform.os == linux"]
    preferences: [{ spread: node.labels.zone }]`);
    expect(s['replicas']).toBe(3);
    expect(s['restart']).toEqual({ policy: 'on-failure', maxAttempts: 3, backoff: { initial: '5s', resetAfter: '2m' } });
    expect(s['update']).toEqual({
      delay: '10s',
      order: 'stop-first',
      failureAction: 'pause',
      monitor: '30s',
      maxFailureRatio: 0.2,
      maxUnavailable: 2,
    });
    expect(s['placement']).toEqual({ constraints: ['node.labels.zone == a', 'node.platform.os == linux'], spreadBy: 'node.labels.zone' });
    expect(spec('deploy:\n  update_config: { parallelism: 0 }')['update']).toEqual({ maxSurge: '100%' });
    expect(spec('deploy:\n  replicas: 4\n  placement: { max_replicas_per_node: 2 }')['placement']).toEqual({ maxPerNode: 2 });
  });

  it('errors in lifecycle keys name their path', () => {
    expect(convert('services:\n  a:\n    image: x\n    restart: sometimes\n').errors).toEqual([
      { path: 'services.a.restart', message: 'expected no, always, on-failure[:N] or unless-stopped, got "sometimes"' },
    ]);
    expect(convert('services:\n  a:\n    image: x\n    healthcheck: { interval: 5s }\n').errors).toEqual([
      { path: 'services.a.healthcheck.test', message: 'required: the command of the check' },
    ]);
    expect(convert('services:\n  a:\n    image: x\n    deploy: { mode: replicated-job }\n').errors[0]!.path).toBe('services.a.deploy.mode');
    expect(convert('services:\n  a:\n    image: x\n    deploy: { restart_policy: { condition: sometimes } }\n').errors[0]!.path).toBe(
      'services.a.deploy.restart_policy.condition',
    );
  });
});

describe('Compose detection and helpers', () => {
  it('isComposeDocument: top-level services and no apiVersion/kind', () => {
    expect(isComposeDocument({ services: {} })).toBe(true);
    expect(isComposeDocument({ services: {}, kind: 'Service' })).toBe(false);
    expect(isComposeDocument({ apiVersion: 'berth.dev/v1', kind: 'Service', metadata: {}, spec: {} })).toBe(false);
    expect(isComposeDocument([])).toBe(false);
  });

  it('shellWords splits like a POSIX shell', () => {
    expect(shellWords(`nginx -g 'daemon off;'`)).toEqual(['nginx', '-g', 'daemon off;']);
    expect(shellWords(`sh -c "echo \\"hi\\" \\$HOME"`)).toEqual(['sh', '-c', 'echo "hi" $HOME']);
    expect(shellWords('a\\ b  c')).toEqual(['a b', 'c']);
    expect(shellWords(`x ''`)).toEqual(['x', '']);
    expect(shellWords(`"open`)).toBe('unterminated double quote');
  });

  it('dockerBytes uses binary multiples, as Docker does', () => {
    expect([
      dockerBytes('512M'),
      dockerBytes('1g'),
      dockerBytes('1.5G'),
      dockerBytes('64mb'),
      dockerBytes(1024),
      dockerBytes('100'),
    ]).toEqual([512 * 2 ** 20, 2 ** 30, 1.5 * 2 ** 30, 64 * 2 ** 20, 1024, 100]);
    expect(typeof dockerBytes('12 apples')).toBe('string');
  });

  it('goDurationMs reads Go durations', () => {
    expect([goDurationMs('1m30s'), goDurationMs('500ms'), goDurationMs('1.5s'), goDurationMs('10us'), goDurationMs('2h')]).toEqual([
      90_000, 500, 1500, 1, 7_200_000,
    ]);
    expect(typeof goDurationMs('10')).toBe('string');
  });

  it('berthName', () => {
    expect(berthName('My_App.v2')).toBe('my-app-v2');
    expect(berthName('-x')).toBeUndefined();
  });

  it('interpolation: defaults, alternatives, $$ and unset variables', () => {
    const r = interpolate({ a: '${A:-x}-${B-y}-${C:+z}-${D+w}-$$E-$F', b: ['${E}'], 'x-keep': '${NOPE}' }, { A: '', B: '', C: '1', D: '' });
    expect(r.value).toEqual({ a: 'x--z-w-$E-', b: [''], 'x-keep': '${NOPE}' });
    expect(r.unset.map((u) => `${u.path} ${u.message}`)).toEqual([
      'a variable F is not set; using an empty string',
      'b[0] variable E is not set; using an empty string',
    ]);
    expect(interpolate('${A:?}', {}).errors).toEqual([{ path: '', message: 'required variable A is not set' }]);
    expect(interpolate('${', {}).errors[0]!.message).toMatch(/invalid interpolation/);
  });

  it('parseEnvFile: comments, quotes, export, bare names', () => {
    expect(parseEnvFile('# c\nA=1\nB="x y"\nC=\'z\'\nexport D=2\nE\nF=v # trailing\n\nG=')).toEqual({
      vars: { A: '1', B: 'x y', C: 'z', D: '2', E: undefined, F: 'v', G: '' },
      problems: [],
    });
    expect(parseEnvFile('not a line').problems).toEqual([{ line: 1, message: 'expected KEY=VALUE, got "not a line"' }]);
  });
});
