// The limit logic (proto/src/limits): stream caps per identity and in all, the plan rate's token
// buckets on a fake clock, the checks of agents' messages, and the per-method size limits on a
// real loopback gRPC server (plaintext).
import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import type { Identity } from '../../proto/src/security/identity.js';
import { limitKey, StreamLimiter } from '../../proto/src/limits/stream-limiter.js';
import { RateLimiter } from '../../proto/src/limits/rate-limiter.js';
import {
  agentMessageProblem,
  batches,
  clipStatusText,
  helloLimitsProblem,
  MAX_HELLO_CONTAINERS,
  MAX_STATUS_TEXT_CHARS,
  MAX_STATUS_UPDATES,
} from '../../proto/src/limits/agent-messages.js';
import {
  controllerRequestLimits,
  DEFAULT_REQUEST_BYTES,
  PLAN_REQUEST_BYTES,
  requestLimit,
  transportLimit,
} from '../../proto/src/limits/message-limits.js';
import { limitedServerOptions, limitRequests } from '../../proto/src/limits/grpc-limits.js';
import type { AgentMessage__Output } from '../../proto/gen/berth/v1/AgentMessage.js';
import type { TaskStatus__Output } from '../../proto/gen/berth/v1/TaskStatus.js';

const ann: Identity = { kind: 'operator', user: 'ann', role: 'deployer', namespaces: ['x'] };
const annAdmin: Identity = { kind: 'operator', user: 'ann', role: 'admin', namespaces: ['*'] };
const bob: Identity = { kind: 'operator', user: 'bob', role: 'viewer', namespaces: ['x'] };
const c1: Identity = { kind: 'controller', id: 'c1' };
const names = { what: 'streams', where: 'this server', totalFlag: '--max', perIdentityFlag: '--max-per' };

describe('StreamLimiter', () => {
  it('keeps one identity to its share and leaves the rest to others', () => {
    const l = new StreamLimiter({ total: 10, perIdentity: 4 }, names);
    const held = Array.from({ length: 4 }, () => l.acquire(ann));
    expect(held.every((a) => a.ok)).toBe(true);
    const refused = l.acquire(ann);
    expect(refused).toMatchObject({ ok: false, limit: 'perIdentity' });
    expect(!refused.ok && refused.message).toBe(
      'ann (deployer of x) holds 4 streams on this server, the most one identity may (--max-per 4); close one and try again',
    );
    // Another certificate of the same user counts in the same share; another user does not.
    expect(l.acquire(annAdmin).ok).toBe(false);
    expect(l.acquire(bob).ok).toBe(true);
    expect(l.total).toBe(5);
    expect(l.of(ann)).toBe(4);
  });

  it('refuses beyond the total, naming the limit and the caller, until a stream ends', () => {
    const l = new StreamLimiter({ total: 3, perIdentity: 2 }, names);
    const a = l.acquire(ann);
    expect(l.acquire(ann).ok).toBe(true);
    expect(l.acquire(bob).ok).toBe(true);
    const r = l.acquire(c1);
    expect(r).toMatchObject({ ok: false, limit: 'total' });
    expect(!r.ok && r.message).toContain('serves 3 streams at most (--max 3)');
    expect(!r.ok && r.message).toContain('refused for controller c1');
    if (!a.ok) throw new Error('first stream refused');
    a.release();
    a.release(); // idempotent: a stream ends once
    expect(l.total).toBe(2);
    expect(l.acquire(c1).ok).toBe(true);
    expect(l.acquire(c1).ok).toBe(false);
  });

  it('counts callers without an identity of their own in the total only', () => {
    const l = new StreamLimiter({ total: 3, perIdentity: 1 }, names);
    expect([l.acquire(undefined), l.acquire(undefined), l.acquire(undefined)].every((a) => a.ok)).toBe(true);
    expect(l.acquire(undefined)).toMatchObject({ ok: false, limit: 'total' });
  });

  it('forgets an identity whose streams all ended, and refuses bad limits', () => {
    const l = new StreamLimiter({ total: 2, perIdentity: 1 }, names);
    const a = l.acquire(bob);
    if (a.ok) a.release();
    expect(l.of(bob)).toBe(0);
    expect(() => new StreamLimiter({ total: 2, perIdentity: 3 }, names)).toThrow('perIdentity (3) must not exceed total (2)');
    expect(() => new StreamLimiter({ total: 0, perIdentity: 0 }, names)).toThrow('total: must be a whole number ≥ 1');
  });

  it('keys identities by name, not by grants', () => {
    expect(limitKey(ann)).toBe('operator/ann');
    expect(limitKey(annAdmin)).toBe('operator/ann');
    expect(limitKey({ kind: 'agent', nodeId: 'h1' })).toBe('agent/h1');
    expect(limitKey(c1)).toBe('controller/c1');
    expect(limitKey(undefined)).toBeUndefined();
  });
});

