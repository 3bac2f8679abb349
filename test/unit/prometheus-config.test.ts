// berth up's Prometheus config and the shipped deploy/prometheus/prometheus.yml say the same
// (jobs, schemes, server names, discovery paths), each over mTLS where the components serve it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { localPrometheusConfig } from '../../cli/src/local/prometheus.js';

interface Cfg {
  scrape_configs: Array<{
    job_name: string;
    scheme?: string;
    tls_config?: Record<string, string>;
    http_sd_configs: Array<{ url: string; tls_config?: Record<string, string> }>;
  }>;
}

const shape = (c: Cfg): unknown =>
  c.scrape_configs.map((j) => ({
    job: j.job_name,
    scheme: j.scheme ?? 'http',
    serverName: j.tls_config?.['server_name'],
    sd: j.http_sd_configs.map((s) => ({
      url: new URL(s.url).protocol + new URL(s.url).pathname,
      serverName: s.tls_config?.['server_name'],
    })),
  }));

describe('Prometheus configuration', () => {
  const shipped = parse(readFileSync(join(import.meta.dirname, '../../deploy/prometheus/prometheus.yml'), 'utf8')) as Cfg;
  const local = parse(localPrometheusConfig({ controllerMetrics: '127.0.0.1:9470', credentialDir: '/d/tls/prometheus' })) as Cfg;

  it('berth up writes what the shipped file says, with its own address and credential', () => {
    expect(shape(local)).toEqual(shape(shipped));
    for (const j of local.scrape_configs)
      for (const t of [j.tls_config, ...j.http_sd_configs.map((s) => s.tls_config)].filter((x) => x !== undefined))
        expect(t).toMatchObject({
          ca_file: '/d/tls/prometheus/ca.pem',
          cert_file: '/d/tls/prometheus/cert.pem',
          key_file: '/d/tls/prometheus/key.pem',
        });
  });

  it('discovery is https everywhere; controllers and agents are scraped over https with a client certificate', () => {
    for (const c of [shipped, local]) {
      for (const j of c.scrape_configs) for (const s of j.http_sd_configs) expect(s.url.startsWith('https://'), j.job_name).toBe(true);
      for (const name of ['berth-controllers', 'berth-agents']) {
        const j = c.scrape_configs.find((x) => x.job_name === name)!;
        expect(j.scheme).toBe('https');
        expect(Object.keys(j.tls_config ?? {}).sort()).toEqual(['ca_file', 'cert_file', 'key_file', 'server_name']);
      }
    }
  });
});
