#!/usr/bin/env bash
# `npx wrangler` with the project's environment (Node 22 where the machine's Node is older, and the
# build tools), e.g. `bash scripts/wrangler.sh deploy` or `bash scripts/wrangler.sh secret put NAME`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
exec npx wrangler "$@"
