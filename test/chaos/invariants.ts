// Offline invariant checks over a sampled container history (pure: no I/O, no clock).
//
//  lost        a desired slot with no running container, outside the window a fault allows
//              (from the fault's start until its heal plus the recovery bound);
//  duplicated  a slot with two or more running copies, outside the window its onNodeLoss mode
//              allows (replace: during a fault that allows duplicates and up to the duplicate
//              bound after its heal; waitForNode: never);
//  restarts    a container seen running that later stopped or vanished, on a host that no fault
//              touched at that time.
// Consecutive samples with the same violation count once (one episode).

export interface ContainerRow {
  id: string;
  service: string;
  slot: number;
  /** Docker's state: running, exited, created, ... */
  state: string;
}

export interface Sample {
  t: number;
  /** Per host: its Berth containers, or null when the engine did not answer. */
  hosts: Array<ContainerRow[] | null>;
}

export interface ServiceDesc {
  name: string;
  replicas: number;
  onNodeLoss: 'replace' | 'waitForNode';
}

export interface FaultWindow {
  kind: string;
  /** What was hit (host index, controller id, ...), for the report. */
  target: string;
  startMs: number;
  healedMs: number;
  /** Hosts whose containers the fault may stop (their engine restarted, their link cut). */
  touchedHosts: number[];
  /** Whether replace-mode slots may run two copies during and after this fault. */
  duplicatesAllowed: boolean;
}

export interface Bounds {
  /** A slot may stay empty this long after its fault healed. */
  recoveryMs: number;
  /** A replace-mode slot may keep two copies this long after its fault healed. */
  duplicateMs: number;
}

export interface Violation {
  kind: 'lost' | 'duplicated' | 'restart';
  what: string;
  fromMs: number;
  toMs: number;
}

export interface Verdict {
  lost: Violation[];
  duplicated: Violation[];
  restarts: Violation[];
}

const within = (t: number, from: number, to: number): boolean => t >= from && t <= to;

export function checkInvariants(samples: readonly Sample[], services: readonly ServiceDesc[], faults: readonly FaultWindow[], bounds: Bounds): Verdict {
  const open = new Map<string, Violation>();
  const out: Verdict = { lost: [], duplicated: [], restarts: [] };
  const flag = (kind: Violation['kind'], what: string, t: number, seen: Set<string>): void => {
    const key = `${kind}|${what}`;
    seen.add(key);
    const v = open.get(key);
    if (v) v.toMs = t;
    else {
      const nv: Violation = { kind, what, fromMs: t, toMs: t };
      open.set(key, nv);
      (kind === 'lost' ? out.lost : kind === 'duplicated' ? out.duplicated : out.restarts).push(nv);
    }
  };
  const lostAllowed = (t: number): boolean => faults.some((f) => within(t, f.startMs, f.healedMs + bounds.recoveryMs));
  const dupAllowed = (t: number, mode: ServiceDesc['onNodeLoss']): boolean =>
    mode === 'replace' && faults.some((f) => f.duplicatesAllowed && within(t, f.startMs, f.healedMs + bounds.duplicateMs));
  const touched = (t: number, host: number): boolean =>
    faults.some((f) => f.touchedHosts.includes(host) && within(t, f.startMs, f.healedMs + bounds.recoveryMs));

  /** Containers seen running: id → host. */
  const wasRunning = new Map<string, number>();
  const watched = new Set(services.map((x) => x.name));
  for (const raw of samples) {
    // Only the services under watch (a test may run and delete others meanwhile).
    const s: Sample = { t: raw.t, hosts: raw.hosts.map((rows) => rows && rows.filter((r) => watched.has(r.service))) };
    const seen = new Set<string>();
    const complete = s.hosts.every((h) => h !== null);
    // Slots: copies running across every host.
    const copies = new Map<string, number>();
    for (const rows of s.hosts) for (const r of rows ?? []) if (r.state === 'running') copies.set(`${r.service}/${r.slot}`, (copies.get(`${r.service}/${r.slot}`) ?? 0) + 1);
    for (const svc of services) {
      for (let slot = 1; slot <= svc.replicas; slot++) {
        const n = copies.get(`${svc.name}/${slot}`) ?? 0;
        if (n === 0 && complete && !lostAllowed(s.t)) flag('lost', `${svc.name} slot ${slot}`, s.t, seen);
        if (n >= 2 && !dupAllowed(s.t, svc.onNodeLoss)) flag('duplicated', `${svc.name} slot ${slot} (${n} copies, ${svc.onNodeLoss})`, s.t, seen);
      }
    }
    // Containers that stopped or vanished.
    s.hosts.forEach((rows, host) => {
      if (rows === null) return; // engine away: nothing known
      const here = new Map(rows.map((r) => [r.id, r]));
      for (const [id, h] of wasRunning) {
        if (h !== host) continue;
        const r = here.get(id);
        if (r?.state === 'running') continue;
        wasRunning.delete(id);
        if (!touched(s.t, host)) flag('restart', `container ${id.slice(0, 12)} on host ${host} ${r ? r.state : 'removed'}`, s.t, seen);
      }
      for (const r of rows) if (r.state === 'running') wasRunning.set(r.id, host);
    });
    // An episode ends at the first sample without it.
    for (const key of [...open.keys()]) if (!seen.has(key)) open.delete(key);
  }
  return out;
}

export function summary(faultCount: number, v: Verdict): string {
  return `${faultCount} faults, ${v.lost.length} lost, ${v.duplicated.length} duplicated, ${v.restarts.length} restarts`;
}

export function describeViolations(v: Verdict): string {
  return [...v.lost, ...v.duplicated, ...v.restarts]
    .map((x) => `${x.kind}: ${x.what} from ${new Date(x.fromMs).toISOString()} for ${x.toMs - x.fromMs} ms`)
    .join('\n');
}
