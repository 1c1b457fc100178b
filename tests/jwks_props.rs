//! Property tests: for arbitrary bytes and arbitrary JSON, normalization never panics, never
//! outputs a private member, only outputs keys present in its input, and accounts for every entry.

use base64ct::{Base64UrlUnpadded, Encoding};
use jwks_sync::jwks::{decode_key, normalize, parse_discovery, Alg, KeySet, Options};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const URL: &str = "https://idp.example/jwks";
const SECRET_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
const ALLOWED_OUT: [&str; 8] = ["kty", "kid", "alg", "n", "e", "crv", "x", "y"];

/// Member names worth generating: the JWK vocabulary plus shape-detection members.
fn member_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "kty",
            "kid",
            "alg",
            "use",
            "key_ops",
            "crv",
            "n",
            "e",
            "x",
            "y",
            "d",
            "p",
            "q",
            "dp",
            "dq",
            "qi",
            "oth",
            "k",
            "x5c",
            "keys",
            "jwks_uri",
            "realm",
            "public_key",
            "result",
            "success",
        ])
        .prop_map(str::to_owned),
        "[a-z]{0,4}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![
            "RSA", "EC", "OKP", "oct", "sig", "enc", "verify", "P-256", "P-384", "RS256", "ES256",
            "AQAB"
        ])
        .prop_map(Value::from),
        "[A-Za-z0-9_+/=-]{0,24}".prop_map(Value::from),
        prop::collection::vec(any::<u8>(), 0..80)
            .prop_map(|b| Value::from(Base64UrlUnpadded::encode_string(&b))),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((member_name(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn b64(b: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(b)
}

/// A JWK-like object built from plausible and broken parts, weighted so that keys are often kept.
fn arb_key() -> impl Strategy<Value = Value> {
    let kty = prop_oneof![
        8 => Just(Some("RSA")),
        8 => Just(Some("EC")),
        1 => Just(Some("OKP")),
        1 => Just(Some("oct")),
        1 => Just(Some("XYZ")),
        1 => Just(None),
    ];
    let kid = prop_oneof![
        12 => prop::sample::select(vec!["a", "b", "c"]).prop_map(Some),
        1 => Just(Some("")),
        1 => Just(None),
    ];
    let alg = prop_oneof![
        8 => Just(None),
        2 => Just(Some("RS256")),
        1 => Just(Some("PS512")),
        1 => Just(Some("ES256")),
        1 => Just(Some("ES384")),
        1 => Just(Some("ES512")),
        1 => Just(Some("RSA-OAEP")),
        1 => Just(Some("HS256")),
    ];
    let crv = prop_oneof![
        4 => Just(Some("P-256")),
        4 => Just(Some("P-384")),
        1 => Just(Some("P-521")),
        1 => Just(Some("Ed25519")),
        1 => Just(None),
    ];
    // Moduli: 0-2 leading zero octets, then a top octet, then 200..300 octets (1601..2408 bits).
    let n = (
        0usize..3,
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 200..300),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(zeros, top, rest, mangle)| {
            let mut b = vec![0u8; zeros];
            b.push(top);
            b.extend(rest);
            let s = b64(&b);
            if mangle {
                format!("{s}=")
            } else {
                s
            }
        });
    let coords = (
        prop::collection::vec(any::<u8>(), 66),
        prop::collection::vec(any::<u8>(), 66),
        prop::bool::weighted(0.1),
    );
    let use_ = prop_oneof![3 => Just(None), 2 => Just(Some("sig")), 1 => Just(Some("enc"))];
    let key_ops = prop_oneof![
        4 => Just(None),
        2 => Just(Some(vec!["verify"])),
        1 => Just(Some(vec!["sign"])),
        1 => Just(Some(vec![])),
    ];
    let secret = prop_oneof![
        40 => Just(None),
        1 => Just(Some("d")),
        1 => Just(Some("k")),
        1 => Just(Some("qi")),
        1 => Just(Some("oth")),
    ];
    (
        kty,
        kid,
        alg,
        crv,
        n,
        coords,
        use_,
        key_ops,
        secret,
        any::<u16>(),
    )
        .prop_map(
            |(kty, kid, alg, crv, n, (x, y, bad_len), use_, key_ops, secret, salt)| {
                let mut m = Map::new();
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        m.insert(k.to_owned(), v);
                    }
                };
                put("kty", kty.map(Value::from));
                put("kid", kid.map(Value::from));
                put("alg", alg.map(Value::from));
                put("use", use_.map(Value::from));
                put("key_ops", key_ops.map(|o| json!(o)));
                if kty == Some("EC") || kty == Some("OKP") {
                    let len = match crv {
                        Some("P-256") => 32,
                        Some("P-384") => 48,
                        _ => 66,
                    } - usize::from(bad_len);
                    put("crv", crv.map(Value::from));
                    put("x", Some(Value::from(b64(&x[..len]))));
                    put("y", Some(Value::from(b64(&y[..len]))));
                } else {
                    put("n", Some(Value::from(n)));
                    put("e", Some(Value::from("AQAB")));
                }
                if let Some(s) = secret {
                    put(s, Some(Value::from(format!("SECRET{salt:05}VALUE"))));
                }
                Value::Object(m)
            },
        )
}

