// Mutation testing of the bindings' store code (not run in CI: their suites start database
// servers). One package per run, named by MUTATE_PACKAGE; `pnpm mutation:bindings` runs
// mutation-bindings.mjs, which runs each package in turn and prints the scores.
import base from './stryker.config.mjs';

const pkg = process.env.MUTATE_PACKAGE ?? 'grant-cache-memory';
const STORE_CODE = {
  'binding-sequelize': ['packages/binding-sequelize/src/stores.ts', 'packages/binding-sequelize/src/models.ts'],
  'binding-mongoose': ['packages/binding-mongoose/src/stores.ts', 'packages/binding-mongoose/src/schemas.ts'],
  'grant-cache-memory': ['packages/grant-cache-memory/src/index.ts'],
  'grant-cache-redis': ['packages/grant-cache-redis/src/index.ts'],
  'grant-cache-memcached': ['packages/grant-cache-memcached/src/index.ts'],
};
if (!(pkg in STORE_CODE)) throw new Error(`MUTATE_PACKAGE must be one of ${Object.keys(STORE_CODE).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  // The package's vitest settings with an absolute global setup (see stryker.bindings.vitest.config.mjs).
  vitest: { configFile: 'packages/core/stryker.bindings.vitest.config.mjs', dir: `packages/${pkg}`, related: true },
  mutate: STORE_CODE[pkg],
  ignorePatterns: [...base.ignorePatterns.filter((p) => !p.startsWith('/packages/core/test')), `!/packages/${pkg}`, '/packages/*/.data'],
  tempDirName: `/tmp/portcullis-stryker-${pkg}`,
  // Database round trips: slower tests than core's.
  timeoutMS: 10000,
  concurrency: 1,
  thresholds: { high: 90, low: 75, break: null },
  jsonReporter: { fileName: `packages/core/reports/mutation-bindings/${pkg}.json` },
  htmlReporter: { fileName: `packages/core/reports/mutation-bindings/${pkg}.html` },
};
