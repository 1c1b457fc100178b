// The main job, visibly: the local emulator (IdP, Cloudflare API, the validating edge, webhook and
// heartbeat sinks) plus `wrangler dev` running the Worker, walked through a first sync, a no-op, an
// unannounced and an announced rotation picked up by the cron trigger (with tokens presented at the
// edge before and after), a retired key kept for its grace period and then removed, an IdP failure
// that leaves the live keys untouched (alerts, heartbeat), the run history and the freshness check.
// Run through `make run` (scripts/demo.sh).
//
// Settings taken from the environment (decided in scripts/demo-lib.mjs, `plan`):
//   JWKS_URL or OIDC_ISSUER        sync from this IdP instead of the emulated one
//   CF_API_TOKEN, CF_ZONE_ID, CF_TOKEN_CONFIG_ID (all three, with JWKS_URL or OIDC_ISSUER)
//                                  the real Cloudflare API (CF_API_BASE to change its URL): the demo
//                                  previews only, unless DEMO_WRITE_REAL names CF_TOKEN_CONFIG_ID or
//                                  the user types that id when asked (stdin a terminal)
//   DEMO_PORT                      wrangler dev's port (default 8787)
//   JWKS_KEYS_POINTER, MAX_KEYS, RSA_DEFAULT_ALG, FETCH_TIMEOUT_MS, ALLOW_FULL_REPLACEMENT
//                                  passed to the Worker
// With the emulated IdP the CF_* settings are never used: its keys are throwaway. The webhook,
// heartbeat, STALE_AFTER and RETAIN_REMOVED_KEYS_FOR settings of the demo apply only then.
//
// `node scripts/demo.mjs --preflight` only checks the settings and the port (scripts/demo.sh runs it
// before building). Exit codes: 0 every step passed, 1 a step failed (the logs folder is kept and
// its path printed) or the port is busy, 2 invalid settings, 130 interrupted.
//
// Each step is a small function with the steps it needs: a failed step skips those that need it.
// To add one, append it to `steps()` with `needs`, throw StepFailure with the reason when it fails.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, openSync, closeSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { randomBytes } from 'node:crypto';
import { startEmulator, DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID, DEFAULT_TOKEN } from '../emulator/index.mjs';
import { plan as decide, confirmsWrite, runSteps, StepFailure, logLines, failures, workerVars, DEMO_SETTINGS } from './demo-lib.mjs';

const env = process.env;
const bold = (s) => `\x1b[1m${s}\x1b[0m`;
const dim = (s) => `\x1b[2m${s}\x1b[0m`;
const red = (s) => `\x1b[31m${s}\x1b[0m`;
const green = (s) => `\x1b[32m${s}\x1b[0m`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const { STALE_AFTER: STALE, RETAIN_REMOVED_KEYS_FOR: GRACE } = DEMO_SETTINGS;

/** Resolves to null when 127.0.0.1:`port` is free, else to the error code (EADDRINUSE, EACCES…). */
function portProblem(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (e) => resolve(e.code ?? String(e)));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(null)));
  });
}

/** Checks what can be checked before building: the settings and the port. Returns an exit code. */
async function preflight(p) {
  if (p.error) {
    console.error(red(`demo: ${p.error}`));
    return 2;
  }
  const problem = await portProblem(p.port);
  if (problem) {
    const why = problem === 'EADDRINUSE' ? 'is already in use' : `cannot be used (${problem})`;
    console.error(red(`demo: port ${p.port} ${why}; set DEMO_PORT to a free port, e.g. DEMO_PORT=${p.port === 8790 ? 8791 : 8790} make run`));
    return 1;
  }
  return 0;
}

// ---- state of one run, torn down by stop() ----
let emu;
let wrangler;
let logs; // folder kept when the run does not succeed
let wranglerLog; // logs/wrangler.log
let secretsDir; // the settings file wrangler reads (may hold a real API token): always removed
let stopping = false;

