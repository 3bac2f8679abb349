// `npm run bench:authz`: what authorization costs each RPC. Real gRPC over loopback mTLS, in one
// process: the ControlAPI served twice with the same immediate handlers, once behind the
// controller's guard (proto/src/security/guard.ts, with the real RevocationList holding 1,000
// revoked serials) and once without it. Callers send 1,000 calls/s (open loop: calls are issued on
// schedule whether or not earlier ones have returned), alternating guarded and unguarded blocks.
// Reported per RPC: the guard's own time per call (from the guarded handler's entry to the inner
// handler's, measured in the server: identity from the certificate, revocation, rule, namespace
// read from the request), p50 and p99; and the caller's latency guarded beside unguarded. Appends the
// table to docs/benchmarks.md. Not part of npm test.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { afterAll, expect, it } from 'vitest';
import { protos } from '../../proto/src/grpc.js';
import { silentLogger } from '../../proto/src/log.js';
import { createCa, issueCertificate, type Credentials, type KeyPairPem } from '../../proto/src/security/pki.js';
import type { Identity } from '../../proto/src/security/identity.js';
import {
  channelCredentials,
  CredentialSource,
  expectController,
  serverCredentials,
  TLS_CHANNEL_OPTIONS,
} from '../../proto/src/security/tls.js';
import { Guard } from '../../proto/src/security/guard.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { Keys } from '../../controller/src/store/keys.js';
import { RevocationList } from '../../controller/src/security/certificates.js';
import { quantile } from './stats.js';

const RATE = Number(process.env['BENCH_RATE'] ?? 1_000);
/** Seconds per block; each RPC gets BLOCKS guarded and BLOCKS unguarded blocks, alternating. */
const BLOCK_S = Number(process.env['BENCH_BLOCK_S'] ?? 5);
const BLOCKS = 2;
const REVOKED = 1_000;
const DOCS = join(import.meta.dirname, '..', '..', 'docs', 'benchmarks.md');
const T0 = new Date(Date.now() - 60_000);
const T1 = new Date(Date.now() + 3600_000);

/** A realistic manifest (the guard parses it to read metadata.namespace). */
const MANIFEST = JSON.stringify({
  apiVersion: 'berth.dev/v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'team-a', labels: { app: 'web', tier: 'front' } },
  spec: {
    image: 'registry.local/web:1.4.2',
    replicas: 6,
    command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
    env: Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`VAR_${i}`, `value-${i}-${'x'.repeat(20)}`])),
    ports: [{ containerPort: 8080, hostPort: 8080 }],
    resources: { cpus: 0.5, memory: '256Mi' },
    healthcheck: { http: { path: '/healthz', port: 8080 }, interval: '5s' },
    update: { order: 'start-first', maxSurge: '10%', maxUnavailable: '10%', monitor: '5s' },
  },
});

const CALLS: Array<{ method: 'GetService' | 'ApplyService' | 'ListServices'; request: object; what: string }> = [
  { method: 'GetService', request: { namespace: 'team-a', name: 'web' }, what: 'namespace from a field' },
  { method: 'ApplyService', request: { manifestJson: MANIFEST }, what: `namespace from a ${MANIFEST.length}-byte manifest` },
  { method: 'ListServices', request: { namespace: 'team-a' }, what: 'namespace from a field (a read)' },
];

/** A credential of `identity` (issueCertificate makes the key when given no request). */
async function creds(ca: KeyPairPem, identity: Identity): Promise<Credentials> {
  const c = await issueCertificate({ ca, identity, notBefore: T0, notAfter: T1 });
  return { caPem: ca.certPem, certPem: c.certPem, keyPem: c.keyPem! };
}

const pct = (xs: number[], p: number): number => quantile(xs, p / 100);
const us = (ns: number): string => `${(ns / 1_000).toFixed(1)} µs`;
const ms = (ns: number): string => `${(ns / 1e6).toFixed(2)} ms`;

const cleanups: Array<() => void | Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

