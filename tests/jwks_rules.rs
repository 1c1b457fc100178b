//! One named test per rule of issue 3, on small hand-written inputs. Each asserts exact codes,
//! kids and algs.

use base64ct::{Base64UrlUnpadded, Encoding};
use jwks_sync::jwks::{
    canonical, decode_key, extract, normalize, parse_discovery, select, Alg, DropReason, ErrorKind,
    JwksError, KeySet, Options, MAX_BODY_BYTES, MAX_KEY_ENTRIES,
};
use serde_json::{json, Value};

const URL: &str = "https://idp.example/jwks";

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// A 2048-bit modulus: 256 octets, top bit set; `fill` varies the material.
fn n2048(fill: u8) -> String {
    b64(&[0x80 | fill; 256])
}

fn rsa(kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "n": n2048(0x11), "e": "AQAB"})
}

fn ec256(kid: &str) -> Value {
    json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])})
}

fn ec384(kid: &str) -> Value {
    json!({"kty": "EC", "kid": kid, "crv": "P-384", "x": b64(&[3; 48]), "y": b64(&[4; 48])})
}

/// `base` with members replaced (`null` in `patch` removes the member).
fn with(mut base: Value, patch: Value) -> Value {
    let obj = base.as_object_mut().unwrap();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            obj.remove(k);
        } else {
            obj.insert(k.clone(), v.clone());
        }
    }
    base
}

fn doc(keys: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

fn run(keys: Vec<Value>) -> Result<KeySet, JwksError> {
    normalize(
        &doc(keys),
        Some("application/json"),
        URL,
        &Options::default(),
    )
}

fn run_opts(keys: Vec<Value>, opts: &Options) -> Result<KeySet, JwksError> {
    normalize(&doc(keys), Some("application/json"), URL, opts)
}

fn ids(set: &KeySet) -> Vec<(String, Alg, bool)> {
    set.keys
        .iter()
        .map(|k| (k.kid().to_owned(), k.alg(), k.alg_inferred()))
        .collect()
}

fn drops(set: &KeySet) -> Vec<(usize, &'static str)> {
    set.dropped
        .iter()
        .map(|d| (d.index, d.reason.code()))
        .collect()
}

fn err_code(r: Result<KeySet, JwksError>) -> &'static str {
    match r {
        Ok(set) => panic!("expected an error, got {:?}", ids(&set)),
        Err(e) => e.code(),
    }
}

/// The code a single key gets when it is next to one good key (so the set is not empty).
fn drop_code(key: Value) -> &'static str {
    let set = run(vec![key, ec256("good")]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids(&set), [("good".to_owned(), Alg::ES256, true)]);
    assert_eq!(set.dropped.len(), 1);
    assert_eq!(set.dropped[0].index, 0);
    set.dropped[0].reason.code()
}

/// `keep!(name, key, kid, alg, inferred)`: the key alone is kept with that identity.
macro_rules! keep {
    ($name:ident, $key:expr, $kid:expr, $alg:expr, $inferred:expr) => {
        #[test]
        fn $name() {
            let set = run(vec![$key]).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(ids(&set), [($kid.to_owned(), $alg, $inferred)]);
            assert!(set.dropped.is_empty(), "{:?}", set.dropped);
        }
    };
}

/// `dropped!(name, key, code)`: the key is dropped with that code and the set survives.
macro_rules! dropped {
    ($name:ident, $key:expr, $code:expr) => {
        #[test]
        fn $name() {
            assert_eq!(drop_code($key), $code);
        }
    };
}

/// `refused!(name, body, code)`: the whole document fails with that code.
macro_rules! refused {
    ($name:ident, $body:expr, $code:expr) => {
        #[test]
        fn $name() {
            let body: Vec<u8> = $body.into();
            let r = normalize(&body, Some("application/json"), URL, &Options::default());
            assert_eq!(err_code(r), $code);
        }
    };
}

mod kept {
    use super::*;

    keep!(
        rsa_rs256,
        with(rsa("a"), json!({"alg": "RS256"})),
        "a",
        Alg::RS256,
        false
    );
    keep!(
        rsa_rs384,
        with(rsa("a"), json!({"alg": "RS384"})),
        "a",
        Alg::RS384,
        false
    );
    keep!(
        rsa_rs512,
        with(rsa("a"), json!({"alg": "RS512"})),
        "a",
        Alg::RS512,
        false
    );
    keep!(
        rsa_ps256,
        with(rsa("a"), json!({"alg": "PS256"})),
        "a",
        Alg::PS256,
        false
    );
    keep!(
        rsa_ps384,
        with(rsa("a"), json!({"alg": "PS384"})),
        "a",
        Alg::PS384,
        false
    );
    keep!(
        rsa_ps512,
        with(rsa("a"), json!({"alg": "PS512"})),
        "a",
        Alg::PS512,
        false
    );
    keep!(
        rsa_no_alg_defaults_to_rs256,
        rsa("a"),
        "a",
        Alg::RS256,
        true
    );
    keep!(ec_p256_alg_from_crv, ec256("e"), "e", Alg::ES256, true);
    keep!(ec_p384_alg_from_crv, ec384("e"), "e", Alg::ES384, true);
    keep!(
        ec_p256_explicit,
        with(ec256("e"), json!({"alg": "ES256"})),
        "e",
        Alg::ES256,
        false
    );
    keep!(
        ec_p384_explicit,
        with(ec384("e"), json!({"alg": "ES384"})),
        "e",
        Alg::ES384,
        false
    );
    keep!(
        use_sig,
        with(rsa("a"), json!({"use": "sig"})),
        "a",
        Alg::RS256,
        true
    );
    keep!(
        key_ops_verify,
        with(ec256("e"), json!({"key_ops": ["verify"], "ext": true})),
        "e",
        Alg::ES256,
        true
    );
    keep!(
        key_ops_sign_and_verify,
        with(ec256("e"), json!({"key_ops": ["sign", "verify"]})),
        "e",
        Alg::ES256,
        true
    );
    keep!(
        unknown_members_are_ignored_rfc7517_s4,
        with(
            rsa("a"),
            json!({"x5t": "abc", "issuer": "https://x/{tenantid}", "foo": {"bar": 1}})
        ),
        "a",
        Alg::RS256,
        true
    );
    keep!(
        rsa_leading_zero_octet_is_stripped_before_counting,
        with(
            rsa("z"),
            json!({"n": b64(&[&[0u8][..], &[0xC5; 256][..]].concat())})
        ),
        "z",
        Alg::RS256,
        true
    );
    keep!(
        empty_oth_is_not_secret_b25,
        with(rsa("a"), json!({"oth": []})),
        "a",
        Alg::RS256,
        true
    );
    keep!(
        rsa_4096,
        with(rsa("big"), json!({"n": b64(&[0xF0; 512])})),
        "big",
        Alg::RS256,
        true
    );

    #[test]
    fn rsa_default_alg_is_configurable() {
        let opts = Options {
            rsa_default_alg: Alg::PS256,
            ..Options::default()
        };
        let set = run_opts(
            vec![
                rsa("a"),
                with(rsa("b"), json!({"alg": "RS512", "n": n2048(2)})),
            ],
            &opts,
        )
        .unwrap();
        assert_eq!(
            ids(&set),
            [
                ("a".to_owned(), Alg::PS256, true),
                ("b".to_owned(), Alg::RS512, false)
            ]
        );
    }
}

mod dropped {
    use super::*;

