#!/usr/bin/env bash
# `pnpm check:packages`: builds every publishable package (packages/*), packs it the way it is
# published (`pnpm pack`: workspace:^ ranges become versions, publishConfig.exports replaces the
# workspace-only `source` condition), checks the tarball's manifest and LICENSE, then runs publint
# (--strict: warnings fail too) and @arethetypeswrong/cli (--profile esm-only: the packages are
# ESM-only, see "Packaging" in the root README) on each tarball. Exits non-zero on any finding.
# PACK_DIR=<dir> keeps the tarballs there (the consumer test packs the same way).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

pnpm turbo run build --filter='./packages/*'

out="${PACK_DIR:-}"
if [ -z "$out" ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

status=0
fail() {
  echo "check-packages: $1: $2" >&2
  status=1
}

for dir in packages/*/; do
  dir="${dir%/}"
  [ -f "$dir/package.json" ] || continue
  if [ "$(node -p "Boolean(require('./$dir/package.json').private)")" = true ]; then continue; fi
  name="$(node -p "require('./$dir/package.json').name")"
  echo "== $name ($dir)"
  tarball="$(cd "$dir" && pnpm pack --pack-destination "$out" --json | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).filename));
  ')"

  # The packed manifest: no workspace-only condition, no workspace: protocol, the metadata npm shows.
  tar -xzOf "$tarball" package/package.json | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const pkg = JSON.parse(s);
      const problems = [];
      if (/"source"\s*:/.test(JSON.stringify(pkg.exports ?? {}))) problems.push("the published exports keep the source condition");
      for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
        for (const [dep, range] of Object.entries(pkg[field] ?? {})) {
          if (String(range).startsWith("workspace:")) problems.push(`${field}.${dep} is ${range}`);
        }
      }
      for (const field of ["license", "repository", "homepage", "bugs", "keywords", "engines"]) {
        if (pkg[field] === undefined) problems.push(`no ${field}`);
      }
      if (pkg.type !== "module") problems.push("not type: module");
      for (const p of problems) console.error(p);
      process.exit(problems.length ? 1 : 0);
    });
  ' || fail "$name" "packed package.json"
  files="$(tar -tzf "$tarball")"
  for f in package/LICENSE package/README.md package/dist/index.js package/dist/index.d.ts; do
    grep -qx "$f" <<<"$files" || fail "$name" "the tarball has no ${f#package/}"
  done
  tar -xzOf "$tarball" package/LICENSE | cmp -s - LICENSE || fail "$name" "its LICENSE differs from the root LICENSE"

  pnpm exec publint run "$tarball" --strict || fail "$name" "publint"
  pnpm exec attw "$tarball" --profile esm-only --no-emoji --no-color --format table-flipped || fail "$name" "attw"
done

if [ "$status" -ne 0 ]; then echo "check-packages: FAILED" >&2; else echo "check-packages: all packages pass"; fi
exit "$status"
