// The cluster's revocation list as this agent knows it: the serials the leader sends over the
// Dispatcher session (complete each time: after Welcome and whenever the list changes), kept in
// the state dir so that a restarted agent refuses them before its session is back. The agent's
// /metrics endpoint asks it (proto/src/metrics-http.ts); its AgentAPI answers controllers only.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Identity } from '../../proto/src/security/identity.js';
import type { Revocations } from '../../proto/src/security/guard.js';
import type { Logger } from '../../proto/src/log.js';

/** Serials as the controller stores them: lower-case hex without leading zeros. */
function normal(serial: string): string {
  return serial.toLowerCase().replace(/^0+(?=.)/, '');
}

export class AgentRevocations implements Revocations {
  private serials = new Set<string>();

  constructor(private readonly deps: { file?: string | undefined; log: Logger }) {
    if (!deps.file) return;
    try {
      const saved = JSON.parse(readFileSync(deps.file, 'utf8')) as { serials?: unknown };
      if (Array.isArray(saved.serials)) this.serials = new Set(saved.serials.filter((s): s is string => typeof s === 'string').map(normal));
    } catch {
      // None saved yet (first start) or unreadable: the session delivers the list.
    }
  }

  get size(): number {
    return this.serials.size;
  }

  /** The leader's complete list replaces what was known. */
  replace(serials: string[]): void {
    const next = new Set(serials.map(normal));
    if (next.size === this.serials.size && [...next].every((s) => this.serials.has(s))) return;
    this.serials = next;
    this.deps.log.info({ revoked: next.size }, 'revocation list updated');
    if (!this.deps.file) return;
    try {
      const tmp = `${this.deps.file}.tmp`;
      writeFileSync(tmp, JSON.stringify({ serials: [...next].sort() }), { mode: 0o600 });
      renameSync(tmp, this.deps.file);
    } catch (err) {
      this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not save the revocation list');
    }
  }

  refused(_identity: Identity, serial: string | undefined): string | undefined {
    return serial && this.serials.has(normal(serial)) ? 'certificate revoked' : undefined;
  }
}
