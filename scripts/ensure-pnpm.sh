# Sourced: makes sure pnpm 12.4.2 (the version pinned in package.json) is on PATH.
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "12.4.2" ]; then
  npm install -g pnpm@12.4.2 >/dev/null
fi
