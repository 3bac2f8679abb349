// The controller process: API servers on every replica; leader-only loops (orchestrator,
// scheduler, node lifecycle, dispatcher sessions) start when this replica wins the election and
// stop the moment it loses. One shutdown path: abort the signal given to start().
import * as grpc from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { CHANNEL_OPTIONS, loadProto, protos } from '../../proto/src/grpc.js';
import type { ProtoGrpcType as SecretsProto } from '../../proto/gen/secrets.js';
import type { ProtoGrpcType as PolicyProto } from '../../proto/gen/policy.js';
import type { ProtoGrpcType as ManageProto } from '../../proto/gen/manage.js';
import type { ProtoGrpcType as RolloutProto } from '../../proto/gen/rollout.js';
import { rolloutHandlers } from './api/rollout-server.js';
import { RolloutApi } from './api/rollouts.js';
import { RegistryCredentialApi } from './api/registry-credentials.js';
import type { ProtoGrpcType as NodesProto } from '../../proto/gen/nodes.js';
import { monotonicNow, type Clock, type MonotonicNow } from '../../proto/src/clock.js';
import { DEFAULT_CONTROLLER_LIMITS, type ControllerLimits } from '../../proto/src/limits/defaults.js';
import { controllerRequestLimits } from '../../proto/src/limits/message-limits.js';
import { limitedServerOptions, limitRequests } from '../../proto/src/limits/grpc-limits.js';
import { controllerStreamLimiter } from './observe/server.js';
import type { Logger } from '../../proto/src/log.js';
import { controlHandlers } from './api/control.js';
import { manageHandlers } from './api/manage.js';
import { DispatcherServer } from './dispatcher/dispatcher.js';
import { NodeApi, nodeHandlers, planRateLimiter } from './api/nodes.js';
import { ServiceApi } from './api/services.js';
import { SecretApi } from './api/secrets.js';
import { secretHandlers } from './api/secret-handlers.js';
import { policyHandlers } from './api/policy-handlers.js';
import { PolicyApi } from './api/policies.js';
import type { SecretCipher } from './secrets/cipher.js';
import { StatusWriter } from './dispatcher/status-writer.js';
import type { EventSink } from './events/events.js';
import type { EventReader } from './events/nats-reader.js';
import { Observability } from './observe/observability.js';
import { MemberRegistry } from './store/members.js';
import type { ProtoGrpcType as ObserveProto } from '../../proto/gen/observe.js';
import { FencedStore, LeaderElector } from './leader.js';
import { ControllerMetrics } from './metrics/metrics.js';
import { serveMetrics, type HttpEndpoint } from '../../proto/src/metrics-http.js';
import { NodeLifecycle } from './nodes/lifecycle.js';
import type { NodeTimings } from './nodes/node-plan.js';
import { ServiceOrchestrator, globalStrategy, replicatedStrategy } from './orchestrator/service-orchestrator.js';
import { DEFAULT_FENCE_AFTER_MS } from './orchestrator/node-loss-plan.js';
import { SchedulerLoop } from './scheduler/shell.js';
import { wouldPlace } from './scheduler/scheduler.js';
import { RebalanceLoop } from './orchestrator/rebalance.js';
import { ClusterCache } from './store/cluster.js';
import { Guard } from '../../proto/src/security/guard.js';
import { certificateHandlers, tokenHandlers } from './api/security-handlers.js';
import type { ProtoGrpcType as SecurityProto } from '../../proto/gen/security.js';
import type { CredentialSource } from '../../proto/src/security/tls.js';
import { channelCredentials, expectAgent, serverCredentials, TLS_CHANNEL_OPTIONS } from '../../proto/src/security/tls.js';
import { describeIdentity } from '../../proto/src/security/identity.js';
import type { ClusterCa } from './security/cluster-ca.js';
import type { CertificateService, RevocationList } from './security/certificates.js';
import type { TokenStore } from './security/tokens.js';
import { SecurityJanitor } from './security/janitor.js';
import type { Keys } from './store/keys.js';
import type { Store } from './store/store.js';
import { AuditPruner, auditHandlers, type AuditLog, type AuditRetention } from './audit/audit-log.js';
import type { ProtoGrpcType as AuditProto } from '../../proto/gen/audit.js';

