// What the data section of a wasm module holds (issue 13): its bytes split into runs of printable
// text and the rest (tables, constants), with the text sorted into the kinds that pull it in:
//   panic locations      source paths (`…/src/x.rs`) that panics and `unwrap`s carry
//   messages and hints   the Worker's own texts: error messages, the catalogue's hints, codes
//   SQL and JSON names   statements and the field names of what is serialized
//   library messages     serde, std, url and other crates' error and format texts
//   other text           anything else printable
// Usage: node bench/wasm-data.mjs MODULE.wasm [OUT.json]   → JSON {dataBytes, textBytes, kinds}
import { readFileSync, writeFileSync } from 'node:fs';

const buf = readFileSync(process.argv[2]);
let pos = 8;
const leb = () => {
  let r = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++];
    r += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) return r;
  }
};
let data = Buffer.alloc(0);
while (pos < buf.length) {
  const id = buf[pos++];
  const size = leb();
  if (id === 11) data = buf.subarray(pos, pos + size);
  pos += size;
}
const text = data.toString('latin1').match(/[\x20-\x7e\n]{6,}/g) ?? [];
const ours = /JWKS|CF_|IdP|MAX_KEYS|SYNC_|OIDC|kid|alg|token|configuration|Cloudflare|Durable|STALE|HEARTBEAT|ALERT|rollback|wrangler/;
function kind(s) {
  if (/\.rs\b/.test(s) && s.includes('/')) return 'panic locations';
  if (/\b(SELECT|INSERT|UPDATE|DELETE|CREATE TABLE)\b/.test(s)) return 'SQL and JSON names';
  if (ours.test(s)) return 'messages and hints';
  if (/^[a-z_]+(?:[a-z_]+)*$/.test(s) || /_ms|_at\b|outcome|trigger/.test(s)) return 'SQL and JSON names';
  if (/expected|invalid|EOF|overflow|error|failed|called|index out of|assertion/i.test(s)) return 'library messages';
  return 'other text';
}
const kinds = {};
let textBytes = 0;
for (const s of text) {
  const k = kind(s);
  kinds[k] = (kinds[k] ?? 0) + s.length;
  textBytes += s.length;
}
const out = { module: process.argv[2], dataBytes: data.length, textBytes, kinds };
if (process.argv[3]) writeFileSync(process.argv[3], JSON.stringify(out, null, 1));
console.log(JSON.stringify(out));
