// Mutation testing of core (StrykerJS 9.6 with the vitest runner; 10.x needs Node 22).
// Run from the repository root: `pnpm mutation` (see package.json). The sandbox is a copy of the
// few directories core's tests import (core itself, the testkit's sources, the shared vitest
// aliases), written under /tmp so a run never touches the working tree that others edit.
// MUTATION.md, next to this file, lists the surviving mutants that are equivalent and why;
// mutation-gate.mjs fails the run when a mutant survives in one of the security checks.

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'pnpm',
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'packages/core/vitest.config.ts', dir: 'packages/core', related: true },
  coverageAnalysis: 'perTest',
  mutate: [
    'packages/core/src/endpoints/**/*.ts',
    'packages/core/src/grants/**/*.ts',
    'packages/core/src/adapters/**/*.ts',
    'packages/core/src/params.ts',
    'packages/core/src/crypto.ts',
    // What the endpoints share: client authentication, scope and grant policy (endpoints/shared.ts
    // until the split into these files).
    'packages/core/src/client-auth.ts',
    'packages/core/src/policy.ts',
    '!packages/core/src/grants/types.ts',
  ],
  ignorePatterns: [
    '/*',
    '!/package.json',
    '!/tsconfig.base.json',
    '!/vitest.shared.ts',
    '!/packages',
    '/packages/*',
    '!/packages/core',
    '!/packages/binding-testkit',
    '!/packages/grant-cache-memory',
    '!/packages/grant-cache-redis',
    '!/packages/grant-cache-memcached',
    '/packages/core/reports',
    '/packages/core/.stryker-tmp',
    '/packages/core/dist',
    // Property-based fuzzing draws new inputs on every run: not a stable oracle for a mutant, and
    // by far the slowest tests. `pnpm fuzz` runs it on its own.
    '/packages/core/test/fuzz',
    // Tests that cannot kill a mutant of the files above but cost seconds on every run that
    // includes them (static mutants run everything): child processes (no coverage is seen from
    // them), real Redis and memcached for cache-grant.ts, import-graph and API-docs checks, and
    // type-level tests.
    '/packages/core/test/process-crash.test.ts',
    '/packages/core/test/cache-grant.test.ts',
    '/packages/core/test/architecture.test.ts',
    '/packages/core/test/api-docs.test.ts',
    '/packages/core/test/express-types.test.ts',
  ],
  tempDirName: '/tmp/portcullis-stryker-core',
  cleanTempDir: 'always',
  concurrency: 2,
  timeoutMS: 3000,
  // Static mutants (module-level constants: the PKCE and token68 regexes, hash prefixes, the random
  // pool size) run the whole suite each, several times the cost of all others together on a 2-core
  // machine; the tests that pin them are checked by hand (MUTATION.md). `pnpm mutation:static` runs them.
  ignoreStatic: process.env.MUTATION_STATIC !== '1',
  disableTypeChecks: true,
  thresholds: { high: 95, low: 90, break: 90 },
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'packages/core/reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'packages/core/reports/mutation/index.html' },
  incremental: false,
};