export interface ManagerConfig {
  id: string;
  /** host:port the gRPC server binds. */
  listen: string;
  /** Address others reach this controller at (followers name the leader's). */
  advertise: string;
  metricsListen?: string | undefined;
  timings: NodeTimings;
  leaseTtlSec?: number | undefined;
  /** Agents fence waitForNode containers after this long without the leader (--fence-after). */
  fenceAfterMs?: number | undefined;
  /** Stream caps, the plan rate and the agent message size (default DEFAULT_CONTROLLER_LIMITS). */
  limits?: ControllerLimits | undefined;
}

/** The controller's side of the cluster PKI (absent: --insecure-dev, plaintext and no identities). */
export interface ControllerSecurity {
  ca: ClusterCa;
  /** This controller's own certificate (renewed by the composition root). */
  source: CredentialSource;
  tokens: TokenStore;
  certificates: CertificateService;
  revocations: RevocationList;
}

export interface ManagerDeps {
  config: ManagerConfig;
  store: Store;
  etcd: Etcd3;
  keys: Keys;
  clock: Clock;
  log: Logger;
  events: EventSink & { start?(signal: AbortSignal): Promise<void> };
  /** Seals secret values; without it the SecretAPI refuses to store any. */
  secretCipher?: SecretCipher | undefined;
  /** Reads the event stream for `berth events` (absent without NATS). */
  eventReader?: EventReader | undefined;
  /** Shared with the store's instrumentation when the composition root made one. */
  metrics?: ControllerMetrics | undefined;
  security?: ControllerSecurity | undefined;
  /** The audit log; `store` must be its store (audit.store), so records ride in their writes' transactions. */
  audit: AuditLog;
  auditRetention: AuditRetention;
  /** Monotonic ms for rate limits (default performance.now). */
  monotonicNow?: MonotonicNow | undefined;
}

export class Manager {
  readonly metrics: ControllerMetrics;
  readonly cache: ClusterCache;
  readonly observability: Observability;
  readonly dispatcher: DispatcherServer;
  readonly api: ServiceApi;
  readonly secrets: SecretApi;
  readonly elector: LeaderElector;
  private server: grpc.Server | undefined;
  private http: HttpEndpoint | undefined;
  boundAddress = '';
  metricsAddress = '';
  private leading = false;

