// The decisions of the demo (scripts/demo.mjs), kept apart from its I/O so that node --test runs them
// directly (tests/scripts/demo-lib.test.mjs): which IdP and which Cloudflare API a run uses and
// whether it may write, the step runner, and reading the Worker's JSON log lines out of wrangler's
// coloured output.
import { stripVTControlCharacters } from 'node:util';

/** The three settings that, together with the user's own IdP, point the demo at the real API. */
export const CF_SETTINGS = ['CF_API_TOKEN', 'CF_ZONE_ID', 'CF_TOKEN_CONFIG_ID'];
/** Optional Worker settings the demo passes through from the environment. */
export const PASSED_THROUGH = ['JWKS_KEYS_POINTER', 'MAX_KEYS', 'RSA_DEFAULT_ALG', 'FETCH_TIMEOUT_MS', 'ALLOW_FULL_REPLACEMENT'];
export const DEFAULT_PORT = 8787;

/**
 * Decides what a run does, from the environment alone. Returns
 * `{ error }` (a one-line message: refuse to start, exit 2) or
 * `{ port, idp: 'emulated' | 'own', cloudflare: 'emulated' | 'real', write, ask, notes }`:
 * - `write`: whether the Worker may write (always true against the emulator; against the real API
 *   only with `DEMO_WRITE_REAL` equal to `CF_TOKEN_CONFIG_ID`, or after the interactive confirmation);
 * - `ask`: the run must ask the user to type the configuration id first (real API, a terminal, no
 *   `DEMO_WRITE_REAL`); see {@link confirmsWrite};
 * - `notes`: lines to print before starting, e.g. why `CF_*` settings are not used.
 * `tty` tells whether stdin is a terminal.
 */
export function plan(env, { tty = false } = {}) {
  const set = (name) => (env[name] ?? '').trim() !== '';
  const portText = (env.DEMO_PORT ?? '').trim();
  const port = portText === '' ? DEFAULT_PORT : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return { error: `DEMO_PORT must be a port number from 1 to 65535, got ${JSON.stringify(env.DEMO_PORT)}` };
  }
  if (set('JWKS_URL') && set('OIDC_ISSUER')) {
    return { error: 'JWKS_URL and OIDC_ISSUER are both set; set one of them (or neither, for the emulated IdP)' };
  }
  const cfSet = CF_SETTINGS.filter(set);
  const optIn = (env.DEMO_WRITE_REAL ?? '').trim();
  const notes = [];
  const idp = set('JWKS_URL') || set('OIDC_ISSUER') ? 'own' : 'emulated';
  if (idp === 'emulated') {
    if (cfSet.length) {
      notes.push(`${list(cfSet)} ${cfSet.length === 1 ? 'is' : 'are'} set but not used: with the emulated IdP the demo writes only to the emulated Cloudflare API`);
    }
    if (optIn) notes.push('DEMO_WRITE_REAL is ignored: the emulated IdP\'s throwaway keys never go to a real configuration');
    return { port, idp, cloudflare: 'emulated', write: true, ask: false, notes };
  }
  if (cfSet.length < CF_SETTINGS.length) {
    if (cfSet.length) {
      const missing = CF_SETTINGS.filter((n) => !set(n));
      notes.push(`${list(cfSet)} ${cfSet.length === 1 ? 'is' : 'are'} set but not ${list(missing, 'or')}: using the emulated Cloudflare API (set all three for the real one)`);
    }
    if (optIn) notes.push('DEMO_WRITE_REAL is ignored: the demo uses the emulated Cloudflare API');
    return { port, idp, cloudflare: 'emulated', write: true, ask: false, notes };
  }
  const configId = env.CF_TOKEN_CONFIG_ID.trim();
  if (optIn && optIn !== configId) {
    return {
      error: `DEMO_WRITE_REAL is ${JSON.stringify(optIn)}, which is not CF_TOKEN_CONFIG_ID (${configId}): it must name the configuration the demo may write to; nothing was started`,
    };
  }
  if (optIn) return { port, idp, cloudflare: 'real', write: true, ask: false, notes };
  return { port, idp, cloudflare: 'real', write: false, ask: tty, notes };
}

/** STALE_AFTER and RETAIN_REMOVED_KEYS_FOR of a demo with the emulated IdP: short, to see them act. */
export const DEMO_SETTINGS = { STALE_AFTER: '15s', RETAIN_REMOVED_KEYS_FOR: '5s' };

/**
 * Every setting the demo's Worker gets (wrangler is given nothing else). `run` is a {@link plan}
 * with its final `write`; `emu` describes the emulator: `{ jwksUrl, cfApiBase, zoneId, configId,
 * token, sinkUrl(name, sub?) }`. With the emulated IdP the Worker also gets the alert webhook and the
 * heartbeat (the emulator's sinks) and {@link DEMO_SETTINGS}; with your own IdP it never does: a
 * configuration that may be real must not keep a retired key, or report to a sink, because of a demo.
 */