async function stop(code) {
  if (stopping) return;
  stopping = true;
  if (wrangler && wrangler.exitCode === null && wrangler.signalCode === null) {
    if (code !== 0) await settled(wranglerLog);
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
  if (emu) {
    if (logs && code !== 0) writeFileSync(join(logs, 'emulator-requests.json'), JSON.stringify(emu.requests, null, 1));
    await emu.close();
  }
  if (secretsDir) rmSync(secretsDir, { recursive: true, force: true });
  if (logs) {
    if (code === 0) rmSync(logs, { recursive: true, force: true });
    else console.log(`\nlogs kept in ${bold(logs)} (wrangler.log: wrangler's and the Worker's output; emulator-requests.json: what the emulator was asked)`);
  }
  process.exit(code);
}

/** Waits until `file` has not grown for 1 s (at most 15 s): wrangler writes the Worker's last lines late. */
async function settled(file) {
  let size = -1;
  for (let i = 0; i < 15; i++) {
    let now = 0;
    try {
      now = statSync(file).size;
    } catch {}
    if (now === size) return;
    size = now;
    await sleep(1000);
  }
}

/** What show() printed in full, per target name: a repeat says "as above" instead. */
const shown = { targets: new Set(), dropped: new Map(), errors: new Map() };

/**
 * Prints a Worker answer `{ status, body }` in a few lines, under `label` (default `HTTP <status>`).
 * A target's zone and configuration, its dropped keys and its error are printed in full the first
 * time, and as "as above" when they repeat.
 */
function show(res, label = `HTTP ${res.status}`) {
  const body = res.body;
  console.log(dim(`${label}, dry_run ${body.dry_run}`));
  for (const t of body.targets ?? []) {
    const colour = t.outcome === 'failed' ? red : green;
    const where = shown.targets.has(t.name) ? '' : ` (zone ${t.zone_id}, config ${t.config_id})`;
    shown.targets.add(t.name);
    console.log(`target ${bold(t.name)}${where}: ${colour(t.outcome)}${t.run_id ? dim(` (run ${t.run_id})`) : ''}`);
    if (t.keys?.length) console.log(`  keys:    ${t.keys.map((k) => `${k.kid} ${k.alg}${k.alg_inferred ? ' (alg inferred)' : ''}`).join(', ')}`);
    const dropped = (t.dropped ?? []).map((d) => [d.kid ?? `#${d.index}`, `${d.reason} (${d.code})`]);
    const droppedText = JSON.stringify(dropped);
    if (dropped.length && shown.dropped.get(t.name) === droppedText) console.log(`  dropped: ${dropped.map(([kid]) => kid).join(', ')} (as above)`);
    else for (const [kid, why] of dropped) console.log(`  dropped: ${kid}: ${why}`);
    if (dropped.length) shown.dropped.set(t.name, droppedText);
    if (t.diff) {
      const parts = ['added', 'removed', 'unchanged', 'changed'].filter((k) => t.diff[k]?.length).map((k) => `${k} ${t.diff[k].join(', ')}`);
      console.log(`  diff:    ${parts.join('; ') || 'none'}`);
    }
    for (const k of t.kept ?? []) console.log(`  kept:    ${k.kid} ${k.alg}: ${k.why}`);
    for (const k of t.retained ?? []) console.log(`  retained: ${k.kid} ${k.alg}: missing at the IdP since ${k.missing_since}, stays live until ${k.until}`);
    for (const w of t.warnings ?? []) console.log(`  warning: ${w}`);
    if (t.error) {
      const text = `[${t.error.stage}] ${t.error.code}: ${t.error.message}`;
      const again = shown.errors.get(t.name) === text;
      console.log(red(`  error:   ${again ? `${t.error.code} (as above)` : text}`));
      if (t.error.hint && !again) console.log(`  what to do: ${t.error.hint}`);
      shown.errors.set(t.name, text);
    }
  }
  for (const w of body.warnings ?? []) console.log(`warning: ${w}`);
  if (body.error) {
    console.log(red(`error: ${failures({ error: body.error }).join('')}`));
    if (body.error.hint) console.log(`what to do: ${body.error.hint}`);
  }
}

/** Fails the step unless every target of the answer succeeded (HTTP 200). */
function expectSuccess(res, what) {
  const why = failures(res.body);
  if (res.status !== 200 || why.length) {
    throw new StepFailure(`${what} answered HTTP ${res.status}: ${why.join('; ') || 'no reason given'}`);
  }
}

/** The claims of the emulated IdP's tokens, beside iss, aud, iat, nbf and exp. */
const USER = { sub: 'alice' };
/** The edge's `reason` for a token whose kid and alg match no live key (emulator/edge.mjs). */
const NO_KEY = 'no key for kid/alg';

/** The steps of this run, in order; see the header comment for how to add one. */
function steps(p) {
  const emulated = p.idp === 'emulated';
  const all = [
    {
      id: 'start',
      title: 'Start the Worker locally (wrangler dev)',
      run: startWorker,
    },
    {
      id: 'preview',
      title: 'Preview (GET /): what would be pushed, and the diff against what is live',
      needs: ['start'],
      run: async (ctx) => {
        const res = await ctx.call('GET');
        show(res);
        expectSuccess(res, 'the preview');
      },
    },
    {
      id: 'first-sync',
      title: emulated ? 'First sync (POST /): the IdP keys are pushed, and a token the IdP signs is accepted' : 'First sync (POST /): the IdP keys are pushed',
      needs: ['preview'],
      when: p.write,
      run: async (ctx) => {
        await ctx.sync('the sync', { alerts: ['keys_changed'] });
        if (ctx.emulatedCf) console.log(`live in the emulated Cloudflare: ${ctx.live().join(', ') || 'nothing'}`);
        if (!ctx.idp) return;
        console.log(dim("the emulated edge stands for an API behind API Shield: it accepts a token only if a live key has the token's kid and alg and its signature verifies"));
        ctx.firstKey = ctx.idp.keys.find((k) => k.kid === ctx.idp.signingKid);
        ctx.firstToken = ctx.idp.sign(USER);
        await ctx.present(ctx.firstToken, 'accepted');
      },
    },
    {
      id: 'second-sync',
      title: 'Second sync: nothing new at the IdP, nothing written',
      needs: ['first-sync'],
      when: p.write,
      run: async (ctx) => {
        await ctx.sync('the second sync');
      },
    },
    {
      id: 'cron',
      title: 'Cron tick (through wrangler\'s scheduled-test route)',
      needs: ['first-sync'],
      when: p.write && p.idp === 'own',
      run: async (ctx) => {
        const lines = await ctx.cronTick();
        const failed = lines.filter((l) => l.outcome === 'failed');
        if (failed.length) throw new StepFailure(`the cron run failed: ${failed.map((l) => failures({ targets: [l] })).join('; ')}`);
      },
    },
    {
      id: 'unannounced',
      title: 'Unannounced rotation: the IdP signs with a new key at once; its tokens are refused until the next cron tick',
      needs: ['first-sync'],
      when: emulated,
      run: async (ctx) => {
        const key = ctx.idp.rotateUnannounced({ alg: 'ES256', kid: 'key-2' });
        console.log(`the IdP publishes ${key.kid} ${key.alg} and signs with it from now on`);
        const token = ctx.idp.sign(USER);
        await ctx.present(token, NO_KEY, ' (before the sync)');
        await ctx.cronTick({ outcome: 'updated', alerts: ['keys_changed'] });
        await ctx.present(token, 'accepted', ' (the same token, after the tick)');
      },
    },
    {
      id: 'prepublished',
      title: 'Announced rotation: the IdP publishes its next key ahead of use; it is live before its first token',
      needs: ['first-sync'],
      when: emulated,
      run: async (ctx) => {
        const key = ctx.idp.prepublish({ alg: 'PS256', kid: 'key-3' });
        console.log(`the IdP publishes ${key.kid} ${key.alg} ahead of use; it still signs with ${ctx.idp.signingKid}`);
        await ctx.cronTick({ outcome: 'updated', alerts: ['keys_changed'] });
        ctx.idp.switchSigning();
        console.log(`the IdP switches signing to ${key.kid}, with no sync in between`);
        await ctx.present(ctx.idp.sign(USER), 'accepted', ' (its first token)');
      },
    },
    {
      id: 'retire',
      title: `The IdP retires its first key: it stays live for RETAIN_REMOVED_KEYS_FOR (${GRACE}), then a cron tick removes it`,
      needs: ['first-sync'],
      when: emulated,
      run: async (ctx) => {
        const { kid: oldKid, alg: oldAlg } = ctx.firstKey;
        const old = `${oldKid} ${oldAlg}`;
        ctx.idp.retire(oldKid);
        console.log(`the IdP stops publishing ${oldKid}`);
        const [kept] = await ctx.cronTick({ outcome: 'unchanged' });
        const retained = kept.retained?.find((k) => k.kid === oldKid);
        console.log(`live in the emulated Cloudflare: ${ctx.live().join(', ')}`);
        if (!retained || !ctx.live().includes(old)) throw new StepFailure(`the retired key ${old} was not kept live`);
        await ctx.present(ctx.firstToken, 'accepted', ' (the token from the first sync)');
        const wait = Date.parse(retained.until) - Date.now() + 1500;
        console.log(dim(`waiting ${Math.ceil(wait / 1000)} s for the grace period to end (${retained.until})…`));
        await sleep(wait);
        await ctx.cronTick({ outcome: 'updated', alerts: ['keys_changed'] });
        const live = ctx.live();
        console.log(`live in the emulated Cloudflare: ${live.join(', ')}`);
        const published = ctx.published();
        if ([...live].sort().join() !== [...published].sort().join()) {
          throw new StepFailure(`live keys are ${live.join(', ') || 'none'}, not the IdP's ${published.join(', ')}`);
        }
        await ctx.present(ctx.firstToken, NO_KEY, ' (the token from the first sync)');
      },
    },
    {
      id: 'idp-failure',
      title: 'A failure at the IdP (an HTML error page with status 200): nothing is written, tokens stay accepted',
      needs: ['first-sync'],
      when: emulated,
      run: async (ctx) => {
        ctx.idp.misbehave({ html: true });
        const before = ctx.live();
        await ctx.sync('the sync', { status: 502, alerts: ['failing'] });
        console.log(dim('the next cron tick fails too: the heartbeat gets the failure URL, and no second alert is sent'));
        await ctx.cronTick({ outcome: 'failed' });
        const after = ctx.live();
        const same = JSON.stringify(before) === JSON.stringify(after);
        console.log(`live keys before: ${before.join(', ')}`);
        console.log(`live keys after:  ${after.join(', ')} ${same ? green('(untouched)') : red('(CHANGED)')}`);
        if (!same) throw new StepFailure('the live keys changed after a failed fetch');
        await ctx.present(ctx.idp.sign(USER), 'accepted', ' (the current key)');
        ctx.idp.clear();
        console.log(dim('the IdP recovers; the next sync succeeds:'));
        await ctx.sync('the sync after the recovery', { alerts: ['recovered'] });
      },
    },
    {
      id: 'status',
      title: 'Run history (GET /status): last run, last success, last change, failures in a row',
      needs: ['first-sync'],
      when: emulated,
      run: async (ctx) => {
        const res = await ctx.call('GET', '/status');
        if (res.status !== 200) throw new StepFailure(`GET /status answered HTTP ${res.status}`);
        const run = (r) => (r ? `run ${r.id} (${r.trigger}, ${r.outcome}, ${r.finished_at ?? 'running'})` : 'none');
        for (const t of res.body.targets) {
          console.log(`target ${bold(t.name)}: failures in a row ${t.failures_in_a_row}; freshness ${t.freshness.stale ? red('stale') : green('fresh')} (last success ${t.freshness.age_s} s ago)`);
          console.log(`  last run:     ${run(t.last_run)}`);
          console.log(`  last success: ${run(t.last_success)}`);
          const kids = t.last_change?.kids;
          console.log(`  last change:  ${run(t.last_change)}${kids ? `: added ${kids.added.join(', ') || 'none'}; removed ${kids.removed.join(', ') || 'none'}` : ''}`);
          console.log(`  restorable:   runs ${t.restorable_runs.join(', ')} (POST /rollback {"target":"${t.name}","run":…})`);
          console.log(`  runs:         ${t.runs.map((r) => `${r.id} ${r.trigger} ${r.outcome}`).join(' · ')}`);
          if (t.failures_in_a_row !== 0 || t.freshness.stale) throw new StepFailure(`${t.name} is not fresh after a successful sync`);
        }
      },
    },
    {
      id: 'freshness',
      title: `Freshness for monitors (GET /healthz, no token): 503 once no run has succeeded for STALE_AFTER (${STALE})`,
      needs: ['first-sync'],
      when: emulated,
      run: async (ctx) => {
        const health = async () => {
          const r = await fetch(`${ctx.workerUrl}/healthz`);
          console.log(`GET /healthz → ${r.status === 200 ? green(r.status) : red(r.status)} ${await r.text()}`);
          return r.status;
        };
        if ((await health()) !== 200) throw new StepFailure('the Worker is not fresh right after a sync');
        const wait = Number.parseInt(STALE, 10) * 1000 + 1500;
        console.log(dim(`no run for ${wait / 1000} s (as if the cron had stopped)…`));
        await sleep(wait);
        if ((await health()) !== 503) throw new StepFailure('GET /healthz did not turn 503');
      },
    },
  ];
  return all.filter((s) => s.when !== false);
}

/** Starts the emulator-backed settings file and `wrangler dev`, and waits for /healthz. */
async function startWorker(ctx) {
  const problem = await portProblem(ctx.port);
  if (problem) throw new StepFailure(`port ${ctx.port} is already in use; set DEMO_PORT to a free port`);
  secretsDir = mkdtempSync(join(tmpdir(), 'jwks-sync-demo-settings-'));
  const envFile = join(secretsDir, 'demo.env');
  writeFileSync(envFile, Object.entries(ctx.vars).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join('\n') + '\n', { mode: 0o600 });
  console.log(dim(`wrangler dev on ${ctx.workerUrl}; its output goes to ${ctx.wranglerLog}`));
  const out = openSync(ctx.wranglerLog, 'a');
  // The Worker gets only the settings file: no .dev.vars, no .env, no process environment (a real
  // API token there must not reach a demo that was told to use the emulator). wrangler itself would
  // take CF_API_TOKEN as its own login (a deprecated name of CLOUDFLARE_API_TOKEN); local dev needs none.
  const wranglerEnv = { ...env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: 'true' };
  delete wranglerEnv.CLOUDFLARE_INCLUDE_PROCESS_ENV;
  delete wranglerEnv.CF_API_TOKEN;
  wrangler = spawn(
    'npx',
    // --persist-to: a fresh history (Durable Object storage) for each demo, not .wrangler/state.
    ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(ctx.port), '--test-scheduled', '--env-file', envFile, '--persist-to', join(secretsDir, 'state'), '--show-interactive-dev-session=false'],
    { detached: true, stdio: ['ignore', out, out], env: wranglerEnv },
  );
  closeSync(out);
  const end = Date.now() + 300_000;
  while (Date.now() < end) {
    if (wrangler.exitCode !== null || wrangler.signalCode !== null) {
      throw new StepFailure(`wrangler dev exited (${wrangler.exitCode ?? wrangler.signalCode}) before the Worker answered; its last lines:\n${tail(ctx.wranglerLog, 15)}`);
    }
    try {
      if ((await fetch(`${ctx.workerUrl}/healthz`)).status === 200) return;
    } catch {}
    await sleep(500);
  }
  throw new StepFailure(`the Worker did not answer on ${ctx.workerUrl}/healthz within 300 s; wrangler's last lines:\n${tail(ctx.wranglerLog, 15)}`);
}

