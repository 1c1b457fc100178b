# Task runner. Every target runs the idempotent set-up first (scripts/setup.sh).
.PHONY: setup build run test bench deploy clean

setup:
	bash scripts/setup.sh

build: setup
	bash scripts/build.sh

# The main job against the local emulator (or your IdP with JWKS_URL / OIDC_ISSUER set).
run:
	bash scripts/demo.sh

# The whole test suite, as CI runs it.
test:
	bash scripts/test.sh

# All benchmarks; rewrites BENCHMARKS.md.
bench:
	bash scripts/bench.sh

# Checks the settings against the Worker's own rules, then `wrangler deploy` (code and cron trigger).
deploy: setup
	bash scripts/deploy.sh

clean:
	rm -rf build target/wasm32-unknown-unknown