export function workerVars(run, env, emu, authToken) {
  const own = run.idp === 'own';
  const real = run.cloudflare === 'real';
  const setting = (name) => (env[name] ?? '').trim();
  return {
    JWKS_URL: own ? setting('JWKS_URL') : emu.jwksUrl,
    OIDC_ISSUER: own ? setting('OIDC_ISSUER') : '',
    CF_API_BASE: real ? setting('CF_API_BASE') : emu.cfApiBase,
    CF_API_TOKEN: real ? setting('CF_API_TOKEN') : emu.token,
    CF_ZONE_ID: real ? setting('CF_ZONE_ID') : emu.zoneId,
    CF_TOKEN_CONFIG_ID: real ? setting('CF_TOKEN_CONFIG_ID') : emu.configId,
    SYNC_TARGETS: '',
    SYNC_AUTH_TOKEN: authToken,
    // The Worker itself refuses to write unless this run may: a preview of the real API stays one.
    DRY_RUN: run.write ? 'false' : 'true',
    ...(own
      ? {}
      : {
          ALERT_WEBHOOK_URL: emu.sinkUrl('webhook'),
          HEARTBEAT_URL: emu.sinkUrl('heartbeat'),
          HEARTBEAT_FAIL_URL: emu.sinkUrl('heartbeat', 'fail'),
          ...DEMO_SETTINGS,
        }),
    ...Object.fromEntries(PASSED_THROUGH.filter((k) => env[k]).map((k) => [k, env[k]])),
  };
}

/** True when the answer to the interactive confirmation names the configuration (`CF_TOKEN_CONFIG_ID`). */
export function confirmsWrite(answer, configId) {
  return (answer ?? '').trim() !== '' && answer.trim() === configId.trim();
}

function list(names, word = 'and') {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} ${word} ${names.at(-1)}`;
}

/** A step failed for a reason the demo can name (a failed target, an unexpected answer). */
export class StepFailure extends Error {}

/**
 * Runs `steps` in order. A step is `{ id, title, needs: [ids of earlier steps], run(ctx) }`; `run`
 * resolves when the step did what it shows, and throws (a {@link StepFailure} for an expected kind of
 * failure) otherwise. A step whose `needs` include a step that failed or was skipped is skipped.
 * `io` has `heading(n, title)`, `failed(n, step, error)` and `skipped(step, blockingId, blockingStatus)`.
 * Returns a Map from step id to `'ok' | 'failed' | 'skipped'`, in order.
 */
export async function runSteps(steps, ctx, io) {
  const status = new Map();
  for (const [i, step] of steps.entries()) {
    for (const dep of step.needs ?? []) {
      if (!steps.slice(0, i).some((s) => s.id === dep)) throw new Error(`step ${step.id} needs ${dep}, which is not an earlier step`);
    }
    io.heading(i + 1, step.title);
    const blocking = (step.needs ?? []).find((dep) => status.get(dep) !== 'ok');
    if (blocking !== undefined) {
      status.set(step.id, 'skipped');
      io.skipped(step, blocking, status.get(blocking));
      continue;
    }
    try {
      await step.run(ctx);
      status.set(step.id, 'ok');
    } catch (e) {
      status.set(step.id, 'failed');
      io.failed(i + 1, step, e);
    }
  }
  return status;
}

/**
 * The Worker's JSON log lines (`"event":"jwks-sync"`) in a piece of wrangler's output, with the
 * terminal colour codes wrangler wraps them in removed; `trigger` keeps only that trigger's lines.
 * A line that does not parse is skipped, never thrown.
 */
export function logLines(text, trigger) {
  const out = [];
  for (const raw of text.split('\n')) {
    const line = stripVTControlCharacters(raw);
    const start = line.indexOf('{');
    const end = line.lastIndexOf('}');
    if (start < 0 || end < start) continue;
    let value;
    try {
      value = JSON.parse(line.slice(start, end + 1));
    } catch {
      continue;
    }
    if (value?.event === 'jwks-sync' && (trigger === undefined || value.trigger === trigger)) out.push(value);
  }
  return out;
}

/**
 * Why a Worker answer failed, one line each: the answer's own `error` (invalid settings, a refused
 * request), then `name: [stage] CODE: message` per failed target. Empty when nothing failed.
 */
export function failures(body) {
  const out = [];
  const e = body?.error;
  if (e) out.push(e.stage ? `[${e.stage}] ${e.code}: ${e.message}` : `${e.code ?? 'ERROR'}: ${e.message ?? JSON.stringify(e)}`);
  for (const t of Array.isArray(body?.targets) ? body.targets : []) {
    if (t.outcome === 'failed') out.push(`${t.name}: [${t.error?.stage}] ${t.error?.code}: ${t.error?.message}`);
  }
  return out;
}