function tail(file, n) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {}
  return text.replace(/\x1b\[[0-9;]*m/g, '').trimEnd().split('\n').slice(-n).map((l) => `    ${l}`).join('\n');
}

async function main() {
  const preflightOnly = process.argv.includes('--preflight');
  const p = decide(env, { tty: Boolean(process.stdin.isTTY) && !preflightOnly });
  const code = await preflight(p);
  if (code !== 0 || preflightOnly) process.exit(code);

  let write = p.write;
  const configId = (env.CF_TOKEN_CONFIG_ID ?? '').trim();
  if (p.ask) {
    console.log(`The Cloudflare API is ${bold('real')}: zone ${env.CF_ZONE_ID}, token validation configuration ${configId}.`);
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    rl.on('SIGINT', () => {
      console.log('\nnothing was started');
      process.exit(130);
    });
    const question = `To let this demo replace that configuration's credentials with the keys of ${(env.JWKS_URL || env.OIDC_ISSUER).trim()}, type its id (${configId}); press Enter to preview only: `;
    // End of input (Ctrl-D) answers nothing: preview only.
    const answer = await new Promise((resolve) => {
      rl.once('close', () => resolve(''));
      rl.question(question).then(resolve, () => resolve(''));
    });
    rl.close();
    write = confirmsWrite(answer, configId);
  }
  const run = { ...p, write };

  process.on('SIGINT', () => {
    console.log('\nstopping…');
    stop(130);
  });
  process.on('SIGTERM', () => stop(143));

  logs = mkdtempSync(join(tmpdir(), 'jwks-sync-demo-'));
  // The emulated IdP's kids are short names (key-1, key-2…) rather than thumbprints, to be readable.
  emu = await startEmulator({ idps: run.idp === 'emulated' ? [{ name: 'demo', generate: [{ alg: 'RS256', kid: 'key-1' }] }] : [] });
  const ctx = {
    port: run.port,
    workerUrl: `http://127.0.0.1:${run.port}`,
    wranglerLog: (wranglerLog = join(logs, 'wrangler.log')),
    authToken: randomBytes(24).toString('hex'),
    emulatedCf: run.cloudflare === 'emulated',
    idp: run.idp === 'emulated' ? emu.idp('demo') : undefined,
  };
  if (ctx.idp) {
    // Like many real IdPs, publish keys API Shield cannot use beside the signing key: an encryption
    // key (Keycloak) and an Ed25519 key (RFC 8037 appendix A.2); the Worker drops them with a reason.
    ctx.idp.addKey({ ...ctx.idp.generateKey({ alg: 'RS256', kid: 'enc-1' }), use: 'enc', alg: 'RSA-OAEP' });
    ctx.idp.addKey({ kty: 'OKP', crv: 'Ed25519', kid: 'ed25519-1', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' });
  }
  const real = run.cloudflare === 'real';
  ctx.vars = workerVars(run, env, {
    jwksUrl: emu.jwksUrl('demo'),
    cfApiBase: emu.cfApiBase,
    zoneId: DEFAULT_ZONE_ID,
    configId: DEFAULT_CONFIG_ID,
    token: DEFAULT_TOKEN,
    sinkUrl: emu.sinkUrl,
  }, ctx.authToken);
  ctx.call = async (method, path = '/') => {
    const r = await fetch(ctx.workerUrl + path, { method, headers: { authorization: `Bearer ${ctx.authToken}` } });
    const text = await r.text();
    try {
      return { status: r.status, body: JSON.parse(text) };
    } catch {
      return { status: r.status, body: { error: { code: 'NOT_JSON', message: text.slice(0, 300) } } };
    }
  };
  ctx.live = () => emu.storedKeys(DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID).map((k) => `${k.kid} ${k.alg}`);
  /** The emulated IdP's published keys that API Shield can store (RSA and EC signing keys). */
  ctx.published = () => ctx.idp.keys.filter((k) => k.use !== 'enc' && ['RSA', 'EC'].includes(k.kty)).map((k) => `${k.kid} ${k.alg}`);
  ctx.edgeUrl = emu.edgeUrl();
  /**
   * Presents `token` at the emulated edge and prints its answer. `expected` is 'accepted' (200) or
   * the reason of a 401; anything else fails the step.
   */
  ctx.present = async (token, expected, note = '') => {
    const { kid, alg } = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8'));
    const r = await fetch(`${ctx.edgeUrl}/`, { headers: { authorization: `Bearer ${token}` } });
    const body = await r.json().catch(() => ({}));
    const got = r.status === 200 ? 'accepted' : body.reason;
    console.log(`token signed with ${kid} ${alg}${note} → edge: ${r.status === 200 ? green('200 accepted') : red(`${r.status} refused, ${body.reason}`)}`);
    if (got !== expected) {
      throw new StepFailure(`the edge answered HTTP ${r.status}${body.reason ? ` (${body.reason}: ${body.detail})` : ''} to a token signed with ${kid} ${alg}, not ${expected === 'accepted' ? '200' : `401 (${expected})`}`);
    }
  };
  let alertsShown = 0;
  /** Prints the alerts the webhook sink received since the last call; returns their events. */
  const newAlerts = () => {
    const fresh = emu.sink('webhook').received.slice(alertsShown).map((r) => r.body);
    alertsShown += fresh.length;
    for (const a of fresh) console.log(`alert → webhook: ${bold(a.event)}: ${a.text}`);
    if (!fresh.length) console.log(dim('no alert (no change of state)'));
    return fresh.map((a) => a.event);
  };
  const expectAlerts = (events, expected) => {
    if (events.join() !== expected.join()) throw new StepFailure(`the alerts were ${events.join(', ') || 'none'}, not ${expected.join(', ') || 'none'}`);
  };
  /**
   * POST / (a sync), shown, with the alerts it sent (emulated IdP). Fails the step (`what` names the
   * sync) unless it answered `status` (200: every target succeeded) and, with the emulated IdP, sent
   * exactly the `alerts` (events, in order).
   */
  ctx.sync = async (what, { status = 200, alerts = [] } = {}) => {
    const res = await ctx.call('POST');
    show(res);
    const events = ctx.idp ? newAlerts() : [];
    if (status === 200) expectSuccess(res, what);
    else if (res.status !== status) throw new StepFailure(`${what} answered HTTP ${res.status}, not ${status}`);
    if (ctx.idp) expectAlerts(events, alerts);
    return res;
  };
  let pingsShown = 0;
  /**
   * Runs the cron trigger and shows what it logged (its JSON lines in wrangler's output). With the
   * emulated IdP, also the heartbeat ping and the alerts; the step fails unless the (first) target's
   * run ended `outcome`, the heartbeat got the failure URL when a target failed and the success URL
   * otherwise, and the alerts were exactly `alerts`. Returns the log lines.
   */
  ctx.cronTick = async ({ outcome, alerts = [] } = {}) => {
    const seen = statSync(ctx.wranglerLog).size;
    const r = await fetch(`${ctx.workerUrl}/__scheduled?cron=${encodeURIComponent('*/5 * * * *')}`);
    await r.arrayBuffer();
    let lines = [];
    for (let i = 0; i < 300 && !lines.length; i++) {
      await sleep(100);
      lines = logLines(readFileSync(ctx.wranglerLog).subarray(seen).toString('utf8'), 'cron');
    }
    if (!lines.length) throw new StepFailure(`no cron log line appeared in ${ctx.wranglerLog} within 30 s`);
    const label = `cron tick: GET /__scheduled → HTTP ${r.status}${r.status === 500 ? ' (a failed run ends the scheduled event with an exception)' : ''}`;
    show({ body: { dry_run: lines[0].dry_run, targets: lines.map(({ event, trigger, dry_run, ...target }) => target) } }, label);
    if (!ctx.idp) return lines;
    const pings = emu.sink('heartbeat').received;
    for (let i = 0; i < 100 && pings.length === pingsShown; i++) await sleep(100);
    const ping = pings.slice(pingsShown);
    pingsShown = pings.length;
    for (const { path } of ping) console.log(`heartbeat → ${path === 'fail' ? red('failure ping (HEARTBEAT_FAIL_URL)') : green('success ping (HEARTBEAT_URL)')}`);
    const events = newAlerts();
    if (outcome && lines[0].outcome !== outcome) throw new StepFailure(`the cron run ended ${lines[0].outcome}, not ${outcome}`);
    const failed = lines.some((l) => l.outcome === 'failed');
    if (ping.length !== 1) throw new StepFailure(`the heartbeat got ${ping.length} pings after the cron tick, not one`);
    if ((ping[0].path === 'fail') !== failed) throw new StepFailure(`the heartbeat got the ${ping[0].path === 'fail' ? 'failure' : 'success'} URL after a run that ${failed ? 'failed' : 'succeeded'}`);
    expectAlerts(events, alerts);
    return lines;
  };

  console.log(bold('jwks-sync demo'));
  for (const note of run.notes) console.log(note);
  console.log(`identity provider: ${run.idp === 'own' ? (env.JWKS_URL || env.OIDC_ISSUER).trim() : `emulated, ${emu.jwksUrl('demo')}`}`);
  if (real) {
    const base = ctx.vars.CF_API_BASE || 'https://api.cloudflare.com/client/v4';
    console.log(`Cloudflare API:    ${bold('REAL')} (${base}), zone ${ctx.vars.CF_ZONE_ID}, configuration ${configId}: ${write ? red('this run WRITES to it') : green('preview only, nothing is written')}`);
  } else {
    console.log(`Cloudflare API:    emulated, ${emu.cfApiBase}`);
  }

  const status = await runSteps(steps(run), ctx, {
    heading: (n, title) => console.log(`\n${bold(`── ${n}. ${title}`)}`),
    skipped: (step, dep, why) => console.log(dim(`skipped: it needs step "${dep}", which ${why === 'failed' ? 'failed' : 'was skipped'}`)),
    failed: (n, step, e) => {
      console.log(red(`✗ step ${n} (${step.id}) failed: ${e.message}`));
      if (!(e instanceof StepFailure)) console.log(dim(e.stack));
    },
  });

  const failed = [...status].filter(([, s]) => s === 'failed').map(([id]) => id);
  const skipped = [...status].filter(([, s]) => s === 'skipped').map(([id]) => id);
  if (failed.length) {
    console.log(`\n${red(`demo failed at ${failed.join(', ')}`)}${skipped.length ? red(`; skipped: ${skipped.join(', ')}`) : ''}`);
    return stop(1);
  }
  if (real && !write) {
    console.log(`\n${green('preview complete')}: nothing was written. To let the demo write to configuration ${configId}, run it again with DEMO_WRITE_REAL=${configId}${process.stdin.isTTY ? ' or type the id when asked' : ''}.`);
  } else {
    console.log(`\n${green('demo complete')}`);
  }
  return stop(0);
}

main().catch((e) => {
  console.error(red(e.stack || String(e)));
  stop(1);
});