it(`authorization per RPC at ${RATE} calls/s over mTLS`, async () => {
  const ca = await createCa({ commonName: 'bench', notBefore: T0, notAfter: T1 });
  const server = await creds(ca, { kind: 'controller', id: 'c1' });
  const deployer = await creds(ca, { kind: 'operator', user: 'dana', role: 'deployer', namespaces: ['team-a', 'team-b'] });

  // The revocation list as the controller keeps it: an informer over etcd's records (here the
  // in-memory store with etcd's revision semantics).
  const store = new MemoryStore();
  const keys = new Keys('/bench');
  for (let i = 0; i < REVOKED; i += 100)
    await store.commit(
      Array.from({ length: 100 }, (_, j) => ({
        op: 'put' as const,
        key: keys.revokedCert((0x1000 + i + j).toString(16)),
        value: JSON.stringify({ notAfterMs: T1.getTime(), identity: 'berth://agent/x', revokedAtMs: T0.getTime() }),
      })),
    );
  const revocations = new RevocationList(store, keys, silentLogger());
  const ac = new AbortController();
  cleanups.push(() => ac.abort());
  void revocations.start(ac.signal);
  await revocations.synced;

  // Immediate handlers: what is measured is the guard, not a handler's work.
  const guardNs: Record<string, number[]> = {};
  const entered = new WeakMap<object, bigint>();
  const reply = (call: object, cb: grpc.sendUnaryData<unknown>, method: string): void => {
    const t = entered.get(call);
    if (t !== undefined) (guardNs[method] ??= []).push(Number(process.hrtime.bigint() - t));
    cb(null, {});
  };
  const handlers = {
    GetService: (call: object, cb: grpc.sendUnaryData<unknown>) => reply(call, cb, 'GetService'),
    ApplyService: (call: object, cb: grpc.sendUnaryData<unknown>) => reply(call, cb, 'ApplyService'),
    ListServices: (call: object, cb: grpc.sendUnaryData<unknown>) => reply(call, cb, 'ListServices'),
    DeleteService: (_call: object, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
    ListTasks: (_call: object, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
    ListNodes: (_call: object, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
  };
  const definition = protos().control.berth.v1.ControlAPI.service;
  const guard = new Guard({ insecureDev: false, revocations });
  const wrapped = guard.wrap('ControlAPI', definition, handlers) as Record<string, (call: object, cb: grpc.sendUnaryData<unknown>) => void>;
  const timed = Object.fromEntries(
    Object.entries(wrapped).map(([name, h]) => [
      name,
      (call: object, cb: grpc.sendUnaryData<unknown>) => {
        entered.set(call, process.hrtime.bigint());
        h(call, cb);
      },
    ]),
  );

  const serve = async (impl: object): Promise<string> => {
    const s = new grpc.Server();
    s.addService(definition, impl as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((res, rej) =>
      s.bindAsync('127.0.0.1:0', serverCredentials({ kind: 'tls', source: new CredentialSource(server) }), (e, p) => (e ? rej(e) : res(p))),
    );
    cleanups.push(() => s.forceShutdown());
    return `127.0.0.1:${port}`;
  };
  const guardedAddr = await serve(timed);
  const plainAddr = await serve(handlers);
  const Stub = protos().control.berth.v1.ControlAPI;
  const client = (addr: string) => {
    const c = new Stub(
      addr,
      channelCredentials({ kind: 'tls', source: new CredentialSource(deployer) }, expectController),
      TLS_CHANNEL_OPTIONS,
    );
    cleanups.push(() => c.close());
    return c as unknown as Record<string, (req: object, cb: (err: grpc.ServiceError | null) => void) => void>;
  };
  const guarded = client(guardedAddr);
  const plain = client(plainAddr);

  /** RATE calls/s for BLOCK_S seconds, issued every 10 ms on schedule; each call's latency (ns). */
  const block = async (
    stub: Record<string, (req: object, cb: (err: grpc.ServiceError | null) => void) => void>,
    call: (typeof CALLS)[number],
  ) => {
    const total = RATE * BLOCK_S;
    const lat: number[] = [];
    const errors: string[] = [];
    const started = performance.now();
    let sent = 0;
    const inflight: Array<Promise<void>> = [];
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * RATE) + 1);
      for (; sent < due; sent++) {
        const t = process.hrtime.bigint();
        inflight.push(
          new Promise<void>((res) =>
            stub[call.method]!(call.request, (err) => {
              if (err) errors.push(err.message);
              else lat.push(Number(process.hrtime.bigint() - t));
              res();
            }),
          ),
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(inflight);
    const seconds = (performance.now() - started) / 1000;
    expect(errors.slice(0, 3)).toEqual([]);
    return { lat, rate: lat.length / seconds };
  };

  // Warm-up: connections, TLS sessions, JIT.
  for (const c of CALLS) {
    await block(guarded, c);
    await block(plain, c);
  }
  for (const k of Object.keys(guardNs)) guardNs[k] = [];

  const rows: string[] = [];
  for (const c of CALLS) {
    const g: number[] = [];
    const p: number[] = [];
    let rate = 0;
    for (let b = 0; b < BLOCKS; b++) {
      // Alternating which goes first: the machine's load drifts.
      const order = b % 2 === 0 ? ['g', 'p'] : ['p', 'g'];
      for (const o of order) {
        const r = await block(o === 'g' ? guarded : plain, c);
        (o === 'g' ? g : p).push(...r.lat);
        if (o === 'g') rate = Math.max(rate, r.rate);
      }
    }
    const gn = guardNs[c.method] ?? [];
    rows.push(
      `| ControlAPI.${c.method} (${c.what}) | ${gn.length} | ${us(pct(gn, 50))} | ${us(pct(gn, 99))} | ${ms(pct(g, 50))} / ${ms(pct(g, 99))} | ${ms(pct(p, 50))} / ${ms(pct(p, 99))} | ${(pct(g, 50) / pct(p, 50)).toFixed(2)} | ${Math.round(rate)} |`,
    );
  }
  const table =
    `\n### Authorization per RPC (bench:authz), ${new Date().toISOString()}\n\n` +
    `Loopback gRPC with mTLS, a deployer of two namespaces calling; the guard with the real RevocationList (${REVOKED} revoked serials). ` +
    `${RATE} calls/s open loop, ${BLOCKS}×${BLOCK_S} s per side, guarded and unguarded blocks alternating. ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)} at the end.\n\n` +
    '| RPC | calls timed | guard p50 | guard p99 | caller latency guarded p50 / p99 | unguarded p50 / p99 | p50 ratio | calls/s reached |\n' +
    '|---|---|---|---|---|---|---|---|\n' +
    `${rows.join('\n')}\n`;
  process.stdout.write(table);
  appendFileSync(DOCS, table);
});
