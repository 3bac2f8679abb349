// One version everywhere: the package, the CLI and controller (BERTH_VERSION), the agent.
import { describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { BERTH_VERSION } from '../../proto/src/version.js';
import { AGENT_VERSION } from '../../agent/src/node-info.js';

describe('version', () => {
  it('BERTH_VERSION is package.json version, and the agent reports the same', () => {
    expect(BERTH_VERSION).toBe(pkg.version);
    expect(AGENT_VERSION).toBe(BERTH_VERSION);
  });
});