    dropped!(
        not_sig_enc,
        with(rsa("a"), json!({"use": "enc", "alg": "RSA-OAEP"})),
        "NOT_SIG"
    );
    dropped!(
        not_sig_unknown_use,
        with(rsa("a"), json!({"use": "sign"})),
        "NOT_SIG"
    );
    dropped!(
        use_not_a_string,
        with(rsa("a"), json!({"use": 1})),
        "MALFORMED_MEMBER"
    );
    dropped!(
        key_ops_without_verify,
        with(ec256("a"), json!({"key_ops": ["sign"]})),
        "NO_VERIFY_OP"
    );
    dropped!(
        key_ops_empty,
        with(ec256("a"), json!({"key_ops": []})),
        "NO_VERIFY_OP"
    );
    dropped!(
        key_ops_not_an_array,
        with(ec256("a"), json!({"key_ops": "verify"})),
        "MALFORMED_MEMBER"
    );
    dropped!(
        key_ops_not_strings,
        with(ec256("a"), json!({"key_ops": ["verify", 1]})),
        "MALFORMED_MEMBER"
    );
    dropped!(
        okp_ed25519,
        json!({"kty": "OKP", "kid": "o", "crv": "Ed25519", "x": b64(&[9; 32])}),
        "UNSUPPORTED_KTY"
    );
    dropped!(
        okp_ed448,
        json!({"kty": "OKP", "kid": "o", "crv": "Ed448", "x": b64(&[9; 57])}),
        "UNSUPPORTED_KTY"
    );
    dropped!(
        okp_x25519,
        json!({"kty": "OKP", "kid": "o", "crv": "X25519", "x": b64(&[9; 32])}),
        "UNSUPPORTED_KTY"
    );
    dropped!(
        akp_ml_dsa_b02,
        json!({"kty": "AKP", "kid": "pq", "alg": "ML-DSA-44", "pub": "AAAA"}),
        "UNSUPPORTED_KTY"
    );
    dropped!(
        kty_missing,
        with(rsa("a"), json!({"kty": null})),
        "MALFORMED_MEMBER"
    );
    dropped!(
        kty_not_a_string,
        with(rsa("a"), json!({"kty": 3})),
        "MALFORMED_MEMBER"
    );
    dropped!(
        kty_wrong_case,
        with(rsa("a"), json!({"kty": "rsa"})),
        "UNSUPPORTED_KTY"
    );
    dropped!(
        ec_p521,
        json!({"kty": "EC", "kid": "p5", "crv": "P-521", "x": b64(&[1; 66]), "y": b64(&[1; 66])}),
        "UNSUPPORTED_CRV"
    );
    dropped!(
        ec_p521_es512,
        json!({"kty": "EC", "kid": "p5", "alg": "ES512", "crv": "P-521", "x": b64(&[1; 66]), "y": b64(&[1; 66])}),
        "UNSUPPORTED_CRV"
    );
    dropped!(
        ec_secp256k1,
        with(ec256("k"), json!({"crv": "secp256k1"})),
        "UNSUPPORTED_CRV"
    );
    dropped!(
        ec_crv_missing,
        with(ec256("k"), json!({"crv": null})),
        "MALFORMED_MEMBER"
    );
    dropped!(
        es512_on_p256,
        with(ec256("k"), json!({"alg": "ES512"})),
        "UNSUPPORTED_ALG"
    );
    dropped!(
        es384_on_p256,
        with(ec256("k"), json!({"alg": "ES384"})),
        "ALG_MISMATCH"
    );
    dropped!(
        es256_on_p384,
        with(ec384("k"), json!({"alg": "ES256"})),
        "ALG_MISMATCH"
    );
    dropped!(
        rs256_on_ec,
        with(ec256("k"), json!({"alg": "RS256"})),
        "ALG_MISMATCH"
    );
    dropped!(
        es256_on_rsa,
        with(rsa("k"), json!({"alg": "ES256"})),
        "ALG_MISMATCH"
    );
    dropped!(
        alg_ec_misused_gluu,
        with(ec256("k"), json!({"alg": "EC"})),
        "UNSUPPORTED_ALG"
    );
    dropped!(
        alg_rsa_oaep_without_use,
        with(rsa("k"), json!({"alg": "RSA-OAEP"})),
        "UNSUPPORTED_ALG"
    );
    dropped!(
        alg_hs256_on_rsa,
        with(rsa("k"), json!({"alg": "HS256"})),
        "UNSUPPORTED_ALG"
    );
    dropped!(
        alg_lowercase,
        with(rsa("k"), json!({"alg": "rs256"})),
        "UNSUPPORTED_ALG"
    );
    dropped!(
        alg_not_a_string,
        with(rsa("k"), json!({"alg": 256})),
        "MALFORMED_MEMBER"
    );
    dropped!(no_kid, with(rsa("a"), json!({"kid": null})), "MISSING_KID");
    dropped!(empty_kid, with(rsa("a"), json!({"kid": ""})), "MISSING_KID");
    dropped!(
        kid_not_a_string,
        with(rsa("a"), json!({"kid": 7})),
        "MALFORMED_MEMBER"
    );
    dropped!(
        rsa_1024,
        with(rsa("a"), json!({"n": b64(&[0xC1; 128])})),
        "RSA_TOO_SMALL"
    );
    dropped!(
        n_padded,
        with(rsa("a"), json!({"n": format!("{}==", b64(&[0xC1; 256]))})),
        "BAD_BASE64URL"
    );
    dropped!(
        n_standard_base64,
        with(rsa("a"), json!({"n": format!("+/{}", &n2048(1)[2..])})),
        "BAD_BASE64URL"
    );
    dropped!(
        n_with_whitespace,
        with(rsa("a"), json!({"n": format!("{} ", n2048(1))})),
        "BAD_BASE64URL"
    );
    dropped!(
        n_commas_b25,
        with(rsa("a"), json!({"n": format!("{},,", n2048(1))})),
        "BAD_BASE64URL"
    );
    dropped!(
        n_missing_b04,
        with(rsa("a"), json!({"n": null, "e": null, "use": "sig"})),
        "MALFORMED_MEMBER"
    );
    dropped!(
        n_not_a_string,
        with(rsa("a"), json!({"n": 12})),
        "MALFORMED_MEMBER"
    );
    dropped!(
        n_all_zero,
        with(rsa("a"), json!({"n": b64(&[0; 256])})),
        "MALFORMED_MEMBER"
    );
    dropped!(
        e_bad,
        with(rsa("a"), json!({"e": "AQAB="})),
        "BAD_BASE64URL"
    );
    dropped!(
        e_zero,
        with(rsa("a"), json!({"e": "AA"})),
        "MALFORMED_MEMBER"
    );
    dropped!(
        x_bad,
        with(ec256("a"), json!({"x": "a+b/"})),
        "BAD_BASE64URL"
    );
    dropped!(y_bad, with(ec256("a"), json!({"y": "!!"})), "BAD_BASE64URL");
    dropped!(
        x_missing,
        with(ec256("a"), json!({"x": null})),
        "MALFORMED_MEMBER"
    );
    dropped!(
        x_short_p256,
        with(ec256("a"), json!({"x": b64(&[1; 31])})),
        "BAD_EC_COORDINATE"
    );
    dropped!(
        y_p384_length_on_p256,
        with(ec256("a"), json!({"y": b64(&[1; 48])})),
        "BAD_EC_COORDINATE"
    );
    dropped!(
        x_p256_length_on_p384,
        with(ec384("a"), json!({"x": b64(&[1; 32])})),
        "BAD_EC_COORDINATE"
    );
    dropped!(
        x_with_leading_zero_octet_extra,
        with(
            ec256("a"),
            json!({"x": b64(&[&[0u8][..], &[1; 32][..]].concat())})
        ),
        "BAD_EC_COORDINATE"
    );
    dropped!(null_entry, Value::Null, "NOT_AN_OBJECT");
    dropped!(number_entry, json!(1), "NOT_AN_OBJECT");
    dropped!(string_entry, json!("key"), "NOT_AN_OBJECT");
    dropped!(array_entry, json!([rsa("a")]), "NOT_AN_OBJECT");
    dropped!(bool_entry, json!(true), "NOT_AN_OBJECT");

