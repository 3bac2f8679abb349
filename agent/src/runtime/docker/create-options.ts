// PURE mapping of a task's spec onto Docker's container-create options. Every manifest field
// that reaches the engine goes through here (and is checked against a real engine with
// `docker inspect` in the integration tests).
import type Docker from 'dockerode';
import type { CreateRequest } from '../runtime.js';

/** Docker measures CPU in billionths. */
const NANO_CPUS_PER_MILLI = 1_000_000;

export function createOptions(req: CreateRequest): Docker.ContainerCreateOptions {
  const { spec } = req;
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of spec.ports ?? []) {
    const k = `${p.containerPort}/${p.protocol}`;
    exposed[k] = {};
    (bindings[k] ??= []).push({ HostIp: p.hostIP ?? '', HostPort: p.hostPort !== undefined ? String(p.hostPort) : '' });
  }
  const limits = spec.resources.limits;
  const hostConfig: Docker.HostConfig = {
    PortBindings: bindings,
    // Berth restarts through new tasks (the slot model); the engine must not restart on its own.
    RestartPolicy: { Name: 'no' },
    ...(limits?.memory ? { Memory: limits.memory } : {}),
    ...(limits?.cpu ? { NanoCpus: limits.cpu * NANO_CPUS_PER_MILLI } : {}),
    ...(spec.resources.memory > 0 ? { MemoryReservation: spec.resources.memory } : {}),
  };
  return {
    name: req.name,
    Image: spec.image,
    Labels: req.labels,
    Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
    ...(spec.command ? { Cmd: spec.command } : {}),
    ExposedPorts: exposed,
    StopSignal: spec.stop.signal,
    StopTimeout: Math.ceil(spec.stop.gracePeriod / 1000),
    HostConfig: hostConfig,
    // A Berth health check (run by the agent) replaces the image's own HEALTHCHECK.
    ...(spec.health ? { Healthcheck: { Test: ['NONE'] } } : {}),
  };
}
