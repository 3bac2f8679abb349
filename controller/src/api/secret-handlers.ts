// SecretAPI server: gRPC adapter over SecretApi. Never puts a value in a response.
import type { Logger } from '../../../proto/src/log.js';
import type { SecretAPIHandlers } from '../../../proto/gen/berth/v1/SecretAPI.js';
import type { Secret } from '../../../proto/gen/berth/v1/Secret.js';
import type { SecretRecord } from '../../../proto/src/model.js';
import { metaToPb } from '../../../proto/src/convert.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import type { SecretApi } from './secrets.js';
import type { ServiceApi } from './services.js';
import { unaryFactory } from './control.js';

export function secretToPb(s: SecretRecord, modRevision: number): Secret {
  return {
    meta: metaToPb(s.meta),
    keys: s.keys.map((k) => ({ name: k.name, sizeBytes: k.sizeBytes })),
    version: s.version,
    modRevision,
    keyId: s.sealed.keyId,
  };
}

export function secretHandlers(
  api: SecretApi,
  edge: Pick<ServiceApi, 'parseDocument'>,
  deps: { log: Logger; metrics?: ControllerMetrics | undefined },
): SecretAPIHandlers {
  const unary = unaryFactory(deps);
  return {
    ApplySecret: unary('ApplySecret', async (req) => {
      const { secret, result } = await api.apply(edge.parseDocument(req.manifestJson), {
        expectedRevision: req.expectedRevision,
        dryRun: req.dryRun,
      });
      return { secret: secretToPb(secret.value, secret.modRevision), result };
    }),
    GetSecret: unary('GetSecret', async (req) => {
      const s = await api.get(req.namespace || 'default', req.name);
      return secretToPb(s.value, s.modRevision);
    }),
    ListSecrets: unary('ListSecrets', async (req) => {
      const list = await api.list(req.namespace || undefined);
      return { secrets: list.map((s) => secretToPb(s.value, s.modRevision)) };
    }),
    DeleteSecret: unary('DeleteSecret', async (req) => {
      const s = await api.delete(req.namespace || 'default', req.name, req.expectedRevision || undefined);
      return { secret: secretToPb(s.value, s.modRevision) };
    }),
  };
}
