// The main job, visibly: the local emulator (IdP and Cloudflare API) plus `wrangler dev` running the
// Worker, walked through a first sync, a no-op, a rotation picked up by the cron trigger, and an IdP
// failure that leaves the live keys untouched. Run through `make run` (scripts/demo.sh).
//
// Settings taken from the environment:
//   JWKS_URL or OIDC_ISSUER        sync from this real IdP instead of the emulated one
//   CF_API_TOKEN, CF_ZONE_ID, CF_TOKEN_CONFIG_ID (all three)
//                                  use the real Cloudflare API instead of the emulator (this WRITES)
//   DEMO_PORT                      wrangler dev's port (default 8787)
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startEmulator, DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID, DEFAULT_TOKEN } from '../emulator/index.mjs';

const env = process.env;
const realIdp = env.JWKS_URL || env.OIDC_ISSUER;
const realCf = env.CF_API_TOKEN && env.CF_ZONE_ID && env.CF_TOKEN_CONFIG_ID;
const port = Number(env.DEMO_PORT || 8787);
const workerUrl = `http://127.0.0.1:${port}`;
const authToken = randomBytes(24).toString('hex');
const tmp = mkdtempSync(join(tmpdir(), 'jwks-sync-demo-'));
const wranglerLog = join(tmp, 'wrangler.log');

const bold = (s) => `\x1b[1m${s}\x1b[0m`;
const dim = (s) => `\x1b[2m${s}\x1b[0m`;
const red = (s) => `\x1b[31m${s}\x1b[0m`;
const green = (s) => `\x1b[32m${s}\x1b[0m`;

let emu;
let wrangler;
let stopping = false;

