// ManageAPI: diff (what apply would do, by apply's own dry run), scale (a spec change through
// apply, so it validates, versions and conflicts exactly like one) and version. The logic is in
// ServiceOps, free of gRPC; manageHandlers is the adapter.
import type { ManageAPIHandlers } from '../../../proto/gen/berth/v1/ManageAPI.js';
import { serviceToPb } from '../../../proto/src/convert.js';
import { ConflictError, FailedPreconditionError, NotFoundError } from '../../../proto/src/errors.js';
import type { ServiceRecord, Versioned } from '../../../proto/src/model.js';
import {
  API_VERSION,
  canonicalJson,
  formatServiceSpec,
  validateServiceManifest,
  type ServiceManifest,
} from '../../../proto/src/spec/service.js';
import { BERTH_VERSION } from '../../../proto/src/version.js';
import type { ApplyResult, ServiceApi } from './services.js';
import type { Logger } from '../../../proto/src/log.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import { unaryFactory } from './control.js';
import { retryOnConflict } from '../store/retry.js';

export interface DiffOutcome {
  result: ApplyResult;
  stored: Versioned<ServiceRecord> | undefined;
  proposed: Versioned<ServiceRecord>;
}

export interface ScaleOutcome {
  service: Versioned<ServiceRecord>;
  result: 'updated' | 'unchanged';
  previousReplicas: number;
}

/** The manifest that reproduces a stored service (spec in the form a person writes). */
export function manifestOf(svc: ServiceRecord): Omit<ServiceManifest, 'spec'> & { spec: Record<string, unknown> } {
  return {
    apiVersion: API_VERSION,
    kind: 'Service',
    metadata: { name: svc.meta.name, namespace: svc.meta.namespace, labels: { ...svc.meta.labels } },
    spec: formatServiceSpec(svc.spec) as Record<string, unknown>,
  };
}

export class ServiceOps {
  constructor(private readonly api: ServiceApi) {}

  /** What apply would do with `doc`: apply's dry run plus the record it compared against. */
  async diff(doc: unknown): Promise<DiffOutcome> {
    // Re-read when the stored record moves between the dry run and the read (retryOnConflict's count).
    return retryOnConflict(async () => {
      const { service: proposed, result } = await this.api.apply(doc, { dryRun: true });
      if (result === 'created') return { result, stored: undefined, proposed };
      const { namespace, name } = proposed.value.meta;
      let stored: Versioned<ServiceRecord> | undefined;
      try {
        stored = await this.api.get(namespace, name);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
      // The dry run compared against the record at proposed.modRevision; answer with that one.
      if (stored && stored.modRevision === proposed.modRevision) return { result, stored, proposed };
      throw new ConflictError(`service ${namespace}/${name} kept changing while it was compared`, [], stored?.modRevision ?? 0);
    });
  }

  /** Sets spec.replicas through apply: validated, a new revision, optimistic concurrency. */
  async scale(namespace: string, name: string, replicas: number, expectedRevision = 0): Promise<ScaleOutcome> {
    // Without an expected revision a lost race is read again and retried; with one, it is the answer.
    return retryOnConflict(
      async () => {
        const cur = await this.api.get(namespace, name);
        if (expectedRevision && cur.modRevision !== expectedRevision) {
          throw new ConflictError(`service ${namespace}/${name} changed since revision ${expectedRevision}`, [], cur.modRevision);
        }
        if (cur.value.deleting) throw new FailedPreconditionError(`service ${namespace}/${name} is being deleted`);
        const previousReplicas = cur.value.spec.replicas;
        const doc = manifestOf(cur.value);
        doc.spec = { ...doc.spec, replicas };
        assertOnlyReplicasChange(cur.value, doc);
        const { service, result } = await this.api.apply(doc, {
          expectedRevision: cur.modRevision,
          cause: `scale ${previousReplicas} → ${replicas}`,
        });
        return { service, result: result === 'unchanged' ? 'unchanged' : 'updated', previousReplicas };
      },
      { attempts: expectedRevision ? 1 : undefined },
    );
  }
}

/**
 * Scale must change nothing but the replica count. The human form re-parses to the same
 * canonical spec for every field of the schema; this check turns a field that does not round-trip
 * into a loud internal error instead of a silent change.
 */
function assertOnlyReplicasChange(svc: ServiceRecord, doc: { spec: unknown }): void {
  const v = validateServiceManifest(doc);
  if (!v.ok) return; // apply reports the issues (e.g. replicas out of range) with their paths
  if (canonicalJson({ ...v.value.spec, replicas: svc.spec.replicas }) !== canonicalJson(svc.spec)) {
    throw new Error(`scale of ${svc.meta.namespace}/${svc.meta.name}: the stored spec does not round-trip through its manifest form`);
  }
}

export function manageHandlers(
  api: ServiceApi,
  deps: { log: Logger; metrics?: ControllerMetrics | undefined; controllerId: string; isLeader: () => boolean },
): ManageAPIHandlers {
  const ops = new ServiceOps(api);
  const unary = unaryFactory(deps);
  return {
    DiffService: unary('DiffService', async (req) => {
      const { result, stored, proposed } = await ops.diff(api.parseDocument(req.manifestJson));
      return {
        result,
        ...(stored ? { stored: serviceToPb(stored.value, stored.modRevision) } : {}),
        proposed: serviceToPb(proposed.value, proposed.modRevision),
      };
    }),
    ScaleService: unary('ScaleService', async (req) => {
      const { service, result, previousReplicas } = await ops.scale(
        req.namespace || 'default',
        req.name,
        req.replicas,
        req.expectedRevision,
      );
      return { service: serviceToPb(service.value, service.modRevision), result, previousReplicas };
    }),
    GetVersion: unary('GetVersion', async () => ({
      version: BERTH_VERSION,
      apiVersion: API_VERSION,
      runtime: process.version,
      controllerId: deps.controllerId,
      leader: deps.isLeader(),
    })),
  };
}
