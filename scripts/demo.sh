#!/usr/bin/env bash
# The README's first command: on a fresh machine, set up, start the embedded simulated pool, apply the
# quickstart policy with the real Pulumi CLI, run the nightly backup with the bundled runner, list what
# can be restored, and check for drift. Everything it creates lives in one work directory
# ($XCP_BACKUP_DEMO_DIR, default .demo/ in the checkout), wiped at the start of each demo.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/provision.sh"
provision_all
cd "$XCP_BACKUP_ROOT"

demo_dir="${XCP_BACKUP_DEMO_DIR:-$XCP_BACKUP_ROOT/.demo}"
rm -rf "$demo_dir"
mkdir -p "$demo_dir"/{sim,pulumi-state,pulumi-home,backups,runner}
xcp_backup() { node "$XCP_BACKUP_ROOT/dist/provider/cli/main.js" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Starting the simulated pool (xcp-backup sim)"
sim_password="xcp-sim"
xcp_backup sim --port 0 --state-dir "$demo_dir/sim" --password "$sim_password" >"$demo_dir/sim.log" 2>&1 &
sim_pid=$!
stop_sim() { kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null || true; }
trap stop_sim EXIT
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/^xcp-backup sim: listening on \([^ ]*\).*/\1/p' "$demo_dir/sim.log")"
  if [ -n "$url" ]; then break; fi
  if ! kill -0 "$sim_pid" 2>/dev/null; then cat "$demo_dir/sim.log" >&2; exit 1; fi
  sleep 0.2
done
if [ -z "$url" ]; then echo "the simulator did not start; its log:" >&2; cat "$demo_dir/sim.log" >&2; exit 1; fi
echo "pool: $url (user root)"

step "Applying the quickstart policy (pulumi up, local state in $demo_dir/pulumi-state)"
export PULUMI_HOME="$demo_dir/pulumi-home"
export PULUMI_BACKEND_URL="file://$demo_dir/pulumi-state"
export PULUMI_CONFIG_PASSPHRASE="xcp-backup-demo"
export PULUMI_SKIP_CONFIRMATIONS=true
pulumi stack init demo --non-interactive >/dev/null
pulumi config set --path 'xcp-backup:pools.main.url' "$url" >/dev/null
pulumi config set --secret --path 'xcp-backup:pools.main.password' "$sim_password" >/dev/null
pulumi config set backupDir "$demo_dir/backups" >/dev/null
pulumi up --yes --non-interactive --skip-preview

step "The runner's configuration"
printf '%s\n' "$sim_password" >"$demo_dir/runner/main.password"
chmod 600 "$demo_dir/runner/main.password"
cat >"$demo_dir/runner/runner.yaml" <<EOF
pools:
  - name: main
    url: $url
    user: root
    passwordFile: main.password
stateDir: state
EOF
cat "$demo_dir/runner/runner.yaml"
config="$demo_dir/runner/runner.yaml"

step "Running the nightly delta backup now (xcp-backup run nightly)"
xcp_backup run nightly --config "$config"

step "Its run log (xcp-backup logs nightly)"
xcp_backup logs nightly --config "$config"

step "What can be restored (xcp-backup ls)"
xcp_backup ls "file://$demo_dir/backups"

step "Drift: the pool against the code (pulumi preview --refresh --expect-no-changes)"
pulumi preview --refresh --expect-no-changes --non-interactive

step "Drift: what the runner sees (xcp-backup drift)"
xcp_backup drift --config "$config"

step "Done"
echo "The simulated pool is stopped; its state, the Pulumi stack and the backups stay in $demo_dir."
