// The pure mapping of a spec onto Docker's create options, field by field, from validated
// manifests (so defaults and canonical units are those the agent really receives). The same
// fields are checked against a real engine in test/integration/container-fields.test.ts.
import { BASELINE_CAPABILITIES } from '../../proto/src/security/workload-policy.js';
import { describe, expect, it } from 'vitest';
import { commandLine, createOptions, needsImageCmd } from '../../agent/src/runtime/docker/create-options.js';
import { hostPathRefusal, isUnder, parseAllowedHostPaths } from '../../agent/src/host-paths.js';
import { guardHostPaths, HostPathRefusedError } from '../../agent/src/host-path-guard.js';
import { validateServiceManifest, type ServiceSpec } from '../../proto/src/spec/service.js';
import { FakeRuntime } from './fake-runtime.js';

const MiB = 2 ** 20;

function spec(fields: Record<string, unknown>): ServiceSpec {
  const r = validateServiceManifest({
    apiVersion: 'berth.dev/v1',
    kind: 'Service',
    metadata: { name: 'web' },
    spec: { image: 'busybox', ...fields },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value.spec;
}
const create = (fields: Record<string, unknown>, image = {}) =>
  createOptions({ name: 'c1', labels: { 'berth.task': 't1' }, spec: spec(fields) }, image);

describe('createOptions', () => {
  it('a minimal spec: image, Berth labels, no restart by the engine, stop signal and timeout', () => {
    expect(create({})).toEqual({
      name: 'c1',
      Image: 'busybox',
      Labels: { 'berth.task': 't1' },
      Env: [],
      ExposedPorts: {},
      StopSignal: 'SIGTERM',
      StopTimeout: 10,
      HostConfig: {
        PortBindings: {},
        RestartPolicy: { Name: 'no' },
        CapDrop: ['ALL'],
        CapAdd: [...BASELINE_CAPABILITIES].sort(),
        SecurityOpt: ['no-new-privileges:true'],
      },
    });
  });

  it('command line: entrypoint, command and args', () => {
    expect(create({ entrypoint: ['sh', '-c'], command: ['echo $0', 'x'], args: ['y'] })).toMatchObject({
      Entrypoint: ['sh', '-c'],
      Cmd: ['echo $0', 'x', 'y'],
    });
    expect(create({ command: ['httpd', '-f'] })).toMatchObject({ Cmd: ['httpd', '-f'] });
    expect(create({ command: ['httpd', '-f'] })).not.toHaveProperty('Entrypoint');
    // args alone are appended to the image's CMD...
    expect(create({ args: ['-v'] }, { cmd: ['httpd', '-f'] })).toMatchObject({ Cmd: ['httpd', '-f', '-v'] });
    // ...but with a new entrypoint Docker drops the image's CMD, so args are all there is.
    expect(create({ entrypoint: ['/app'], args: ['-v'] }, { cmd: ['ignored'] })).toMatchObject({ Entrypoint: ['/app'], Cmd: ['-v'] });
    expect(create({ entrypoint: ['/app'] })).not.toHaveProperty('Cmd');
    expect(create({ args: [] })).not.toHaveProperty('Cmd');
  });

  it('needsImageCmd only when args must be appended to the image CMD', () => {
    expect(needsImageCmd(spec({ args: ['x'] }))).toBe(true);
    expect(needsImageCmd(spec({ args: ['x'], command: ['a'] }))).toBe(false);
    expect(needsImageCmd(spec({ args: ['x'], entrypoint: ['a'] }))).toBe(false);
    expect(needsImageCmd(spec({ args: [] }))).toBe(false);
    expect(commandLine(spec({}))).toBeUndefined();
  });

  it('env, working dir and user', () => {
    expect(create({ env: { B: 2, A: 'x=y' }, workingDir: '/srv', user: '1000:1000' })).toMatchObject({
      Env: ['A=x=y', 'B=2'],
      WorkingDir: '/srv',
      User: '1000:1000',
    });
  });

  it('ports: exposed and bound, with protocol, host IP and host port', () => {
    const o = create({ ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'udp', hostPort: 5353, hostIP: '127.0.0.2' }] });
    expect(o.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {} });
    expect(o.HostConfig?.PortBindings).toEqual({
      '80/tcp': [{ HostIp: '', HostPort: '' }],
      '53/udp': [{ HostIp: '127.0.0.2', HostPort: '5353' }],
    });
  });

  it('volumes: named, anonymous, bind read-only, tmpfs with size and mode', () => {
    const o = create({
      volumes: [
        { type: 'volume', source: 'data', target: '/data' },
        { type: 'volume', target: '/cache' },
        { type: 'bind', source: '/srv/data', target: '/in', readOnly: true },
        { type: 'tmpfs', target: '/tmp', size: '64Mi', mode: '1770' },
        { type: 'tmpfs', target: '/run' },
      ],
    });
    expect(o.HostConfig?.Mounts).toEqual([
      { Type: 'volume', Source: 'data', Target: '/data' },
      { Type: 'volume', Source: '', Target: '/cache' },
      { Type: 'bind', Source: '/srv/data', Target: '/in', ReadOnly: true },
      { Type: 'tmpfs', Source: '', Target: '/tmp', TmpfsOptions: { SizeBytes: 64 * MiB, Mode: 0o1770 } },
      { Type: 'tmpfs', Source: '', Target: '/run' },
    ]);
    expect(create({}).HostConfig).not.toHaveProperty('Mounts');
  });

  it('resources: limits, CPU in billionths, memory reservation', () => {
    expect(create({ resources: { cpu: 0.25, memory: '32Mi', limits: { cpu: 1.5, memory: '128Mi' } } }).HostConfig).toMatchObject({
      Memory: 128 * MiB,
      NanoCpus: 1_500_000_000,
      MemoryReservation: 32 * MiB,
    });
    expect(create({}).HostConfig).not.toHaveProperty('Memory');
  });

  it('network mode, container labels (Berth labels win), logging', () => {
    const o = create({
      networkMode: 'host',
      labels: { team: 'ops', 'com.example/x': 1 },
      logging: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': 3 } },
    });
    expect(o.HostConfig?.NetworkMode).toBe('host');
    expect(o.Labels).toEqual({ team: 'ops', 'com.example/x': '1', 'berth.task': 't1' });
    expect(o.HostConfig?.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-file': '3', 'max-size': '10m' } });
    expect(create({ logging: { driver: 'none' } }).HostConfig?.LogConfig).toEqual({ Type: 'none', Config: {} });
  });

  it('stop, init, read-only root filesystem and capabilities (canonical names)', () => {
    const o = create({
      stop: { signal: 'SIGQUIT', gracePeriod: '1500ms' },
      init: true,
      readOnlyRootFilesystem: true,
      capDrop: ['ALL'],
      capAdd: ['cap_net_bind_service', 'CHOWN'],
    });
    expect(o).toMatchObject({ StopSignal: 'SIGQUIT', StopTimeout: 2 });
    expect(o.HostConfig).toMatchObject({ Init: true, ReadonlyRootfs: true, CapDrop: ['ALL'], CapAdd: ['CHOWN', 'NET_BIND_SERVICE'] });
    expect(create({ init: false }).HostConfig?.Init).toBe(false);
  });

  it('default-deny: every capability dropped, the baseline given back (no NET_RAW), no-new-privileges on', () => {
    const o = create({});
    expect(o.HostConfig?.CapDrop).toEqual(['ALL']);
    expect(o.HostConfig?.CapAdd).toEqual([...BASELINE_CAPABILITIES].sort());
    expect(o.HostConfig?.CapAdd).not.toContain('NET_RAW');
    expect(o.HostConfig?.SecurityOpt).toEqual(['no-new-privileges:true']);
    const d = create({ capDrop: ['MKNOD', 'NET_RAW'], capAdd: ['SYS_TIME'] }).HostConfig!;
    expect(d.CapAdd).toEqual([...BASELINE_CAPABILITIES.filter((c) => c !== 'MKNOD'), 'SYS_TIME'].sort());
    expect(create({ capAdd: ['ALL'] }).HostConfig).toMatchObject({ CapDrop: [], CapAdd: ['ALL'] });
    expect(create({ allowPrivilegeEscalation: true }).HostConfig?.SecurityOpt).toEqual([]);
  });
});

