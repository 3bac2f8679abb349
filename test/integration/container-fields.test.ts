// Every container field of the Service manifest against a real engine: services using them are
// applied through the real CLI, then the created containers are read back with `docker inspect`
// (dockerode) and checked field by field. Also the host-path allowlist: the scheduler keeps a task
// whose bind source no node allows pending, naming the path; the agent rejects one that reaches
// outside its allowlist through a symlink.
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_SERVICE, LABEL_TASK } from '../../proto/src/labels.js';
import { freePort } from '../../cli/src/local/process.js';
import { LOCAL_IMAGE } from '../../cli/src/local/image.js';
import { TestCluster } from '../harness/cluster.js';
import { BASELINE_CAPABILITIES } from '../../proto/src/security/workload-policy.js';

const MiB = 2 ** 20;
let cluster: TestCluster;
let allowed: string;
let hostPort: number;

beforeAll(async () => {
  // The allowed host path: readable by the container's user (nobody).
  allowed = mkdtempSync('/tmp/bt-hostpath-');
  chmodSync(allowed, 0o755);
  writeFileSync(join(allowed, 'hello.txt'), 'from the host\n');
  chmodSync(join(allowed, 'hello.txt'), 0o644);
  symlinkSync('/etc', join(allowed, 'escape'));
  hostPort = await freePort();
  cluster = await TestCluster.start({ hosts: [{ allowHostPaths: [allowed] }] });
});

afterAll(async () => {
  await cluster?.stop();
  rmSync(allowed, { recursive: true, force: true });
});

function manifests(): string {
  const addr = cluster.hosts[0]!.address;
  return `apiVersion: berth.dev/v1
kind: Policy
metadata: { name: fields-exceptions }
spec: { allowCapabilities: [SYS_TIME], allowHostNetwork: true }
---
apiVersion: berth.dev/v1
kind: Service
metadata: { name: fields }
spec:
  image: ${LOCAL_IMAGE}
  entrypoint: [sh, -c]
  command: ['cat /host/hello.txt > /scratch/seen && echo "$GREETING $0 $1 $(pwd) $(id -u)" && exec sleep 600']
  args: [first, second]
  env: { GREETING: hello }
  workingDir: /work
  user: "65534:65534"
  ports:
    - containerPort: 8080
    - { containerPort: 5353, protocol: udp, hostIP: ${addr}, hostPort: ${hostPort} }
  volumes:
    - { type: volume, source: fields-data, target: /data }
    - { type: tmpfs, target: /scratch, size: 16Mi, mode: "1777" }
    - { type: bind, source: ${allowed}, target: /host, readOnly: true }
  resources: { cpu: 0.1, memory: 16Mi, limits: { cpu: 0.5, memory: 64Mi } }
  networkMode: bridge
  labels: { com.example.team: ops, tier: "1" }
  logging: { driver: json-file, options: { max-size: 1m, max-file: 2 } }
  stop: { signal: SIGINT, gracePeriod: 3s }
  init: true
  readOnlyRootFilesystem: true
  capDrop: [NET_RAW, CAP_MKNOD]
  capAdd: [sys_time]
---
apiVersion: berth.dev/v1
kind: Service
metadata: { name: appended }
spec:
  image: ${LOCAL_IMAGE}
  args: [-c, 'echo appended to the image CMD; exec sleep 600']
  stop: { gracePeriod: 1s }
---
apiVersion: berth.dev/v1
kind: Service
metadata: { name: hostnet }
spec:
  image: ${LOCAL_IMAGE}
  command: [sleep, "600"]
  networkMode: host
  stop: { gracePeriod: 1s }
---
apiVersion: berth.dev/v1
kind: Service
metadata: { name: nonet }
spec:
  image: ${LOCAL_IMAGE}
  command: [sleep, "600"]
  networkMode: none
  stop: { gracePeriod: 1s }
---
apiVersion: berth.dev/v1
kind: Service
metadata: { name: forbidden }
spec:
  image: ${LOCAL_IMAGE}
  command: [sleep, "600"]
  volumes: [{ type: bind, source: /etc, target: /hostetc }]
---
apiVersion: berth.dev/v1
kind: Service
metadata: { name: escape }
spec:
  image: ${LOCAL_IMAGE}
  command: [sleep, "600"]
  volumes: [{ type: bind, source: ${allowed}/escape, target: /hostetc }]
`;
}

