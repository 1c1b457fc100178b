//! Native micro-benchmarks of the JWKS pipeline (issue 7): parse, extract, select, normalize,
//! canonicalize, compare (diff) and the PUT body, on the real fixtures and on generated sets of
//! 2, 16, 100 and 1000 RSA and EC keys. `serde_json` parsing of the same bytes to a `Value` is
//! measured alongside as the floor: no normalizer can be cheaper than reading the JSON.
//!
//! Run: `cargo bench --bench jwks` (or `bash scripts/bench.sh`, which turns the output into the
//! Markdown table of BENCHMARKS.md). Each benchmark takes the case name as its argument; the
//! number of keys of each case is printed first as `case <name> <keys>` lines so the report can
//! give time per key.
//!
//! Generated keys are valid for the normalizer: RSA moduli of 2048 bits with a nonzero top byte,
//! `e` = AQAB, EC P-256 coordinates of 32 bytes, all strict unpadded base64url, distinct kids.
//! `Options::max_keys` is raised to 1000 (= `MAX_KEY_ENTRIES`) so the 16-key default limit does
//! not apply; `normalize_default_limit` measures the same inputs under the default limit.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use base64ct::{Base64UrlUnpadded, Encoding};
use divan::Bencher;
use jwks_sync::cloudflare::{credentials_body, LiveKeys};
use jwks_sync::diff::diff;
use jwks_sync::jwks::{canonical, extract, normalize, select, Extracted, Options, PublicJwk};
use serde_json::Value;

const URL: &str = "https://idp.example/jwks";
const CT: Option<&str> = Some("application/json");

fn main() {
    // The report needs the key count of every case; print it before divan's table.
    for (name, case) in CASES.iter() {
        println!("case {name} {}", case.entries);
        println!("bytes {name} {}", case.body.len());
    }
    divan::main();
}

struct Case {
    body: Vec<u8>,
    /// Entries of the key array (the denominator of "time per key").
    entries: usize,
    extracted: Extracted,
    keys: Vec<PublicJwk>,
    /// The live side when nothing changed: the same keys, as Cloudflare would return them.
    live_same: LiveKeys,
    /// The live side after a rotation: the first key missing, one key that is not desired.
    live_changed: LiveKeys,
}

fn opts() -> Options {
    Options {
        max_keys: 1000,
        ..Options::default()
    }
}

/// xorshift64*: deterministic bytes, so every run measures the same sets.
struct Rng(u64);
impl Rng {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }
}

fn b64(b: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(b)
}

/// A JWKS of `n` keys of one type, serialized like an IdP would (with `use`).
fn generated(kty: &str, n: usize) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ n as u64 ^ (kty.len() as u64) << 32);
    let keys: Vec<Value> = (0..n)
        .map(|i| {
            if kty == "RSA" {
                let mut modulus = rng.bytes(256);
                modulus[0] |= 0x80; // exactly 2048 bits, no leading zero octet
                serde_json::json!({"kty":"RSA","kid":format!("rsa-{i:04}"),"use":"sig","alg":"RS256",
                    "n": b64(&modulus), "e":"AQAB"})
            } else {
                serde_json::json!({"kty":"EC","kid":format!("ec-{i:04}"),"use":"sig","alg":"ES256",
                    "crv":"P-256","x": b64(&rng.bytes(32)),"y": b64(&rng.bytes(32))})
            }
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "keys": keys })).expect("serialize")
}

fn live(keys: &[PublicJwk]) -> LiveKeys {
    LiveKeys {
        keys: keys.to_vec(),
        symmetric: Vec::new(),
        ids: keys
            .iter()
            .map(|k| (k.kid().to_owned(), k.alg().as_str().to_owned()))
            .collect(),
    }
}

