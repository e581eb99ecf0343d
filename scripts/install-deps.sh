#!/usr/bin/env bash
# Installs what Portcullis needs on a fresh Debian machine with Node 20 (as root): the Debian
# packages in scripts/apt-packages.txt, pnpm, and the workspace's npm dependencies. Safe to run
# again: it installs only what is missing.
#   --build-only   only the packages `pnpm install` needs (compilers for sqlite3), not the servers.
set -euo pipefail
cd "$(dirname "$0")/.."

build_only=0
[ "${1:-}" = "--build-only" ] && build_only=1

missing=()
while read -r pkg bin kind; do
  case "$pkg" in ''|'#'*) continue ;; esac
  [ "$build_only" = 1 ] && [ "${kind:-}" != "build" ] && continue
  [ -e "$bin" ] || missing+=("$pkg")
done < scripts/apt-packages.txt
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${missing[*]}. Install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "Installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

. scripts/env.sh
. scripts/ensure-pnpm.sh
pnpm install --frozen-lockfile

# The MongoDB wire-protocol test server (mongo-java-server, from Maven Central). The binding's
# test setup builds it too when target/ is missing; building here keeps the test run quiet.
if [ "$build_only" = 0 ] && command -v mvn >/dev/null 2>&1; then
  (cd packages/binding-mongoose/mongo-server && mvn -q -B package -DskipTests)
fi
