#!/usr/bin/env bash
# Regenerates sdk/generated/args.ts from the zod schemas in provider/policy (see scripts/gen-sdk-types.ts).
# Compiles the generator with the project's TypeScript into dist/gen-sdk-types, then runs it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rm -rf dist/gen-sdk-types
node_modules/.bin/tsc -p scripts/gen-sdk-types.tsconfig.json
node dist/gen-sdk-types/scripts/gen-sdk-types.js "$root/sdk/generated/args.ts"
