#!/usr/bin/env bash
# `npx wrangler` with the project's environment (Node 22 where the machine's Node is older, and the
# build tools), e.g. `bash scripts/wrangler.sh secret put NAME` or `bash scripts/wrangler.sh tail`. To
# deploy, use `make deploy` (scripts/deploy.sh): it checks the settings first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
exec npx wrangler "$@"
