#!/usr/bin/env bash
# The README's first command: installs what is missing (compilers for sqlite3, pnpm, npm
# dependencies) and starts the example provider on embedded defaults (SQLite file + in-memory
# grant cache) at http://127.0.0.1:3000 unless PORT/ISSUER say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --build-only
. scripts/env.sh
exec pnpm --filter @portcullis/example-provider start "$@"
