// PolicyAPI server: gRPC adapter over PolicyApi.
import type { Logger } from '../../../proto/src/log.js';
import type { PolicyAPIHandlers } from '../../../proto/gen/berth/v1/PolicyAPI.js';
import type { Policy } from '../../../proto/gen/berth/v1/Policy.js';
import type { PolicyRecord } from '../../../proto/src/model.js';
import { metaToPb } from '../../../proto/src/convert.js';
import { canonicalJson } from '../../../proto/src/spec/service.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import type { PolicyApi } from './policies.js';
import type { ServiceApi } from './services.js';
import { unaryFactory } from './control.js';

export function policyToPb(p: PolicyRecord, modRevision: number): Policy {
  return { meta: metaToPb(p.meta), specJson: canonicalJson(p.spec), modRevision };
}

export function policyHandlers(
  api: PolicyApi,
  edge: Pick<ServiceApi, 'parseDocument'>,
  deps: { log: Logger; metrics?: ControllerMetrics | undefined },
): PolicyAPIHandlers {
  const unary = unaryFactory(deps);
  return {
    ApplyPolicy: unary('ApplyPolicy', async (req) => {
      const { policy, result } = await api.apply(edge.parseDocument(req.manifestJson), {
        expectedRevision: req.expectedRevision,
        dryRun: req.dryRun,
      });
      return { policy: policyToPb(policy.value, policy.modRevision), result };
    }),
    GetPolicy: unary('GetPolicy', async (req) => {
      const p = await api.get(req.namespace || 'default', req.name);
      return policyToPb(p.value, p.modRevision);
    }),
    ListPolicies: unary('ListPolicies', async (req) => {
      const list = await api.list(req.namespace || undefined);
      return { policies: list.map((p) => policyToPb(p.value, p.modRevision)) };
    }),
    DeletePolicy: unary('DeletePolicy', async (req) => {
      const p = await api.delete(req.namespace || 'default', req.name, req.expectedRevision || undefined);
      return { policy: policyToPb(p.value, p.modRevision) };
    }),
  };
}
