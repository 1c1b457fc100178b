#!/usr/bin/env node
// Command line for the emulator: `node emulator/cli.mjs --port 8788 [options]`.

import { parseArgs } from 'node:util';
import { startEmulator, DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID } from './index.mjs';
import { parseFault } from './cli-args.mjs';

const HELP = `Usage: node emulator/cli.mjs [options]

Local emulator of the Cloudflare token validation API (under /client/v4), of
identity providers (under /idp/{name}/), and of an edge that validates JWTs
with a configuration's keys as API Shield does (under /edge/{zone}/{config}/).
Control routes: /__emulator/... (see emulator/README.md). Listens on
127.0.0.1 only.

Options:
  --port N              port to listen on (default 8788; 0 = any free port)
  --token TOKEN         API token accepted as "Authorization: Bearer TOKEN"
                        (default test-cf-api-token)
  --max-keys N          keys allowed per configuration (default 16)
  --config ZONE:CONFIG[:TITLE]
                        seed a configuration (repeatable). Without any,
                        ${DEFAULT_ZONE_ID}:${DEFAULT_CONFIG_ID}
  --idp NAME[=FIXTURE]  serve an IdP (repeatable): from a JWKS fixture file,
                        or with one generated RSA 2048 RS256 key
  --put-shape top|result|both
                        where the PUT and PATCH credentials answers carry the
                        keys (default result, the newest schema; top is the
                        older SDKs' shape)
  --no-patch            PATCH credentials answers 405 (an API without it)
  --fault ROUTE:KIND[,times=N]
                        inject a fault (repeatable). ROUTE is listConfigs,
                        getConfig, putCredentials, patchCredentials or *.
                        KIND is status=CODE (with code=N, apply), delay=MS,
                        malformed or drop. Examples:
                          --fault putCredentials:status=503,times=2
                          --fault getConfig:status=403,code=10403
                          --fault putCredentials:status=504,apply
                          --fault getConfig:delay=3000
                          --fault '*:drop,times=1'
  --rate-limit [SECONDS] answer every API call 429 (code 971) with
                        retry-after SECONDS (default 60)
  --drop-kid KID        silently drop this kid from PUT credentials (repeatable)
  --sink NAME           create a receiver at /sink/NAME that records what it gets
                        and answers 200 "ok" (repeatable; for ALERT_WEBHOOK_URL,
                        HEARTBEAT_URL; any other name is created on first use)
  --log                 print one line per request to stderr
  -h, --help            show this help
`;

async function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string', default: '8788' },
      token: { type: 'string' },
      'max-keys': { type: 'string' },
      config: { type: 'string', multiple: true },
      idp: { type: 'string', multiple: true },
      'put-shape': { type: 'string' },
      'no-patch': { type: 'boolean' },
      fault: { type: 'string', multiple: true },
      'rate-limit': { type: 'string' },
      'drop-kid': { type: 'string', multiple: true },
      sink: { type: 'string', multiple: true },
      log: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void process.stdout.write(HELP);
  if (positionals.length) throw new Error(`unexpected argument ${positionals[0]} (see --help)`);
  const configs = values.config?.map((c) => {
    const [zoneId, configId, ...title] = c.split(':');
    if (!zoneId || !configId) throw new Error(`--config ${c}: expected ZONE:CONFIG`);
    return { zoneId, configId, title: title.length ? title.join(':') : undefined };
  });
  const idps = (values.idp ?? []).map((s) => {
    const [name, fixture] = s.split(/=(.*)/s);
    return fixture ? { name, fixture } : { name };
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${values.port}: expected 0..65535`);
  const emu = await startEmulator({
    port,
    token: values.token,
    maxKeys: values['max-keys'] !== undefined ? Number(values['max-keys']) : undefined,
    configs,
    idps,
    sinks: values.sink,
    putResponseShape: values['put-shape'],
    patchSupported: !values['no-patch'],
  });
  for (const f of values.fault ?? []) emu.fault(parseFault(f));
  if (values['rate-limit'] !== undefined) emu.rateLimit(true, values['rate-limit'] === '' ? 60 : Number(values['rate-limit']));
  for (const kid of values['drop-kid'] ?? []) emu.dropKidOnPut(kid);
  if (values.log) {
    emu.server.on('request', (req, res) => res.on('close', () => process.stderr.write(`${req.method} ${req.url} -> ${res.headersSent ? res.statusCode : 'dropped'}\n`)));
  }

  const lines = [`jwks-sync emulator listening on ${emu.url}`, `  CF_API_BASE=${emu.cfApiBase}`];
  for (const c of emu.configs()) {
    lines.push(`  config   zone ${c.zoneId} config ${c.id}  ${emu.cfApiBase}/zones/${c.zoneId}/token_validation/config/${c.id}`);
    lines.push(`  edge     ${emu.edgeUrl(c.zoneId, c.id)}/`);
  }
  for (const name of emu.idpNames()) lines.push(`  idp ${name}: issuer ${emu.issuer(name)}  jwks ${emu.jwksUrl(name)}`);
  for (const name of emu.sinkNames()) lines.push(`  sink ${name}: ${emu.sinkUrl(name)}`);
  lines.push(`  control  ${emu.url}/__emulator/state`);
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`received ${signal}, shutting down\n`);
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    emu.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

// `--rate-limit` with no value: parseArgs needs a value for string options,
// so accept a bare flag by giving it an empty one.
const argv = process.argv.slice(2).flatMap((a, i, all) => (a === '--rate-limit' && (all[i + 1] === undefined || all[i + 1].startsWith('--')) ? [a, ''] : [a]));
main(argv).catch((e) => {
  process.stderr.write(`emulator: ${e.message}\n`);
  process.exit(2);
});
