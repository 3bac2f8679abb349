// The chaos harness's offline invariant checker on hand-made histories.
import { describe, expect, it } from 'vitest';
import {
  checkInvariants,
  describeHandovers,
  summary,
  type ContainerRow,
  type EngineContainer,
  type EngineHistory,
  type FaultWindow,
  type Sample,
  type ServiceDesc,
} from '../../test/chaos/invariants.js';

const services: ServiceDesc[] = [
  { name: 'web', replicas: 2, onNodeLoss: 'replace' },
  { name: 'solo', replicas: 1, onNodeLoss: 'waitForNode' },
];
const bounds = { recoveryMs: 1_000, duplicateMs: 500 };
const row = (id: string, service: string, slot: number, state = 'running'): ContainerRow => ({ id, service, slot, state });
const base = [row('a', 'web', 1), row('b', 'web', 2), row('s', 'solo', 1)];
/** Samples every 100 ms from t=0, host 0 holding `h0(t)`, host 1 holding `h1(t)`. */
function history(until: number, h0: (t: number) => ContainerRow[] | null, h1: (t: number) => ContainerRow[] | null = () => []): Sample[] {
  const out: Sample[] = [];
  for (let t = 0; t <= until; t += 100) out.push({ t, hosts: [h0(t), h1(t)] });
  return out;
}
const fault = (o: Partial<FaultWindow>): FaultWindow => ({
  kind: 'x',
  target: '',
  startMs: 0,
  healedMs: 0,
  touchedHosts: [],
  duplicatesAllowed: false,
  ...o,
});

