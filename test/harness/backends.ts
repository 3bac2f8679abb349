// How the tests' own clients reach the harness's etcd and NATS: with the client certificate the
// backends' CA issued (cli/src/local/pki.ts ensureBackendPki), as a controller does.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'nats';
import type { EtcdStoreOptions } from '../../controller/src/store/etcd-store.js';
import type { Etcd, Nats } from '../../cli/src/local/services.js';
import type { TlsFiles } from '../../cli/src/local/pki.js';

function pems(f: TlsFiles): { caPem: string; certPem: string; keyPem: string } {
  return { caPem: readFileSync(f.caFile, 'utf8'), certPem: readFileSync(f.certFile, 'utf8'), keyPem: readFileSync(f.keyFile, 'utf8') };
}

/** EtcdStore / etcdClient options for this etcd (its client certificate when it runs TLS). */
export function etcdStoreOptions(etcd: Etcd): EtcdStoreOptions {
  return { endpoints: [etcd.endpoint], ...(etcd.tls ? { tls: pems(etcd.tls) } : {}) };
}

/** nats.js connect options for this nats-server. */
export function natsClientOptions(nats: Nats): ConnectionOptions {
  if (!nats.tls) return { servers: nats.url };
  const p = pems(nats.tls);
  return { servers: nats.url, tls: { ca: p.caPem, cert: p.certPem, key: p.keyPem } };
}

/** The controller's flags for this etcd and NATS. */
export function controllerBackendFlags(etcd: Etcd, nats: Nats | undefined): string[] {
  const flags = ['--etcd', etcd.endpoint];
  if (etcd.tls) flags.push('--etcd-cacert', etcd.tls.caFile, '--etcd-cert', etcd.tls.certFile, '--etcd-key', etcd.tls.keyFile);
  if (nats) {
    flags.push('--nats', nats.url);
    if (nats.tls) flags.push('--nats-cacert', nats.tls.caFile, '--nats-cert', nats.tls.certFile, '--nats-key', nats.tls.keyFile);
  } else flags.push('--nats', '');
  return flags;
}
