#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine with Node 20: the Debian packages in
# scripts/apt-packages.txt (servers the suites start on loopback ports), pnpm, and the workspace's
# npm dependencies. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg bin; do
  case "$pkg" in ''|'#'*) continue ;; esac
  [ -e "$bin" ] || missing+=("$pkg")
done < scripts/apt-packages.txt
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${missing[*]}. Install them (as root): apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "Installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

. scripts/env.sh
. scripts/ensure-pnpm.sh
pnpm install --frozen-lockfile
