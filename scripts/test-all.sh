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
pnpm vitest run "$@"
