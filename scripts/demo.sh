#!/usr/bin/env bash
# `make run`: set up, build, then walk through the main job (scripts/demo.mjs) against the local
# emulator, or against your IdP when JWKS_URL or OIDC_ISSUER is set in the environment.
# The settings and the port are checked before the build (which can take minutes), and the build is
# done once: wrangler dev's `[build] command` then finds it up to date (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
node scripts/demo.mjs --preflight
bash scripts/build.sh || { echo "demo: the build failed (its errors are above); nothing was started" >&2; exit 1; }
exec node scripts/demo.mjs
