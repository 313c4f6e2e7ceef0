#!/usr/bin/env bash
# The main job on an embedded default: the local reference plugin serves a
# socket, and the test client drives it through the calls Argo makes (an
# output saved, an input loaded, the UI browsing and downloading, garbage
# collection), printing each command and what came back. Installs what it
# needs (Node 24 and pnpm into .tools/, the workspace's packages) on first run.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$repo_root"

echo "== preparing (first run installs and builds; later runs take seconds)" >&2
# The install's and turbo's own output is shown only when they fail: the demo
# prints what Argo's calls do, and nothing a newcomer has to skip over.
quietly() {
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "demo: \"$*\" failed (its output is above)" >&2
    exit 1
  fi
  rm -f "$log"
}
quietly pnpm install --frozen-lockfile
quietly pnpm turbo run build --filter=@argo-artifact-drivers/driver-local --filter=@argo-artifact-drivers/client

demo=$(mktemp -d /tmp/artifact-demo.XXXXXX)
socket="$demo/artifact-plugins/local/socket"
store="$demo/store"
mkdir -p "$store" "$demo/work"
printf 'root: %s\n' "$store" >"$demo/local.yaml"
plugin_log="$demo/plugin.log"

node drivers/local/dist/main.js "$socket" 2>"$plugin_log" &
plugin_pid=$!
trap 'kill "$plugin_pid" 2>/dev/null || true; rm -rf "$demo"' EXIT

client() {
  printf '\n$ artifact-client %s\n' "$*"
  node shared/client/dist/main.js "$@" --socket "$socket" --config "$demo/local.yaml" --no-progress
}

echo
echo "== a plugin is serving ArtifactService on $socket (configuration: root: $store)"

# What the executor does with an output artifact: tar + gzip it, then Save.
mkdir -p "$demo/work/out/reports"
echo "hello from a workflow step" >"$demo/work/out/hello.txt"
seq 1 1000 >"$demo/work/out/reports/numbers.csv"
tar -czf "$demo/work/out.tgz" -C "$demo/work" out
client caps
client save --key my-workflow/my-pod/out.tgz --path "$demo/work/out.tgz"
# archive: none: a directory saved as a tree of objects.
client save --key my-workflow/my-pod/site --path "$demo/work/out"

# What the init container does with an input artifact: Load to a path.
client load --key my-workflow/my-pod/out.tgz --path "$demo/work/in.tgz"
echo "(loaded archive holds: $(tar -tzf "$demo/work/in.tgz" | tr '\n' ' '))"

# What argo-server does when a user opens an artifact in the UI.
client is-dir --key my-workflow/my-pod/site
client ls --key my-workflow/my-pod/site
client cat --key my-workflow/my-pod/site/hello.txt
echo "streamed upload (SaveStream)" | client put --key my-workflow/my-pod/uploaded.txt
client cat --key my-workflow/my-pod/uploaded.txt

# A missing input artifact: a clear error, and the client exits non-zero.
client load --key my-workflow/other-pod/missing.tgz --path "$demo/work/missing.tgz" || echo "(exit status $?)"

# Garbage collection: Delete, twice (idempotent).
client rm --key my-workflow/my-pod/site
client rm --key my-workflow/my-pod/site
client is-dir --key my-workflow/my-pod/site

echo
echo "== stopping the plugin with SIGTERM, as Kubernetes does"
kill -TERM "$plugin_pid"
wait "$plugin_pid" && echo "plugin exited with status 0; socket removed: $([ -e "$socket" ] && echo no || echo yes)"
echo
echo "== the plugin's log (one JSON line per call, on stderr):"
cat "$plugin_log"