async function stop(code) {
  if (stopping) return;
  stopping = true;
  if (wrangler && wrangler.exitCode === null) {
    try {
      process.kill(-wrangler.pid, 'SIGTERM');
    } catch {}
    await new Promise((r) => {
      const t = setTimeout(() => {
        try {
          process.kill(-wrangler.pid, 'SIGKILL');
        } catch {}
        r();
      }, 5000);
      wrangler.once('exit', () => {
        clearTimeout(t);
        r();
      });
    });
  }
  if (emu) await emu.close();
  rmSync(tmp, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => {
  console.log('\nstopping…');
  stop(130);
});
process.on('SIGTERM', () => stop(143));

function step(n, title) {
  console.log(`\n${bold(`── ${n}. ${title}`)}`);
}

function show(res) {
  const body = res.body;
  if (!body.targets) {
    console.log(red(`HTTP ${res.status}: ${JSON.stringify(body.error ?? body)}`));
    for (const p of body.error?.problems ?? []) console.log(red(`  - ${p}`));
    return;
  }
  console.log(dim(`${res.status === 'cron' ? '' : `HTTP ${res.status}, `}dry_run ${body.dry_run}`));
  for (const t of body.targets) {
    const colour = t.outcome === 'failed' ? red : green;
    console.log(`target ${bold(t.name)} (zone ${t.zone_id}, config ${t.config_id}): ${colour(t.outcome)}`);
    if (t.keys.length) console.log(`  keys:    ${t.keys.map((k) => `${k.kid} ${k.alg}${k.alg_inferred ? ' (alg inferred)' : ''}`).join(', ')}`);
    for (const d of t.dropped) console.log(`  dropped: ${d.kid ?? `#${d.index}`}: ${d.reason} (${d.code})`);
    if (t.diff) {
      const parts = ['added', 'removed', 'unchanged', 'changed'].filter((k) => t.diff[k]?.length).map((k) => `${k} ${t.diff[k].join(', ')}`);
      console.log(`  diff:    ${parts.join('; ') || 'none'}`);
    }
    for (const w of t.warnings) console.log(`  warning: ${w}`);
    if (t.error) console.log(red(`  error:   [${t.error.stage}] ${t.error.code}: ${t.error.message}`));
  }
}

async function call(method, path = '/') {
  const r = await fetch(workerUrl + path, { method, headers: { authorization: `Bearer ${authToken}` } });
  const text = await r.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = { error: text };
  }
  return { status: r.status, body };
}

function live() {
  return emu.storedKeys(DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID).map((k) => `${k.kid} ${k.alg}`);
}

/** Runs the cron trigger, then shows what it decided: its JSON log line in wrangler's output. */
async function cronTick() {
  const seen = readFileSync(wranglerLog, 'utf8').length;
  const r = await fetch(`${workerUrl}/__scheduled?cron=${encodeURIComponent('*/5 * * * *')}`);
  console.log(dim(`GET /__scheduled → HTTP ${r.status} ${(await r.text()).trim()}`));
  let line;
  for (let i = 0; i < 20 && !line; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    line = readFileSync(wranglerLog, 'utf8').slice(seen).split('\n').find((l) => l.includes('"trigger":"cron"'));
  }
  if (!line) return console.log(dim('(no cron log line seen in wrangler\'s output)'));
  const { event, trigger, dry_run, ...target } = JSON.parse(line.slice(line.indexOf('{')));
  console.log(dim(`the cron run logged (${event}, ${trigger}):`));
  show({ status: 'cron', body: { dry_run, targets: [target] } });
}

async function waitForWorker(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (wrangler.exitCode !== null) throw new Error(`wrangler dev exited with ${wrangler.exitCode}`);
    try {
      const r = await fetch(`${workerUrl}/healthz`);
      if (r.status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the Worker did not answer on ${workerUrl}/healthz within ${ms / 1000} s`);
}

async function main() {
  emu = await startEmulator({ idps: ['demo'] });
  const idp = emu.idp('demo');
  // Like many real IdPs, publish keys API Shield cannot use beside the signing key: an encryption
  // key (Keycloak) and an Ed25519 key (RFC 8037 appendix A.2); the Worker drops them with a reason.
  idp.addKey({ ...idp.generateKey({ alg: 'RS256' }), use: 'enc', alg: 'RSA-OAEP' });
  idp.addKey({ kty: 'OKP', crv: 'Ed25519', kid: 'ed25519-1', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' });
  const vars = {
    JWKS_URL: realIdp ? env.JWKS_URL ?? '' : emu.jwksUrl('demo'),
    OIDC_ISSUER: realIdp ? env.OIDC_ISSUER ?? '' : '',
    CF_API_BASE: realCf ? env.CF_API_BASE ?? '' : emu.cfApiBase,
    CF_API_TOKEN: realCf ? env.CF_API_TOKEN : DEFAULT_TOKEN,
    CF_ZONE_ID: realCf ? env.CF_ZONE_ID : DEFAULT_ZONE_ID,
    CF_TOKEN_CONFIG_ID: realCf ? env.CF_TOKEN_CONFIG_ID : DEFAULT_CONFIG_ID,
    SYNC_AUTH_TOKEN: authToken,
    SYNC_TARGETS: '',
    ...Object.fromEntries(['JWKS_KEYS_POINTER', 'MAX_KEYS', 'RSA_DEFAULT_ALG', 'DRY_RUN'].filter((k) => env[k]).map((k) => [k, env[k]])),
  };
  const envFile = join(tmp, 'demo.env');
  writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join('\n') + '\n', { mode: 0o600 });

  console.log(bold('jwks-sync demo'));
  console.log(`identity provider: ${realIdp ? (env.JWKS_URL || env.OIDC_ISSUER) : `emulated, ${emu.jwksUrl('demo')}`}`);
  console.log(`Cloudflare API:    ${realCf ? `REAL (${vars.CF_API_BASE || 'https://api.cloudflare.com/client/v4'}), zone ${env.CF_ZONE_ID}: this run writes` : `emulated, ${emu.cfApiBase}`}`);
  console.log(dim(`starting wrangler dev on ${workerUrl} (its output: ${wranglerLog})`));

  const out = openSync(wranglerLog, 'a');
  wrangler = spawn(
    'npx',
    ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(port), '--test-scheduled', '--env-file', envFile, '--show-interactive-dev-session=false'],
    { detached: true, stdio: ['ignore', out, out], env: { ...env, WRANGLER_SEND_METRICS: 'false' } },
  );
  try {
    await waitForWorker(240_000);
  } catch (e) {
    console.error(red(e.message));
    console.error(readFileSync(wranglerLog, 'utf8').split('\n').slice(-30).join('\n'));
    return stop(1);
  }

  step(1, 'Preview (GET /): what would be pushed, and the diff against what is live');
  show(await call('GET'));

  step(2, 'First sync (POST /): the IdP keys are pushed');
  const first = await call('POST');
  show(first);
  if (!realCf) console.log(`live in the emulated Cloudflare: ${live().join(', ') || 'nothing'}`);

  step(3, 'Second sync: nothing new at the IdP, nothing written');
  show(await call('POST'));

  if (realIdp) {
    step(4, 'Cron tick (through wrangler\'s scheduled-test route)');
    await cronTick();
    console.log(dim('rotation and failure steps need the emulated IdP; unset JWKS_URL / OIDC_ISSUER to see them'));
    return stop(first.body.targets?.every((t) => t.outcome !== 'failed') ? 0 : 1);
  }

  step(4, 'The IdP rotates: it publishes a new key; the next cron tick pushes the new set');
  const [old] = idp.keys;
  const added = idp.rotate({ alg: 'ES256' });
  console.log(`IdP now publishes: ${idp.keys.map((k) => `${k.kid} ${k.alg ?? k.kty}`).join(', ')}`);
  await cronTick();
  console.log(`live in the emulated Cloudflare: ${live().join(', ')}`);

  step(5, 'The IdP retires its old key; the next cron tick removes it');
  idp.retire(old.kid);
  await cronTick();
  console.log(`live in the emulated Cloudflare: ${live().join(', ')}`);

  step(6, 'A failure at the IdP (an HTML error page with status 200): nothing is written');
  idp.misbehave({ html: true });
  const before = live();
  show(await call('POST'));
  const after = live();
  console.log(`live keys before: ${before.join(', ')}`);
  console.log(`live keys after:  ${after.join(', ')} ${JSON.stringify(before) === JSON.stringify(after) ? green('(untouched)') : red('(CHANGED)')}`);
  idp.clear();

  const ok = live().join() === `${added.kid} ${added.alg}`;
  console.log(`\n${ok ? green('demo complete') : red('demo finished with unexpected live keys')}`);
  return stop(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(red(e.stack || String(e)));
  stop(1);
});
