# Sourced by the scripts: makes node-gyp build native modules (sqlite3) against the local Node
# headers instead of downloading them, which this network does not allow.
if [ -z "${npm_config_nodedir:-}" ]; then
  _nodedir="$(node -p "require('path').resolve(process.execPath, '..', '..')")"
  if [ -f "$_nodedir/include/node/common.gypi" ]; then export npm_config_nodedir="$_nodedir"; fi
fi
