#!/usr/bin/env bash
# Fails when the backup policy in the pools differs from this repository's.
#   ./drift-gate.sh <stack>
# Exit codes: 0 no drift; 7 drift (the diff above says what); anything else: the check itself failed.
set -uo pipefail
stack="${1:?usage: drift-gate.sh <stack>}"

# --refresh reads the live policy (specs in pool.other_config, tags on VMs, orphaned replication
# snapshots); --diff prints what differs; --expect-no-changes turns any difference into exit code 7.
# Nothing is written: not to the pools, not to the state.
pulumi preview --stack "$stack" --refresh --diff --expect-no-changes --non-interactive
code=$?

annotate() { if [ -n "${GITHUB_ACTIONS:-}" ]; then echo "::$1::$2"; else echo "$1: $2" >&2; fi; }
case "$code" in
  0) echo "no drift: the pools hold the policy of this repository" ;;
  7) annotate error "backup policy drift in stack $stack (see the diff above). Repair with: pulumi up --refresh --stack $stack; or, if the change in the pool is wanted, make it in this repository" ;;
  *) annotate error "the drift check could not run (pulumi exited $code): an unreachable pool, bad credentials or an invalid policy; see the messages above" ;;
esac
exit "$code"