/// Up to 9 keys, sometimes with the first one repeated (exact duplicates, B08).
fn arb_keys() -> impl Strategy<Value = Vec<Value>> {
    (prop::collection::vec(arb_key(), 0..9), any::<bool>()).prop_map(|(mut keys, repeat)| {
        if let (true, Some(first)) = (repeat, keys.first().cloned()) {
            keys.push(first);
        }
        keys
    })
}

/// True when the entry carries secret material that must refuse the run.
fn is_secret(v: &Value) -> bool {
    let Some(m) = v.as_object() else { return false };
    m.get("kty").and_then(Value::as_str) == Some("oct")
        || SECRET_MEMBERS.iter().any(|s| match m.get(*s) {
            None => false,
            Some(Value::Array(a)) if *s == "oth" => !a.is_empty(),
            Some(_) => true,
        })
}

/// Strings of secret members anywhere in `v`, for the "never printed" check.
fn secret_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if SECRET_MEMBERS.contains(&k.as_str()) {
                    if let Some(s) = x.as_str().filter(|s| s.len() >= 8) {
                        out.push(s.to_owned());
                    }
                }
                secret_strings(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| secret_strings(x, out)),
        _ => {}
    }
}

fn strict(s: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(s).ok()
}

fn strip(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[i..]
}