  constructor(private readonly deps: ManagerDeps) {
    const { config, store, keys, clock, log, etcd, events } = deps;
    this.metrics = deps.metrics ?? new ControllerMetrics({ processMetrics: true });
    this.cache = new ClusterCache(store, keys, log);
    this.observability = new Observability({
      id: config.id,
      cache: this.cache,
      members: new MemberRegistry({ client: etcd, store, keys, log: log.child({ loop: 'members' }) }),
      events: deps.eventReader,
      sink: events,
      metrics: this.metrics,
      log,
      isLeader: () => this.leading,
      agentChannel: deps.security
        ? (nodeId) => ({
            credentials: channelCredentials({ kind: 'tls', source: deps.security!.source }, expectAgent(nodeId)),
            options: TLS_CHANNEL_OPTIONS,
          })
        : undefined,
    });
    this.dispatcher = new DispatcherServer({
      controllerId: config.id,
      log: log.child({ loop: 'dispatcher' }),
      clock,
      metrics: this.metrics,
      cipher: deps.secretCipher,
      revocations: deps.security?.revocations,
    });
    this.api = new ServiceApi({ store, keys, clock, events });
    this.secrets = new SecretApi({ store, keys, clock, cipher: deps.secretCipher });
    this.elector = new LeaderElector({
      client: etcd,
      store,
      keys,
      self: { id: config.id, address: config.advertise },
      ...(config.leaseTtlSec ? { ttlSec: config.leaseTtlSec } : {}),
      log: log.child({ loop: 'election' }),
      metrics: this.metrics,
      onLeaderChange: (l) => this.dispatcher.setLeaderAddress(l && l.id !== config.id ? l.address : ''),
    });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  async start(signal: AbortSignal): Promise<void> {
    const { config, log } = this.deps;
    const { control, dispatcher } = protos();
    const limits = config.limits ?? DEFAULT_CONTROLLER_LIMITS;
    // Each method takes messages up to its own size (an agent's up to --max-agent-message), not 64 MiB.
    const requestLimits = controllerRequestLimits(limits.agentMessageBytes);
    const server = new grpc.Server(limitedServerOptions(CHANNEL_OPTIONS, requestLimits, { 'Dispatcher.Session': '--max-agent-message' }));
    // One count of long-lived streams for the ObserveAPI and the RolloutAPI's watches.
    const streams = controllerStreamLimiter(limits.streams);
    const security = this.deps.security;
    const guard = new Guard({
      insecureDev: !security,
      revocations: security?.revocations,
      onDenied: (method, who, d) => log.warn({ method, caller: describeIdentity(who), code: d.code }, 'call refused'),
    });
    // Every service behind the guard (a method without an authorization rule fails here), and
    // the audit log around it, so that refused calls are recorded too.
    const add = <H extends object>(name: string, def: grpc.ServiceDefinition, handlers: H): void =>
      server.addService(
        limitRequests(name, def, requestLimits),
        this.deps.audit.wrap(name, def, guard.wrap(name, def, handlers)) as grpc.UntypedServiceImplementation,
      );
    add(
      'ControlAPI',
      control.berth.v1.ControlAPI.service,
      controlHandlers(this.api, { log: log.child({ loop: 'api' }), metrics: this.metrics }),
    );
    add('Dispatcher', dispatcher.berth.v1.Dispatcher.service, this.dispatcher.handlers());
    add(
      'SecretAPI',
      loadProto<SecretsProto>('secrets').berth.v1.SecretAPI.service,
      secretHandlers(this.secrets, this.api, { log: log.child({ loop: 'api' }), metrics: this.metrics }),
    );
    add(
      'PolicyAPI',
      loadProto<PolicyProto>('policy').berth.v1.PolicyAPI.service,
      policyHandlers(new PolicyApi({ store: this.deps.store, keys: this.deps.keys, clock: this.deps.clock }), this.api, {
        log: log.child({ loop: 'api' }),
        metrics: this.metrics,
      }),
    );
    add(
      'ManageAPI',
      loadProto<ManageProto>('manage').berth.v1.ManageAPI.service,
      manageHandlers(this.api, {
        log: log.child({ loop: 'api' }),
        metrics: this.metrics,
        controllerId: config.id,
        isLeader: () => this.leading,
      }),
    );
    const { store, keys, clock, events } = this.deps;
    add(
      'RolloutAPI',
      loadProto<RolloutProto>('rollout').berth.v1.RolloutAPI.service,
      rolloutHandlers({
        rollouts: new RolloutApi({ store, keys, cache: this.cache, clock, events }),
        credentials: new RegistryCredentialApi({ store, keys, clock, cipher: this.deps.secretCipher }),
        cache: this.cache,
        log: log.child({ loop: 'api' }),
        metrics: this.metrics,
        streams,
      }),
    );
    const nodeApi = new NodeApi({
      store,
      keys,
      clock,
      services: this.api,
      revokeNodeOps: security ? (id) => security.certificates.revokeNodeOps(id) : undefined,
    });
    add(
      'NodeAPI',
      loadProto<NodesProto>('nodes').berth.v1.NodeAPI.service,
      nodeHandlers(nodeApi, {
        log: log.child({ loop: 'api' }),
        metrics: this.metrics,
        planRate: { limiter: planRateLimiter(limits.planRate), now: this.deps.monotonicNow ?? monotonicNow },
      }),
    );
    add('ObserveAPI', loadProto<ObserveProto>('observe').berth.v1.ObserveAPI.service, this.observability.handlers(streams));
    if (security) {
      const sec = loadProto<SecurityProto>('security').berth.v1;
      const apiLog = { log: log.child({ loop: 'api' }), metrics: this.metrics };
      add('CertificateAPI', sec.CertificateAPI.service, certificateHandlers(security.certificates, apiLog));
      add('TokenAPI', sec.TokenAPI.service, tokenHandlers(security.tokens, apiLog));
    }
    add(
      'AuditAPI',
      loadProto<AuditProto>('audit').berth.v1.AuditAPI.service,
      auditHandlers(this.deps.audit, { log: log.child({ loop: 'api' }), metrics: this.metrics }),
    );

    // Revoked certificates are known before the first call is served.
    const revocationsRun = security?.revocations.start(signal);
    if (security) await Promise.race([security.revocations.synced, revocationsRun]);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        config.listen,
        serverCredentials(security ? { kind: 'tls', source: security.source } : { kind: 'insecure' }),
        (err, p) => (err ? reject(err) : resolve(p)),
      ),
    );
    this.server = server;
    this.boundAddress = `${config.listen.slice(0, config.listen.lastIndexOf(':'))}:${port}`;
    if (config.metricsListen) {
      this.http = await serveMetrics(
        config.metricsListen,
        this.metrics.registry,
        () => this.cache.services.hasSynced && this.cache.tasks.hasSynced,
        this.observability.routes(),
        security
          ? {
              source: security.source,
              revocations: security.revocations,
              onDenied: (path, who, d) => log.warn({ path, caller: describeIdentity(who), code: d.code }, 'scrape refused'),
            }
          : undefined,
      );
      this.metricsAddress = this.http.address;
    }
    log.info({ api: this.boundAddress, metrics: this.metricsAddress || undefined }, 'controller serving');
    try {
      await Promise.all([
        this.cache.start(signal),
        revocationsRun,
        this.deps.events.start?.(signal),
        this.observability.start({ apiAddress: config.advertise, metricsAddress: this.metricsAddress }, signal),
        this.elector.run(signal, (l) => this.lead(l.epoch, l.signal, l.valid)),
      ]);
    } finally {
      this.dispatcher.setLeader(undefined);
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
      await this.http?.close();
    }
  }

  /** Runs the leader-only loops until leadership ends. */
  private async lead(epoch: number, signal: AbortSignal, valid: () => boolean): Promise<void> {
    const { config, store, keys, clock, log, events } = this.deps;
    const cache = this.cache.withStore(new FencedStore(store, keys.leader, epoch));
    await this.cache.synced;
    // Act on state read after winning: a follower's long-lived watches may have missed changes
    // (an etcd restart), and a stale view would send agents incomplete assignment sets.
    await Promise.race([
      this.cache.refresh(),
      new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
    ]);
    if (signal.aborted) return;
    this.leading = true;
    const lifecycle = new NodeLifecycle({ cache, clock, log: log.child({ loop: 'nodes' }), timings: config.timings, events, valid });
    const statusWriter = new StatusWriter({ cache, log: log.child({ loop: 'status' }), metrics: this.metrics, events });
    const nodeLoss = { fenceAfterMs: config.fenceAfterMs ?? DEFAULT_FENCE_AFTER_MS };
    const orchestrator = new ServiceOrchestrator(
      { cache, clock, log: log.child({ loop: 'replicated' }), metrics: this.metrics, events, nodeLoss },
      replicatedStrategy,
    );
    const scheduler = new SchedulerLoop({ cache, clock, log: log.child({ loop: 'scheduler' }), metrics: this.metrics, events });
    const global = new ServiceOrchestrator(
      { cache, clock, log: log.child({ loop: 'global' }), metrics: this.metrics, events, nodeLoss },
      globalStrategy,
    );
    // Rebalancing asks the scheduler (its snapshot, where a replica would go): injected here, as
    // the orchestrator and the scheduler are peers that never import each other.
    const rebalance = new RebalanceLoop({
      cache,
      clock,
      log: log.child({ loop: 'rebalance' }),
      events,
      placement: { nodes: () => scheduler.nodes(), place: wouldPlace },
    });
    this.dispatcher.setLeader({ epoch, cache, lifecycle, statusWriter, events, fenceAfterMs: nodeLoss.fenceAfterMs, valid });
    const stopObserving = this.observability.leading(cache);
    // Revocations of expired certificates and long-expired tokens go (none under --insecure-dev).
    const janitor = this.deps.security
      ? new SecurityJanitor({ store: new FencedStore(store, keys.leader, epoch), keys, clock, log: log.child({ loop: 'security' }) })
      : undefined;
    // The audit log stays bounded by count and age.
    const pruner = new AuditPruner({
      store: new FencedStore(store, keys.leader, epoch),
      keys,
      clock,
      log: log.child({ loop: 'audit' }),
      retention: this.deps.auditRetention,
      metrics: this.metrics,
    });
    try {
      await Promise.all([
        pruner.start(signal),
        janitor?.start(signal),
        lifecycle.start(signal),
        orchestrator.start(signal),
        scheduler.start(signal),
        global.start(signal),
        rebalance.start(signal),
      ]);
    } finally {
      stopObserving();
      this.leading = false;
      this.dispatcher.setLeader(undefined);
    }
  }
}
