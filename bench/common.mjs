// What the workerd benchmarks share (bench/workerd.mjs, bench/ab.mjs, bench/profile.mjs): the
// emulator and the Worker's bindings against it, and the CPU time of the workerd processes a
// Miniflare started, read from /proc.
import { readFileSync, readdirSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { startEmulator, DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID, DEFAULT_TOKEN } from '../emulator/index.mjs';

/** The bearer token of the benchmarked Worker's HTTP trigger. */
export const AUTH = 'bench-sync-auth-token-0123456789';

/**
 * The emulator with one IdP `main` publishing `keys` RSA-2048 RS256 keys, and the Worker's
 * bindings (one target synced from it into the default configuration).
 */
export async function benchEmulator(keys = 2) {
  const emu = await startEmulator({ idps: [{ name: 'main', generate: Array.from({ length: keys }, () => ({ alg: 'RS256' })) }] });
  const bindings = {
    JWKS_URL: emu.jwksUrl('main'),
    CF_ZONE_ID: DEFAULT_ZONE_ID,
    CF_TOKEN_CONFIG_ID: DEFAULT_CONFIG_ID,
    CF_API_BASE: emu.cfApiBase,
    CF_API_TOKEN: DEFAULT_TOKEN,
    SYNC_AUTH_TOKEN: AUTH,
  };
  return { emu, bindings };
}

/** Clock ticks per second of /proc's utime and stime. */
export const HZ = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;

/** Pids of the processes whose parent is `ppid`. */
function children(ppid) {
  const pids = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === ppid) pids.push(Number(d));
    } catch {
      /* exited */
    }
  }
  return pids;
}

/** Pids of every process below `pid` (a Miniflare's workerd, started by this process). */
export const descendants = (pid) => children(pid).flatMap((c) => [c, ...descendants(c)]);

/** utime+stime of the given pids, in seconds. */
export function cpu(pids) {
  let ticks = 0;
  for (const p of pids) {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]); // fields 14, 15: utime, stime
  }
  return ticks / HZ;
}