/// The output-side invariants for one successful run over the entries `input`.
fn check_output(set: &KeySet, input: &[Value], max_keys: usize) -> Result<(), TestCaseError> {
    prop_assert!(set.keys.len() <= max_keys);
    prop_assert!(!set.keys.is_empty());
    // Every entry is kept or dropped exactly once (single source).
    prop_assert_eq!(set.keys.len() + set.dropped.len(), input.len());
    let mut idx: Vec<usize> = set.dropped.iter().map(|d| d.index).collect();
    idx.dedup();
    prop_assert_eq!(idx.len(), set.dropped.len());
    for k in &set.keys {
        let out = serde_json::to_value(k).unwrap();
        let obj = out.as_object().unwrap();
        for member in obj.keys() {
            prop_assert!(
                ALLOWED_OUT.contains(&member.as_str()),
                "output member {}",
                member
            );
            prop_assert!(!SECRET_MEMBERS.contains(&member.as_str()));
        }
        // The key came from an input entry with the same kid and the same material.
        let present = input.iter().any(|v| {
            v.get("kid").and_then(Value::as_str) == Some(k.kid())
                && match (k.n(), k.xy()) {
                    (Some(n), _) => v
                        .get("n")
                        .and_then(Value::as_str)
                        .and_then(strict)
                        .is_some_and(|inp| strip(&inp) == strict(n).unwrap().as_slice()),
                    (_, Some((x, y))) => {
                        v.get("x").and_then(Value::as_str) == Some(x)
                            && v.get("y").and_then(Value::as_str) == Some(y)
                    }
                    _ => false,
                }
        });
        prop_assert!(present, "output key {} not in input", out);
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = normalize(&body, None, URL, &Options::default());
        let _ = parse_discovery(&body, Some("text/html"), URL);
        let mut wrapped = b"{\"keys\":[".to_vec();
        wrapped.extend(&body);
        let _ = normalize(&wrapped, Some("application/json"), URL, &Options::default());
    }

    #[test]
    fn arbitrary_json_never_panics_and_never_leaks(doc in arb_json(), as_keys in any::<bool>()) {
        let doc = if as_keys { json!({"keys": doc}) } else { doc };
        let body = serde_json::to_vec(&doc).unwrap();
        let opts = Options::default();
        let _ = parse_discovery(&body, None, URL);
        match normalize(&body, None, URL, &opts) {
            Ok(set) => {
                let input = doc.get("keys").and_then(Value::as_array).cloned().unwrap_or_default();
                check_output(&set, &input, opts.max_keys)?;
            }
            Err(e) => {
                let mut secrets = Vec::new();
                secret_strings(&doc, &mut secrets);
                let msg = e.to_string();
                for s in secrets {
                    prop_assert!(!msg.contains(&s), "message {} leaks {}", msg, s);
                }
            }
        }
    }

    #[test]
    fn key_like_sets_keep_only_input_keys_and_refuse_secrets(
        keys in arb_keys(),
        max_keys in 1usize..6,
        rsa_default in prop::sample::select(vec![Alg::RS256, Alg::PS384]),
    ) {
        let body = serde_json::to_vec(&json!({"keys": keys})).unwrap();
        let opts = Options { max_keys, rsa_default_alg: rsa_default, ..Options::default() };
        let has_secret = keys.iter().any(is_secret);
        match normalize(&body, Some("application/json"), URL, &opts) {
            Ok(set) => {
                prop_assert!(!has_secret, "secret material was not refused");
                check_output(&set, &keys, max_keys)?;
                for k in &set.keys {
                    // What we output decodes to itself (a fixed point), as Cloudflare will read it back.
                    let back = decode_key(&serde_json::to_value(k).unwrap(), rsa_default).unwrap();
                    prop_assert_eq!(back.kid(), k.kid());
                    prop_assert_eq!(back.alg(), k.alg());
                    prop_assert_eq!(back.n(), k.n());
                }
            }
            Err(e) => {
                let secret_code = matches!(e.code(), "JWKS_PRIVATE_KEY" | "JWKS_SYMMETRIC_KEY");
                prop_assert_eq!(secret_code, has_secret, "{}", e);
                prop_assert!(!e.to_string().contains("SECRET"), "{}", e);
                if !has_secret {
                    prop_assert!(matches!(e.code(), "JWKS_NO_USABLE_KEYS" | "JWKS_AMBIGUOUS_KID"), "{}", e);
                }
            }
        }
    }
}

/// Guards the property above against being vacuous: the generator reaches kept sets, over-limit
/// drops, each refusal and the empty-result error.
#[test]
fn key_strategy_reaches_every_outcome() {
    use proptest::strategy::ValueTree;
    use std::collections::BTreeSet;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = arb_keys();
    let mut seen = BTreeSet::new();
    for _ in 0..400 {
        let keys = strategy.new_tree(&mut runner).unwrap().current();
        let body = serde_json::to_vec(&json!({ "keys": keys })).unwrap();
        let opts = Options {
            max_keys: 2,
            ..Options::default()
        };
        match normalize(&body, None, URL, &opts) {
            Ok(set) => {
                seen.insert("OK");
                for d in &set.dropped {
                    seen.insert(d.reason.code());
                }
            }
            Err(e) => {
                seen.insert(e.code());
            }
        }
    }
    for code in [
        "OK",
        "OVER_LIMIT",
        "DUPLICATE",
        "RSA_TOO_SMALL",
        "BAD_BASE64URL",
        "BAD_EC_COORDINATE",
        "JWKS_PRIVATE_KEY",
        "JWKS_SYMMETRIC_KEY",
        "JWKS_NO_USABLE_KEYS",
        "JWKS_AMBIGUOUS_KID",
    ] {
        assert!(seen.contains(code), "{code} never reached; saw {seen:?}");
    }
}