    #[test]
    fn rsa_2047_bits_after_leading_zero_is_too_small() {
        // 257 octets, the first zero, the second 0x40: 255 * 8 + 7 = 2047 bits.
        let mut n = vec![0u8, 0x40];
        n.extend([0xFF; 255]);
        let set = run(vec![
            with(rsa("small"), json!({"n": b64(&n)})),
            ec256("good"),
        ])
        .unwrap();
        assert_eq!(
            set.dropped[0].reason,
            DropReason::RsaTooSmall { bits: 2047 }
        );
        assert_eq!(set.dropped[0].kid.as_deref(), Some("small"));
    }

    #[test]
    fn one_bad_key_never_fails_the_set_b01_b05() {
        let set = run(vec![
            json!(null),
            with(rsa("enc"), json!({"use": "enc", "alg": "RSA-OAEP"})),
            json!({"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(&[9; 32])}),
            json!({"kty": "AKP", "kid": "pq"}),
            with(rsa("nokeys"), json!({"n": null, "e": null})),
            with(rsa("sig"), json!({"alg": "RS256"})),
        ])
        .unwrap();
        assert_eq!(ids(&set), [("sig".to_owned(), Alg::RS256, false)]);
        assert_eq!(
            drops(&set),
            [
                (0, "NOT_AN_OBJECT"),
                (1, "NOT_SIG"),
                (2, "UNSUPPORTED_KTY"),
                (3, "UNSUPPORTED_KTY"),
                (4, "MALFORMED_MEMBER")
            ]
        );
        let kids: Vec<Option<&str>> = set.dropped.iter().map(|d| d.kid.as_deref()).collect();
        assert_eq!(
            kids,
            [None, Some("enc"), Some("ed"), Some("pq"), Some("nokeys")]
        );
    }
}

mod refused {
    use super::*;

    fn refusal(key: Value) -> JwksError {
        run(vec![ec256("good"), key]).unwrap_err()
    }

    #[test]
    fn every_private_member_refuses_the_run_and_names_the_kid() {
        for member in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            let secret = "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw";
            let e = refusal(with(rsa("leaky"), json!({ member: secret })));
            assert_eq!(e.code(), "JWKS_PRIVATE_KEY", "{member}");
            assert_eq!(e.kind(), ErrorKind::PrivateKey);
            assert_eq!(e.phase().as_str(), "normalize");
            assert_eq!(e.kid(), Some("leaky"));
            let msg = e.to_string();
            assert!(!msg.contains(secret), "{msg}");
            assert!(!format!("{e:?}").contains(secret), "debug leaks {member}");
            assert_eq!(
                msg,
                format!(
                    "JWKS serves private key material; nothing is pushed; entry 1 kid \"leaky\": private key member \"{member}\" present; {URL}"
                )
            );
        }
    }

    /// Every member the IANA "JSON Web Key Parameters" registry classes as Private, on a key of
    /// the type it is registered for, refuses the run (RFC 7518 §7.1.1, RFC 8037 §5, AKP drafts).
    #[test]
    fn private_members_of_every_key_type_refuse_the_run() {
        let secret = "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw";
        let x = b64(&[9; 32]);
        let rows: Vec<(&str, Value)> = vec![
            (
                "d",
                json!({"kty": "EC", "kid": "pk", "crv": "P-256", "x": x, "y": x, "d": secret}),
            ),
            (
                "d",
                json!({"kty": "OKP", "kid": "pk", "crv": "Ed25519", "x": x, "d": secret}),
            ),
            (
                "d",
                json!({"kty": "OKP", "kid": "pk", "crv": "X25519", "x": x, "d": secret}),
            ),
            (
                "priv",
                json!({"kty": "AKP", "kid": "pk", "alg": "ML-DSA-44", "pub": x, "priv": secret}),
            ),
            (
                "priv",
                json!({"kty": "AKP", "kid": "pk", "alg": "SLH-DSA-SHA2-128s", "pub": x, "priv": secret}),
            ),
            (
                "priv",
                json!({"kty": "AKP", "kid": "pk", "alg": "ML-KEM-768", "pub": x, "priv": secret}),
            ),
            // A key type nobody registered yet: the member names are global to the registry.
            (
                "priv",
                json!({"kty": "FUTURE", "kid": "pk", "priv": secret}),
            ),
            ("d", with(rsa("pk"), json!({"d": secret}))),
        ];
        for (member, key) in rows {
            let kty = key["kty"].clone();
            let e = refusal(key);
            assert_eq!(e.code(), "JWKS_PRIVATE_KEY", "{kty} {member}");
            assert_eq!(e.kid(), Some("pk"));
            let msg = e.to_string();
            assert!(!msg.contains(secret), "{msg}");
            assert!(
                msg.contains(&format!("private key member \"{member}\" present")),
                "{msg}"
            );
        }
        // The AKP public member alone is a key this Worker cannot send, not a secret.
        let set = run(vec![
            ec256("good"),
            json!({"kty": "AKP", "kid": "pq", "alg": "ML-DSA-44", "pub": x}),
        ])
        .unwrap();
        assert_eq!(drops(&set), [(1, "UNSUPPORTED_KTY")]);
    }

    #[test]
    fn non_empty_oth_is_private() {
        let e = refusal(with(
            rsa("o"),
            json!({"oth": [{"r": "AQAB", "d": "AQAB", "t": "AQAB"}]}),
        ));
        assert_eq!(e.code(), "JWKS_PRIVATE_KEY");
    }

    #[test]
    fn private_member_on_an_otherwise_dropped_key_still_refuses() {
        let e = refusal(
            json!({"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(&[9; 32]), "d": b64(&[7; 32])}),
        );
        assert_eq!(e.code(), "JWKS_PRIVATE_KEY");
        assert_eq!(e.kid(), Some("ed"));
        let e = refusal(json!({"d": "AQAB"}));
        assert_eq!(e.code(), "JWKS_PRIVATE_KEY");
        assert_eq!(e.kid(), None);
        assert!(
            e.to_string().ends_with(&format!(
                "entry 1 (no kid): private key member \"d\" present; {URL}"
            )),
            "{e}"
        );
    }

    #[test]
    fn oct_refuses_the_run_without_printing_k() {
        let k = "GawgguFyGrWKav7AX4VKUg";
        let e = refusal(json!({"kty": "oct", "kid": "hmac", "alg": "HS256", "k": k}));
        assert_eq!(e.code(), "JWKS_SYMMETRIC_KEY");
        assert_eq!(e.kind(), ErrorKind::SymmetricKey);
        assert_eq!(e.kid(), Some("hmac"));
        assert!(!e.to_string().contains(k));
        // An oct key without k is still a symmetric key.
        assert_eq!(
            refusal(json!({"kty": "oct", "kid": "h"})).code(),
            "JWKS_SYMMETRIC_KEY"
        );
    }

    #[test]
    fn extract_refuses_too_not_only_select() {
        let e = extract(
            &doc(vec![with(rsa("a"), json!({"d": "AQAB"}))]),
            None,
            URL,
            &Options::default(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "JWKS_PRIVATE_KEY");
    }
}

mod output {
    use super::*;

    #[test]
    fn rsa_serializes_exactly_the_cloudflare_members() {
        let mut n = vec![0u8, 0u8];
        n.extend([0xC5; 256]);
        let key = with(
            rsa("k1"),
            json!({"alg": "PS256", "n": b64(&n), "use": "sig", "x5c": ["MIIB"], "x5t": "x", "issuer": "i", "key_ops": ["verify"]}),
        );
        let set = run(vec![key]).unwrap();
        assert_eq!(
            serde_json::to_string(&set.keys[0]).unwrap(),
            format!(
                r#"{{"kty":"RSA","kid":"k1","alg":"PS256","n":"{}","e":"AQAB"}}"#,
                b64(&[0xC5; 256])
            )
        );
        assert_eq!(set.keys[0].kty(), "RSA");
        assert_eq!(set.keys[0].e(), Some("AQAB"));
        assert_eq!(set.keys[0].crv(), None);
    }

    #[test]
    fn ec_serializes_exactly_the_cloudflare_members() {
        let set = run(vec![with(
            ec384("k2"),
            json!({"use": "sig", "x5c": ["MIIB"]}),
        )])
        .unwrap();
        assert_eq!(
            serde_json::to_string(&set.keys[0]).unwrap(),
            format!(
                r#"{{"kty":"EC","kid":"k2","alg":"ES384","crv":"P-384","x":"{}","y":"{}"}}"#,
                b64(&[3; 48]),
                b64(&[4; 48])
            )
        );
        assert_eq!(
            set.keys[0].xy(),
            Some((b64(&[3; 48]).as_str(), b64(&[4; 48]).as_str()))
        );
    }

    #[test]
    fn dropped_serializes_code_and_reason() {
        let set = run(vec![with(rsa("enc"), json!({"use": "enc"})), ec256("good")]).unwrap();
        assert_eq!(
            serde_json::to_value(&set.dropped[0]).unwrap(),
            json!({"index": 0, "kid": "enc", "code": "NOT_SIG", "reason": "\"use\" (public key use) is \"enc\", not \"sig\""})
        );
    }

    #[test]
    fn reason_texts_are_pinned() {
        let cases: [(DropReason, &str); 6] = [
            (
                DropReason::MissingKid,
                "no \"kid\" (key id); api shield needs one and none is invented",
            ),
            (
                DropReason::RsaTooSmall { bits: 1024 },
                "rsa modulus is 1024 bits; api shield needs at least 2048",
            ),
            (
                DropReason::UnsupportedCrv {
                    crv: "P-521".into(),
                },
                "unsupported \"crv\" (curve) \"P-521\"; api shield takes P-256 and P-384",
            ),
            (
                DropReason::NoVerifyOp,
                "\"key_ops\" (key operations) does not include \"verify\"",
            ),
            (
                DropReason::OverLimit { max_keys: 4 },
                "over the limit of 4 keys",
            ),
            (
                DropReason::Duplicate { kept_index: 2 },
                "same kid, alg and key material as entry 2",
            ),
        ];
        for (r, text) in cases {
            assert_eq!(r.to_string(), text);
        }
    }

    #[test]
    fn hostile_values_are_escaped_and_cut_in_reasons() {
        let kty = format!("\u{1b}[31m{}", "x".repeat(200));
        let set = run(vec![json!({"kty": kty, "kid": "k\n"}), ec256("good")]).unwrap();
        let text = set.dropped[0].reason.to_string();
        assert!(
            text.starts_with("unsupported \"kty\" (key type) \"\\u{1b}[31mxxx"),
            "{text}"
        );
        assert!(text.contains("…\""), "{text}");
        assert!(!text.contains('\u{1b}'));
        assert_eq!(set.dropped[0].kid.as_deref(), Some("k\\n"));
    }
}

mod identity {
    use super::*;

    #[test]
    fn exact_duplicates_collapse_b08() {
        let set = run(vec![rsa("a"), ec256("e"), rsa("a")]).unwrap();
        assert_eq!(
            ids(&set),
            [
                ("a".to_owned(), Alg::RS256, true),
                ("e".to_owned(), Alg::ES256, true)
            ]
        );
        assert_eq!(drops(&set), [(2, "DUPLICATE")]);
        assert_eq!(
            set.dropped[0].reason,
            DropReason::Duplicate { kept_index: 0 }
        );
    }

    #[test]
    fn inferred_and_explicit_alg_of_the_same_key_are_duplicates() {
        let mut n = vec![0u8];
        n.extend([0x91; 256]);
        let a = with(rsa("a"), json!({"n": b64(&[0x91; 256])}));
        let b = with(
            rsa("a"),
            json!({"n": b64(&n), "alg": "RS256", "use": "sig"}),
        );
        let set = run(vec![a, b]).unwrap();
        assert_eq!(ids(&set), [("a".to_owned(), Alg::RS256, true)]);
        assert_eq!(drops(&set), [(1, "DUPLICATE")]);
    }

    #[test]
    fn same_kid_different_alg_both_kept_b09() {
        let set = run(vec![
            with(rsa("k"), json!({"alg": "RS256"})),
            with(rsa("k"), json!({"alg": "RS512"})),
            ec256("k"),
        ])
        .unwrap();
        assert_eq!(
            ids(&set),
            [
                ("k".to_owned(), Alg::RS256, false),
                ("k".to_owned(), Alg::RS512, false),
                ("k".to_owned(), Alg::ES256, true)
            ]
        );
    }

    #[test]
    fn same_kid_and_alg_with_different_material_is_ambiguous() {
        let e = run(vec![
            rsa("k"),
            ec256("x"),
            with(rsa("k"), json!({"n": n2048(0x22)})),
        ])
        .unwrap_err();
        assert_eq!(e.code(), "JWKS_AMBIGUOUS_KID");
        assert_eq!(e.phase().as_str(), "normalize");
        assert_eq!(e.kid(), Some("k"));
        assert_eq!(
            e.to_string(),
            format!("ambiguous key; nothing is pushed; kid \"k\" alg RS256 appears at entries 0 and 2 with different key material; {URL}")
        );
    }
}

mod limit {
    use super::*;

    const AUTH0: &str = include_str!("fixtures/jwks/real/auth0-dev-tenant-x5c.json");
    const GITHUB: &str =
        include_str!("fixtures/jwks/real/github-actions-oidc-2keys-x5c-hexkid.json");
    const ADFS: &str = include_str!("fixtures/jwks/real/adfs-rsa4096-x5c.json");
    const ENTRA: &str = include_str!("fixtures/jwks/real/entra-tenant-v2-keys-no-alg.json");
    /// 2026-01-01T00:00:00Z in Unix seconds.
    const NOW: i64 = 1_767_225_600;

    fn leaf(doc: &str, i: usize) -> Value {
        let v: Value = serde_json::from_str(doc).unwrap();
        v["keys"][i]["x5c"][0].clone()
    }

    /// Source order, with leaf certificate dates (from `openssl x509 -dates`):
    /// 0 plain: none; 1 gh: 2022-01-05..2024-01-05; 2 a0a: 2023-09-06 10:38:44..2037;
    /// 3 a0b: 2023-09-06 10:38:45..2037; 4 junk: does not parse; 5 adfs: 2023-11-09..2024-11-08;
    /// 6 ent: 2023-07-14..2028-07-14.
    fn keys() -> Vec<Value> {
        let x5c = |v: Value| json!([v]);
        vec![
            with(rsa("plain"), json!({"n": n2048(0)})),
            with(
                rsa("gh"),
                json!({"n": n2048(1), "x5c": x5c(leaf(GITHUB, 0))}),
            ),
            with(
                rsa("a0a"),
                json!({"n": n2048(2), "x5c": x5c(leaf(AUTH0, 0))}),
            ),
            with(
                rsa("a0b"),
                json!({"n": n2048(3), "x5c": x5c(leaf(AUTH0, 1))}),
            ),
            with(
                rsa("junk"),
                json!({"n": n2048(4), "x5c": ["!!not base64!!"]}),
            ),
            with(
                rsa("adfs"),
                json!({"n": n2048(5), "x5c": x5c(leaf(ADFS, 0))}),
            ),
            with(
                rsa("ent"),
                json!({"n": n2048(6), "x5c": x5c(leaf(ENTRA, 1))}),
            ),
        ]
    }

    fn kept_and_over(max_keys: usize, now: i64) -> (Vec<String>, Vec<usize>) {
        let opts = Options {
            max_keys,
            now_unix_s: now,
            ..Options::default()
        };
        let set = run_opts(keys(), &opts).unwrap();
        assert!(set
            .dropped
            .iter()
            .all(|d| d.reason == DropReason::OverLimit { max_keys }));
        (
            set.keys.iter().map(|k| k.kid().to_owned()).collect(),
            set.dropped.iter().map(|d| d.index).collect(),
        )
    }

    #[test]
    fn current_certificates_first_newest_not_before_first() {
        assert_eq!(
            kept_and_over(3, NOW),
            (
                vec!["a0a".into(), "a0b".into(), "ent".into()],
                vec![0, 1, 4, 5]
            )
        );
        assert_eq!(
            kept_and_over(2, NOW),
            (vec!["a0a".into(), "a0b".into()], vec![0, 1, 4, 5, 6])
        );
        assert_eq!(
            kept_and_over(1, NOW),
            (vec!["a0b".into()], vec![0, 1, 2, 4, 5, 6])
        );
    }

    #[test]
    fn unknown_dates_after_current_certificates_then_expired_last() {
        assert_eq!(
            kept_and_over(5, NOW),
            (
                vec![
                    "plain".into(),
                    "a0a".into(),
                    "a0b".into(),
                    "junk".into(),
                    "ent".into()
                ],
                vec![1, 5]
            )
        );
        assert_eq!(
            kept_and_over(6, NOW).1,
            vec![5],
            "expired ties keep source order"
        );
    }

    #[test]
    fn nothing_is_expired_at_time_zero() {
        // notBefore order: adfs 2023-11-09, a0b, a0a, ent 2023-07-14, gh 2022.
        assert_eq!(
            kept_and_over(2, 0),
            (vec!["a0b".into(), "adfs".into()], vec![0, 1, 2, 4, 6])
        );
    }

    #[test]
    fn under_the_limit_keeps_everything() {
        assert_eq!(
            kept_and_over(7, NOW),
            (
                vec!["plain", "gh", "a0a", "a0b", "junk", "adfs", "ent"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                vec![]
            )
        );
        assert_eq!(Options::default().max_keys, 16);
    }

    #[test]
    fn no_certificates_means_source_order() {
        let opts = Options {
            max_keys: 4,
            ..Options::default()
        };
        let keys: Vec<Value> = (0..6u8)
            .map(|i| with(rsa(&format!("k{i}")), json!({"n": n2048(i)})))
            .collect();
        let set = run_opts(keys, &opts).unwrap();
        assert_eq!(
            set.keys.iter().map(|k| k.kid()).collect::<Vec<_>>(),
            ["k0", "k1", "k2", "k3"]
        );
        assert_eq!(drops(&set), [(4, "OVER_LIMIT"), (5, "OVER_LIMIT")]);
    }

    #[test]
    fn entra_common_eleven_keys_to_four() {
        // Expected computed independently with `openssl x509 -dates` over each leaf.
        let body = include_bytes!("fixtures/jwks/real/entra-common-v2-keys-flap-a-11keys.json");
        let opts = Options {
            max_keys: 4,
            now_unix_s: NOW,
            ..Options::default()
        };
        let set = normalize(body, None, URL, &opts).unwrap();
        assert_eq!(
            set.keys.iter().map(|k| k.kid()).collect::<Vec<_>>(),
            [
                "q7P1NvxuGQwDN2TaiMovjZ8aZws",
                "W2DcSeRYxeHTB_dQGxcvTCuvRDY",
                "23ntaxfH9Gk-8D_USzoAJgwjyt8",
                "EngR4Vzr4KsOR7allG7pwvY8T2w"
            ]
        );
        assert_eq!(
            set.dropped.iter().map(|d| d.index).collect::<Vec<_>>(),
            [0, 1, 2, 3, 8, 9, 10]
        );
        assert!(set.dropped.iter().all(|d| d.reason.code() == "OVER_LIMIT"));
    }
}

mod empty {
    use super::*;

    #[test]
    fn every_key_dropped_lists_each_with_its_reason() {
        let e = run(vec![
            with(rsa("enc"), json!({"use": "enc"})),
            with(rsa("small"), json!({"n": b64(&[0xC1; 128])})),
            json!(4),
        ])
        .unwrap_err();
        assert_eq!(e.code(), "JWKS_NO_USABLE_KEYS");
        assert_eq!(e.phase().as_str(), "normalize");
        let got: Vec<(usize, Option<&str>, &str)> = e
            .dropped()
            .iter()
            .map(|d| (d.index, d.kid.as_deref(), d.reason.code()))
            .collect();
        assert_eq!(
            got,
            [
                (0, Some("enc"), "NOT_SIG"),
                (1, Some("small"), "RSA_TOO_SMALL"),
                (2, None, "NOT_AN_OBJECT")
            ]
        );
        assert_eq!(
            e.to_string(),
            format!(
                "no usable keys; nothing is pushed; 3 dropped: entry 0 kid \"enc\" NOT_SIG (\"use\" (public key use) is \"enc\", not \"sig\"), \
                 entry 1 kid \"small\" RSA_TOO_SMALL (rsa modulus is 1024 bits; api shield needs at least 2048), entry 2 NOT_AN_OBJECT (entry is a JSON number, not an object); {URL}"
            )
        );
    }

    refused!(
        empty_key_array_supabase_legacy,
        br#"{"keys":[]}"#.to_vec(),
        "JWKS_NO_USABLE_KEYS"
    );

    #[test]
    fn message_lists_at_most_32_but_dropped_has_all() {
        let e = run(vec![Value::Null; MAX_KEY_ENTRIES]).unwrap_err();
        assert_eq!(e.dropped().len(), MAX_KEY_ENTRIES);
        assert!(
            e.to_string().ends_with(&format!(", and 968 more; {URL}")),
            "{}",
            &e.to_string()[e.to_string().len() - 80..]
        );
    }
}

mod shape {
    use super::*;

    fn err(body: &[u8], ct: Option<&str>) -> JwksError {
        normalize(body, ct, URL, &Options::default()).unwrap_err()
    }

    const GOOD: &str = r#"{"keys":[{"kty":"EC","kid":"e1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    #[test]
    fn html_names_url_content_type_and_first_bytes_b10() {
        let e = err(b"\n<!doctype html><html><head><title>Sign in</title></head><body>lots more</body></html>", Some("text/html; charset=utf-8"));
        assert_eq!(e.code(), "JWKS_HTML");
        assert_eq!(e.phase().as_str(), "parse");
        assert_eq!(e.url(), URL);
        assert_eq!(
            e.to_string(),
            format!("body is HTML, not a JWKS; content-type text/html; charset=utf-8, starts \"<!doctype html><html><head><title>Sign in</title…\"; {URL}")
        );
    }

    #[test]
    fn html_content_type_with_unparsable_body_is_html() {
        assert_eq!(
            err(b"Service Unavailable", Some("text/html")).code(),
            "JWKS_HTML"
        );
        assert_eq!(
            err(b"Service Unavailable", Some("text/plain")).code(),
            "JWKS_NOT_JSON"
        );
    }

    #[test]
    fn not_json_names_position_and_escapes_preview() {
        let e = err(b"{\"keys\": [\x01\xff", None);
        assert_eq!(e.code(), "JWKS_NOT_JSON");
        let msg = e.to_string();
        assert!(msg.starts_with("body is not JSON; "), "{msg}");
        assert!(
            msg.ends_with(&format!(
                "; no content-type, starts \"{{\\\"keys\\\": [\\u{{1}}\\u{{fffd}}\"; {URL}"
            )),
            "{msg}"
        );
    }

    refused!(empty_body, b"".to_vec(), "JWKS_EMPTY_BODY");
    refused!(whitespace_body, b" \r\n\t ".to_vec(), "JWKS_EMPTY_BODY");
    refused!(bom_only_body, b"\xEF\xBB\xBF\n".to_vec(), "JWKS_EMPTY_BODY");
    refused!(json_string, br#""not_object""#.to_vec(), "JWKS_NOT_OBJECT");
    refused!(json_number, b"42".to_vec(), "JWKS_NOT_OBJECT");
    refused!(json_null, b"null".to_vec(), "JWKS_NOT_OBJECT");
    refused!(
        bare_array_with_default_pointer,
        b"[]".to_vec(),
        "JWKS_NOT_OBJECT"
    );
    refused!(empty_object, b"{}".to_vec(), "JWKS_NO_KEY_ARRAY");
    refused!(keys_null, br#"{"keys":null}"#.to_vec(), "JWKS_NO_KEY_ARRAY");
    refused!(
        keys_object,
        br#"{"keys":{"kty":"RSA"}}"#.to_vec(),
        "JWKS_NO_KEY_ARRAY"
    );
    refused!(
        keys_misspelt,
        br#"{"Keys":[]}"#.to_vec(),
        "JWKS_NO_KEY_ARRAY"
    );
    refused!(pem_map, br#"{"abc":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n","def":"-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"}"#.to_vec(), "JWKS_PEM_MAP");
    refused!(keycloak_realm, br#"{"realm":"master","public_key":"MIIBIjAN","token-service":"http://kc/realms/master/protocol/openid-connect","tokens-not-before":0}"#.to_vec(), "JWKS_KEYCLOAK_REALM");
    refused!(
        cf_envelope,
        br#"{"result":{"credentials":{"keys":[]}},"success":true,"errors":[],"messages":[]}"#
            .to_vec(),
        "JWKS_CF_ENVELOPE"
    );
    refused!(cf_error_envelope, br#"{"result":null,"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[]}"#.to_vec(), "JWKS_CF_ENVELOPE");
    refused!(
        discovery_with_non_string_jwks_uri,
        br#"{"issuer":"https://x","jwks_uri":5}"#.to_vec(),
        "DISCOVERY_INVALID"
    );
    refused!(
        invalid_json_trailing_comma,
        br#"{"keys":[],}"#.to_vec(),
        "JWKS_NOT_JSON"
    );

    #[test]
    fn a_broken_body_that_names_a_secret_is_not_quoted() {
        // Not valid JSON (trailing comma), so the private-key refusal never sees it.
        let body = br#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"},]}"#;
        let e = err(body, Some("application/json"));
        assert_eq!(e.code(), "JWKS_NOT_JSON");
        let text = e.to_string();
        assert!(text.ends_with(&format!("; content-type application/json, first bytes withheld: the body names a private key member; {URL}")), "{text}");
        assert!(!text.contains("c2Vj"), "{text}");
    }

    /// A PEM private key at JWKS_URL: not JSON, and its first bytes are the key's.
    #[test]
    fn a_pem_private_key_is_not_quoted() {
        const SCALAR: &str = "MHcCAQEEIBhxS3cR5";
        for label in [
            "EC PRIVATE KEY",
            "PRIVATE KEY",
            "RSA PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
        ] {
            let body =
                format!("-----BEGIN {label}-----\n{SCALAR}kX0uT1zq\n-----END {label}-----\n");
            for (ct, code) in [
                (Some("application/x-pem-file"), "JWKS_NOT_JSON"),
                (Some("text/html"), "JWKS_HTML"),
            ] {
                let e = err(body.as_bytes(), ct);
                assert_eq!(e.code(), code, "{label}");
                let text = e.to_string();
                assert!(
                    text.ends_with(&format!(
                        ", first bytes withheld: the body holds a PEM private key; {URL}"
                    )),
                    "{text}"
                );
                assert!(!text.contains("MHcC"), "{text}");
            }
        }
        // As a JSON string, and after some text: withheld too.
        let e = err(
            format!("\"-----BEGIN PRIVATE KEY-----\\n{SCALAR}\"").as_bytes(),
            None,
        );
        assert_eq!(e.code(), "JWKS_NOT_OBJECT");
        assert!(!e.to_string().contains("MHcC"), "{e}");
        let e = err(
            format!("key: -----BEGIN PRIVATE KEY-----\n{SCALAR}").as_bytes(),
            None,
        );
        assert!(
            e.to_string()
                .contains("withheld: the body holds a PEM private key"),
            "{e}"
        );
        // A certificate or public key is quoted as any other body.
        let e = err(
            b"-----BEGIN PUBLIC KEY-----\nMFkwEwYH\n-----END PUBLIC KEY-----",
            None,
        );
        assert!(
            e.to_string()
                .contains("starts \"-----BEGIN PUBLIC KEY-----"),
            "{e}"
        );
    }

    #[test]
    fn messages_for_each_shape_are_pinned() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "body is empty; content-type application/json; https://idp.example/jwks"),
            (br#""not_object""#, "top level is not a JSON object; found a JSON string; content-type application/json, starts \"not_object\"; https://idp.example/jwks"),
            (br#"{"a":"-----BEGIN CERTIFICATE-----x"}"#, "body is a map of PEM certificates keyed by kid, not a JWKS; 1 certificates, kids \"a\"; use the provider's JWKS endpoint instead; https://idp.example/jwks"),
            (br#"{"realm":"m","public_key":"MII","token-service":"https://kc/realms/m/protocol/openid-connect"}"#, "body is a keycloak realm document, not a JWKS; the realm's JWKS is at \"https://kc/realms/m/protocol/openid-connect/certs\"; https://idp.example/jwks"),
            (br#"{"result":{},"success":true}"#, "body is a cloudflare API response envelope, not a JWKS; a token validation configuration keeps its keys at /result/credentials/keys; https://idp.example/jwks"),
            (br#"{"a":1,"b":2}"#, "no key array; nothing at \"/keys\"; members \"a\", \"b\"; if the keys are elsewhere, point keys_pointer (JWKS_KEYS_POINTER) at them; https://idp.example/jwks"),
        ];
        for (body, text) in cases {
            assert_eq!(err(body, Some("application/json")).to_string(), text);
        }
    }

    #[test]
    fn discovery_document_is_reported_with_its_jwks_uri_b23() {
        let e = err(br#"{"issuer":"https://idp.example/","jwks_uri":"https://idp.example/.well-known/jwks.json"}"#, None);
        assert_eq!(e.code(), "JWKS_DISCOVERY_DOCUMENT");
        assert_eq!(e.kind(), ErrorKind::DiscoveryDocument);
        assert_eq!(e.phase().as_str(), "parse");
        assert_eq!(
            e.discovery_jwks_uri(),
            Some("https://idp.example/.well-known/jwks.json")
        );
        assert_eq!(
            e.to_string(),
            format!("body is an OIDC discovery document, not a JWKS; follow its jwks_uri \"https://idp.example/.well-known/jwks.json\"; {URL}")
        );
    }

    #[test]
    fn a_document_with_keys_and_jwks_uri_is_a_jwks() {
        let body = format!(
            r#"{{"jwks_uri":"https://x/","keys":{}}}"#,
            &GOOD[8..GOOD.len() - 1]
        );
        assert_eq!(
            normalize(body.as_bytes(), None, URL, &Options::default())
                .unwrap()
                .keys[0]
                .kid(),
            "e1"
        );
    }

    #[test]
    fn tolerates_bom_whitespace_and_odd_content_types() {
        for ct in [
            None,
            Some("text/plain"),
            Some("application/jwk-set+json; charset=UTF-8"),
            Some("application/octet-stream"),
            Some("text/html"),
        ] {
            let body = [&b"\xEF\xBB\xBF \r\n"[..], GOOD.as_bytes(), b"\n\n"].concat();
            let set = normalize(&body, ct, URL, &Options::default()).unwrap();
            assert_eq!(set.keys[0].kid(), "e1", "{ct:?}");
        }
    }

    #[test]
    fn keys_pointer_selects_another_location() {
        let envelope = include_bytes!(
            "fixtures/jwks/real/cloudflare-api-token-validation-config-response-envelope.json"
        );
        let opts = Options {
            keys_pointer: "/result/credentials/keys".into(),
            ..Options::default()
        };
        let set = normalize(envelope, None, URL, &opts).unwrap();
        assert_eq!(
            ids(&set),
            [(
                "93UrzmNu1mqXs5cZcvCPkTlMHB2Jya30vSTkiBb0vhU".to_owned(),
                Alg::ES256,
                false
            )]
        );

        let bare = &GOOD[8..GOOD.len() - 1];
        let opts = Options {
            keys_pointer: String::new(),
            ..Options::default()
        };
        assert_eq!(
            normalize(bare.as_bytes(), None, URL, &opts)
                .unwrap()
                .keys
                .len(),
            1
        );

        // RFC 6901 escapes: "~1" is "/", "~0" is "~".
        let nested = format!(r#"{{"a/b":{{"k~":{bare}}}}}"#);
        let opts = Options {
            keys_pointer: "/a~1b/k~0".into(),
            ..Options::default()
        };
        assert_eq!(
            normalize(nested.as_bytes(), None, URL, &opts)
                .unwrap()
                .keys
                .len(),
            1
        );

        let opts = Options {
            keys_pointer: "/keys/0".into(),
            ..Options::default()
        };
        let e = normalize(GOOD.as_bytes(), None, URL, &opts).unwrap_err();
        assert_eq!(e.code(), "JWKS_NO_KEY_ARRAY");
        assert!(
            e.to_string().ends_with(&format!(
                "; \"/keys/0\" is a JSON object, not an array; {URL}"
            )),
            "{e}"
        );
    }

    #[test]
    fn bad_options_are_config_errors() {
        let bad = [
            Options {
                keys_pointer: "keys".into(),
                ..Options::default()
            },
            Options {
                rsa_default_alg: Alg::ES256,
                ..Options::default()
            },
            Options {
                max_keys: 0,
                ..Options::default()
            },
        ];
        for opts in bad {
            let e = normalize(GOOD.as_bytes(), None, URL, &opts).unwrap_err();
            assert_eq!(e.code(), "JWKS_BAD_OPTIONS");
            assert_eq!(e.phase().as_str(), "options");
        }
    }

    #[test]
    fn body_size_bound_is_checked_first() {
        let mut body = GOOD.as_bytes().to_vec();
        body.resize(MAX_BODY_BYTES, b' ');
        assert_eq!(
            normalize(&body, None, URL, &Options::default())
                .unwrap()
                .keys
                .len(),
            1
        );
        body.push(b' ');
        let e = normalize(&body, None, URL, &Options::default()).unwrap_err();
        assert_eq!(e.code(), "JWKS_TOO_LARGE");
        assert_eq!(
            e.to_string(),
            format!("body is over the size limit; 1048577 bytes; limit 1048576 bytes; {URL}")
        );
    }

    #[test]
    fn entry_count_bound_is_checked_before_per_key_work() {
        // 1001 entries, the last one secret: the count refusal comes first.
        let mut keys = vec![Value::Null; MAX_KEY_ENTRIES];
        keys.push(json!({"kty": "oct", "k": "AAAA"}));
        let e = run(keys).unwrap_err();
        assert_eq!(e.code(), "JWKS_TOO_MANY_ENTRIES");
        assert!(
            e.to_string()
                .ends_with(&format!("; 1001 entries; limit 1000; {URL}")),
            "{e}"
        );
    }
}

mod sources {
    use super::*;

    fn ex(url: &str, keys: Vec<Value>) -> jwks_sync::jwks::Extracted {
        extract(&doc(keys), None, url, &Options::default()).unwrap()
    }

    #[test]
    fn two_idps_merge_in_order_with_duplicates_collapsed() {
        let a = ex(
            "https://old.example/jwks",
            vec![rsa("old"), ec256("shared"), json!(null)],
        );
        let b = ex(
            "https://new.example/jwks",
            vec![ec384("new"), ec256("shared")],
        );
        assert_eq!(a.url(), "https://old.example/jwks");
        assert_eq!(
            a.keys().map(|k| k.kid()).collect::<Vec<_>>(),
            ["old", "shared"]
        );
        assert_eq!(a.dropped().len(), 1);
        let set = select(&[a, b], &Options::default()).unwrap();
        assert_eq!(
            ids(&set),
            [
                ("old".to_owned(), Alg::RS256, true),
                ("shared".to_owned(), Alg::ES256, true),
                ("new".to_owned(), Alg::ES384, true)
            ]
        );
        assert_eq!(drops(&set), [(2, "NOT_AN_OBJECT"), (1, "DUPLICATE")]);
    }

    #[test]
    fn conflicting_kid_across_idps_is_ambiguous_and_names_both() {
        let a = ex("https://old.example/jwks", vec![rsa("k")]);
        let b = ex(
            "https://new.example/jwks",
            vec![with(rsa("k"), json!({"n": n2048(0x33)}))],
        );
        let e = select(&[a, b], &Options::default()).unwrap_err();
        assert_eq!(e.code(), "JWKS_AMBIGUOUS_KID");
        assert_eq!(e.url(), "https://new.example/jwks");
        assert!(e.to_string().ends_with("kid \"k\" alg RS256 is entry 0 here and entry 0 of https://old.example/jwks with different key material; https://new.example/jwks"), "{e}");
    }

    #[test]
    fn a_source_with_no_usable_key_fails_the_merge_and_is_named() {
        for silent in [vec![], vec![with(rsa("enc"), json!({"use": "enc"}))]] {
            let a = ex("https://old.example/jwks", vec![rsa("old")]);
            let b = ex("https://new.example/jwks", silent.clone());
            let e = select(&[a, b], &Options::default()).unwrap_err();
            assert_eq!(e.code(), "JWKS_NO_USABLE_KEYS");
            assert_eq!(e.url(), "https://new.example/jwks");
            assert_eq!(e.dropped().len(), silent.len());
        }
    }

    fn kids(set: &KeySet) -> Vec<&str> {
        set.keys.iter().map(|k| k.kid()).collect()
    }

    fn limit(max_keys: usize) -> Options {
        Options {
            max_keys,
            ..Options::default()
        }
    }

    /// H2: over `max_keys`, each source keeps its best-ranked key before the ranking fills the
    /// rest; the ranking alone (ties in source order) would keep only the first source's keys.
    #[test]
    fn over_the_limit_every_source_keeps_its_best_key() {
        let a = ex(
            "https://old.example/jwks",
            vec![rsa("a1"), rsa("a2"), rsa("a3")],
        );
        let b = ex("https://new.example/jwks", vec![ec256("b1"), ec384("b2")]);
        let set = select(&[a, b], &limit(2)).unwrap();
        assert_eq!(kids(&set), ["a1", "b1"]);
        assert_eq!(
            drops(&set),
            [(1, "OVER_LIMIT"), (2, "OVER_LIMIT"), (1, "OVER_LIMIT")]
        );
        let a = ex(
            "https://old.example/jwks",
            vec![rsa("a1"), rsa("a2"), rsa("a3")],
        );
        let b = ex("https://new.example/jwks", vec![ec256("b1"), ec384("b2")]);
        let set = select(&[a, b], &limit(4)).unwrap();
        assert_eq!(
            kids(&set),
            ["a1", "a2", "a3", "b1"],
            "then by ranking, ties in source order"
        );
    }

    /// The review's scenario: Entra (eleven keys with current certificates, which rank first)
    /// merged with a new IdP whose keys have none, under MAX_KEYS 4.
    #[test]
    fn an_idp_migration_off_entra_keeps_the_new_idps_key() {
        let body = include_bytes!("fixtures/jwks/real/entra-common-v2-keys-flap-a-11keys.json");
        let opts = Options {
            max_keys: 4,
            now_unix_s: 1_767_225_600,
            ..Options::default()
        };
        let entra = extract(
            body,
            None,
            "https://login.microsoftonline.com/common",
            &opts,
        )
        .unwrap();
        let new = ex(
            "https://new.example/jwks",
            vec![ec256("new-1"), ec256("new-2")],
        );
        let set = select(&[entra, new], &opts).unwrap();
        // Entra's three best-ranked keys (newest notBefore: EngR 2024-05-27, 23nt 05-22, W2Dc
        // 05-20 19:30; `openssl x509 -dates`), in source order, then the new IdP's first key.
        assert_eq!(
            kids(&set),
            [
                "W2DcSeRYxeHTB_dQGxcvTCuvRDY",
                "23ntaxfH9Gk-8D_USzoAJgwjyt8",
                "EngR4Vzr4KsOR7allG7pwvY8T2w",
                "new-1"
            ]
        );
    }

    /// A key a later source publishes again is that source's key too: kept for it, rather
    /// than a key of its own it does not have.
    #[test]
    fn a_key_shared_by_two_sources_keeps_both() {
        let a = ex(
            "https://old.example/jwks",
            vec![rsa("a1"), rsa("a2"), ec256("shared")],
        );
        let b = ex("https://new.example/jwks", vec![ec256("shared")]);
        let set = select(&[a, b], &limit(2)).unwrap();
        assert_eq!(kids(&set), ["a1", "shared"]);
        assert_eq!(
            drops(&set),
            [(1, "OVER_LIMIT"), (0, "DUPLICATE")],
            "b's copy is a duplicate of a's"
        );
    }

    /// More sources than slots cannot keep a key of each: refused, naming them all.
    #[test]
    fn more_sources_than_max_keys_is_refused() {
        let a = ex("https://old.example/jwks", vec![rsa("a1")]);
        let b = ex("https://new.example/jwks", vec![ec256("b1")]);
        let e = select(&[a, b], &limit(1)).unwrap_err();
        assert_eq!(e.code(), "JWKS_BAD_OPTIONS");
        assert_eq!(
            e.to_string(),
            "invalid jwks options; max_keys 1 is less than the 2 sources merged, and each source keeps at least one key; https://old.example/jwks, https://new.example/jwks"
        );
    }

    #[test]
    fn no_sources_is_no_usable_keys() {
        assert_eq!(
            select(&[], &Options::default()).unwrap_err().code(),
            "JWKS_NO_USABLE_KEYS"
        );
    }
}

mod canonical_form {
    use super::*;

    #[test]
    fn order_and_inference_do_not_matter_material_does() {
        let a = run(vec![rsa("a"), ec256("e")]).unwrap();
        let b = run(vec![ec256("e"), with(rsa("a"), json!({"alg": "RS256"}))]).unwrap();
        assert_ne!(a.keys, b.keys);
        assert_eq!(canonical(&a.keys), canonical(&b.keys));
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.canonical().len(), 2);
        assert_eq!(
            a.canonical().ids().collect::<Vec<_>>(),
            [("a", Alg::RS256), ("e", Alg::ES256)]
        );

        let c = run(vec![with(rsa("a"), json!({"n": n2048(0x55)})), ec256("e")]).unwrap();
        assert_ne!(canonical(&a.keys), canonical(&c.keys));
        let d = run(vec![with(rsa("a"), json!({"alg": "PS256"})), ec256("e")]).unwrap();
        assert_ne!(canonical(&a.keys), canonical(&d.keys));

        let mut twice = a.keys.clone();
        twice.extend(a.keys.clone());
        assert_eq!(canonical(&twice), canonical(&a.keys));
        assert!(canonical(&[]).is_empty());
    }

    #[test]
    fn decode_key_reads_what_cloudflare_returns() {
        let envelope: Value = serde_json::from_str(include_str!(
            "fixtures/jwks/real/cloudflare-api-token-validation-config-response-envelope.json"
        ))
        .unwrap();
        let live = decode_key(&envelope["result"]["credentials"]["keys"][0], Alg::RS256).unwrap();
        assert_eq!(
            (live.kid(), live.alg(), live.alg_inferred()),
            (
                "93UrzmNu1mqXs5cZcvCPkTlMHB2Jya30vSTkiBb0vhU",
                Alg::ES256,
                false
            )
        );
        // Round trip: what we send decodes to itself.
        let sent = run(vec![rsa("a")]).unwrap().keys;
        let back = decode_key(&serde_json::to_value(&sent[0]).unwrap(), Alg::RS256).unwrap();
        assert_eq!(canonical(&[back]), canonical(&sent));
    }

    #[test]
    fn decode_key_returns_secrets_as_reasons_not_errors() {
        assert_eq!(
            decode_key(&with(rsa("a"), json!({"d": "AQAB"})), Alg::RS256),
            Err(DropReason::PrivateMember { member: "d" })
        );
        assert_eq!(
            decode_key(&json!({"kty": "oct", "k": "AQAB"}), Alg::RS256),
            Err(DropReason::Symmetric)
        );
        assert_eq!(
            decode_key(&json!("x"), Alg::RS256),
            Err(DropReason::NotAnObject { found: "string" })
        );
    }
}

mod discovery {
    use super::*;

    const D: &str = "https://idp.example/.well-known/openid-configuration";

    fn code(body: &[u8]) -> &'static str {
        parse_discovery(body, Some("application/json"), D)
            .unwrap_err()
            .code()
    }

    #[test]
    fn reads_jwks_uri_and_issuer() {
        let d = parse_discovery(
            include_bytes!("fixtures/jwks/real/auth0-openid-configuration.json"),
            None,
            D,
        )
        .unwrap();
        assert_eq!(
            d.jwks_uri,
            "https://dev-ltxchcls4igzho78.us.auth0.com/.well-known/jwks.json"
        );
        assert_eq!(
            d.issuer.as_deref(),
            Some("https://dev-ltxchcls4igzho78.us.auth0.com/")
        );
        let d = parse_discovery(
            b"\xEF\xBB\xBF{\"jwks_uri\":\"https://x/k\",\"issuer\":7}",
            None,
            D,
        )
        .unwrap();
        assert_eq!((d.jwks_uri.as_str(), d.issuer), ("https://x/k", None));
    }

    #[test]
    fn invalid_documents() {
        for body in [
            &b""[..],
            b"<html>",
            b"{not json",
            br#""not_object""#,
            b"{}",
            br#"{"issuer":""}"#,
            br#"{"jwks_uri":5}"#,
            br#"{"jwks_uri":""}"#,
            br#"{"jwks_uri":null}"#,
            br#"{"keys":[]}"#,
        ] {
            assert_eq!(
                code(body),
                "DISCOVERY_INVALID",
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let e = parse_discovery(br#"{"keys":[]}"#, None, D).unwrap_err();
        assert_eq!(e.phase().as_str(), "parse");
        assert_eq!(
            e.to_string(),
            format!("discovery document is invalid; no jwks_uri; the body is a JWKS itself, configure it as the JWKS URL; {D}")
        );
        assert_eq!(code(&vec![b' '; MAX_BODY_BYTES + 1]), "JWKS_TOO_LARGE");
    }
}