describe('checkInvariants', () => {
  it('a steady history is clean', () => {
    const v = checkInvariants(
      history(2_000, () => base),
      services,
      [],
      bounds,
    );
    expect(summary(0, v)).toBe('0 faults, 0 lost, 0 duplicated, 0 restarts');
  });

  it('an empty slot outside any fault window is one lost episode; inside the window it is allowed', () => {
    const gap = (t: number): ContainerRow[] => (t >= 500 && t < 900 ? [row('a', 'web', 1), row('s', 'solo', 1)] : base);
    expect(checkInvariants(history(2_000, gap), services, [], bounds).lost).toEqual([
      { kind: 'lost', what: 'web slot 2', fromMs: 500, toMs: 800 },
    ]);
    expect(
      checkInvariants(history(2_000, gap), services, [fault({ startMs: 400, healedMs: 450, touchedHosts: [0] })], bounds).lost,
    ).toEqual([]);
    // Past heal + recovery bound it counts again.
    expect(
      checkInvariants(history(2_000, gap), services, [fault({ startMs: 0, healedMs: 0, touchedHosts: [0] })], {
        ...bounds,
        recoveryMs: 600,
      }).lost,
    ).toEqual([{ kind: 'lost', what: 'web slot 2', fromMs: 700, toMs: 800 }]);
  });

  it('two copies: allowed for replace during a duplicate-allowing fault, never for waitForNode', () => {
    const dup = (t: number): ContainerRow[] => (t >= 500 && t < 800 ? [...base, row('b2', 'web', 2), row('s2', 'solo', 1)] : base);
    const f = fault({ startMs: 400, healedMs: 600, duplicatesAllowed: true });
    const v = checkInvariants(history(2_000, dup), services, [f], bounds);
    expect(v.duplicated.map((d) => d.what)).toEqual(['solo slot 1 (2 copies, waitForNode)']);
    expect(checkInvariants(history(2_000, dup), services, [], bounds).duplicated).toHaveLength(2);
  });

  it('a container that stops on an untouched host is a restart; on a touched host it is not', () => {
    const stop = (t: number): ContainerRow[] =>
      t >= 1_000 ? [row('a', 'web', 1, 'exited'), row('a2', 'web', 1), row('b', 'web', 2), row('s', 'solo', 1)] : base;
    expect(checkInvariants(history(2_000, stop), services, [], bounds).restarts.map((r) => r.what)).toEqual([
      'container a on host 0 exited',
    ]);
    expect(
      checkInvariants(history(2_000, stop), services, [fault({ startMs: 900, healedMs: 950, touchedHosts: [0] })], bounds).restarts,
    ).toEqual([]);
    expect(
      checkInvariants(history(2_000, stop), services, [fault({ startMs: 900, healedMs: 950, touchedHosts: [1] })], bounds).restarts,
    ).toHaveLength(1);
  });

  it('an engine that does not answer hides nothing and blames nothing', () => {
    const away = (t: number): ContainerRow[] | null => (t >= 500 && t < 900 ? null : base);
    const v = checkInvariants(history(2_000, away), services, [], bounds);
    expect(summary(0, v)).toBe('0 faults, 0 lost, 0 duplicated, 0 restarts');
  });

  it('containers of services not under watch are ignored', () => {
    const other = (t: number): ContainerRow[] => (t < 1_000 ? [...base, row('p', 'probe', 1)] : base);
    expect(summary(0, checkInvariants(history(2_000, other), services, [], bounds))).toBe('0 faults, 0 lost, 0 duplicated, 0 restarts');
  });

  describe("with the engines' own times", () => {
    const ec = (id: string, host: number, service: string, slot: number, runs: EngineContainer['runs']): EngineContainer => ({
      id,
      host,
      service,
      slot,
      task: `${service}.${slot}`,
      runs,
    });
    /** The steady containers, running throughout. */
    const steady = [ec('a', 0, 'web', 1, [{ startMs: -1_000 }]), ec('b', 0, 'web', 2, [{ startMs: -1_000 }])];
    const engine = (...cs: EngineContainer[]): EngineHistory => ({ containers: [...steady, ...cs], endMs: 2_000 });
    const others = [row('a', 'web', 1), row('b', 'web', 2)];

    it('a sample whose listings straddle a handover is a handover, not a duplicate', () => {
      // Host 0 was listed before its copy stopped (at 1 000), host 1 after the next copy started
      // (at 1 050): the sample at 1 000 shows both running.
      const h0 = (t: number): ContainerRow[] => [...others, row('s', 'solo', 1, t <= 1_000 ? 'running' : 'exited')];
      const h1 = (t: number): ContainerRow[] => (t >= 1_000 ? [row('s2', 'solo', 1)] : []);
      const samples = history(2_000, h0, h1);
      const cut = [fault({ startMs: 0, healedMs: 1_500, touchedHosts: [0] })]; // host 0's link cut: its copy fenced
      // From the samples alone it looks like a duplicate:
      expect(checkInvariants(samples, services, cut, bounds).duplicated.map((d) => d.what)).toEqual([
        'solo slot 1 (2 copies, waitForNode)',
      ]);
      const v = checkInvariants(
        samples,
        services,
        cut,
        bounds,
        engine(ec('s', 0, 'solo', 1, [{ startMs: -1_000, endMs: 1_000 }]), ec('s2', 1, 'solo', 1, [{ startMs: 1_050 }])),
      );
      expect(summary(1, v)).toBe('1 faults, 0 lost, 0 duplicated, 0 restarts');
      expect(v.handovers).toEqual([{ what: 'solo slot 1 (2 copies, waitForNode)', atMs: 1_000, ids: ['s', 's2'], gapMs: 50 }]);
      expect(describeHandovers(v)).toContain("handover seen across hosts' listings, no overlap: solo slot 1");
    });

    it('runs that overlap are a duplicate with the real overlap in ms, even between samples', () => {
      // The samples never see both (the old copy is gone by the next sample); the engine does.
      const h0 = (t: number): ContainerRow[] => [...others, ...(t < 1_000 ? [row('s', 'solo', 1)] : [])];
      const h1 = (t: number): ContainerRow[] => (t >= 1_000 ? [row('s2', 'solo', 1)] : []);
      const v = checkInvariants(
        history(2_000, h0, h1),
        services,
        [],
        bounds,
        engine(ec('s', 0, 'solo', 1, [{ startMs: -1_000, endMs: 1_020 }]), ec('s2', 1, 'solo', 1, [{ startMs: 900 }])),
      );
      expect(v.duplicated).toEqual([
        {
          kind: 'duplicated',
          what: 'solo slot 1 (2 copies, waitForNode): s on host 0 and s2 on host 1 overlapped 120 ms',
          fromMs: 900,
          toMs: 1_020,
          overlapMs: 120,
          ids: ['s', 's2'],
        },
      ]);
    });

    it('replace-mode overlap is allowed inside a duplicate-allowing window only', () => {
      const runs = [ec('s', 0, 'solo', 1, [{ startMs: -1_000 }]), ec('b2', 1, 'web', 2, [{ startMs: 500, endMs: 700 }])];
      const samples = history(2_000, () => [...others, row('s', 'solo', 1)]);
      expect(
        checkInvariants(samples, services, [fault({ startMs: 400, healedMs: 600, duplicatesAllowed: true })], bounds, engine(...runs))
          .duplicated,
      ).toEqual([]);
      expect(checkInvariants(samples, services, [], bounds, engine(...runs)).duplicated.map((d) => d.overlapMs)).toEqual([200]);
    });

    it("a copy the engine history does not know keeps the sample's verdict", () => {
      const h1 = (t: number): ContainerRow[] => (t >= 1_000 && t < 1_200 ? [row('x', 'solo', 1)] : []);
      const v = checkInvariants(
        history(2_000, () => [...others, row('s', 'solo', 1)], h1),
        services,
        [],
        bounds,
        engine(ec('s', 0, 'solo', 1, [{ startMs: -1_000 }])),
      );
      expect(v.duplicated.map((d) => d.what)).toEqual(['solo slot 1 (2 copies, waitForNode) (engine times unknown)']);
    });
  });
});