describe('host path allowlist', () => {
  it('isUnder compares whole path segments', () => {
    expect(isUnder('/srv/data', '/srv/data')).toBe(true);
    expect(isUnder('/srv/data/x', '/srv/data')).toBe(true);
    expect(isUnder('/srv/data2', '/srv/data')).toBe(false);
    expect(isUnder('/srv', '/srv/data')).toBe(false);
    expect(isUnder('/anything', '/')).toBe(true);
  });

  it('parseAllowedHostPaths refuses relative or unclean paths and de-duplicates', () => {
    expect(parseAllowedHostPaths(['/b', '/a', '/b'])).toEqual(['/a', '/b']);
    expect(() => parseAllowedHostPaths(['srv'])).toThrow('--allow-host-path "srv": "srv" is not an absolute path');
    expect(() => parseAllowedHostPaths(['/srv/../etc'])).toThrow('"." and ".." are not allowed');
  });

  it('names the refused path and what the node allows', () => {
    const s = spec({
      volumes: [
        { type: 'bind', source: '/srv/data/x', target: '/a' },
        { type: 'bind', source: '/etc', target: '/b' },
        { type: 'volume', source: 'etc', target: '/c' },
      ],
    });
    expect(hostPathRefusal(s, ['/srv/data'])).toBe(
      'host path /etc is not allowed on this node: it allows only /srv/data (agent flag --allow-host-path)',
    );
    expect(hostPathRefusal(s, [])).toBe(
      'host path /srv/data/x is not allowed: this node allows no host paths (start its agent with --allow-host-path)',
    );
    expect(hostPathRefusal(s, ['/srv/data', '/etc'])).toBeUndefined();
  });

  it('the runtime guard refuses before the engine is asked, also through a symlink', async () => {
    const dir = '/srv/data';
    // A fake filesystem: /srv/data/link is a symlink to /etc; /srv/data/sub does not exist yet.
    const fs = new Map([
      [dir, dir],
      [`${dir}/link`, '/etc'],
      ['/etc', '/etc'],
    ]);
    const fake = new FakeRuntime();
    const rt = guardHostPaths(fake, [dir], async (p) => fs.get(p));
    const req = (source: string) => ({ name: 'c', labels: {}, spec: spec({ volumes: [{ type: 'bind', source, target: '/x' }] }) });
    await expect(rt.create(req('/etc'))).rejects.toThrow(HostPathRefusedError);
    await expect(rt.create(req(`${dir}/link`))).rejects.toThrow(`host path ${dir}/link (which resolves to /etc) is not allowed`);
    expect(fake.calls.filter((c) => c.op === 'create')).toEqual([]);
    // Allowed (a path that does not exist yet is left to the engine, which refuses a missing bind source).
    await expect(rt.create(req(`${dir}/sub`))).resolves.toBeTruthy();
    expect(fake.calls.filter((c) => c.op === 'create')).toHaveLength(1);
    // Other calls pass through.
    await expect(rt.info()).resolves.toBeTruthy();
  });
});
