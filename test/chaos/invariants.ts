// Offline invariant checks over a sampled container history (pure: no I/O, no clock).
//
// Two sources: samples (every engine listed every SAMPLE_MS) and, when given, the engines' own
// record of each container's runs (start/die events and State.StartedAt/FinishedAt, all on the
// one machine clock). A sample's per-host listings are answered at slightly different moments,
// so a handover (one copy stops on host A, the next starts on host B) can look like two copies
// in one sample. With the engine history, a duplicate is judged only from the engine's times:
// two runs of one slot whose intervals overlap (by how many ms is reported); a sample that showed
// two copies whose runs did not overlap is a `handover` note, not a violation.
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
  /** Duplicates judged from engine times: the real overlap, and the copies (container ids). */
  overlapMs?: number;
  ids?: string[];
}

/** One run of a container, in the engine's times (ms since the epoch). */
export interface ContainerRun {
  startMs: number;
  /** Undefined: still running when the history ends. */
  endMs?: number;
  /** The end is not the engine's (no die event, container gone): the first sample without it. */
  endApprox?: boolean;
}

export interface EngineContainer {
  id: string;
  host: number;
  service: string;
  slot: number;
  task: string;
  runs: ContainerRun[];
}

export interface EngineHistory {
  containers: EngineContainer[];
  /** When the history ends (open runs end here). */
  endMs: number;
}

/** A sample that showed two copies of a slot whose engine runs did not overlap. */
export interface Handover {
  what: string;
  atMs: number;
  ids: string[];
  /** From the first copy's end to the next copy's start (engine times). */
  gapMs: number;
}

export interface Verdict {
  lost: Violation[];
  duplicated: Violation[];
  restarts: Violation[];
  handovers: Handover[];
}

const within = (t: number, from: number, to: number): boolean => t >= from && t <= to;

