// The shell's I/O on the JavaScript side of the Worker, one call per exchange: the Rust side
// (src/shell.rs, src/shell/client.rs) calls each function once and gets one plain object back,
// instead of crossing between wasm and JavaScript for every header, every part of a request and
// every chunk of a body, and instead of building workers-rs `Request`s, each of which reads the
// runtime's `cf` object (issue 13: those crossings, not the sync's logic, were most of a sync's
// CPU time; BENCHMARKS.md, "Where a sync's CPU time goes"). Nothing here decides anything.

// fetchBounded(url, method, headers, body, timeoutMs, noStore, maxBytes) resolves, never rejects, to
//   {status, contentType, location, retryAfter, body: Uint8Array}   an answer (any status)
//   {error: 'timeout'}                                              no answer within timeoutMs
//   {error: 'too_large'}                                            body over maxBytes: not read further
//   {error: 'network', detail}                                      any other failure, as the runtime said it
// `headers` is a flat array [name, value, name, value, …]; redirects are never followed
// (`redirect: 'manual'`); `noStore` asks for `cache: 'no-store'`. The timeout covers the whole
// exchange, the body included.
export async function fetchBounded(url, method, headers, body, timeoutMs, noStore, maxBytes) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const h = new Headers();
    for (let i = 0; i + 1 < headers.length; i += 2) h.set(headers[i], headers[i + 1]);
    const init = { method, headers: h, redirect: 'manual', signal: controller.signal };
    if (noStore) init.cache = 'no-store';
    if (body !== undefined) init.body = body;
    const resp = await fetch(url, init);
    const length = Number(resp.headers.get('content-length'));
    if (length > maxBytes) {
      controller.abort();
      return { error: 'too_large' };
    }
    const answer = {
      status: resp.status,
      contentType: resp.headers.get('content-type'),
      location: resp.headers.get('location'),
      retryAfter: resp.headers.get('retry-after'),
      body: new Uint8Array(0),
    };
    if (resp.body === null) return answer;
    // Read chunk by chunk up to the limit: content-length may be absent (chunked) or describe a
    // compressed body that the runtime decodes.
    const reader = resp.body.getReader();
    const chunks = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        controller.abort();
        return { error: 'too_large' };
      }
      chunks.push(value);
    }
    answer.body = chunks.length === 1 ? chunks[0] : concat(chunks, total);
    return answer;
  } catch (e) {
    return controller.signal.aborted ? { error: 'timeout' } : { error: 'network', detail: String(e) };
  } finally {
    clearTimeout(timer);
  }
}

function concat(chunks, total) {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

// callObject(namespace, name, method, url, timeoutMs): one request to the Durable Object `name` of
// `namespace` (a binding); resolves, never rejects, to
//   {status, text}                  its answer
//   {error: 'timeout'}              no answer within timeoutMs (the call is left to finish alone)
//   {error: 'unavailable', detail}  no binding, or the object or the runtime failed the call
export async function callObject(namespace, name, method, url, timeoutMs) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ error: 'timeout' }), timeoutMs);
  });
  const call = (async () => {
    const resp = await namespace.getByName(name).fetch(url, { method });
    return { status: resp.status, text: await resp.text() };
  })().catch((e) => ({ error: 'unavailable', detail: String(e) }));
  try {
    return await Promise.race([call, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// jsonResponse(status, body, extraName, extraValue): the Worker's and its objects' answers, all
// JSON that no cache keeps; `extraName` (when not empty) adds one header (`allow`,
// `www-authenticate`).
export function jsonResponse(status, body, extraName, extraValue) {
  const headers = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (extraName) headers[extraName] = extraValue;
  return new Response(body, { status, headers });
}
