// PURE mapping of a task's spec onto Docker's container-create options. Every manifest field
// that reaches the engine goes through here (and is checked against a real engine with
// `docker inspect` in the integration tests).
import type Docker from 'dockerode';
import type { VolumeSpec, VolumeType } from '../../../../proto/src/spec/container.js';
import type { ServiceSpec } from '../../../../proto/src/spec/service.js';
import type { CreateRequest } from '../runtime.js';
import { effectiveCapabilities } from '../../../../proto/src/security/workload-policy.js';

/** Docker measures CPU in billionths. */
const NANO_CPUS_PER_MILLI = 1_000_000;

/** What the image itself says, needed to append `args` to the image's CMD. */
export interface ImageDefaults {
  cmd?: string[] | undefined;
}

/** True when the command line depends on the image's CMD (args appended to it). */
export function needsImageCmd(spec: ServiceSpec): boolean {
  return (spec.args?.length ?? 0) > 0 && spec.command === undefined && spec.entrypoint === undefined;
}

/**
 * The CMD to create the container with, or undefined to keep the image's. `args` are appended
 * to `command`, or to the image's CMD when there is no `command` (none when `entrypoint` is set:
 * Docker drops the image's CMD when the entrypoint is replaced).
 */
export function commandLine(spec: ServiceSpec, image: ImageDefaults = {}): string[] | undefined {
  const args = spec.args ?? [];
  if (spec.command === undefined && args.length === 0) return undefined;
  const base = spec.command ?? (spec.entrypoint !== undefined ? [] : (image.cmd ?? []));
  return [...base, ...args];
}

export function mountOf(v: VolumeSpec): Docker.MountSettings {
  const readOnly = v.readOnly ? { ReadOnly: true } : {};
  switch (v.type as VolumeType) {
    case 'volume':
      // No source: an anonymous volume, removed with the container (remove passes v=true).
      return { Type: 'volume', Source: v.source ?? '', Target: v.target, ...readOnly };
    case 'bind':
      return { Type: 'bind', Source: v.source ?? '', Target: v.target, ...readOnly };
    case 'tmpfs':
      return {
        Type: 'tmpfs',
        Source: '',
        Target: v.target,
        ...readOnly,
        // 0 is the engine's default for both (size: half the memory; mode: 1777).
        ...(v.size !== undefined || v.mode !== undefined ? { TmpfsOptions: { SizeBytes: v.size ?? 0, Mode: v.mode ?? 0 } } : {}),
      };
  }
}

export function createOptions(req: CreateRequest, image: ImageDefaults = {}): Docker.ContainerCreateOptions {
  const { spec } = req;
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of spec.ports ?? []) {
    const k = `${p.containerPort}/${p.protocol}`;
    exposed[k] = {};
    (bindings[k] ??= []).push({ HostIp: p.hostIP ?? '', HostPort: p.hostPort !== undefined ? String(p.hostPort) : '' });
  }
  const limits = spec.resources.limits;
  const caps = effectiveCapabilities(spec);
  const hostConfig: Docker.HostConfig = {
    PortBindings: bindings,
    // Berth restarts through new tasks (the slot model); the engine must not restart on its own.
    RestartPolicy: { Name: 'no' },
    ...(limits?.memory ? { Memory: limits.memory } : {}),
    ...(limits?.cpu ? { NanoCpus: limits.cpu * NANO_CPUS_PER_MILLI } : {}),
    ...(spec.resources.memory > 0 ? { MemoryReservation: spec.resources.memory } : {}),
    ...(spec.volumes && spec.volumes.length > 0 ? { Mounts: spec.volumes.map(mountOf) } : {}),
    ...(spec.networkMode ? { NetworkMode: spec.networkMode } : {}),
    ...(spec.logging ? { LogConfig: { Type: spec.logging.driver, Config: { ...(spec.logging.options ?? {}) } } } : {}),
    ...(spec.init !== undefined ? { Init: spec.init } : {}),
    ...(spec.readOnlyRootFilesystem !== undefined ? { ReadonlyRootfs: spec.readOnlyRootFilesystem } : {}),
    // Default-deny: every capability dropped, the baseline and the spec's additions given back
    // (workload-policy.ts); setuid programs gain nothing unless the spec (and its Policy) allow it.
    CapDrop: caps.capDrop,
    CapAdd: caps.capAdd,
    SecurityOpt: spec.allowPrivilegeEscalation === true ? [] : ['no-new-privileges:true'],
  };
  const cmd = commandLine(spec, image);
  return {
    name: req.name,
    Image: spec.image,
    // Berth's own labels last: they identify the container and must win (validation already
    // refuses user labels in the berth. namespace).
    Labels: { ...(spec.labels ?? {}), ...req.labels },
    Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
    ...(cmd ? { Cmd: cmd } : {}),
    ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
    ...(spec.user ? { User: spec.user } : {}),
    ExposedPorts: exposed,
    StopSignal: spec.stop.signal,
    StopTimeout: Math.ceil(spec.stop.gracePeriod / 1000),
    HostConfig: hostConfig,
    // A Berth health check (run by the agent) replaces the image's own HEALTHCHECK.
    ...(spec.health ? { Healthcheck: { Test: ['NONE'] } } : {}),
  };
}
