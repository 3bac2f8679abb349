// The Prometheus configuration of a local cluster (`berth up` writes it next to its data): the
// shipped deploy/prometheus/prometheus.yml with this cluster's controller metrics address and the
// absolute paths of its monitor credential. Discovery (/sd) and the scrapes of controllers and
// agents go over mTLS (docs/security.md, "Metrics and service discovery"); the replicas' own
// metrics are scraped as they serve them. test/unit/prometheus-config.test.ts keeps both in step.
import { join } from 'node:path';
import { stringify } from 'yaml';
import { AGENT_TLS_NAME, CONTROLLER_TLS_NAME } from '../../../proto/src/security/tls.js';

export interface LocalPrometheus {
  /** host:port of the controller's --metrics. */
  controllerMetrics: string;
  /** A folder with ca.pem, cert.pem, key.pem of a monitor credential. */
  credentialDir: string;
  /** Rule files to load (absolute), if any. */
  ruleFiles?: string[];
  scrapeInterval?: string;
}

export function localPrometheusConfig(p: LocalPrometheus): string {
  const tls = (serverName: string): Record<string, string> => ({
    ca_file: join(p.credentialDir, 'ca.pem'),
    cert_file: join(p.credentialDir, 'cert.pem'),
    key_file: join(p.credentialDir, 'key.pem'),
    server_name: serverName,
  });
  const sd = (path: string): Record<string, unknown> => ({
    url: `https://${p.controllerMetrics}/sd/${path}`,
    refresh_interval: '30s',
    tls_config: tls(CONTROLLER_TLS_NAME),
  });
  const interval = p.scrapeInterval ?? '15s';
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    ...(p.ruleFiles && p.ruleFiles.length > 0 ? { rule_files: p.ruleFiles } : {}),
    scrape_configs: [
      { job_name: 'berth-controllers', scheme: 'https', tls_config: tls(CONTROLLER_TLS_NAME), http_sd_configs: [sd('controllers')] },
      { job_name: 'berth-agents', scheme: 'https', tls_config: tls(AGENT_TLS_NAME), http_sd_configs: [sd('agents')] },
      { job_name: 'berth-tasks', http_sd_configs: [sd('tasks')] },
    ],
  };
  return `# Written by berth up: Prometheus for this local cluster (prometheus --config.file=THIS_FILE).\n${stringify(config)}`;
}
