// Per-crate size breakdown of a wasm module from its `name` section (issue 7), a dependency-free
// fallback for `twiggy`: each function body's size in the code section is attributed to the crate
// named first in its symbol (`core::fmt::write` → core; `<serde_json::Value as core::fmt::Display>::fmt`
// → serde_json; legacy-mangled `_ZN…` names are decoded the same way). Data segments are one row.
// The module must keep its names (built with `strip = false`, before wasm-opt).
//
// Usage: node bench/wasm-crates.mjs MODULE.wasm [OUT.json]   → JSON [{crate, bytes, functions}]
import { readFileSync, writeFileSync } from 'node:fs';

const buf = readFileSync(process.argv[2]);
let pos = 8; // magic + version
const leb = () => {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) return result;
  }
};
const name = () => {
  const n = leb();
  const s = buf.toString('utf8', pos, pos + n);
  pos += n;
  return s;
};

let importedFuncs = 0;
const bodies = []; // sizes, in code-section order
const names = new Map(); // function index → name
let dataBytes = 0;
const sections = {};
while (pos < buf.length) {
  const id = buf[pos++];
  const size = leb();
  const start = pos;
  const end = pos + size;
  if (id === 2) {
    // imports: count function imports, they come first in the function index space
    const count = leb();
    for (let i = 0; i < count; i++) {
      name();
      name();
      const kind = buf[pos++];
      if (kind === 0) {
        leb();
        importedFuncs++;
      } else if (kind === 1) {
        pos++; // reftype
        const flags = leb();
        leb();
        if (flags & 1) leb();
      } else if (kind === 2) {
        const flags = leb();
        leb();
        if (flags & 1) leb();
      } else if (kind === 3) {
        pos += 2; // valtype, mut
      } else if (kind === 4) {
        pos++;
        leb();
      }
    }
  } else if (id === 10) {
    const count = leb();
    for (let i = 0; i < count; i++) {
      const s = leb();
      bodies.push(s);
      pos += s;
    }
  } else if (id === 11) {
    dataBytes += size;
  } else if (id === 0) {
    const cname = name();
    if (cname === 'name') {
      while (pos < end) {
        const sub = buf[pos++];
        const ssize = leb();
        const send = pos + ssize;
        if (sub === 1) {
          const count = leb();
          for (let i = 0; i < count; i++) {
            const idx = leb();
            names.set(idx, name());
          }
        }
        pos = send;
      }
    }
    sections[`custom:${cname}`] = size;
  }
  sections[id] = (sections[id] ?? 0) + size;
  pos = end;
  void start;
}

const PRIMITIVES = /^(str|char|bool|[iuf](8|16|32|64|128|size)|\[.*\]|\(.*\)|&.*|\*.*|T|dyn .*)$/;
const firstCrate = (path) => /^([A-Za-z_][A-Za-z0-9_]*)::/.exec(path)?.[1];

/** The crate a symbol belongs to. */
function crateOf(raw) {
  let s = raw;
  if (s.startsWith('_ZN')) {
    // legacy mangling: _ZN <len><ident> … E ; the first ident is the crate (or an impl block)
    const m = /^_ZN(\d+)/.exec(s);
    if (m) s = s.slice(m[0].length, m[0].length + Number(m[1])).replace(/\$LT\$/g, '<').replace(/\$u20\$/g, ' ').replace(/\.\./g, '::').replace(/^_</, '<');
  }
  s = s.replace(/\[[0-9a-f]{8,}\]/g, ''); // v0 crate disambiguators: core[c5930c85a12de822]
  if (/^(__wbg|__wbindgen|__externref|wasm_bindgen)/.test(s) || /^(Closure\(|[A-Z][A-Za-z0-9]*(\(.*\))? -> )/.test(s)) return 'wasm_bindgen (generated glue)';
  if (/^(memcpy|memset|memmove|memcmp|__rust|__rdl|__rg|rust_|__multi3|__ashl|__lsh|__udiv|__div|__mul|__umod)/.test(s)) return 'compiler_builtins/std shims';
  if (s.startsWith('<')) {
    // <SelfType as Trait>::f or <SelfType>::f: the self type's crate, or the trait's for a
    // primitive or generic self type.
    let depth = 0;
    let i = 1;
    for (; i < s.length; i++) {
      if (s[i] === '<') depth++;
      else if (s[i] === '>') {
        if (depth === 0) break;
        depth--;
      }
    }
    const inner = s.slice(1, i);
    const as = inner.lastIndexOf(' as ');
    const self = (as >= 0 ? inner.slice(0, as) : inner).replace(/^(&|\*|mut |const |dyn )+/, '');
    const trait = as >= 0 ? inner.slice(as + 4) : '';
    if (!PRIMITIVES.test(self) && firstCrate(self)) return firstCrate(self);
    if (trait && firstCrate(trait)) return firstCrate(trait);
    return 'core';
  }
  return firstCrate(s) ?? '(other)';
}

const byCrate = new Map();
let named = 0;
bodies.forEach((size, i) => {
  const n = names.get(i + importedFuncs);
  if (n !== undefined) named++;
  const c = n === undefined ? '(no name)' : crateOf(n);
  const e = byCrate.get(c) ?? { crate: c, bytes: 0, functions: 0 };
  e.bytes += size;
  e.functions++;
  byCrate.set(c, e);
});
byCrate.set('(data segments)', { crate: '(data segments)', bytes: dataBytes, functions: 0 });
const rows = [...byCrate.values()].sort((a, b) => b.bytes - a.bytes);
const result = { module: process.argv[2], total: buf.length, codeBytes: bodies.reduce((a, b) => a + b, 0), functions: bodies.length, named, sections, rows };
if (process.argv[3]) writeFileSync(process.argv[3], JSON.stringify(result, null, 2));
else console.log(JSON.stringify(result, null, 2));
