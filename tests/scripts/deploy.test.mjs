// `make deploy` (scripts/deploy.sh → scripts/deploy-check.mjs → the native check-settings) without a
// Cloudflare account: a fake `npx` first on PATH answers `wrangler secret list` as wrangler does and
// records `wrangler deploy` instead of running it. wrangler's own config reader, the Rust check and
// the scripts are the real ones.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const ZONE = '023e105f4ecef8ad9ca31a8372d0c353';
const CONFIG = '4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7';
let dir;
let calls;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jwks-sync-deploy-test-'));
  calls = join(dir, 'calls');
  mkdirSync(join(dir, 'bin'));
  writeFileSync(
    join(dir, 'bin/npx'),
    `#!/usr/bin/env bash
# Stands in for npx: answers "wrangler secret list" from FAKE_SECRETS (a JSON list as wrangler prints
# it) or fails with FAKE_SECRET_ERROR, and records every call.
echo "$*" >> "${calls}"
case "$*" in
  "wrangler secret list"*)
    if [ -n "\${FAKE_SECRET_ERROR:-}" ]; then printf '%s\\n' "$FAKE_SECRET_ERROR" >&2; exit 1; fi
    printf '%s\\n' "$FAKE_SECRETS" ;;
  "wrangler deploy"*) echo "(fake) deployed" ;;
  *) echo "unexpected npx $*" >&2; exit 9 ;;
esac
`,
  );
  chmodSync(join(dir, 'bin/npx'), 0o755);
  writeFileSync(
    join(dir, 'filled.toml'),
    `name = "jwks-sync-test"
main = "index.js"
compatibility_date = "2025-09-01"
[triggers]
crons = ["*/5 * * * *"]
[vars]
MAX_KEYS = 16
[[vars.SYNC_TARGETS]]
name = "prod"
zone_id = "${ZONE}"
config_id = "${CONFIG}"
sources = [{ jwks_url = "https://idp.example.com/jwks" }, { issuer = "https://login.example.com" }]

[env.staging]
name = "jwks-sync-staging"
[env.staging.vars]
JWKS_URL = "http://idp.example.com/jwks"
CF_ZONE_ID = "${ZONE}"
CF_TOKEN_CONFIG_ID = "${CONFIG}"
`,
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** `bash scripts/deploy.sh ...args` with the fake npx; resolves to { code, out, calls }. */
function deploy(args, { secrets = [], secretError, env = {} } = {}) {
  rmSync(calls, { force: true });
  const base = { ...process.env };
  delete base.CF_API_TOKEN;
  delete base.CLOUDFLARE_API_TOKEN;
  const r = spawnSync('bash', ['scripts/deploy.sh', ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: {
      ...base,
      PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
      FAKE_SECRETS: JSON.stringify(secrets.map((name) => ({ name, type: 'secret_text' })), null, '  '),
      ...(secretError ? { FAKE_SECRET_ERROR: secretError } : {}),
      ...env,
    },
  });
  return { code: r.status, out: r.stdout + r.stderr, calls: existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : [] };
}

const NOT_DEPLOYING =
  'deploy check: not deploying. Vars go in [vars] of wrangler.toml (README, "Settings"); secrets with `bash scripts/wrangler.sh secret put NAME` (README, "Deploying", step 5).';

test('the shipped wrangler.toml with no secrets is refused with everything missing, and not deployed', () => {
  const r = deploy([]);
  assert.equal(r.code, 1, r.out);
  assert.equal(
    r.out,
    [
      'deploy check: the settings in [vars] of wrangler.toml and the secrets of the Worker jwks-sync (none)',
      'settings: 4 problems; the Worker would fail every run with CONFIG_INVALID:',
      '  - no source: set JWKS_URL or OIDC_ISSUER (or SYNC_TARGETS for several targets)',
      '  - CF_ZONE_ID is not set',
      '  - CF_TOKEN_CONFIG_ID is not set',
      '  - CF_API_TOKEN is not set; add it with `wrangler secret put CF_API_TOKEN`',
      'note: SYNC_AUTH_TOKEN is not set: GET /, POST /, GET /status and POST /rollback will answer 503 (the cron still syncs); set it with `wrangler secret put SYNC_AUTH_TOKEN` to enable them',
      NOT_DEPLOYING,
      '',
    ].join('\n'),
  );
  assert.deepEqual(r.calls, ['wrangler secret list --format json --name jwks-sync']);
});

test('filled-in vars (SYNC_TARGETS as TOML tables) and existing secrets pass, then wrangler deploy runs', () => {
  const config = join(dir, 'filled.toml');
  const r = deploy(['--config', config], { secrets: ['CF_API_TOKEN', 'SYNC_AUTH_TOKEN'] });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /deploy check: the settings in \[vars\] of \S*filled\.toml and the secrets of the Worker jwks-sync-test \(CF_API_TOKEN, SYNC_AUTH_TOKEN\)\n/);
  assert.match(
    r.out,
    new RegExp(`settings: pass the Worker's own check\n  target prod: zone ${ZONE}, configuration ${CONFIG}, from JWKS https://idp\\.example\\.com/jwks \\+ issuer https://login\\.example\\.com\n\\(fake\\) deployed\n$`),
  );
  assert.deepEqual(r.calls, [`wrangler secret list --format json --config ${config} --name jwks-sync-test`, `wrangler deploy --config ${config}`]);
});

