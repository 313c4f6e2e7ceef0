#!/usr/bin/env bash
# Installs the Azure test backends, idempotently:
# - Azurite, the Azure Storage emulator, pinned as an exact devDependency of
#   this package (3.35.0: 3.37.0 stages blocks about 4x slower), so the
#   workspace install brings it; this only checks that it is there.
# - Toxiproxy (Shopify's TCP fault proxy), through the conformance kit's
#   setup-toxiproxy.sh, for the test of a download whose connection is cut mid-body.
# Prints the toxiproxy-server path, then the Azurite blob server's main.js on
# the last line.
set -euo pipefail

AZURITE_VERSION=3.35.0
here=$(cd "$(dirname "$0")" && pwd)
package=$(dirname "$here")
repo_root=$(cd "$package/../.." && pwd)

azurite="$package/node_modules/azurite"
installed=$(node -p "require('$azurite/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$AZURITE_VERSION" ]; then
  echo "setup-backend: azurite $AZURITE_VERSION is not installed in $package/node_modules (found: ${installed:-nothing}); run 'pnpm install' at the repository root" >&2
  exit 1
fi

# Toxiproxy is shared with the conformance kit's network-fault scenarios.
toxiproxy=$(bash "$repo_root/shared/conformance/setup-toxiproxy.sh" | tail -n 1)

echo "$toxiproxy"
echo "$azurite/dist/src/blob/main.js"
