//! Table test over every real-world document in `tests/fixtures/jwks/real/` (see SOURCES.md there)
//! against `tests/fixtures/jwks/expected.json`.
//!
//! Each expectation is either `{"kept": [{"kid","alg","inferred"}…], "dropped": [{"index","kid","code"}…]}`
//! or `{"error": CODE, "phase": PHASE, "kid"?: …, "jwks_uri"?: …}`. A fixture without an expectation,
//! or an expectation without a fixture, fails the test.
//!
//! To print the actual outcomes (e.g. after adding a fixture, for review): `JWKS_PRINT_ACTUAL=1
//! cargo test --test jwks_fixtures -- --nocapture`.

use std::collections::BTreeMap;
use std::path::Path;

use jwks_sync::jwks::{normalize, parse_discovery, Options};
use serde_json::{json, Value};

/// 2026-01-01T00:00:00Z, in Unix seconds: the fixed "now" of the fixture run.
const NOW_UNIX_S: i64 = 1_767_225_600;

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwks"))
}

fn opts() -> Options {
    Options {
        now_unix_s: NOW_UNIX_S,
        ..Options::default()
    }
}

/// The outcome of one fixture, in the shape of `expected.json`.
fn actual(name: &str, body: &[u8]) -> Value {
    let url = format!("https://fixture.test/{name}");
    match normalize(body, Some("application/json"), &url, &opts()) {
        Ok(set) => {
            // The output must be exactly the Cloudflare shape; checked here for every fixture.
            for k in &set.keys {
                let v = serde_json::to_value(k).unwrap();
                let members: Vec<&str> =
                    v.as_object().unwrap().keys().map(String::as_str).collect();
                let mut sorted = members.clone();
                sorted.sort_unstable();
                match k.kty() {
                    "RSA" => assert_eq!(sorted, ["alg", "e", "kid", "kty", "n"], "{name}"),
                    _ => assert_eq!(sorted, ["alg", "crv", "kid", "kty", "x", "y"], "{name}"),
                }
            }
            json!({
                "kept": set.keys.iter().map(|k| json!({"kid": k.kid(), "alg": k.alg().as_str(), "inferred": k.alg_inferred()})).collect::<Vec<_>>(),
                "dropped": set.dropped.iter().map(|d| json!({"index": d.index, "kid": d.kid, "code": d.reason.code()})).collect::<Vec<_>>(),
            })
        }
        Err(e) => {
            // Messages never carry a secret; for the fixtures with published secrets, check the
            // secret strings do not appear.
            let msg = e.to_string();
            let doc: Option<Value> = serde_json::from_slice(body).ok();
            if let Some(keys) = doc
                .as_ref()
                .and_then(|d| d.get("keys"))
                .and_then(Value::as_array)
            {
                for k in keys {
                    for m in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                        if let Some(s) = k.get(m).and_then(Value::as_str) {
                            assert!(!msg.contains(s), "{name}: message leaks member {m}: {msg}");
                        }
                    }
                }
            }
            let mut v = json!({"error": e.code(), "phase": e.phase().as_str()});
            if let Some(kid) = e.kid() {
                v["kid"] = json!(kid);
            }
            if let Some(uri) = e.discovery_jwks_uri() {
                v["jwks_uri"] = json!(uri);
                // The same document through parse_discovery gives the same jwks_uri.
                let d = parse_discovery(body, Some("application/json"), &url).unwrap();
                assert_eq!(d.jwks_uri, uri, "{name}");
            }
            if e.code() == "JWKS_NO_USABLE_KEYS" {
                v["dropped"] = json!(e
                    .dropped()
                    .iter()
                    .map(|d| json!({"index": d.index, "kid": d.kid, "code": d.reason.code()}))
                    .collect::<Vec<_>>());
            }
            v
        }
    }
}

#[test]
fn every_real_fixture_matches_its_expectation() {
    let expected: BTreeMap<String, Value> =
        serde_json::from_slice(&std::fs::read(dir().join("expected.json")).unwrap()).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir().join("real"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        39,
        "fixture count changed; update expected.json and this count"
    );

    let mut got = BTreeMap::new();
    for name in &names {
        let body = std::fs::read(dir().join("real").join(name)).unwrap();
        got.insert(name.clone(), actual(name, &body));
    }
    if std::env::var_os("JWKS_PRINT_ACTUAL").is_some() {
        println!("{}", serde_json::to_string_pretty(&got).unwrap());
    }

    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !expected.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "fixtures without an expectation: {missing:?}"
    );
    let stale: Vec<&String> = expected.keys().filter(|n| !names.contains(n)).collect();
    assert!(
        stale.is_empty(),
        "expectations without a fixture: {stale:?}"
    );

    let mut failures = Vec::new();
    for name in &names {
        if got[name] != expected[name] {
            failures.push(format!(
                "{name}:\n  expected {}\n  actual   {}",
                expected[name], got[name]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every kept key from a fixture re-decodes to itself (normalizing the output changes nothing),
/// and its `n` has no leading zero octet.
#[test]
fn kept_keys_are_a_fixed_point() {
    for entry in std::fs::read_dir(dir().join("real")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        let Ok(set) = normalize(&body, None, "https://fixture.test/", &opts()) else {
            continue;
        };
        let again = serde_json::to_vec(&json!({ "keys": set.keys })).unwrap();
        let set2 = normalize(&again, None, "https://fixture.test/", &opts()).unwrap();
        assert_eq!(set2.canonical(), set.canonical(), "{}", path.display());
        assert!(set2.dropped.is_empty(), "{}", path.display());
        for k in &set.keys {
            if let Some(n) = k.n() {
                assert!(
                    !n.starts_with("AA"),
                    "{}: n keeps a leading zero octet",
                    path.display()
                );
            }
        }
    }
}