export function checkInvariants(
  samples: readonly Sample[],
  services: readonly ServiceDesc[],
  faults: readonly FaultWindow[],
  bounds: Bounds,
  engine?: EngineHistory,
): Verdict {
  const open = new Map<string, Violation>();
  const out: Verdict = { lost: [], duplicated: [], restarts: [], handovers: [] };
  const known = new Map((engine?.containers ?? []).map((c) => [c.id, c]));
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
    const copies = new Map<string, string[]>();
    for (const rows of s.hosts)
      for (const r of rows ?? [])
        if (r.state === 'running') copies.set(`${r.service}/${r.slot}`, [...(copies.get(`${r.service}/${r.slot}`) ?? []), r.id]);
    for (const svc of services) {
      for (let slot = 1; slot <= svc.replicas; slot++) {
        const ids = copies.get(`${svc.name}/${slot}`) ?? [];
        const n = ids.length;
        if (n === 0 && complete && !lostAllowed(s.t)) flag('lost', `${svc.name} slot ${slot}`, s.t, seen);
        if (n < 2 || dupAllowed(s.t, svc.onNodeLoss)) continue;
        const what = `${svc.name} slot ${slot} (${n} copies, ${svc.onNodeLoss})`;
        // Without engine times for every copy, the sample is all there is.
        if (!engine || !ids.every((id) => known.has(id)))
          flag('duplicated', `${what}${engine ? ' (engine times unknown)' : ''}`, s.t, seen);
        else if (!ids.some((a, i) => ids.slice(i + 1).some((b) => overlap(known.get(a)!, known.get(b)!, engine.endMs) !== undefined))) {
          noteHandover(
            out.handovers,
            what,
            s.t,
            ids.map((id) => known.get(id)!),
            engine.endMs,
          );
        }
        // Overlapping runs are judged below, from the engine history alone.
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
  if (engine) out.duplicated.push(...engineDuplicates(engine, services, (t, mode) => dupAllowed(t, mode)));
  out.duplicated.sort((a, b) => a.fromMs - b.fromMs);
  return out;
}

/** The overlap of two containers' runs: the first overlapping stretch, or undefined. */
function overlap(a: EngineContainer, b: EngineContainer, endMs: number): { fromMs: number; toMs: number } | undefined {
  let best: { fromMs: number; toMs: number } | undefined;
  for (const x of a.runs) {
    for (const y of b.runs) {
      const from = Math.max(x.startMs, y.startMs);
      const to = Math.min(x.endMs ?? endMs, y.endMs ?? endMs);
      if (to > from && (!best || from < best.fromMs)) best = { fromMs: from, toMs: to };
    }
  }
  return best;
}

function noteHandover(out: Handover[], what: string, atMs: number, cs: EngineContainer[], endMs: number): void {
  const prev = out[out.length - 1];
  if (prev && prev.what === what && prev.ids.join() === cs.map((c) => c.id).join()) return; // same handover, next sample
  // The handover nearest the sample: one copy's run ends, another copy's next run starts.
  const runs = cs
    .flatMap((c) => c.runs.map((r) => ({ id: c.id, startMs: r.startMs, endMs: r.endMs ?? endMs })))
    .sort((x, y) => x.startMs - y.startMs);
  let gapMs = 0;
  let nearest = Infinity;
  for (let k = 0; k + 1 < runs.length; k++) {
    const x = runs[k]!;
    const y = runs[k + 1]!;
    if (x.id === y.id) continue;
    const d = Math.abs((x.endMs + y.startMs) / 2 - atMs);
    if (d < nearest) {
      nearest = d;
      gapMs = y.startMs - x.endMs;
    }
  }
  out.push({ what, atMs, ids: cs.map((c) => c.id), gapMs });
}

/**
 * Slots whose containers' engine runs overlap where the mode does not allow it (waitForNode:
 * never; replace: outside a duplicate-allowing fault window). One violation per pair of copies
 * and overlapping stretch, with the overlap in ms.
 */
function engineDuplicates(
  engine: EngineHistory,
  services: readonly ServiceDesc[],
  allowed: (t: number, mode: ServiceDesc['onNodeLoss']) => boolean,
): Violation[] {
  const out: Violation[] = [];
  for (const svc of services) {
    for (let slot = 1; slot <= svc.replicas; slot++) {
      const cs = engine.containers.filter((c) => c.service === svc.name && c.slot === slot);
      for (let i = 0; i < cs.length; i++) {
        for (let j = i + 1; j < cs.length; j++) {
          const a = cs[i]!;
          const b = cs[j]!;
          for (const x of a.runs) {
            for (const y of b.runs) {
              const from = Math.max(x.startMs, y.startMs);
              const to = Math.min(x.endMs ?? engine.endMs, y.endMs ?? engine.endMs);
              if (to <= from) continue;
              // Allowed only if the whole stretch lies in allowing windows (checked at its ends and middle).
              if (allowed(from, svc.onNodeLoss) && allowed(to, svc.onNodeLoss) && allowed((from + to) / 2, svc.onNodeLoss)) continue;
              const approx = x.endApprox || y.endApprox ? ', end from samples' : '';
              out.push({
                kind: 'duplicated',
                what: `${svc.name} slot ${slot} (2 copies, ${svc.onNodeLoss}): ${a.id.slice(0, 12)} on host ${a.host} and ${b.id.slice(0, 12)} on host ${b.host} overlapped ${to - from} ms${approx}`,
                fromMs: from,
                toMs: to,
                overlapMs: to - from,
                ids: [a.id, b.id],
              });
            }
          }
        }
      }
    }
  }
  return out;
}

export function summary(faultCount: number, v: Pick<Verdict, 'lost' | 'duplicated' | 'restarts'>): string {
  return `${faultCount} faults, ${v.lost.length} lost, ${v.duplicated.length} duplicated, ${v.restarts.length} restarts`;
}

export function describeViolations(v: Pick<Verdict, 'lost' | 'duplicated' | 'restarts'>): string {
  return [...v.lost, ...v.duplicated, ...v.restarts]
    .map((x) => `${x.kind}: ${x.what} from ${new Date(x.fromMs).toISOString()} for ${x.toMs - x.fromMs} ms`)
    .join('\n');
}

/** The handovers samples showed as two copies (not violations: the engine times did not overlap). */
export function describeHandovers(v: Verdict): string {
  return v.handovers
    .map(
      (h) =>
        `handover seen across hosts' listings, no overlap: ${h.what} at ${new Date(h.atMs).toISOString()}, ${h.gapMs} ms between one copy's end and the next one's start (${h.ids.map((id) => id.slice(0, 12)).join(', ')})`,
    )
    .join('\n');
}
