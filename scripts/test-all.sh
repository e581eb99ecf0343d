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
exit "$status"