fn case(body: Vec<u8>) -> Option<Case> {
    let v: Value = serde_json::from_slice(&body).ok()?;
    let entries = v.get("keys")?.as_array()?.len();
    let extracted = extract(&body, CT, URL, &opts()).ok()?;
    let keys = select(std::slice::from_ref(&extracted), &opts()).ok()?.keys;
    let live_same = live(&keys);
    // Changed: the newest key is not live yet and a retired key still is.
    let mut live_changed = live(&keys[1..]);
    let retired = {
        let mut g = generated("EC", 1);
        g = String::from_utf8(g)
            .expect("utf8")
            .replace("ec-0000", "retired")
            .into_bytes();
        normalize(&g, CT, URL, &opts()).ok()?.keys
    };
    live_changed.keys.extend(retired.iter().cloned());
    live_changed.ids.extend(live(&retired).ids);
    Some(Case {
        body,
        entries,
        extracted,
        keys,
        live_same,
        live_changed,
    })
}

static CASES: LazyLock<BTreeMap<String, Case>> = LazyLock::new(|| {
    let mut m = BTreeMap::new();
    for n in [2, 16, 100, 1000] {
        for kty in ["RSA", "EC"] {
            let name = format!("gen-{}-{n:04}", kty.to_lowercase());
            m.insert(
                name,
                case(generated(kty, n)).expect("generated set normalizes"),
            );
        }
    }
    // Every real fixture that is a JWKS the normalizer accepts (the NOT-JWKS and broken ones
    // are error paths, not the pipeline).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwks/real");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for p in files {
        let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
        if let Some(c) = case(std::fs::read(&p).expect("read fixture")) {
            m.insert(format!("real-{stem}"), c);
        }
    }
    m
});

fn names() -> Vec<&'static str> {
    CASES.keys().map(String::as_str).collect()
}

fn get(name: &str) -> &'static Case {
    &CASES[name]
}

/// Floor: `serde_json` parsing of the same bytes to a `Value`, nothing else.
#[divan::bench(args = names())]
fn serde_json_value(b: Bencher, name: &str) {
    let c = get(name);
    b.bench(|| serde_json::from_slice::<Value>(divan::black_box(&c.body)).expect("json"));
}

/// Parse + per-key decode (document shape, each key checked and re-encoded).
#[divan::bench(args = names())]
fn extract_keys(b: Bencher, name: &str) {
    let c = get(name);
    let o = opts();
    b.bench(|| extract(divan::black_box(&c.body), CT, URL, &o).expect("extract"));
}

/// Dedupe, ambiguity check, limit and non-empty check on already extracted keys.
#[divan::bench(args = names())]
fn select_keys(b: Bencher, name: &str) {
    let c = get(name);
    let o = opts();
    let sources = std::slice::from_ref(&c.extracted);
    b.bench(|| select(divan::black_box(sources), &o).expect("select"));
}

/// extract + select: bytes to the key set that would be sent.
#[divan::bench(args = names())]
fn normalize_all(b: Bencher, name: &str) {
    let c = get(name);
    let o = opts();
    b.bench(|| normalize(divan::black_box(&c.body), CT, URL, &o).expect("normalize"));
}

/// normalize under the default `max_keys` (16): over the limit, keys are ranked and dropped.
#[divan::bench(args = names())]
fn normalize_default_limit(b: Bencher, name: &str) {
    let c = get(name);
    let o = Options::default();
    b.bench(|| normalize(divan::black_box(&c.body), CT, URL, &o).expect("normalize"));
}

/// Order-independent canonical form of the selected keys.
#[divan::bench(args = names())]
fn canonicalize(b: Bencher, name: &str) {
    let c = get(name);
    b.bench(|| canonical(divan::black_box(&c.keys)));
}

/// diff against live keys equal to the desired ones (the no-change sync).
#[divan::bench(args = names())]
fn compare_unchanged(b: Bencher, name: &str) {
    let c = get(name);
    b.bench(|| diff(divan::black_box(&c.live_same), &c.keys));
}

/// diff against live keys after a rotation (one added, one removed).
#[divan::bench(args = names())]
fn compare_changed(b: Bencher, name: &str) {
    let c = get(name);
    b.bench(|| diff(divan::black_box(&c.live_changed), &c.keys));
}

/// The PUT body `{"keys":[…]}`.
#[divan::bench(args = names())]
fn put_body(b: Bencher, name: &str) {
    let c = get(name);
    b.bench(|| credentials_body(divan::black_box(&c.keys), &[]));
}
