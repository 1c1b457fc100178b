// Shared helpers for the emulator's own tests (not a test file itself).
import { readFileSync } from 'node:fs';
import { DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID, DEFAULT_TOKEN } from '../index.mjs';

export const ZONE = DEFAULT_ZONE_ID;
export const CONFIG = DEFAULT_CONFIG_ID;
export const TOKEN = DEFAULT_TOKEN;

/** Path of a real JWKS fixture, relative to the repository root's tests/fixtures/jwks/real/. */
export const fixturePath = (name) => new URL(`../../tests/fixtures/jwks/real/${name}`, import.meta.url).pathname;
export const fixture = (name) => JSON.parse(readFileSync(fixturePath(name), 'utf8'));

/** fetch with a bounded timeout; returns {status, headers, text, json}. */
export async function request(url, { method = 'GET', headers = {}, body, redirect = 'manual', timeoutMs = 5000 } = {}) {
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    redirect,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Call the Cloudflare face with the right token unless told otherwise. */
export function cf(emu, method, path, { body, token = TOKEN, headers = {} } = {}) {
  const h = { ...headers };
  if (token !== null) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  return request(`${emu.cfApiBase}${path}`, { method, headers: h, body });
}

export const configPath = (zone = ZONE, config = CONFIG) => `/zones/${zone}/token_validation/config/${config}`;
export const credentialsPath = (zone = ZONE, config = CONFIG) => `${configPath(zone, config)}/credentials`;

/** Call a control route. */
export function control(emu, method, path, body) {
  return request(`${emu.url}/__emulator${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body });
}