async function inspectService(name: string): Promise<Docker.ContainerInspectInfo> {
  const cs = await cluster.hosts[0]!.docker.listContainers({ all: true, filters: { label: [`${LABEL_SERVICE}=${name}`] } });
  expect(cs, `one container of ${name}`).toHaveLength(1);
  return cluster.hosts[0]!.docker.getContainer(cs[0]!.Id).inspect();
}

async function logsOf(name: string): Promise<string> {
  const info = await inspectService(name);
  const buf = await cluster.hosts[0]!.docker.getContainer(info.Id).logs({ stdout: true, stderr: true, follow: false });
  // Multiplexed stream: 8-byte frame headers before each chunk.
  return buf.toString('latin1').replace(/[\x00-\x08]/g, '');
}

describe('container fields on a real engine', () => {
  beforeAll(async () => {
    const file = join(cluster.dir, 'fields.yaml');
    writeFileSync(file, manifests());
    const res = await cluster.berth(['apply', '-f', file]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const client = cluster.client();
    await cluster.waitFor(
      async () => {
        const tasks = await client.listTasks({ all: true });
        const has = (s: string, state: string): boolean => tasks.some((t) => t.service === s && t.status?.state === state);
        return (
          ['fields', 'appended', 'hostnet', 'nonet'].every((s) => has(s, 'running')) &&
          has('forbidden', 'pending') &&
          has('escape', 'rejected')
        );
      },
      'four services running, one pending and one rejected',
      90_000,
    );
  });

  it('maps command line, env, working dir and user (Entrypoint, Cmd, Env, WorkingDir, User)', async () => {
    const c = await inspectService('fields');
    expect(c.Config.Entrypoint).toEqual(['sh', '-c']);
    expect(c.Config.Cmd).toEqual([
      'cat /host/hello.txt > /scratch/seen && echo "$GREETING $0 $1 $(pwd) $(id -u)" && exec sleep 600',
      'first',
      'second',
    ]);
    expect(c.Config.Env).toContain('GREETING=hello');
    expect(c.Config.WorkingDir).toBe('/work');
    expect(c.Config.User).toBe('65534:65534');
    await cluster.waitFor(
      async () => (await logsOf('fields')).includes('hello first second /work 65534'),
      'the process to print its environment',
    );
  });

  it('appends args to the image CMD when there is no command', async () => {
    const c = await inspectService('appended');
    expect(c.Config.Cmd).toEqual(['sh', '-c', 'echo appended to the image CMD; exec sleep 600']);
    await cluster.waitFor(async () => (await logsOf('appended')).includes('appended to the image CMD'), 'the appended command to run');
  });

  it('publishes ports with protocol, host IP and host port (PortBindings)', async () => {
    const c = await inspectService('fields');
    expect(c.HostConfig.PortBindings).toEqual({
      '8080/tcp': [{ HostIp: '', HostPort: '' }],
      '5353/udp': [{ HostIp: cluster.hosts[0]!.address, HostPort: String(hostPort) }],
    });
    expect(Object.keys(c.Config.ExposedPorts ?? {}).sort()).toEqual(['5353/udp', '8080/tcp']);
  });

  it('mounts a named volume, a sized tmpfs and an allowed host path read-only (Mounts)', async () => {
    const c = await inspectService('fields');
    expect(c.HostConfig.Mounts).toEqual([
      { Type: 'volume', Source: 'fields-data', Target: '/data' },
      { Type: 'tmpfs', Target: '/scratch', TmpfsOptions: { SizeBytes: 16 * MiB, Mode: 0o1777 } },
      { Type: 'bind', Source: allowed, Target: '/host', ReadOnly: true },
    ]);
    const byDest = new Map(c.Mounts.map((m) => [m.Destination, m]));
    expect(byDest.get('/data')).toMatchObject({ Type: 'volume', Name: 'fields-data', RW: true });
    expect(byDest.get('/host')).toMatchObject({ Type: 'bind', Source: allowed, RW: false });
    // The process read the host file and wrote it to the tmpfs (its root filesystem is read-only).
    const exec = await cluster.hosts[0]!.docker.getContainer(c.Id).exec({
      Cmd: ['cat', '/scratch/seen'],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({});
    const out = await new Promise<string>((resolve) => {
      let s = '';
      stream.on('data', (d: Buffer) => (s += d.toString('latin1')));
      stream.on('end', () => resolve(s));
    });
    expect(out).toContain('from the host');
  });

  it('sets resources, network mode, labels, logging, stop, init, read-only root and capabilities', async () => {
    const c = await inspectService('fields');
    expect(c.HostConfig.Memory).toBe(64 * MiB);
    expect(c.HostConfig.NanoCpus).toBe(500_000_000);
    expect(c.HostConfig.MemoryReservation).toBe(16 * MiB);
    expect(c.HostConfig.NetworkMode).toBe('bridge');
    expect(c.Config.Labels).toMatchObject({ 'com.example.team': 'ops', tier: '1', [LABEL_SERVICE]: 'fields' });
    expect(c.Config.Labels[LABEL_TASK]).toBeTruthy();
    expect(c.HostConfig.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } });
    const config = c.Config as { StopSignal?: string; StopTimeout?: number };
    expect(config.StopSignal).toBe('SIGINT');
    expect(config.StopTimeout).toBe(3);
    expect(c.HostConfig.Init).toBe(true);
    expect(c.HostConfig.ReadonlyRootfs).toBe(true);
    const caps = (l: string[] | null | undefined): string[] => (l ?? []).map((x) => x.replace(/^CAP_/, '')).sort();
    // Default-deny: every capability dropped, the baseline (less capDrop) and the Policy-allowed
    // SYS_TIME given back; setuid programs gain nothing.
    expect(caps(c.HostConfig.CapDrop)).toEqual(['ALL']);
    expect(caps(c.HostConfig.CapAdd)).toEqual([...BASELINE_CAPABILITIES.filter((x) => x !== 'MKNOD'), 'SYS_TIME'].sort());
    expect(c.HostConfig.SecurityOpt).toEqual(['no-new-privileges:true']);
  });

  it('the kernel agrees: the process holds exactly those capabilities and no-new-privileges', async () => {
    const c = await inspectService('appended');
    const exec = await cluster.hosts[0]!.docker.getContainer(c.Id).exec({
      Cmd: ['sh', '-c', "grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status"],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({});
    let out = '';
    for await (const chunk of stream) out += (chunk as Buffer).toString('latin1');
    const field = (name: string): string => new RegExp(`${name}:\\s+(\\S+)`).exec(out)?.[1] ?? `no ${name} in ${out}`;
    // capabilities(7) bit numbers of the baseline set.
    const BIT: Record<string, number> = {
      CHOWN: 0,
      DAC_OVERRIDE: 1,
      FOWNER: 3,
      FSETID: 4,
      KILL: 5,
      SETGID: 6,
      SETUID: 7,
      SETPCAP: 8,
      NET_BIND_SERVICE: 10,
      SYS_CHROOT: 18,
      MKNOD: 27,
      AUDIT_WRITE: 29,
      SETFCAP: 31,
    };
    const mask = BASELINE_CAPABILITIES.reduce((m, k) => m | (1n << BigInt(BIT[k]!)), 0n);
    expect(BigInt(`0x${field('CapBnd')}`)).toBe(mask);
    expect(BigInt(`0x${field('CapEff')}`) & ~mask).toBe(0n);
    expect(field('NoNewPrivs')).toBe('1');
  });

  it('runs containers in the host and none network modes', async () => {
    expect((await inspectService('hostnet')).HostConfig.NetworkMode).toBe('host');
    const none = await inspectService('nonet');
    expect(none.HostConfig.NetworkMode).toBe('none');
    expect(Object.keys(none.NetworkSettings.Networks)).toEqual(['none']);
  });

  it('a host path no node allows stays pending with the path named; one that escapes through a symlink is rejected by the agent', async () => {
    const tasks = await cluster.client().listTasks({ all: true });
    const forbidden = tasks.find((t) => t.service === 'forbidden')!;
    expect(forbidden.status?.state).toBe('pending');
    expect(forbidden.status?.message).toContain('host path /etc not allowed');
    // A rejected task is replaced after the restart delay: look at the rejected ones.
    const escape = tasks.find((t) => t.service === 'escape' && t.status?.state === 'rejected')!;
    expect(escape.status?.message).toContain(`host path ${allowed}/escape (which resolves to /etc) is not allowed`);
    // Nothing was created for them.
    for (const s of ['forbidden', 'escape']) {
      expect(await cluster.hosts[0]!.docker.listContainers({ all: true, filters: { label: [`${LABEL_SERVICE}=${s}`] } })).toEqual([]);
    }
  });

  it('advertises the allowed host paths in the node description', async () => {
    const nodes = await cluster.client().listNodes();
    expect(nodes[0]!.description?.allowedHostPaths).toEqual([allowed]);
  });
});
