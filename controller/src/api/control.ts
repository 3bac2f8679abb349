// ControlAPI server: gRPC adapter over ServiceApi. Validation happens in ServiceApi (the edge);
// typed errors become gRPC status here.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../../proto/src/log.js';
import { nodeToPb, serviceToPb, taskToPb } from '../../../proto/src/convert.js';
import type { ControlAPIHandlers } from '../../../proto/gen/berth/v1/ControlAPI.js';
import type { TaskRecord } from '../../../proto/src/model.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import { toStatus } from './errors.js';
import type { ServiceApi } from './services.js';
import { summarizeService } from '../model/service-status.js';

type Handler<Req, Res> = grpc.handleUnaryCall<Req, Res>;

/** Wraps an async handler as a unary gRPC call: metrics per method, typed errors → status. */
export function unaryFactory(deps: { log: Logger; metrics?: ControllerMetrics | undefined }) {
  const { log, metrics } = deps;
  return <Req, Res>(method: string, fn: (req: Req) => Promise<Res>): Handler<Req, Res> => {
    return (call, callback) => {
      const end = metrics?.apiDuration.startTimer({ method });
      fn(call.request).then(
        (res) => {
          end?.({ code: 'OK' });
          metrics?.apiRequests.labels(method, 'OK').inc();
          callback(null, res);
        },
        (err: unknown) => {
          const st = toStatus(err);
          const code = grpc.status[st.code ?? grpc.status.UNKNOWN] ?? 'UNKNOWN';
          end?.({ code });
          metrics?.apiRequests.labels(method, code).inc();
          if (st.code === grpc.status.INTERNAL)
            log.error({ method, err: err instanceof Error ? err.stack : String(err) }, 'internal error');
          callback(st, null);
        },
      );
    };
  };
}

export function controlHandlers(api: ServiceApi, deps: { log: Logger; metrics?: ControllerMetrics | undefined }): ControlAPIHandlers {
  const unary = unaryFactory(deps);

  const summaries = async (namespace?: string) => {
    const tasks = await api.tasks(namespace ? { namespace } : {});
    const byService = new Map<string, TaskRecord[]>();
    for (const { value: t } of tasks) {
      const k = `${t.namespace}/${t.service}`;
      let l = byService.get(k);
      if (!l) byService.set(k, (l = []));
      l.push(t);
    }
    return byService;
  };

  return {
    ApplyService: unary('ApplyService', async (req) => {
      const doc = api.parseDocument(req.manifestJson);
      const { service, result } = await api.apply(doc, {
        expectedRevision: req.expectedRevision,
        dryRun: req.dryRun,
        createOnly: req.createOnly,
      });
      return { service: serviceToPb(service.value, service.modRevision), result };
    }),
    GetService: unary('GetService', async (req) => {
      const s = await api.get(req.namespace || 'default', req.name);
      const tasks = (await summaries(s.value.meta.namespace)).get(`${s.value.meta.namespace}/${s.value.meta.name}`) ?? [];
      return serviceToPb(s.value, s.modRevision, summarizeService(s.value, tasks));
    }),
    ListServices: unary('ListServices', async (req) => {
      const [services, byService] = await Promise.all([api.list(req.namespace || undefined), summaries(req.namespace || undefined)]);
      return {
        services: services.map((s) =>
          serviceToPb(
            s.value,
            s.modRevision,
            summarizeService(s.value, byService.get(`${s.value.meta.namespace}/${s.value.meta.name}`) ?? []),
          ),
        ),
      };
    }),
    DeleteService: unary('DeleteService', async (req) => {
      const s = await api.delete(req.namespace || 'default', req.name);
      return { service: serviceToPb(s.value, s.modRevision) };
    }),
    ListTasks: unary('ListTasks', async (req) => {
      const [tasks, nodes] = await Promise.all([
        api.tasks({
          ...(req.namespace ? { namespace: req.namespace } : {}),
          ...(req.service ? { service: req.service } : {}),
          ...(req.nodeId ? { nodeId: req.nodeId } : {}),
          all: req.all,
        }),
        api.nodes(),
      ]);
      const addr = new Map(nodes.map((n) => [n.node.value.id, n.node.value.description.address]));
      return { tasks: tasks.map((t) => taskToPb(t.value, { modRevision: t.modRevision, nodeAddress: addr.get(t.value.nodeId) ?? '' })) };
    }),
    ListNodes: unary('ListNodes', async () => {
      const nodes = await api.nodes();
      return {
        nodes: nodes.map((n) => nodeToPb(n.node.value, { allocated: n.allocated, tasks: n.tasks, modRevision: n.node.modRevision })),
      };
    }),
  };
}
