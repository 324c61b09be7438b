#!/usr/bin/env bash
# Sets up what the tests need (see scripts/lib/provision.sh), then runs the whole suite.
# Extra arguments go to vitest, e.g. `./scripts/test.sh test/disk`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/provision.sh"
provision_all
cd "$XCP_BACKUP_ROOT"
results="${XCP_BACKUP_TEST_RESULTS:-$XCP_BACKUP_ROOT/.test-results.json}"
rc=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || rc=$?
node scripts/lib/test-summary.mjs "$results"
exit "$rc"