describe('RateLimiter (token bucket per identity, fake clock)', () => {
  it('allows a burst, then the rate; one identity over its rate does not slow another', () => {
    const l = new RateLimiter({ ratePerSec: 2, burst: 3 }, { what: 'plans', flags: '--plan-rate, --plan-burst' });
    let t = 1_000;
    expect([l.take(ann, t), l.take(ann, t), l.take(ann, t)].map((r) => r.ok)).toEqual([true, true, true]);
    const refused = l.take(ann, t);
    expect(refused).toEqual({
      ok: false,
      retryAfterMs: 500,
      message: 'ann (deployer of x) may make 3 plans at once and 2 a second (--plan-rate, --plan-burst); try again in 500 ms',
    });
    expect(l.take(bob, t).ok).toBe(true);
    t += 499;
    expect(l.take(ann, t).ok).toBe(false);
    t += 1;
    expect(l.take(ann, t).ok).toBe(true);
    expect(l.take(ann, t).ok).toBe(false);
    // A long pause refills up to the burst, never beyond.
    t += 60_000;
    expect([1, 2, 3, 4].map(() => l.take(ann, t).ok)).toEqual([true, true, true, false]);
  });

  it('adds nothing when the clock goes back, and callers without an identity share one bucket', () => {
    const l = new RateLimiter({ ratePerSec: 1, burst: 1 }, { what: 'plans', flags: 'f' });
    expect(l.take(undefined, 10_000).ok).toBe(true);
    expect(l.take(undefined, 5_000).ok).toBe(false);
    expect(l.take(undefined, 10_999).ok).toBe(false);
    expect(l.take(undefined, 11_000).ok).toBe(true);
  });

  it('keeps a bounded number of buckets (refilled ones are forgotten)', () => {
    const l = new RateLimiter({ ratePerSec: 1, burst: 1 }, { what: 'plans', flags: 'f' });
    for (let i = 0; i < 10_001; i++) l.take({ kind: 'agent', nodeId: `n${i}` }, 0);
    expect(l.size).toBe(10_001);
    l.take(bob, 5_000);
    expect(l.size).toBe(1);
  });

  it('refuses bad limits', () => {
    expect(() => new RateLimiter({ ratePerSec: 0, burst: 1 }, { what: 'x', flags: 'f' })).toThrow('rate: must be a number > 0');
    expect(() => new RateLimiter({ ratePerSec: 1, burst: 0.5 }, { what: 'x', flags: 'f' })).toThrow('burst: must be a whole number ≥ 1');
  });
});

function status(extra: Partial<TaskStatus__Output> = {}): TaskStatus__Output {
  return {
    state: 'running',
    message: 'started',
    err: '',
    containerId: 'abc',
    ports: [],
    timestampMs: 1,
    exitCode: 0,
    startedAtMs: 1,
    health: '',
    restarts: 0,
    container: '',
    ...extra,
  };
}

const statusMsg = (updates: Array<{ taskId: string; status: TaskStatus__Output }>): AgentMessage__Output => ({
  msg: 'status',
  status: { updates },
});

