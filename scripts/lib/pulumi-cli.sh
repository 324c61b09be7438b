#!/usr/bin/env bash
# Provisions the Pulumi CLI for tests and the demo, without network access to get.pulumi.com.
# Order: a `pulumi` already on PATH; else a cached build; else a build from Go modules
# (CLI pkg/v3 plus the Node.js language host still inside sdk/v3@v3.68.0; see docs/development.md).
# Prints the directory holding pulumi, pulumi-language-nodejs and pulumi-resource-pulumi-nodejs.
set -euo pipefail

PULUMI_CLI_VERSION="${PULUMI_CLI_VERSION:-3.259.0}"
PULUMI_LANG_HOST_SDK_VERSION="3.68.0"
cache_root="${XCP_BACKUP_CACHE:-$HOME/.cache/xcp-backup}"
bin_dir="$cache_root/pulumi-$PULUMI_CLI_VERSION/bin"
project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { echo "[pulumi-cli] $*" >&2; }

if [ -z "${XCP_BACKUP_FORCE_PULUMI_BUILD:-}" ] && command -v pulumi >/dev/null 2>&1 \
  && command -v pulumi-language-nodejs >/dev/null 2>&1; then
  dirname "$(command -v pulumi)"
  exit 0
fi

launcher="$project_dir/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs"

if [ ! -x "$bin_dir/pulumi" ] || [ ! -x "$bin_dir/pulumi-language-nodejs" ]; then
  command -v go >/dev/null 2>&1 || { log "neither pulumi nor go is installed: install the Pulumi CLI (https://www.pulumi.com/docs/install/)"; exit 1; }
  work="$cache_root/pulumi-$PULUMI_CLI_VERSION/src"
  mkdir -p "$work/cli" "$work/lang" "$bin_dir.partial"
  log "building Pulumi CLI v$PULUMI_CLI_VERSION from Go modules (about 6 minutes on a cold cache)"
  (
    cd "$work/cli"
    cat > go.mod <<GOMOD
module local.invalid/pulumi-cli

go 1.25.11

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_CLI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_CLI_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
GOMOD
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' > tools.go
    go mod tidy >&2
    CGO_ENABLED=0 go build -trimpath -tags osusergo,grpcnotrace \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_CLI_VERSION" \
      -o "$bin_dir.partial/" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
  )
  log "building the Node.js language host from sdk/v3@v$PULUMI_LANG_HOST_SDK_VERSION"
  (
    cd "$work/lang"
    cat > go.mod <<GOMOD
module local.invalid/pulumi-language-nodejs

go 1.25

require github.com/pulumi/pulumi/sdk/v3 v$PULUMI_LANG_HOST_SDK_VERSION

replace golang.org/x/text => golang.org/x/text v0.3.6
GOMOD
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs"\n' > tools.go
    go mod tidy >&2
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_LANG_HOST_SDK_VERSION" \
      -o "$bin_dir.partial/" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs >&2
  )
  rm -rf "$bin_dir" && mv "$bin_dir.partial" "$bin_dir"
fi

# The dynamic-provider launcher ships with the npm SDK: keep it next to the binaries.
if [ -f "$launcher" ]; then
  install -m 0755 "$launcher" "$bin_dir/pulumi-resource-pulumi-nodejs"
fi
echo "$bin_dir"
