#!/usr/bin/env bash
# Installs everything the tests need and runs every test: lint and type checks,
# the TypeScript suites (core, client, conformance kit against every driver
# and its real backend), the Go interop tests with Argo's own client, and the
# container images built and run with podman. Ends with one summary line.
# Needs only Node and npm on a Debian/Ubuntu machine, as root (apt installs
# the backends' servers); idempotent and fast on a machine that ran it before.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$repo_root"
started=$SECONDS
step() { printf '\n== %s (%ss)\n' "$*" "$((SECONDS - started))"; }

results="$repo_root/.cache/test-results"
rm -rf "$results" shared/*/.test-results drivers/*/.test-results && mkdir -p "$results"

step "installing workspace packages"
pnpm install --frozen-lockfile

step "checking generated code, formatting and lint"
pnpm proto:check
pnpm lint

step "building and type-checking"
pnpm turbo run build typecheck --output-logs=errors-only

step "installing test backends and tools"
# Go first: the interop tests, the manifests checker and some backends' tools
# (Toxiproxy for the Azure tests) are Go programs.
source scripts/go-toolchain.sh
# Toxiproxy, the fault proxy the conformance kit puts before every backend.
bash shared/conformance/setup-toxiproxy.sh
for setup in drivers/*/test/setup-backend.sh; do
  echo "-- $setup"
  bash "$setup"
done
# The strict Kubernetes and Argo decoder and kustomize for the manifests tests.
bash shared/manifests-go/setup.sh
# An OpenTelemetry Collector (OTLP receiver, file exporter) for the telemetry test.
INTEROP_OTELCOL=$(bash shared/interop-go/collector/setup.sh | tail -n 1) && export INTEROP_OTELCOL

step "TypeScript tests (every package, one at a time)"
pnpm turbo run test --concurrency=1 --continue -- --reporter=default --reporter=json \
  --outputFile.json=.test-results/vitest.json || ts_failed=1
# turbo runs each script in its package folder; collect the JSON reports.
for report in shared/*/.test-results/vitest.json drivers/*/.test-results/vitest.json; do
  [ -f "$report" ] && cp "$report" "$results/vitest-$(basename "$(dirname "$(dirname "$report")")").json"
done
# The conformance kit's hardening results, one file per driver.
cp drivers/*/.test-results/hardening-*.json "$results/" 2>/dev/null || true

# Each driver's conformance run includes shared/interop-go's per-driver tests
# (Argo's own client); these are the rest: wrong servers must be caught,
# readiness timeouts, generated code up to date, the local driver's
# traces and metrics sent to a real collector, and the core's HTTP/2 server
# under argo-server's cancelled downloads on one connection and under a
# rapid-reset flood (the same for every driver: run on the local one).
step "Go interop tests that need no driver"
bash shared/interop-go/run.sh -json -run \
  '^(TestTelemetry|TestArgoClientTimesOutWithoutPlugin|TestScenariosPassOnCorrectServer|TestTruncatedOpenStreamIsDetected|TestSilentMissingStreamIsDetected|TestUploadWithoutSaveStreamFallsBackToSave|TestUploadRefusalNeedsAStatus|TestGeneratedCodeIsCurrent|TestUIDownloadsOnOneConnection|TestRapidResetFloodIsCut)$' \
  >"$results/go-test.json" || go_failed=1
node scripts/go-test-summary.mjs "$results/go-test.json"

# Not a measurement (figures are printed, not asserted): proves the harness
# still builds and runs end to end, through Argo's client and the Go baselines.
step "benchmark harness smoke run"
(cd bench/go && go vet ./...) || bench_failed=1
node bench/run.mjs --drivers local,s3 --mib 8 --rounds 1 --startups 1 --concurrent 4 \
  --record "$repo_root/.cache/bench-smoke" || bench_failed=1

step "container images (podman)"
bash docker/build.sh
bash docker/test.sh 2>&1 | tee "$results/containers.txt" || containers_failed=1

step "done"
node scripts/hardening-table.mjs "$results" || hardening_failed=1
node scripts/summarize-tests.mjs "$results" || counted_failures=1
if [ -n "${ts_failed:-}${go_failed:-}${containers_failed:-}${counted_failures:-}${hardening_failed:-}${bench_failed:-}" ]; then
  echo "some tests failed (TypeScript: ${ts_failed:-0}, Go: ${go_failed:-0}, containers: ${containers_failed:-0}, hardening: ${hardening_failed:-0}, benchmark harness: ${bench_failed:-0})" >&2
  exit 1
fi
