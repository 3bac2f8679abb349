// CertificateAPI (join, renew) and TokenAPI (admin) over gRPC. The caller's identity comes from
// the guard (callerOf), which read it from the verified certificate.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../../proto/src/log.js';
import { PermissionDeniedError } from '../../../proto/src/errors.js';
import { describeIdentity } from '../../../proto/src/security/identity.js';
import type { CertificateAPIHandlers } from '../../../proto/gen/berth/v1/CertificateAPI.js';
import type { TokenAPIHandlers } from '../../../proto/gen/berth/v1/TokenAPI.js';
import type { JoinToken } from '../../../proto/gen/berth/v1/JoinToken.js';
import type { OperatorRole } from '../../../proto/src/security/identity.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import type { CertificateService } from '../security/certificates.js';
import type { TokenGrant, TokenRecord, TokenStore } from '../security/tokens.js';
import { callerOf } from '../../../proto/src/security/guard.js';
import { toStatus } from './errors.js';

export function tokenToPb(t: TokenRecord): JoinToken {
  return {
    id: t.id,
    role: t.role,
    operatorRole: t.operatorRole ?? '',
    namespaces: t.namespaces ?? [],
    user: t.user ?? '',
    createdAtMs: t.createdAtMs,
    expiresAtMs: t.expiresAtMs,
    revoked: t.revoked,
    uses: t.uses,
    createdBy: t.createdBy,
  };
}

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;

/** A unary handler that also sees the call (for the caller's identity); metrics and errors as every API. */
function unaryWithCall(deps: { log: Logger; metrics?: ControllerMetrics | undefined }) {
  return <Req, Res>(method: string, fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): Unary<Req, Res> =>
    (call, callback) => {
      const end = deps.metrics?.apiDuration.startTimer({ method });
      fn(call.request, call).then(
        (res) => {
          end?.({ code: 'OK' });
          deps.metrics?.apiRequests.labels(method, 'OK').inc();
          callback(null, res);
        },
        (err: unknown) => {
          const st = toStatus(err);
          const code = grpc.status[st.code ?? grpc.status.UNKNOWN] ?? 'UNKNOWN';
          end?.({ code });
          deps.metrics?.apiRequests.labels(method, code).inc();
          if (st.code === grpc.status.INTERNAL)
            deps.log.error({ method, err: err instanceof Error ? err.stack : String(err) }, 'internal error');
          else if (method === 'Join') deps.log.warn({ peer: call.getPeer(), reason: st.details }, 'join refused');
          callback(st, null);
        },
      );
    };
}

export function certificateHandlers(
  certs: CertificateService,
  deps: { log: Logger; metrics?: ControllerMetrics | undefined },
): CertificateAPIHandlers {
  const unary = unaryWithCall(deps);
  return {
    Join: unary('Join', async (req) => {
      const issued = await certs.join(req.token, req.csrPem, req.nodeId);
      deps.log.info({ identity: issued.identity }, 'joined');
      return issued;
    }),
    Renew: unary('Renew', async (req, call) => {
      const who = callerOf(call);
      if (!who) throw new PermissionDeniedError('renewal needs a current certificate of this cluster');
      return certs.renew(who, req.csrPem);
    }),
    RevokeCertificate: unary('RevokeCertificate', async (req) => certs.revokeSerial(req.serial)),
  };
}

export function tokenHandlers(tokens: TokenStore, deps: { log: Logger; metrics?: ControllerMetrics | undefined }): TokenAPIHandlers {
  const unary = unaryWithCall(deps);
  return {
    CreateToken: unary('CreateToken', async (req, call) => {
      const { record, token } = await tokens.create(
        {
          role: req.role as TokenGrant['role'],
          operatorRole: (req.operatorRole || undefined) as OperatorRole | undefined,
          namespaces: req.namespaces,
          user: req.user || undefined,
        },
        req.ttlMs,
        describeIdentity(callerOf(call)),
      );
      return { token: tokenToPb(record), secret: token };
    }),
    ListTokens: unary('ListTokens', async () => ({ tokens: (await tokens.list()).map(tokenToPb) })),
    RevokeToken: unary('RevokeToken', async (req) => tokenToPb(await tokens.revoke(req.id))),
    RotateToken: unary('RotateToken', async (req, call) => {
      const { record, token } = await tokens.rotate(req.id, describeIdentity(callerOf(call)));
      return { token: tokenToPb(record), secret: token };
    }),
  };
}
