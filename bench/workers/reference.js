// The alternative a user would otherwise deploy: the JavaScript Worker described in Cloudflare's
// API Shield documentation (JWT validation, "keep keys up to date with a Worker"), written fresh
// from its documented behaviour. On a cron tick and on any fetch it GETs the JWKS, takes `.keys`
// of the JSON and PUTs `{"keys": keys}` to the token validation credentials route. No filtering,
// no diff, no verification: it always PUTs.
//
// Everything the documented Worker hard-codes is a binding here, so the benchmark can point it at
// the local emulator: JWKS_URL, CF_ZONE_ID, CF_TOKEN_CONFIG_ID, CF_API_TOKEN, CF_API_BASE
// (default https://api.cloudflare.com/client/v4). Same names as the Rust Worker's settings.

async function updateKeys(env) {
  const jwksResponse = await fetch(env.JWKS_URL);
  const { keys } = await jwksResponse.json();
  const base = env.CF_API_BASE || 'https://api.cloudflare.com/client/v4';
  const url = `${base}/zones/${env.CF_ZONE_ID}/token_validation/config/${env.CF_TOKEN_CONFIG_ID}/credentials`;
  const response = await fetch(url, {
    method: 'PUT',
    headers: {
      Authorization: `Bearer ${env.CF_API_TOKEN}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({ keys }),
  });
  return response.json();
}

export default {
  async scheduled(event, env, ctx) {
    ctx.waitUntil(updateKeys(env).then((result) => console.log(JSON.stringify(result))));
  },
  async fetch(request, env) {
    const result = await updateKeys(env);
    return new Response(JSON.stringify(result), { headers: { 'Content-Type': 'application/json' } });
  },
};
