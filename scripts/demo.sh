#!/usr/bin/env bash
# `make run`: set up, build, then walk through the main job (scripts/demo.mjs) against the local
# emulator, or against your IdP when JWKS_URL or OIDC_ISSUER is set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
bash scripts/build.sh
exec node scripts/demo.mjs
