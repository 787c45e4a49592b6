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
results=$(mktemp -d)
already_up=yes # until the testbed step knows better: nothing to stop before it
# run_project PROJECT [REPORT]: one JSON report per run in $results (the closing line sums them all),
# and beside it the errors outside any test, which the JSON report leaves out.
run_project() {
  JUDE_RUN_ERRORS_FILE="$results/${2:-$1}.run-errors.json" npx vitest run --project "$1" \
    --reporter=default --reporter=json --outputFile.json="$results/${2:-$1}.json" \
    --reporter=./scripts/run-errors-reporter.ts
}
# On the way out of a failed run: stop the testbed if this run started it, then the closing lines,
# which repeat every failed test so the end of a long CI log names them.
finish() {
  local rc=$?
  if [ "$already_up" = no ]; then step "testbed down"; node test/testbed/cli.ts down || true; fi
  node scripts/test-report.ts "$results" || true
  exit "$rc"
}
trap finish EXIT
step "unit"
run_project unit

step "testbed up"
already_up=$(node test/testbed/cli.ts status >/dev/null 2>&1 && echo yes || echo no)
node test/testbed/cli.ts up
# Integration in two lanes (vitest.config.ts): first the files listed as safe beside each other,
# several at a time (they mostly wait on product timers), then every other file one at a time.
# A failing concurrent lane still lets the serial lane run (the whole project is tested, as before);
# then the script stops as a failing project always stopped it. Both reports count in the closing line.
step "integration (concurrent lane)"
lanes_ok=yes
JUDE_INTEGRATION_LANE=concurrent run_project integration integration-concurrent || lanes_ok=no
step "integration (serial lane)"
JUDE_INTEGRATION_LANE=serial run_project integration integration-serial || lanes_ok=no
[ "$lanes_ok" = yes ] || exit 1
step "e2e"
run_project e2e
trap - EXIT
if [ "$already_up" = no ]; then step "testbed down"; node test/testbed/cli.ts down; fi

# The closing lines: any failed test again, then "N passed, N failed" over all projects, as CI reads it.
node scripts/test-report.ts "$results"
