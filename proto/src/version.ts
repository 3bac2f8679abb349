// The Berth release every component reports (`berth version`, agent descriptions). Kept equal to
// package.json's version by a unit test (test/unit/version.test.ts).
export const BERTH_VERSION = '0.1.0';