test('--env reads that environment\'s vars and secrets, with the Worker\'s rules for values', () => {
  const config = join(dir, 'filled.toml');
  const r = deploy(['--config', config, '--env', 'staging'], { secrets: ['CF_API_TOKEN', 'SYNC_AUTH_TOKEN'] });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /of the Worker jwks-sync-staging \(CF_API_TOKEN, SYNC_AUTH_TOKEN\)\n/);
  assert.match(
    r.out,
    /settings: 1 problem; the Worker would fail every run with CONFIG_INVALID:\n {2}- JWKS_URL must be an https URL \(http only for a loopback host\), got "http"… \(27 characters\)\n/,
  );
  assert.deepEqual(r.calls, [`wrangler secret list --format json --config ${config} --env staging --name jwks-sync-staging`]);
});

test('a configuration without a cron schedule deploys, with a note that it will not sync by itself', () => {
  const config = join(dir, 'no-cron.toml');
  writeFileSync(config, readFileSync(join(dir, 'filled.toml'), 'utf8').replace('[triggers]\ncrons = ["*/5 * * * *"]\n', ''));
  const r = deploy(['--config', config], { secrets: ['CF_API_TOKEN', 'SYNC_AUTH_TOKEN'] });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /\ndeploy check: note: \S*no-cron\.toml has no \[triggers\] crons: the Worker will sync only on POST \/, and deploying removes any schedule it had\n\(fake\) deployed\n$/);
  assert.doesNotMatch(deploy(['--config', join(dir, 'filled.toml')], { secrets: ['CF_API_TOKEN', 'SYNC_AUTH_TOKEN'] }).out, /no \[triggers\] crons/);
});

test('a Worker that does not exist yet has no secrets: CF_API_TOKEN is listed as missing', () => {
  const config = join(dir, 'filled.toml');
  const r = deploy(['--config', config], {
    secretError: '✘ [ERROR] Worker "jwks-sync-test" not found.\n\nIf this is a new Worker, run `wrangler deploy` first to create it.',
  });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /deploy check: the Worker jwks-sync-test does not exist yet, so it has no secrets\n/);
  assert.match(r.out, /settings: 1 problem; the Worker would fail every run with CONFIG_INVALID:\n {2}- CF_API_TOKEN is not set; add it with `wrangler secret put CF_API_TOKEN`\n/);
  assert.equal(r.calls.filter((c) => c.startsWith('wrangler deploy')).length, 0);
});

test('secrets that cannot be listed (not logged in) refuse the deploy with wrangler\'s reason, after checking the vars', () => {
  const r = deploy([], { secretError: '✘ [ERROR] In a non-interactive environment, it\'s necessary to set a CLOUDFLARE_API_TOKEN environment variable for wrangler to work.' });
  assert.equal(r.code, 1, r.out);
  assert.equal(
    r.out,
    'deploy check: the settings in [vars] of wrangler.toml; the secrets cannot be listed, so they are taken as set\n' +
      'settings: 3 problems; the Worker would fail every run with CONFIG_INVALID:\n' +
      '  - no source: set JWKS_URL or OIDC_ISSUER (or SYNC_TARGETS for several targets)\n' +
      '  - CF_ZONE_ID is not set\n' +
      '  - CF_TOKEN_CONFIG_ID is not set\n' +
      'deploy check: cannot list the secrets of the Worker jwks-sync with `wrangler secret list`; is wrangler logged in (`bash scripts/wrangler.sh login`, or CLOUDFLARE_API_TOKEN)? Not deploying.\n' +
      "  ✘ [ERROR] In a non-interactive environment, it's necessary to set a CLOUDFLARE_API_TOKEN environment variable for wrangler to work.\n",
  );
  assert.deepEqual(r.calls, ['wrangler secret list --format json --name jwks-sync']);
});

test('CF_API_TOKEN exported in the shell is pointed out: wrangler would log in with it', () => {
  const r = deploy([], { env: { CF_API_TOKEN: 'api-shield-token' } });
  assert.match(r.out, /^deploy check: note: CF_API_TOKEN is set in this shell; wrangler takes it as its own login \(an old name of CLOUDFLARE_API_TOKEN\)\. If it is the API Shield token, `unset CF_API_TOKEN` first\.\n/);
  assert.doesNotMatch(r.out, /api-shield-token/);
});
