// The vitest project StrykerJS runs for `pnpm mutation:bindings` (stryker.bindings.config.mjs):
// the package's own settings (packages/<MUTATE_PACKAGE>/vitest.config.ts), with its global setup
// given as an absolute path. The runner loads one config with the sandbox root as vitest's root,
// so the package's relative `test/global-setup.ts` (which starts its database servers) would be
// looked up at the sandbox root and the dry run would fail to load it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';
import { sourceAliases } from '../../vitest.shared.js';

const pkg = process.env.MUTATE_PACKAGE ?? 'grant-cache-memory';
const globalSetup = fileURLToPath(new URL(`../${pkg}/test/global-setup.ts`, import.meta.url));

export default defineProject({
  resolve: { alias: sourceAliases },
  test: {
    name: pkg,
    include: ['test/**/*.test.ts'],
    ...(existsSync(globalSetup) ? { globalSetup: [globalSetup] } : {}),
    testTimeout: 30_000,
    // binding-mongoose's first run builds its wire server with Maven.
    hookTimeout: pkg === 'binding-mongoose' ? 660_000 : 120_000,
  },
});
