// Mutation testing of core (StrykerJS 9.6 with the vitest runner; 10.x needs Node 22).
// Run from the repository root: `pnpm mutation` (see package.json). The sandbox is a copy of the
// few directories core's tests import (core itself, the testkit's sources, the shared vitest
// aliases), written under /tmp so a run never touches the working tree that others edit.
// MUTATION.md, next to this file, lists the surviving mutants that are equivalent and why;
// mutation-gate.mjs fails the run when a mutant survives in one of the security checks.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
const options = {
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
  // A mutant whose tests run longer than this (plus 1.5 times their normal time) counts as timed
  // out, which StrykerJS counts as detected. 3 s let a loaded machine (other work beside the run)
  // turn about 40 survivors into "timeouts" in one run; 10 s costs a few minutes on the ~50 real
  // hangs (unending loops, request bodies never read) and keeps the verdict independent of load.
  timeoutMS: 10000,
  // Static mutants (module-level constants: the PKCE and token68 regexes, hash prefixes, the random
  // pool size) run the whole suite each, several times the cost of all others together on a 2-core
  // machine; the tests that pin them are checked by hand (MUTATION.md). `pnpm mutation:static` runs them.
  ignoreStatic: process.env.MUTATION_STATIC !== '1',
  disableTypeChecks: true,
  thresholds: { high: 95, low: 90, break: 90 },
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'packages/core/reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'packages/core/reports/mutation/index.html' },
  // Incremental mode (MUTATION.md, "Incremental runs"): the committed baseline holds the last
  // run's result per mutant and per test; StrykerJS re-tests only mutants whose code changed and
  // those whose killing or covering tests changed. `force` (a full run, which rewrites the baseline)
  // is set when anything StrykerJS does not diff changed since the baseline was made.
  incremental: true,
  incrementalFile: 'packages/core/mutation-baseline.json',
};

// What StrykerJS's incremental diff cannot see: it compares test files (*.test.ts) and the code of
// each mutant, but not the helpers tests import, the sources next to a mutant (other lines of a
// mutated file, core's files that are not mutated), the testkit, the lockfile, or these options.
// A change to any of them can change the fate of a mutant whose own code is untouched, so its
// fingerprint is kept in the baseline (written by mutation-gate.mjs after a completed run), and any
// difference forces a full run. Only a change confined to test files and documentation reuses results.
const root = fileURLToPath(new URL('../..', import.meta.url));
const SKIP_DIRS = new Set(['node_modules', 'dist', 'reports', '.turbo', '.stryker-tmp', 'coverage', 'fuzz']);
function inputFiles() {
  const out = ['package.json', 'tsconfig.base.json', 'vitest.shared.ts', 'pnpm-lock.yaml'];
  const walk = (rel) => {
    for (const d of readdirSync(`${root}${rel}`, { withFileTypes: true })) {
      const path = `${rel}/${d.name}`;
      if (d.isDirectory()) {
        if (!SKIP_DIRS.has(d.name) && !d.name.startsWith('.')) walk(path);
      } else if (d.isFile() && !/\.md$/.test(d.name) && !/^packages\/core\/test\/.*\.test\.ts$/.test(path)) {
        // The other packages' tests: never run here (only core's vitest project is loaded), and core's
        // tests import only their sources, so they cannot change a mutant's fate.
        if (!/^packages\/core\//.test(path) && /\/test\//.test(path)) continue;
        // Not what a mutant's fate depends on: the mutation tooling besides these options.
        if (!/^packages\/core\/(mutation-[^/]*|stryker\.[^/]*)$/.test(path)) out.push(path);
      }
    }
  };
  for (const dir of [
    'packages/core',
    'packages/binding-testkit',
    'packages/grant-cache-memory',
    'packages/grant-cache-redis',
    'packages/grant-cache-memcached',
  ]) {
    if (existsSync(`${root}${dir}`)) walk(dir);
  }
  return out.sort();
}
function fingerprint() {
  const h = createHash('sha256');
  const { incremental: _i, incrementalFile: _f, force: _force, reporters: _r, concurrency: _c, ...rest } = options;
  h.update(JSON.stringify(rest));
  for (const f of inputFiles()) {
    h.update(`\0${f}\0`);
    if (existsSync(`${root}${f}`)) h.update(readFileSync(`${root}${f}`));
  }
  return h.digest('hex');
}
function baselineInputs() {
  try {
    return JSON.parse(readFileSync(`${root}${options.incrementalFile}`, 'utf8')).portcullisInputs ?? null;
  } catch {
    return null;
  }
}
// stryker.bindings.config.mjs builds on these options for the bindings' store code: no baseline.
const forBindings = process.env.MUTATE_PACKAGE !== undefined || process.argv.some((a) => a.includes('stryker.bindings.config'));
// A run over some files only (`--mutate`) must not replace the baseline of the whole set.
if (process.argv.some((a) => a === '--mutate' || a === '-m' || a.startsWith('--mutate='))) {
  options.incrementalFile = 'packages/core/reports/mutation/subset-incremental.json';
}
if (forBindings) options.incremental = false;
const inputs = forBindings ? '' : fingerprint();
const previous = baselineInputs();
const reason =
  process.env.MUTATION_FORCE === '1'
    ? 'MUTATION_FORCE=1'
    : previous === null
      ? 'no baseline, or one without an input fingerprint'
      : previous !== inputs
        ? 'files other than tests changed since the baseline was made'
        : null;
if (!forBindings && reason && process.env.MUTATION_REQUIRE_BASELINE === '1') {
  // The test command (scripts/test-all.sh) runs the gate against the committed baseline only: a full
  // run takes about an hour on two cores, too long for CI. A stale baseline fails at once instead.
  console.error(
    `mutation: packages/core/mutation-baseline.json is not current (${reason}); run \`pnpm mutation\` and commit the baseline it writes`,
  );
  process.exit(1);
}
if (forBindings) {
  // Not incremental: nothing to compare or record.
} else if (reason) {
  options.force = true;
  console.error(`mutation: full run (${reason})`);
} else {
  console.error('mutation: incremental run against the committed baseline');
}
if (!forBindings) {
  // For mutation-gate.mjs, which stamps the baseline with it once the run has completed.
  mkdirSync(`${root}packages/core/reports/mutation`, { recursive: true });
  writeFileSync(`${root}packages/core/reports/mutation/inputs.txt`, `${inputs}\n`);
}

export default options;
