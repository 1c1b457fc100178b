#!/usr/bin/env bash
# `make deploy`: refuse to deploy settings the Worker would refuse (scripts/deploy-check.mjs runs the
# Worker's own settings check against the wrangler.toml being deployed and the Worker's secrets),
# then `wrangler deploy`, which ships the code and the cron trigger together (`wrangler versions
# upload` would leave the triggers as they were). Arguments go to `wrangler deploy`, e.g.
# `bash scripts/deploy.sh --env production`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
node scripts/deploy-check.mjs "$@"
exec npx wrangler deploy "$@"