describe('agent messages (counts and lengths)', () => {
  it('accepts what a real agent sends', () => {
    expect(agentMessageProblem(statusMsg([{ taskId: 't1', status: status() }]))).toBeUndefined();
    expect(agentMessageProblem({ msg: 'heartbeat', heartbeat: { seq: 1 } })).toBeUndefined();
  });

  it('names the field and the limit of what it refuses', () => {
    const many = Array.from({ length: MAX_STATUS_UPDATES + 1 }, (_, i) => ({ taskId: `t${i}`, status: status() }));
    expect(agentMessageProblem(statusMsg(many))).toBe(`status.updates: ${MAX_STATUS_UPDATES + 1} entries; at most ${MAX_STATUS_UPDATES}`);
    const long = status({ err: 'x'.repeat(MAX_STATUS_TEXT_CHARS + 1) });
    expect(
      agentMessageProblem(
        statusMsg([
          { taskId: 't1', status: status() },
          { taskId: 't2', status: long },
        ]),
      ),
    ).toBe(`status.updates[1].status.err: ${MAX_STATUS_TEXT_CHARS + 1} characters; at most ${MAX_STATUS_TEXT_CHARS}`);
    expect(agentMessageProblem(statusMsg([{ taskId: 'x'.repeat(300), status: status() }]))).toBe(
      'status.updates[0].taskId: 300 characters; at most 256',
    );
    const hello = (containers: number, labels: Record<string, string> = {}): AgentMessage__Output => ({
      msg: 'hello',
      hello: {
        nodeId: 'h1',
        epochSeen: 0,
        description: {
          hostname: 'h',
          capacity: null,
          engineVersion: '',
          os: '',
          arch: '',
          labels,
          address: '',
          agentVersion: '',
          allowedHostPaths: [],
          metricsAddress: '',
          apiAddress: '',
        },
        containers: Array.from({ length: containers }, (_, i) => ({
          containerId: `c${i}`,
          taskId: `t${i}`,
          state: 'running',
          startedAtMs: 0,
        })),
      },
    });
    expect(agentMessageProblem(hello(3))).toBeUndefined();
    expect(agentMessageProblem(hello(MAX_HELLO_CONTAINERS + 1))).toBe(
      `hello.containers: ${MAX_HELLO_CONTAINERS + 1} entries; at most ${MAX_HELLO_CONTAINERS}`,
    );
    expect(agentMessageProblem(hello(0, { zone: 'v'.repeat(2000) }))).toBe(
      'hello.description.labels["zone"]: 2000 characters; at most 1024',
    );
  });

  it('gives the agent what keeps it inside: shortened texts and split batches', () => {
    expect(clipStatusText('short')).toBe('short');
    const clipped = clipStatusText('y'.repeat(MAX_STATUS_TEXT_CHARS * 2));
    expect(clipped.length).toBe(MAX_STATUS_TEXT_CHARS);
    expect(clipped.endsWith('… (shortened)')).toBe(true);
    expect(batches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(batches([])).toEqual([]);
  });
});

describe('per-method message limits', () => {
  it('gives each method what it needs and the server the largest', () => {
    const limits = controllerRequestLimits(2 * 1024 * 1024);
    expect(requestLimit(limits, 'Dispatcher.Session')).toBe(2 * 1024 * 1024);
    expect(requestLimit(limits, 'NodeAPI.Plan')).toBe(PLAN_REQUEST_BYTES);
    expect(requestLimit(limits, 'ControlAPI.ListNodes')).toBe(DEFAULT_REQUEST_BYTES);
    expect(transportLimit(limits)).toBe(PLAN_REQUEST_BYTES);
  });

  it('refuses a message over its method limit with RESOURCE_EXHAUSTED naming it, on a real server', async () => {
    const def: grpc.ServiceDefinition = {
      Small: {
        path: '/berth.v1.Test/Small',
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: string) => Buffer.from(v),
        requestDeserialize: (b: Buffer) => b.toString(),
        responseSerialize: (v: string) => Buffer.from(v),
        responseDeserialize: (b: Buffer) => b.toString(),
      },
      Chat: {
        path: '/berth.v1.Test/Chat',
        requestStream: true,
        responseStream: true,
        requestSerialize: (v: string) => Buffer.from(v),
        requestDeserialize: (b: Buffer) => b.toString(),
        responseSerialize: (v: string) => Buffer.from(v),
        responseDeserialize: (b: Buffer) => b.toString(),
      },
    };
    const limits = { 'Test.Small': 100, 'Test.Chat': 1000 };
    const server = new grpc.Server(limitedServerOptions({}, limits, { 'Test.Chat': '--chat-max' }));
    const seen: string[] = [];
    server.addService(limitRequests('Test', def, limits), {
      Small: (call: grpc.ServerUnaryCall<string, string>, cb: grpc.sendUnaryData<string>) => cb(null, `got ${call.request.length}`),
      Chat: (call: grpc.ServerDuplexStream<string, string>) => {
        call.on('data', (m: string) => {
          seen.push(`${m.length}`);
          call.write(`ok ${m.length}`);
        });
        call.on('end', () => call.end());
      },
    });
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
    );
    const Client = grpc.makeGenericClientConstructor(def, 'Test');
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const small = (text: string): Promise<string> =>
        new Promise((res, rej) =>
          client.makeUnaryRequest(
            '/berth.v1.Test/Small',
            (v: string) => Buffer.from(v),
            (b: Buffer) => b.toString(),
            text,
            (err, v) => (err ? rej(err) : res(v!)),
          ),
        );
      expect(await small('a'.repeat(100))).toBe('got 100');
      await expect(small('a'.repeat(101))).rejects.toMatchObject({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: 'Test.Small: a message of 101 bytes from anonymous; this server takes at most 100 bytes per message of this method',
      });
      // Beyond the server's transport limit (the largest method's), grpc-js refuses it itself.
      await expect(small('a'.repeat(5000))).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });

      const chat = client.makeBidiStreamRequest(
        '/berth.v1.Test/Chat',
        (v: string) => Buffer.from(v),
        (b: Buffer) => b.toString(),
      );
      const replies: string[] = [];
      chat.on('data', (m: string) => replies.push(m));
      const ended = new Promise<grpc.ServiceError>((res) => chat.on('error', res));
      chat.write('b'.repeat(10));
      chat.write('b'.repeat(1001));
      chat.write('b'.repeat(20));
      const err = await ended;
      expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(err.details).toContain('Test.Chat: a message of 1001 bytes from anonymous');
      expect(err.details).toContain('(--chat-max)');
      expect(seen).toEqual(['10']);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});

describe("an agent's flags against the Hello limits", () => {
  it('names the flag that would make a Hello the controller refuses', () => {
    expect(helloLimitsProblem({ zone: 'a' }, ['/srv'])).toBeUndefined();
    expect(helloLimitsProblem({ zone: 'v'.repeat(1025) }, [])).toBe('--label zone: 1025 characters; at most 1024');
    const many = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, 'v']));
    expect(helloLimitsProblem(many, [])).toBe('--label: 257 entries; at most 256');
  });
});
