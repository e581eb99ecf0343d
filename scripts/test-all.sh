#!/usr/bin/env bash
# The README's test command. On a fresh Debian machine with Node 20 (as root) it installs what the
# suites need, then typechecks, lints and runs every vitest project listed in vitest.workspace.ts.
# Each project's global setup starts its own servers (PostgreSQL, MariaDB, Redis and a Redis
# Cluster, memcached, the MongoDB wire server) on free loopback ports with throwaway data
# directories, unless DATABASE_URL-style variables point at existing ones.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
. scripts/env.sh
pnpm turbo run typecheck lint
# Builds and packs every publishable package; publint and attw check each tarball.
bash scripts/check-packages.sh
report="$(mktemp -d)/vitest.json"
status=0
pnpm vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One closing line a CI log reader understands: "tests: N passed, N failed, N skipped".
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
# Mutation testing of core (packages/core/MUTATION.md): StrykerJS against the committed baseline
# (mutants whose code or tests changed are re-tested), then the gate: at least 90% overall and no
# survivor in the security checks. A baseline that does not match core's sources fails at once.
# PORTCULLIS_SKIP_MUTATION=1 skips it, as does running only some test files or a red vitest run.
if [ "$status" -eq 0 ] && [ "$#" -eq 0 ] && [ "${PORTCULLIS_SKIP_MUTATION:-0}" != 1 ]; then
  MUTATION_REQUIRE_BASELINE=1 pnpm mutation || status=$?
else
  echo "mutation testing skipped"
fi
exit "$status"
