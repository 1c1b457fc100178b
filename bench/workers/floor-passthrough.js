// Floor 2: one subrequest (the JWKS) whose body is passed through untouched.
export default {
  async fetch(request, env) {
    const r = await fetch(env.JWKS_URL);
    return new Response(r.body, { status: r.status, headers: { 'Content-Type': 'application/json' } });
  },
};
