# Sourced by every project script: puts a pinned Node LTS and pnpm on PATH.
# The machine's own Node is used when it is already the pinned major; otherwise
# both are installed from the npm registry into .tools/ (git-ignored), which
# needs nothing but the machine's npm.
NODE_VERSION=24.21.0
PNPM_VERSION=10.34.9

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$repo_root/.tools"

if [ "$("$tools/node_modules/.bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ] ||
  [ "$("$tools/node_modules/.bin/pnpm" --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "toolchain: installing node $NODE_VERSION and pnpm $PNPM_VERSION into .tools/" >&2
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-save --no-audit --no-fund --loglevel=error \
    "node@$NODE_VERSION" "pnpm@$PNPM_VERSION" >&2
fi
export PATH="$tools/node_modules/.bin:$PATH"
export npm_config_update_notifier=false
# turbo sends anonymous usage data unless told not to; this project runs in
# air-gapped CI and on developers' machines, so it never does.
export TURBO_TELEMETRY_DISABLED=1
