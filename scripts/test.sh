#!/usr/bin/env bash
# The whole suite, as CI runs it (`npm test`): lint, type-check, then the unit, integration and
# end-to-end projects. The testbed's real components are provisioned (cached in $JUDE_CACHE_DIR) and
# started once for both integration and e2e, and stopped at the end unless they were already running.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }

step "lint"
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check . ; exit 1; }
step "typecheck"
npx tsc -p tsconfig.json --noEmit
step "unit"
npx vitest run --project unit

step "testbed up"
already_up=$(node test/testbed/cli.ts status >/dev/null 2>&1 && echo yes || echo no)
if [ "$already_up" = no ]; then trap 'step "testbed down"; node test/testbed/cli.ts down' EXIT; fi
node test/testbed/cli.ts up
step "integration"
npx vitest run --project integration
step "e2e"
npx vitest run --project e2e
