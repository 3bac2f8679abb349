// Table-driven validation of every documented constraint of the Service manifest (the field
// reference in docs/manifest.md): each row is one invalid input and the path and reason the
// error must carry. Positive rows check what valid input becomes (canonical form).
import { describe, expect, it } from 'vitest';
import { MAX_REPLICAS, formatServiceSpec, validateServiceManifest, type ServiceSpec } from '../../proto/src/spec/service.js';
import { MAX_VOLUMES, containerFields } from '../../proto/src/spec/container.js';

type Patch = { spec?: Record<string, unknown>; metadata?: Record<string, unknown>; top?: Record<string, unknown>; drop?: string[] };

function manifest(p: Patch): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    apiVersion: 'berth.dev/v1',
    kind: 'Service',
    metadata: { name: 'web', ...p.metadata },
    spec: { image: 'busybox', ...p.spec },
    ...p.top,
  };
  for (const k of p.drop ?? []) delete doc[k];
  return doc;
}

const many = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
const manyKeys = (n: number, v: unknown = 'x'): Record<string, unknown> => Object.fromEntries(many(n, (i) => [`k${i}`, v]));
const long = (n: number): string => 'x'.repeat(n);

// [what, patch, path, message]
const INVALID: Array<[string, Patch, string, RegExp]> = [
  // document
  ['apiVersion other than berth.dev/v1', { top: { apiVersion: 'v1' } }, 'apiVersion', /must be one of "berth.dev\/v1"/],
  ['kind other than Service', { top: { kind: 'Deployment' } }, 'kind', /must be one of "Service"/],
  ['an unknown top-level field', { top: { status: {} } }, 'status', /^unknown field \(known: apiVersion, kind, metadata, spec\)$/],
  ['metadata missing', { drop: ['metadata'] }, 'metadata', /required field is missing/],
  ['spec missing', { drop: ['spec'] }, 'spec', /required field is missing/],
  ['spec not a mapping', { top: { spec: [] } }, 'spec', /expected a mapping, got a list/],
  // metadata
  ['a name over 63 characters', { metadata: { name: long(64) } }, 'metadata.name', /at most 63 characters/],
  ['an empty name', { metadata: { name: '' } }, 'metadata.name', /must not be empty/],
  ['a name with "_"', { metadata: { name: 'my_web' } }, 'metadata.name', /DNS-1123 label/],
  ['a namespace with capitals', { metadata: { namespace: 'Team' } }, 'metadata.namespace', /DNS-1123 label/],
  ['a metadata label key with spaces', { metadata: { labels: { 'a b': 'x' } } }, 'metadata.labels.a b', /label keys are \[prefix\/\]name/],
  ['a metadata label value over 253 characters', { metadata: { labels: { a: long(254) } } }, 'metadata.labels.a', /at most 253 characters/],
  [
    'a metadata label value with a control character',
    { metadata: { labels: { a: 'x\u001b[31m' } } },
    'metadata.labels.a',
    /control characters/,
  ],
  ['more than 64 metadata labels', { metadata: { labels: manyKeys(65) } }, 'metadata.labels', /at most 64 entries/],
  ['an unknown metadata field', { metadata: { annotations: {} } }, 'metadata.annotations', /unknown field/],
  // image
  ['an image with capitals', { spec: { image: 'Busybox' } }, 'spec.image', /expected an image reference/],
  ['an image over 255 characters', { spec: { image: `a/${long(260)}` } }, 'spec.image', /at most 255 characters/],
  ['an image with a short digest', { spec: { image: 'web@sha256:abc' } }, 'spec.image', /expected an image reference/],
  ['an image with a space', { spec: { image: 'busy box' } }, 'spec.image', /expected an image reference/],
  ['an image that is a number', { spec: { image: 5 } }, 'spec.image', /expected a string, got a number/],
  // replicas
  ['negative replicas', { spec: { replicas: -1 } }, 'spec.replicas', /must be at least 0/],
  ['replicas above the bound', { spec: { replicas: MAX_REPLICAS + 1 } }, 'spec.replicas', /must be at most 10000/],
  ['fractional replicas', { spec: { replicas: 2.5 } }, 'spec.replicas', /expected an integer, got 2.5/],
  // entrypoint, command, args
  ['an entrypoint that is a string', { spec: { entrypoint: 'sh -c x' } }, 'spec.entrypoint', /expected list of string, got a string/],
  ['a command with more than 1000 words', { spec: { command: many(1001, () => 'x') } }, 'spec.command', /at most 1000 items/],
  ['a command word with NUL', { spec: { command: ['a\u0000b'] } }, 'spec.command[0]', /must not contain NUL/],
  ['a command word over 32Ki', { spec: { command: [long(32 * 1024 + 1)] } }, 'spec.command[0]', /at most 32768 characters/],
  ['an args word that is a mapping', { spec: { args: [{ a: 1 }] } }, 'spec.args[0]', /expected a string, got a mapping/],
  // env
  ['an env name starting with a digit', { spec: { env: { '1X': 'a' } } }, 'spec.env.1X', /environment variable names/],
  ['an env name with "="', { spec: { env: { 'A=B': 'a' } } }, 'spec.env.A=B', /environment variable names/],
  ['an env value with NUL', { spec: { env: { A: 'a\u0000' } } }, 'spec.env.A', /must not contain NUL/],
  ['an env value that is a list', { spec: { env: { A: [1] } } }, 'spec.env.A', /expected a string, got a list/],
  ['more than 1000 env variables', { spec: { env: manyKeys(1001) } }, 'spec.env', /at most 1000 entries/],
  ['an env given as a list', { spec: { env: ['A=1'] } }, 'spec.env', /expected a mapping, got a list/],
  // ports
  ['containerPort 0', { spec: { ports: [{ containerPort: 0 }] } }, 'spec.ports[0].containerPort', /must be at least 1/],
  ['containerPort above 65535', { spec: { ports: [{ containerPort: 65536 }] } }, 'spec.ports[0].containerPort', /must be at most 65535/],
  [
    'hostPort above 65535',
    { spec: { ports: [{ containerPort: 80 }, { containerPort: 81, hostPort: 70000 }] } },
    'spec.ports[1].hostPort',
    /must be at most 65535 \(got 70000\)/,
  ],
  ['a port without containerPort', { spec: { ports: [{ hostPort: 80 }] } }, 'spec.ports[0].containerPort', /required field is missing/],
  [
    'protocol sctp',
    { spec: { ports: [{ containerPort: 80, protocol: 'sctp' }] } },
    'spec.ports[0].protocol',
    /must be one of "tcp", "udp"/,
  ],
  [
    'a hostIP that is a name',
    { spec: { ports: [{ containerPort: 80, hostIP: 'localhost' }] } },
    'spec.ports[0].hostIP',
    /expected an IPv4 or IPv6 address/,
  ],
  ['more than 100 ports', { spec: { ports: many(101, (i) => ({ containerPort: i + 1 })) } }, 'spec.ports', /at most 100 items/],
  [
    'a container port published twice',
    { spec: { ports: [{ containerPort: 80 }, { containerPort: 80 }] } },
    'spec.ports[1].containerPort',
    /80\/tcp is already published by ports\[0\]/,
  ],
  [
    'a host port used twice',
    {
      spec: {
        ports: [
          { containerPort: 80, hostPort: 8080 },
          { containerPort: 81, hostPort: 8080 },
        ],
      },
    },
    'spec.ports[1].hostPort',
    /already used by ports\[0\]/,
  ],
  // resources
  ['a negative CPU reservation', { spec: { resources: { cpu: -1 } } }, 'spec.resources.cpu', /non-negative/],
  ['CPUs in words', { spec: { resources: { cpu: 'two' } } }, 'spec.resources.cpu', /expected CPUs as a number/],
  ['CPUs finer than 0.001', { spec: { resources: { cpu: 0.0001 } } }, 'spec.resources.cpu', /multiple of 0.001/],
  ['more than 1024 CPUs', { spec: { resources: { cpu: 1025 } } }, 'spec.resources.cpu', /must be at most 1024/],
  ['memory with an unknown unit', { spec: { resources: { memory: '12XB' } } }, 'spec.resources.memory', /is not a size/],
  ['memory above 1Pi', { spec: { resources: { memory: '2Pi' } } }, 'spec.resources.memory', /must be at most 1Pi/],
  [
    'a CPU limit below the reservation',
    { spec: { resources: { cpu: 1, limits: { cpu: 0.5 } } } },
    'spec.resources.limits.cpu',
    /must not be below the reservation/,
  ],
  [
    'a memory limit below the reservation',
    { spec: { resources: { memory: '64Mi', limits: { memory: '32Mi' } } } },
    'spec.resources.limits.memory',
    /must not be below the reservation/,
  ],
  ['a memory limit under 6Mi', { spec: { resources: { limits: { memory: '4Mi' } } } }, 'spec.resources.limits.memory', /at least 6Mi/],
  ['an unknown resources field', { spec: { resources: { gpu: 1 } } }, 'spec.resources.gpu', /unknown field \(known: cpu, memory, limits\)/],
  // stop
  ['an unknown signal', { spec: { stop: { signal: 'SIGFOO' } } }, 'spec.stop.signal', /unknown signal "SIGFOO"/],
  [
    'a grace period without a unit',
    { spec: { stop: { gracePeriod: 10 } } },
    'spec.stop.gracePeriod',
    /a duration needs a unit: write 10s or 10ms/,
  ],
  ['a grace period over an hour', { spec: { stop: { gracePeriod: '2h' } } }, 'spec.stop.gracePeriod', /must be at most 1h/],
  ['a negative grace period', { spec: { stop: { gracePeriod: '-1s' } } }, 'spec.stop.gracePeriod', /is not a duration/],
  // workingDir, user
  ['a relative workingDir', { spec: { workingDir: 'app' } }, 'spec.workingDir', /is not an absolute path/],
  ['a workingDir with ..', { spec: { workingDir: '/app/../etc' } }, 'spec.workingDir', /"\." and "\.\." are not allowed/],
  ['a workingDir with a trailing /', { spec: { workingDir: '/app/' } }, 'spec.workingDir', /remove the trailing "\/"/],
  ['a workingDir with //', { spec: { workingDir: '/a//b' } }, 'spec.workingDir', /remove the repeated "\/"/],
  ['a workingDir with a control character', { spec: { workingDir: '/a\nb' } }, 'spec.workingDir', /control characters/],
  ['a workingDir over 4096 characters', { spec: { workingDir: `/${long(4096)}` } }, 'spec.workingDir', /at most 4096 characters/],
  ['a user with a space', { spec: { user: 'a b' } }, 'spec.user', /expected user\[:group\]/],
  ['a user with an empty name', { spec: { user: ':1000' } }, 'spec.user', /expected user\[:group\]/],
  ['a user over 256 characters', { spec: { user: long(257) } }, 'spec.user', /at most 256 characters/],
  // volumes
  [
    'a volume type nfs',
    { spec: { volumes: [{ type: 'nfs', target: '/x' }] } },
    'spec.volumes[0].type',
    /must be one of "volume", "bind", "tmpfs"/,
  ],
  ['a volume without target', { spec: { volumes: [{ type: 'tmpfs' }] } }, 'spec.volumes[0].target', /required field is missing/],
  [
    'a relative volume target',
    { spec: { volumes: [{ type: 'tmpfs', target: 'tmp' }] } },
    'spec.volumes[0].target',
    /is not an absolute path/,
  ],
  [
    'a volume over /',
    { spec: { volumes: [{ type: 'tmpfs', target: '/' }] } },
    'spec.volumes[0].target',
    /cannot mount over the root filesystem/,
  ],
  [
    'a bind without source',
    { spec: { volumes: [{ type: 'bind', target: '/x' }] } },
    'spec.volumes[0].source',
    /required for a bind volume/,
  ],
  [
    'a relative bind source',
    { spec: { volumes: [{ type: 'bind', source: 'srv', target: '/x' }] } },
    'spec.volumes[0].source',
    /is not an absolute path/,
  ],
  [
    'a bind source with ..',
    { spec: { volumes: [{ type: 'bind', source: '/srv/../etc', target: '/x' }] } },
    'spec.volumes[0].source',
    /"\." and "\.\." are not allowed/,
  ],
  [
    'a one-character volume name',
    { spec: { volumes: [{ type: 'volume', source: 'a', target: '/x' }] } },
    'spec.volumes[0].source',
    /is not a volume name/,
  ],
  [
    'a volume name with "/"',
    { spec: { volumes: [{ type: 'volume', source: 'a/b', target: '/x' }] } },
    'spec.volumes[0].source',
    /is not a volume name/,
  ],
  [
    'a tmpfs with a source',
    { spec: { volumes: [{ type: 'tmpfs', source: 'x', target: '/x' }] } },
    'spec.volumes[0].source',
    /a tmpfs volume has no source/,
  ],
  [
    'a size on a named volume',
    { spec: { volumes: [{ type: 'volume', source: 'data', target: '/x', size: '1Gi' }] } },
    'spec.volumes[0].size',
    /only tmpfs volumes have a size/,
  ],
  [
    'a mode on a bind',
    { spec: { volumes: [{ type: 'bind', source: '/srv', target: '/x', mode: '0755' }] } },
    'spec.volumes[0].mode',
    /only tmpfs volumes have a mode/,
  ],
  [
    'a tmpfs mode as a YAML number',
    { spec: { volumes: [{ type: 'tmpfs', target: '/x', mode: 1777 }] } },
    'spec.volumes[0].mode',
    /quoted octal string/,
  ],
  [
    'a tmpfs mode that is not octal',
    { spec: { volumes: [{ type: 'tmpfs', target: '/x', mode: '999' }] } },
    'spec.volumes[0].mode',
    /expected octal permission bits/,
  ],
  ['a tmpfs size of 0', { spec: { volumes: [{ type: 'tmpfs', target: '/x', size: 0 }] } }, 'spec.volumes[0].size', /must be at least 1/],
  [
    'readOnly as a string',
    { spec: { volumes: [{ type: 'tmpfs', target: '/x', readOnly: 'yes' }] } },
    'spec.volumes[0].readOnly',
    /expected true or false/,
  ],
  [
    'an unknown volume field',
    { spec: { volumes: [{ type: 'tmpfs', target: '/x', options: 'x' }] } },
    'spec.volumes[0].options',
    /unknown field/,
  ],
  [
    'two volumes on one target',
    {
      spec: {
        volumes: [
          { type: 'tmpfs', target: '/x' },
          { type: 'volume', source: 'data', target: '/x' },
        ],
      },
    },
    'spec.volumes[1].target',
    /\/x is already mounted by volumes\[0\]/,
  ],
  [
    'more than 100 volumes',
    { spec: { volumes: many(MAX_VOLUMES + 1, (i) => ({ type: 'tmpfs', target: `/t${i}` })) } },
    'spec.volumes',
    /at most 100 items/,
  ],
  // networkMode
  ['network mode overlay', { spec: { networkMode: 'overlay' } }, 'spec.networkMode', /must be one of "bridge", "host", "none"/],
  [
    'ports with host networking',
    { spec: { networkMode: 'host', ports: [{ containerPort: 80 }] } },
    'spec.ports',
    /cannot publish ports with networkMode host/,
  ],
  [
    'ports with no networking',
    { spec: { networkMode: 'none', ports: [{ containerPort: 80 }] } },
    'spec.ports',
    /cannot publish ports with networkMode none/,
  ],
  // container labels
  [
    'a container label in the berth. namespace',
    { spec: { labels: { 'berth.task': 'x' } } },
    'spec.labels.berth.task',
    /the "berth\." prefix is reserved/,
  ],
  [
    'a container label in the berth. namespace, other case',
    { spec: { labels: { 'Berth.Node': 'x' } } },
    'spec.labels.Berth.Node',
    /the "berth\." prefix is reserved/,
  ],
  ['a container label key starting with "-"', { spec: { labels: { '-x': 'y' } } }, 'spec.labels.-x', /label keys are letters, digits/],
  ['a container label value with a control character', { spec: { labels: { a: 'x\u0007' } } }, 'spec.labels.a', /control characters/],
  ['a container label value over 4096 characters', { spec: { labels: { a: long(4097) } } }, 'spec.labels.a', /at most 4096 characters/],
  ['more than 128 container labels', { spec: { labels: manyKeys(129) } }, 'spec.labels', /at most 128 entries/],
  [
    'a prototype key in container labels',
    { spec: { labels: JSON.parse('{"__proto__":"x"}') as Record<string, unknown> } },
    'spec.labels.__proto__',
    /reserved key name/,
  ],
  // logging
  ['logging without a driver', { spec: { logging: { options: { a: 'b' } } } }, 'spec.logging.driver', /required field is missing/],
  ['a log driver with a space', { spec: { logging: { driver: 'json file' } } }, 'spec.logging.driver', /a log driver name/],
  [
    'a log option name with a space',
    { spec: { logging: { driver: 'json-file', options: { 'max size': '1m' } } } },
    'spec.logging.options.max size',
    /option names are letters/,
  ],
  [
    'a log option value over 4096 characters',
    { spec: { logging: { driver: 'json-file', options: { tag: long(4097) } } } },
    'spec.logging.options.tag',
    /at most 4096 characters/,
  ],
  [
    'an unknown logging field',
    { spec: { logging: { driver: 'local', level: 'debug' } } },
    'spec.logging.level',
    /unknown field \(known: driver, options\)/,
  ],
  // init, read-only root, capabilities
  ['init as a string', { spec: { init: 'true' } }, 'spec.init', /expected true or false, got a string/],
  [
    'readOnlyRootFilesystem as a number',
    { spec: { readOnlyRootFilesystem: 1 } },
    'spec.readOnlyRootFilesystem',
    /expected true or false, got a number/,
  ],
  ['an unknown capability', { spec: { capAdd: ['NET_FOO'] } }, 'spec.capAdd[0]', /unknown capability "NET_FOO"/],
  ['a capability listed twice', { spec: { capDrop: ['NET_RAW', 'CAP_NET_RAW'] } }, 'spec.capDrop[1]', /NET_RAW is listed twice/],
  [
    'a capability both added and dropped',
    { spec: { capAdd: ['CHOWN'], capDrop: ['chown'] } },
    'spec.capAdd[0]',
    /CHOWN is both added and dropped/,
  ],
  ['capabilities as a string', { spec: { capDrop: 'ALL' } }, 'spec.capDrop', /expected list of capability, got a string/],
  // update: order and the surge/unavailable budget (an explicit contradiction is refused)
  [
    'order start-first with maxSurge 0',
    { spec: { update: { order: 'start-first', maxSurge: 0, maxUnavailable: 1 } } },
    'spec.update.maxSurge',
    /^order start-first starts a new task before stopping an old one: allow at least 1 surge task \(or use order stop-first\)$/,
  ],
  [
    'order start-first with maxSurge 0%',
    { spec: { update: { order: 'start-first', maxSurge: '0%', maxUnavailable: 1 } } },
    'spec.update.maxSurge',
    /^order start-first starts a new task/,
  ],
  [
    'order stop-first with maxUnavailable 0',
    { spec: { update: { order: 'stop-first', maxUnavailable: 0 } } },
    'spec.update.maxUnavailable',
    /^order stop-first stops a task before its replacement is healthy: allow at least 1 unavailable \(or use order start-first\)$/,
  ],
  [
    'order stop-first with maxSurge 0 and maxUnavailable 0',
    { spec: { update: { order: 'stop-first', maxSurge: 0, maxUnavailable: 0 } } },
    'spec.update.maxUnavailable',
    /^order stop-first stops a task/,
  ],
  [
    'no order, maxSurge 0 and maxUnavailable 0 (nothing could be replaced)',
    { spec: { update: { maxSurge: 0, maxUnavailable: 0 } } },
    'spec.update.maxUnavailable',
    /^with maxSurge 0 an update stops a task before its replacement starts \(order stop-first\): allow at least 1 unavailable, or a surge$/,
  ],
  [
    'no order, maxSurge 0% and maxUnavailable left at 0',
    { spec: { update: { maxSurge: '0%' } } },
    'spec.update.maxUnavailable',
    /^with maxSurge 0 an update/,
  ],
  [
    'an order that is neither',
    { spec: { update: { order: 'blue-green' } } },
    'spec.update.order',
    /must be one of "start-first", "stop-first"/,
  ],
  // unknown spec fields
  [
    'an unknown spec field (a typo)',
    { spec: { replica: 3 } },
    'spec.replica',
    /^unknown field \(known: image, replicas, entrypoint, command, env, ports, resources, stop, .*args, workingDir, user, volumes, networkMode, labels, logging, init, readOnlyRootFilesystem, capAdd, capDrop/,
  ],
  [
    'a prototype key in spec',
    { spec: JSON.parse('{"image":"busybox","constructor":{}}') as Record<string, unknown> },
    'spec.constructor',
    /unknown field/,
  ],
];

describe('every documented constraint refuses what breaks it, naming the path', () => {
  it.each(INVALID)('%s', (_what, patch, path, message) => {
    const r = validateServiceManifest(manifest(patch));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.issues.find((i) => i.path === path);
    expect(issue, `no issue at ${path}; got ${JSON.stringify(r.issues)}`).toBeDefined();
    expect(issue!.message).toMatch(message);
  });
});

describe('valid container fields and their canonical form', () => {
  const ok = (spec: Record<string, unknown>): ServiceSpec => {
    const r = validateServiceManifest(manifest({ spec }));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return r.value.spec;
  };

  it('keeps the container fields absent when not given (a spec stored before they existed stays canonical)', () => {
    const keys = Object.keys(ok({}));
    for (const k of Object.keys(containerFields)) expect(keys).not.toContain(k);
    expect(keys.slice(0, 4)).toEqual(['image', 'replicas', 'resources', 'stop']);
  });

  it('canonical units and names', () => {
    const s = ok({
      volumes: [
        { type: 'tmpfs', target: '/t', size: '1.5Mi', mode: '755' },
        { type: 'bind', source: '/', target: '/host' },
        { type: 'volume', target: '/anon' },
      ],
      capAdd: ['cap_net_admin', 'SYS_TIME'],
      capDrop: ['all'],
      labels: { 'com.example/team': 7, 'a.b_c-d': true },
      logging: { driver: 'fluentd', options: { 'fluentd-address': 'localhost:24224', 'fluentd-async': true } },
      user: '0',
      networkMode: 'none',
    });
    expect(s.volumes).toEqual([
      { type: 'tmpfs', target: '/t', size: 1.5 * 2 ** 20, mode: 0o755 },
      { type: 'bind', source: '/', target: '/host' },
      { type: 'volume', target: '/anon' },
    ]);
    expect(s.capAdd).toEqual(['NET_ADMIN', 'SYS_TIME']);
    expect(s.capDrop).toEqual(['ALL']);
    expect(s.labels).toEqual({ 'a.b_c-d': 'true', 'com.example/team': '7' });
    expect(s.logging).toEqual({ driver: 'fluentd', options: { 'fluentd-address': 'localhost:24224', 'fluentd-async': 'true' } });
  });

  it('ports may be left out with host networking; the same target may be reused by other kinds', () => {
    expect(ok({ networkMode: 'host' }).networkMode).toBe('host');
    expect(
      ok({
        volumes: [
          { type: 'tmpfs', target: '/a' },
          { type: 'tmpfs', target: '/a/b' },
        ],
      }).volumes,
    ).toHaveLength(2);
  });

  it('reports the errors of several fields at once', () => {
    const r = validateServiceManifest(
      manifest({
        spec: { workingDir: 'rel', user: 'a b', init: 'x', capAdd: ['FOO'], volumes: [{ type: 'bind', target: '/x' }], logging: {} },
      }),
    );
    expect(!r.ok && r.issues.map((i) => i.path).sort()).toEqual([
      'spec.capAdd[0]',
      'spec.init',
      'spec.logging.driver',
      'spec.user',
      'spec.volumes[0].source',
      'spec.workingDir',
    ]);
  });
});

describe('update.order: derived from the surge when not given, kept when given', () => {
  const update = (u: Record<string, unknown> | undefined): ServiceSpec['update'] => {
    const r = validateServiceManifest(manifest({ spec: u === undefined ? {} : { update: u } }));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return r.value.spec.update;
  };
  // [what, update as written, order, maxSurge, maxUnavailable]
  const ROWS: Array<[string, Record<string, unknown> | undefined, string, number | string, number | string]> = [
    ['nothing written: the defaults', undefined, 'start-first', 1, 0],
    ['the Kubernetes way: maxUnavailable 1, maxSurge 0', { maxUnavailable: 1, maxSurge: 0 }, 'stop-first', 0, 1],
    ['maxSurge 0% with maxUnavailable 25%', { maxSurge: '0%', maxUnavailable: '25%' }, 'stop-first', '0%', '25%'],
    ['maxSurge 0 as a string', { maxSurge: '0', maxUnavailable: 2 }, 'stop-first', 0, 2],
    ['a surge: start-first', { maxSurge: 2 }, 'start-first', 2, 0],
    ['a surge and unavailability: start-first', { maxSurge: '25%', maxUnavailable: '25%' }, 'start-first', '25%', '25%'],
    ['only maxUnavailable: the default surge of 1, start-first', { maxUnavailable: 1 }, 'start-first', 1, 1],
    ['explicit stop-first with a surge: kept', { order: 'stop-first', maxSurge: 5, maxUnavailable: 1 }, 'stop-first', 5, 1],
    ['explicit start-first with unavailability: kept', { order: 'start-first', maxSurge: 1, maxUnavailable: 3 }, 'start-first', 1, 3],
  ];
  it.each(ROWS)('%s', (_what, written, order, maxSurge, maxUnavailable) => {
    expect(update(written)).toMatchObject({ order, maxSurge, maxUnavailable });
  });

  it('the derived order is stored like a written one: validating the formatted spec again gives the same spec', () => {
    const r = validateServiceManifest(manifest({ spec: { update: { maxUnavailable: 1, maxSurge: 0 } } }));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect((formatServiceSpec(r.value.spec) as { update: unknown }).update).toMatchObject({
      order: 'stop-first',
      maxSurge: 0,
      maxUnavailable: 1,
    });
    const again = validateServiceManifest(manifest({ spec: formatServiceSpec(r.value.spec) as Record<string, unknown> }));
    if (!again.ok) throw new Error(JSON.stringify(again.issues));
    expect(again.value.spec).toEqual(r.value.spec);
  });
});
