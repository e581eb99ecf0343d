// `pnpm mutation:bindings`: StrykerJS over each binding's and grant cache's store code in turn
// (stryker.bindings.config.mjs), then one line per file with its mutation score. Not run in CI:
// the suites start their database servers. Pass package names to run only those.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const all = ['grant-cache-memory', 'grant-cache-redis', 'grant-cache-memcached', 'binding-sequelize', 'binding-mongoose'];
const packages = process.argv.length > 2 ? process.argv.slice(2) : all;
let failed = false;
for (const pkg of packages) {
  const run = spawnSync('pnpm', ['exec', 'stryker', 'run', 'packages/core/stryker.bindings.config.mjs'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, MUTATE_PACKAGE: pkg },
  });
  if (run.status !== 0) failed = true;
}
console.log('\nmutation scores (killed + timeout) / (all - ignored):');
for (const pkg of packages) {
  const file = `${root}packages/core/reports/mutation-bindings/${pkg}.json`;
  if (!existsSync(file)) {
    console.log(`  ${pkg}: no report`);
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  for (const [path, f] of Object.entries(report.files)) {
    const counted = f.mutants.filter((m) => !['Ignored', 'CompileError', 'RuntimeError'].includes(m.status));
    const detected = counted.filter((m) => m.status === 'Killed' || m.status === 'Timeout').length;
    const pct = counted.length ? ((100 * detected) / counted.length).toFixed(1) : 'n/a';
    console.log(`  ${path.replace(/^.*packages\//, '')}: ${pct}% (${detected}/${counted.length})`);
  }
}
process.exit(failed ? 1 : 0);
