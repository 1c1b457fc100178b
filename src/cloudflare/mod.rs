//! The Cloudflare API's token validation routes: request building and response mapping.
//!
//! Pure: it builds URLs and bodies and interprets what a call got; the sync sends them.
//! Routes and shapes: Cloudflare API reference, "Token Validation" (shared reference
//! `cloudflare-api.md` §1). Answers are mapped three ways, as cloudflare-rs does: a 2xx whose
//! envelope parses and says `success` is a success; a 2xx that does not parse is invalid; anything
//! else is an error with whatever `errors[]` could be read, classified into a code an operator
//! can act on (§1.3). A write's answer is also sorted into definite (applied or refused) and
//! unknown (no answer, 5xx, unreadable 2xx), which the sync resolves by reading what is live.

mod error;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

pub use error::{ApiMessage, ApiSource, CfError, CfErrorKind, Operation};

use crate::http::{Attempts, Sent};
use crate::jwks::{decode_key, preview, Alg, PublicJwk};

/// `GET {base}/zones/{zone_id}/token_validation/config/{config_id}`: one configuration.
pub fn config_url(base: &str, zone_id: &str, config_id: &str) -> String {
    format!("{base}/zones/{zone_id}/token_validation/config/{config_id}")
}

/// `{base}/zones/{zone_id}/token_validation/config/{config_id}/credentials`: `PUT` replaces the
/// configuration's keys; `PATCH` edits them, keeping what a key leaves out (§1.1).
pub fn credentials_url(base: &str, zone_id: &str, config_id: &str) -> String {
    format!("{}/credentials", config_url(base, zone_id, config_id))
}

/// The body of a write: `{"keys":[…]}`, the IdP's keys exactly as [`PublicJwk`] serializes them,
/// then each kept symmetric key as `{"kty":"oct","kid":…,"alg":…}` without its secret.
pub fn credentials_body(keys: &[PublicJwk], kept: &[SymmetricKey]) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        keys: Keys<'a>,
    }
    struct Keys<'a>(&'a [PublicJwk], &'a [SymmetricKey]);
    impl Serialize for Keys<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            let mut seq = s.serialize_seq(Some(self.0.len() + self.1.len()))?;
            for k in self.0 {
                seq.serialize_element(k)?;
            }
            for k in self.1 {
                seq.serialize_element(k)?;
            }
            seq.end()
        }
    }
    // Serializing plain strings into a String cannot fail.
    serde_json::to_string(&Body {
        keys: Keys(keys, kept),
    })
    .unwrap_or_default()
}

/// A symmetric (HS256/384/512, `kty:"oct"`) key stored in the configuration: one Cloudflare shows
/// with `kty` `oct` or with an HS `alg`. Cloudflare never
/// returns its secret `k` (changelog 2026-08-25), so the Worker cannot send it back: a `PUT`, which
/// replaces every key, would destroy it. It is kept through `PATCH …/credentials` instead, sent as
/// `{kty, kid, alg}`, whose documented semantics keep the stored secret of the key with the same
/// `{alg, kid}` (OpenAPI `token-validation-config-credentials-edit`; reference §1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymmetricKey {
    /// Its `kid`, as Cloudflare shows it.
    pub kid: String,
    /// Its `alg`, as Cloudflare shows it (`HS256`, `HS384` or `HS512`).
    pub alg: String,
}

impl Serialize for SymmetricKey {
    /// `{"kty":"oct","kid":…,"alg":…}`; a member Cloudflare did not show is left out.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kty", "oct")?;
        if !self.kid.is_empty() {
            m.serialize_entry("kid", &self.kid)?;
        }
        if !self.alg.is_empty() {
            m.serialize_entry("alg", &self.alg)?;
        }
        m.end()
    }
}

#[derive(Deserialize)]
struct Envelope {
    /// Present in every v4 envelope; its absence marks a body that is not one.
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    #[serde(default)]
    messages: Vec<ApiMessage>,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    keys: Option<Vec<Value>>,
}

/// The live configuration as read from Cloudflare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKeys {
    /// Asymmetric keys in the form the JWKS module compares, where Cloudflare's answer could be
    /// decoded.
    pub keys: Vec<PublicJwk>,
    /// Symmetric keys: never compared or removed, always kept (see [`SymmetricKey`]).
    pub symmetric: Vec<SymmetricKey>,
    /// `(kid, alg)` of every stored key, decodable, symmetric or neither, in Cloudflare's order.
    pub ids: Vec<(String, String)>,
}

impl LiveKeys {
    /// The kids of every stored key, in Cloudflare's order.
    pub fn kids(&self) -> Vec<String> {
        self.ids.iter().map(|(kid, _)| kid.clone()).collect()
    }
}

/// Maps the answer to `GET …/token_validation/config/{id}`: `result.credentials.keys`. `op` is
/// [`Operation::ReadLive`] or [`Operation::Reread`].
///
/// # Errors
/// [`CfErrorKind::Transport`] without an answer, [`CfErrorKind::Status`] for a non-2xx answer or
/// `success: false`; [`CfErrorKind::Invalid`] for a 2xx that is not an envelope with
/// `result.credentials.keys` as an array.
pub fn parse_config(
    op: Operation,
    url: &str,
    sent: &Sent,
    rsa_default_alg: Alg,
) -> Result<LiveKeys, CfError> {
    let call = Call { op, url, sent };
    let (status, body) = call.answer()?;
    let env = call.envelope(status, body)?;
    let Some(raw) = env
        .result
        .pointer("/credentials/keys")
        .and_then(Value::as_array)
    else {
        return Err(call.invalid(status, "result.credentials.keys is not an array", body));
    };
    let mut live = LiveKeys {
        keys: Vec::with_capacity(raw.len()),
        symmetric: Vec::new(),
        ids: Vec::with_capacity(raw.len()),
    };
    for v in raw {
        let (kid, alg) = id_of(v);
        if is_symmetric(v) {
            live.symmetric.push(SymmetricKey {
                kid: kid.clone(),
                alg: alg.clone(),
            });
        } else if let Ok(k) = decode_key(v, rsa_default_alg) {
            live.keys.push(k);
        }
        live.ids.push((kid, alg));
    }
    Ok(live)
}

/// A write Cloudflare accepted, with every key sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteAccepted {
    /// Cloudflare's `messages[]` (for example code 110003), to surface as warnings.
    pub messages: Vec<ApiMessage>,
}

/// Why a write did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// A definite answer: refused (nothing written), or applied without some keys.
    Definite(CfError),
    /// No definite answer (no answer at all, 5xx, or a 2xx that cannot be read): the write may or
    /// may not have been applied; only reading what is live can tell.
    Unknown(CfError),
}

/// Maps and verifies the answer to a write (`op` is [`Operation::Replace`] or
/// [`Operation::Edit`]): the envelope says success, every `(kid, alg)` sent (the IdP's keys and
/// the kept symmetric ones) came back, and each of the IdP's keys came back with the material
/// sent wherever the answer shows a key that decodes (one with other material would reject every
/// token signed with the key sent). Keys are read from `result.keys` (the newest schema),
/// the top level `keys` (older SDKs), or `result.credentials.keys` (reference §1.2).
///
/// # Errors
/// [`WriteError::Unknown`] without an answer, on 5xx, or on a 2xx whose body cannot be read or
/// has no keys array; [`WriteError::Definite`] for any other refusal, and with
/// [`CfErrorKind::KeysDropped`] naming each key that did not come back (Cloudflare drops keys it
/// does not support silently: api.mdx, "validate the API response") or came back with other
/// material.
pub fn verify_write(
    op: Operation,
    url: &str,
    sent: &Sent,
    keys: &[PublicJwk],
    kept: &[SymmetricKey],
) -> Result<WriteAccepted, WriteError> {
    let call = Call { op, url, sent };
    let (status, body) = call.answer().map_err(WriteError::Unknown)?;
    let env = call.envelope(status, body).map_err(|e| {
        let unknown = match &*e.kind {
            CfErrorKind::Invalid { .. } => true,
            CfErrorKind::Status { status, .. } => *status >= 500 && e.code() != "CF_PATCH_REFUSED",
            _ => false,
        };
        if unknown {
            WriteError::Unknown(e)
        } else {
            WriteError::Definite(e)
        }
    })?;
    let Some(returned) = env.keys.as_ref().or_else(|| {
        env.result
            .get("keys")
            .or_else(|| env.result.pointer("/credentials/keys"))
            .and_then(Value::as_array)
    }) else {
        let e = call.invalid(status, "the answer carries no keys array", body);
        return Err(WriteError::Unknown(e));
    };
    let ids: Vec<(String, String)> = returned.iter().map(id_of).collect();
    let find = |kid: &str, alg: &str| {
        ids.iter()
            .position(|(k, a)| k == kid && a == alg)
            .and_then(|i| returned.get(i))
    };
    let name = |kid: &str, alg: &str| format!("{kid} ({alg})");
    let mut missing = Vec::new();
    let mut altered = Vec::new();
    for k in keys {
        let (kid, alg) = (k.kid(), k.alg().as_str());
        match find(kid, alg) {
            None => missing.push(name(kid, alg)),
            // Material is compared where the answer carries a key that decodes (one matched by
            // (kid, alg) has its alg, so the default alg given here never applies).
            Some(v) => {
                if decode_key(v, Alg::RS256).is_ok_and(|back| !back.same_key(k)) {
                    altered.push(name(kid, alg));
                }
            }
        }
    }
    missing.extend(
        kept.iter()
            .filter(|k| find(&k.kid, &k.alg).is_none())
            .map(|k| name(&k.kid, &k.alg)),
    );
    if !missing.is_empty() || !altered.is_empty() {
        return Err(WriteError::Definite(
            call.error(CfErrorKind::KeysDropped { missing, altered }),
        ));
    }
    Ok(WriteAccepted {
        messages: env.messages,
    })
}

/// The failure of a write whose outcome stayed unknown (`cause`), once a re-read showed other
/// keys live (`reread` is `Ok`) or failed (`Err`).
pub fn unconfirmed(cause: CfError, reread: Result<&LiveKeys, CfError>) -> CfError {
    let (live_kids, reread) = match reread {
        Ok(live) => (Some(live.kids()), None),
        Err(e) => (None, Some(Box::new(e))),
    };
    CfError {
        operation: cause.operation,
        url: cause.url.clone(),
        attempts: Attempts::default(),
        kind: Box::new(CfErrorKind::Unconfirmed {
            cause: Box::new(cause),
            live_kids,
            reread,
        }),
    }
}

/// One call's context, for building its errors.
struct Call<'a> {
    op: Operation,
    url: &'a str,
    sent: &'a Sent,
}

impl Call<'_> {
    fn error(&self, kind: CfErrorKind) -> CfError {
        CfError {
            operation: self.op,
            url: self.url.to_owned(),
            kind: Box::new(kind),
            attempts: self.sent.attempts.clone(),
        }
    }

    /// The status and body of the answer, or the transport error.
    fn answer(&self) -> Result<(u16, &[u8]), CfError> {
        match &self.sent.outcome {
            Ok(r) => Ok((r.status, &r.body)),
            Err(t) => Err(self.error(CfErrorKind::Transport(t.clone()))),
        }
    }

    fn retry_after(&self) -> Option<String> {
        self.sent
            .outcome
            .as_ref()
            .ok()
            .and_then(|r| r.retry_after.clone())
    }

    /// A 2xx answer's envelope when it says success; the error otherwise.
    fn envelope(&self, status: u16, body: &[u8]) -> Result<Envelope, CfError> {
        let parsed = serde_json::from_slice::<Envelope>(body)
            .ok()
            .filter(|e| e.success.is_some());
        match parsed {
            Some(env) if env.success == Some(true) && (200..300).contains(&status) => Ok(env),
            Some(env) => Err(self.error(CfErrorKind::Status {
                status,
                errors: env.errors,
                retry_after: self.retry_after(),
                not_envelope: None,
            })),
            None if (200..300).contains(&status) => {
                Err(self.invalid(status, "the body is not a Cloudflare API envelope", body))
            }
            None => Err(self.error(CfErrorKind::Status {
                status,
                errors: Vec::new(),
                retry_after: self.retry_after(),
                not_envelope: Some(preview(body)),
            })),
        }
    }

    fn invalid(&self, status: u16, what: &str, body: &[u8]) -> CfError {
        self.error(CfErrorKind::Invalid {
            status,
            detail: format!("{what}; {}", preview(body)),
        })
    }
}

/// Whether a stored key is symmetric: `kty` `oct`, or an `alg` of HS256/384/512 (RFC 7518 §3.2)
/// whatever its `kty`, shown or not. A symmetric key misread as asymmetric would be left out of
/// the write, and a `PUT` without it destroys its secret for good, so an HS `alg` alone suffices.
fn is_symmetric(v: &Value) -> bool {
    let member = |m: &str| v.get(m).and_then(Value::as_str);
    member("kty") == Some("oct") || matches!(member("alg"), Some("HS256" | "HS384" | "HS512"))
}

/// `(kid, alg)` of a stored key as Cloudflare shows it; empty strings where missing.
fn id_of(v: &Value) -> (String, String) {
    let s = |m: &str| {
        v.get(m)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (s("kid"), s("alg"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Attempt, Response, TransportError};
    use serde_json::json;

    const BASE: &str = "https://api.cloudflare.com/client/v4";
    const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
    const CONFIG: &str = "4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7";
    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn ec_key(kid: &str) -> PublicJwk {
        decode_key(
            &json!({"kty":"EC","kid":kid,"alg":"ES256","crv":"P-256","x":X,"y":Y}),
            Alg::RS256,
        )
        .unwrap()
    }

    fn hmac(kid: &str) -> SymmetricKey {
        SymmetricKey {
            kid: kid.into(),
            alg: "HS256".into(),
        }
    }

    /// One answered attempt.
    fn got(status: u16, body: &str) -> Sent {
        Sent {
            outcome: Ok(Response {
                status,
                content_type: Some("application/json".into()),
                body: body.as_bytes().to_vec(),
                ..Default::default()
            }),
            attempts: Attempts(vec![Attempt::Status(status)]),
        }
    }

    fn read(status: u16, body: &str) -> Result<LiveKeys, CfError> {
        parse_config(Operation::ReadLive, "u", &got(status, body), Alg::RS256)
    }

    fn refusal(code: u64, message: &str) -> String {
        json!({"success":false,"errors":[{"code":code,"message":message}],"messages":[],"result":null})
            .to_string()
    }

    #[test]
    fn urls() {
        assert_eq!(
            config_url(BASE, ZONE, CONFIG),
            "https://api.cloudflare.com/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/token_validation/config/4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7"
        );
        assert_eq!(
            credentials_url(BASE, ZONE, CONFIG),
            "https://api.cloudflare.com/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/token_validation/config/4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7/credentials"
        );
    }

    #[test]
    fn write_bodies_are_exact() {
        assert_eq!(
            credentials_body(&[ec_key("a")], &[]),
            format!(
                r#"{{"keys":[{{"kty":"EC","kid":"a","alg":"ES256","crv":"P-256","x":"{X}","y":"{Y}"}}]}}"#
            )
        );
        // Kept symmetric keys follow the IdP's keys, without k.
        assert_eq!(
            credentials_body(
                &[ec_key("a")],
                &[
                    hmac("h1"),
                    SymmetricKey {
                        kid: "h2".into(),
                        alg: String::new()
                    }
                ]
            ),
            format!(
                r#"{{"keys":[{{"kty":"EC","kid":"a","alg":"ES256","crv":"P-256","x":"{X}","y":"{Y}"}},{{"kty":"oct","kid":"h1","alg":"HS256"}},{{"kty":"oct","kid":"h2"}}]}}"#
            )
        );
    }

    #[test]
    fn reads_the_documented_config_response() {
        let body = include_str!("../../tests/fixtures/jwks/real/cloudflare-api-token-validation-config-response-envelope.json");
        let live = read(200, body).unwrap();
        assert_eq!(live.keys.len(), live.ids.len());
        assert_eq!(live.ids.len(), 1);
        assert!(live.symmetric.is_empty());
        assert_eq!(live.keys[0].kid(), live.ids[0].0);
    }

    #[test]
    fn live_symmetric_keys_are_kept_apart_and_undecodable_ones_still_count() {
        let body = json!({"success":true,"errors":[],"messages":[],"result":{"credentials":{"keys":[
            {"kty":"oct","kid":"h","alg":"HS256"},
            {"kty":"EC","kid":"e","alg":"ES256","crv":"P-256","x":X,"y":Y},
            {"kty":"RSA","kid":"small","alg":"RS256","n":"AQAB","e":"AQAB"}
        ]}}});
        let live = read(200, &body.to_string()).unwrap();
        assert_eq!(live.symmetric, vec![hmac("h")]);
        assert_eq!(live.keys, vec![ec_key("e")]);
        assert_eq!(live.kids(), vec!["h", "e", "small"]);
    }

    /// M4: a key with an HS `alg` is symmetric even when Cloudflare shows no `kty: oct`, so the
    /// write keeps it (by PATCH) instead of a PUT deleting its secret.
    #[test]
    fn an_hs_alg_alone_makes_a_live_key_symmetric() {
        let body = json!({"success":true,"errors":[],"messages":[],"result":{"credentials":{"keys":[
            {"kid":"h256","alg":"HS256"},
            {"kty":"","kid":"h384","alg":"HS384"},
            {"kty":"unknown","kid":"h512","alg":"HS512"},
            {"kid":"x","alg":"hs256"}
        ]}}});
        let live = read(200, &body.to_string()).unwrap();
        let sym = |kid: &str, alg: &str| SymmetricKey {
            kid: kid.into(),
            alg: alg.into(),
        };
        assert_eq!(
            live.symmetric,
            vec![
                sym("h256", "HS256"),
                sym("h384", "HS384"),
                sym("h512", "HS512")
            ]
        );
        assert!(live.keys.is_empty());
        assert_eq!(live.kids(), vec!["h256", "h384", "h512", "x"]);
    }

    #[test]
    fn messages_lead_with_the_cause_and_end_with_the_url() {
        let e = read(403, &refusal(10000, "Authentication error")).unwrap_err();
        assert_eq!(e.code(), "CF_PERMISSION_DENIED");
        assert_eq!(
            e.to_string(),
            "HTTP 403 from Cloudflare (10000: Authentication error) reading live keys; u"
        );
        let e = read(200, "<html>oops</html>").unwrap_err();
        assert_eq!(e.code(), "CF_API_INVALID");
        assert_eq!(
            e.to_string(),
            "HTTP 200 from Cloudflare reading live keys, but the body is not a Cloudflare API envelope; starts \"<html>oops</html>\"; u"
        );
        let e = read(
            200,
            r#"{"success":true,"errors":[],"messages":[],"result":{"credentials":{}}}"#,
        )
        .unwrap_err();
        assert_eq!(e.code(), "CF_API_INVALID");
        let e = read(504, "upstream request timeout").unwrap_err();
        assert_eq!(e.code(), "CF_UNAVAILABLE");
        assert_eq!(
            e.to_string(),
            "HTTP 504 from Cloudflare, not an API answer (starts \"upstream request timeout\") reading live keys; u"
        );
    }

    #[test]
    fn retries_and_retry_after_are_in_the_message() {
        let mut sent = got(429, &refusal(971, "Please wait"));
        sent.attempts = Attempts(vec![Attempt::Status(503), Attempt::Status(429)]);
        if let Ok(r) = &mut sent.outcome {
            r.retry_after = Some("300".into());
        }
        let e = parse_config(Operation::ReadLive, "u", &sent, Alg::RS256).unwrap_err();
        assert_eq!(e.code(), "CF_RATE_LIMITED");
        assert_eq!(
            e.to_string(),
            "HTTP 429 from Cloudflare (971: Please wait) reading live keys after 2 attempts (503, 429); retry-after 300; u"
        );
        let timeout = Sent {
            outcome: Err(TransportError::Timeout { after_ms: 500 }),
            attempts: Attempts(vec![Attempt::Timeout; 3]),
        };
        let e = parse_config(Operation::ReadLive, "u", &timeout, Alg::RS256).unwrap_err();
        assert_eq!(e.code(), "CF_API_UNREACHABLE");
        assert_eq!(
            e.to_string(),
            "no answer from Cloudflare within 500 ms (FETCH_TIMEOUT_MS) reading live keys after 3 attempts (timeout, timeout, timeout); u"
        );
    }

    /// Each answer an operator must act on differently has its own code (reference §1.3).
    #[test]
    fn answers_are_classified() {
        let chain = json!({"success":false,"errors":[{"code":6003,"message":"Invalid request headers",
            "error_chain":[{"code":6111,"message":"Invalid format for Authorization header"}]}],"messages":[],"result":null}).to_string();
        let rows: Vec<(Operation, u16, String, &str)> = vec![
            (Operation::ReadLive, 400, chain, "CF_AUTH_MALFORMED"),
            (
                Operation::ReadLive,
                403,
                refusal(9109, "Invalid access token"),
                "CF_TOKEN_INVALID",
            ),
            (
                Operation::ReadLive,
                403,
                refusal(
                    9109,
                    "Cannot use the access token from location: 203.0.113.7",
                ),
                "CF_TOKEN_INVALID",
            ),
            (
                Operation::ReadLive,
                403,
                refusal(10000, "Authentication error"),
                "CF_PERMISSION_DENIED",
            ),
            (
                Operation::ReadLive,
                403,
                refusal(10403, "not entitled"),
                "CF_NOT_ENTITLED",
            ),
            (
                Operation::ReadLive,
                403,
                refusal(1, "forbidden"),
                "CF_PERMISSION_DENIED",
            ),
            (
                Operation::ReadLive,
                404,
                refusal(7003, "Could not route"),
                "CF_NOT_FOUND",
            ),
            (
                Operation::ReadLive,
                404,
                refusal(7000, "No route for that URI"),
                "CF_NOT_FOUND",
            ),
            (Operation::Replace, 404, "Not Found".into(), "CF_NOT_FOUND"),
            (
                Operation::ReadLive,
                429,
                refusal(971, "Please wait"),
                "CF_RATE_LIMITED",
            ),
            (Operation::ReadLive, 429, String::new(), "CF_RATE_LIMITED"),
            (
                Operation::ReadLive,
                503,
                refusal(10002, "Service Unavailable"),
                "CF_UNAVAILABLE",
            ),
            (
                Operation::ReadLive,
                502,
                "<html>bad gateway</html>".into(),
                "CF_UNAVAILABLE",
            ),
            (
                Operation::ReadLive,
                200,
                refusal(7003, "Could not route"),
                "CF_NOT_FOUND",
            ),
            (
                Operation::Replace,
                400,
                refusal(
                    110007,
                    "too many keys: 5 supported keys given, at most 4 allowed per configuration",
                ),
                "CF_TOO_MANY_KEYS",
            ),
            (
                Operation::Replace,
                400,
                refusal(10021, "Key limit exceeded"),
                "CF_TOO_MANY_KEYS",
            ),
            (
                Operation::Replace,
                400,
                refusal(110005, "keys[0] is a 1024-bit RSA key"),
                "CF_API_STATUS",
            ),
            (
                Operation::Replace,
                405,
                refusal(7001, "Method PUT not available for that URI."),
                "CF_API_STATUS",
            ),
            (
                Operation::Edit,
                405,
                refusal(7001, "Method PATCH not available for that URI."),
                "CF_PATCH_REFUSED",
            ),
            (Operation::Edit, 405, String::new(), "CF_PATCH_REFUSED"),
            (Operation::Edit, 501, String::new(), "CF_PATCH_REFUSED"),
            (
                Operation::Edit,
                404,
                refusal(7000, "No route for that URI"),
                "CF_PATCH_REFUSED",
            ),
            (Operation::Edit, 404, "Not Found".into(), "CF_PATCH_REFUSED"),
            (
                Operation::Edit,
                400,
                refusal(10000, "PATCH is not supported on this route"),
                "CF_PATCH_REFUSED",
            ),
            (
                Operation::Edit,
                404,
                refusal(7003, "Could not route to /zones/…"),
                "CF_NOT_FOUND",
            ),
            (
                Operation::Edit,
                400,
                refusal(110010, "keys[1].k is required for a new symmetric key"),
                "CF_API_STATUS",
            ),
            (
                Operation::Edit,
                403,
                refusal(10000, "Authentication error"),
                "CF_PERMISSION_DENIED",
            ),
        ];
        for (op, status, body, code) in rows {
            let e = match op {
                Operation::ReadLive => read(status, &body).unwrap_err(),
                _ => match verify_write(op, "u", &got(status, &body), &[ec_key("a")], &[]) {
                    Err(WriteError::Definite(e) | WriteError::Unknown(e)) => e,
                    Ok(_) => panic!("{status} {body} accepted"),
                },
            };
            assert_eq!(e.code(), code, "{op:?} {status} {body}");
            assert_eq!(
                crate::catalogue::entry(code).map(|e| e.stage),
                Some(Some(crate::error::Stage::Cloudflare)),
                "{code} is in the catalogue"
            );
        }
    }

    /// The start of an answer that is not an API envelope is quoted by the same rule as an IdP's
    /// body: never when it holds a PEM private key or names a private JWK member.
    #[test]
    fn a_body_that_may_hold_a_secret_is_not_quoted() {
        let pem =
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----";
        let jwk = r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0LXNlY3JldA"}]}"#;
        for (body, why) in [
            (pem, "the body holds a PEM private key"),
            (jwk, "the body names a private key member"),
        ] {
            let e = read(502, body).unwrap_err();
            assert_eq!(e.code(), "CF_UNAVAILABLE");
            assert_eq!(
                e.to_string(),
                format!("HTTP 502 from Cloudflare, not an API answer (first bytes withheld: {why}) reading live keys; u")
            );
            let e = read(200, body).unwrap_err();
            assert_eq!(e.code(), "CF_API_INVALID");
            assert_eq!(
                e.to_string(),
                format!("HTTP 200 from Cloudflare reading live keys, but the body is not a Cloudflare API envelope; first bytes withheld: {why}; u")
            );
        }
    }

    #[test]
    fn documentation_url_source_pointer_and_error_chain_are_kept() {
        let body = json!({"success":false,"errors":[
            {"code":10000,"message":"Authentication error","documentation_url":"https://developers.cloudflare.com/api/resources/token_validation/"},
            {"code":110002,"message":"Invalid key","source":{"pointer":"/keys/2"}},
            {"code":6003,"message":"Invalid request headers","error_chain":[{"code":6111,"message":"Invalid format for Authorization header"}]}
        ],"messages":[],"result":null});
        let e = read(403, &body.to_string()).unwrap_err();
        assert_eq!(
            serde_json::to_value(e.api_errors()).unwrap(),
            body["errors"],
            "every detail survives, nothing is added"
        );
        assert_eq!(
            e.cause(),
            "HTTP 403 from Cloudflare (10000: Authentication error; 110002: Invalid key; 6003: Invalid request headers [6111: Invalid format for Authorization header]) reading live keys"
        );
    }

    #[test]
    fn write_verification_accepts_both_shapes_and_surfaces_messages() {
        let sent = [ec_key("a")];
        let top = json!({"success":true,"errors":[],"messages":[{"code":110003,"message":"defaulted"}],
            "keys":[{"kty":"EC","kid":"a","alg":"ES256","crv":"P-256","x":X,"y":Y}]});
        let ok = verify_write(
            Operation::Replace,
            "u",
            &got(200, &top.to_string()),
            &sent,
            &[],
        )
        .unwrap();
        assert_eq!(ok.messages, vec![ApiMessage::new(110003, "defaulted")]);
        let nested = json!({"success":true,"errors":[],"messages":[],"result":{"keys":[{"kid":"a","alg":"ES256"}]}});
        assert!(verify_write(
            Operation::Replace,
            "u",
            &got(200, &nested.to_string()),
            &sent,
            &[]
        )
        .is_ok());
    }

    #[test]
    fn kept_symmetric_keys_are_expected_back() {
        let keys = [ec_key("a")];
        let without = json!({"success":true,"errors":[],"messages":[],"result":{"keys":[{"kid":"a","alg":"ES256"}]}});
        let Err(WriteError::Definite(e)) = verify_write(
            Operation::Edit,
            "u",
            &got(200, &without.to_string()),
            &keys,
            &[hmac("h")],
        ) else {
            panic!("a dropped symmetric key must fail the write")
        };
        assert_eq!(e.code(), "CF_VERIFY_MISMATCH");
        assert_eq!(
            e.to_string(),
            "Cloudflare dropped 1 of the keys sent editing credentials (PATCH): h (HS256); u"
        );
        let with = json!({"success":true,"errors":[],"messages":[],"result":{"keys":[
            {"kid":"a","alg":"ES256"},{"kty":"oct","kid":"h","alg":"HS256"}]}});
        assert!(verify_write(
            Operation::Edit,
            "u",
            &got(200, &with.to_string()),
            &keys,
            &[hmac("h")]
        )
        .is_ok());
    }

    #[test]
    fn write_verification_names_dropped_keys() {
        let sent = [ec_key("a"), ec_key("b")];
        let body =
            json!({"success":true,"errors":[],"messages":[],"keys":[{"kid":"a","alg":"ES256"}]});
        let Err(WriteError::Definite(e)) = verify_write(
            Operation::Replace,
            "u",
            &got(200, &body.to_string()),
            &sent,
            &[],
        ) else {
            panic!("must fail")
        };
        assert_eq!(e.code(), "CF_VERIFY_MISMATCH");
        assert_eq!(
            *e.kind,
            CfErrorKind::KeysDropped {
                missing: vec!["b (ES256)".into()],
                altered: vec![],
            }
        );
    }

    /// L3: a key that comes back under its (kid, alg) with other material fails the write's
    /// verification, naming it; one that comes back without material cannot be compared.
    #[test]
    fn write_verification_compares_material_where_the_answer_has_it() {
        let sent = [ec_key("a"), ec_key("b")];
        let other = json!({"kty":"EC","kid":"b","alg":"ES256","crv":"P-256","x":Y,"y":X});
        let same = json!({"kty":"EC","kid":"a","alg":"ES256","crv":"P-256","x":X,"y":Y});
        let body =
            json!({"success":true,"errors":[],"messages":[],"result":{"keys":[same, other]}});
        let Err(WriteError::Definite(e)) = verify_write(
            Operation::Replace,
            "u",
            &got(200, &body.to_string()),
            &sent,
            &[],
        ) else {
            panic!("other material must fail the write")
        };
        assert_eq!(e.code(), "CF_VERIFY_MISMATCH");
        assert_eq!(
            e.to_string(),
            "Cloudflare shows other key material for 1 of the keys sent replacing credentials (PUT): b (ES256); u"
        );
        // Dropped and altered at once: both named.
        let body = json!({"success":true,"errors":[],"messages":[],"keys":[other]});
        let Err(WriteError::Definite(e)) = verify_write(
            Operation::Replace,
            "u",
            &got(200, &body.to_string()),
            &sent,
            &[],
        ) else {
            panic!("must fail")
        };
        assert_eq!(
            e.to_string(),
            "Cloudflare dropped 1 of the keys sent replacing credentials (PUT): a (ES256); Cloudflare shows other key material for 1 of the keys sent replacing credentials (PUT): b (ES256); u"
        );
        // The same material, or none shown: verified.
        let body = json!({"success":true,"errors":[],"messages":[],"result":{"keys":[
            same, {"kid":"b","alg":"ES256"}]}});
        assert!(verify_write(
            Operation::Replace,
            "u",
            &got(200, &body.to_string()),
            &sent,
            &[]
        )
        .is_ok());
    }

    /// Without a definite answer the write may have been applied: only a re-read can tell.
    #[test]
    fn unknown_and_definite_write_outcomes() {
        let keys = [ec_key("a")];
        let unknown = |sent: Sent| {
            matches!(
                verify_write(Operation::Replace, "u", &sent, &keys, &[]),
                Err(WriteError::Unknown(_))
            )
        };
        assert!(unknown(got(504, "upstream request timeout")));
        assert!(unknown(got(503, &refusal(10002, "Service Unavailable"))));
        assert!(unknown(got(
            200,
            "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":{"
        )));
        assert!(unknown(got(
            200,
            r#"{"success":true,"errors":[],"messages":[],"result":null}"#
        )));
        assert!(unknown(Sent {
            outcome: Err(TransportError::Network("connection reset".into())),
            attempts: Attempts(vec![Attempt::Network]),
        }));
        assert!(!unknown(got(400, &refusal(110005, "too small"))));
        assert!(!unknown(got(429, &refusal(971, "Please wait"))));
        assert!(!unknown(got(403, &refusal(10000, "Authentication error"))));
        let patch_refused = verify_write(Operation::Edit, "u", &got(501, ""), &keys, &[hmac("h")]);
        assert!(
            matches!(patch_refused, Err(WriteError::Definite(e)) if e.code() == "CF_PATCH_REFUSED")
        );
    }

    #[test]
    fn an_unconfirmed_write_names_what_is_live_or_why_it_could_not_be_read() {
        let cause = match verify_write(
            Operation::Replace,
            "u",
            &got(504, "upstream request timeout"),
            &[ec_key("a")],
            &[],
        ) {
            Err(WriteError::Unknown(e)) => e,
            other => panic!("{other:?}"),
        };
        let live = read(
            200,
            &json!({"success":true,"errors":[],"messages":[],"result":{"credentials":{"keys":[{"kty":"oct","kid":"h","alg":"HS256"},{"kid":"old","alg":"RS256","kty":"RSA"}]}}}).to_string(),
        )
        .unwrap();
        let e = unconfirmed(cause.clone(), Ok(&live));
        assert_eq!(e.code(), "CF_WRITE_UNCONFIRMED");
        assert_eq!(e.live_kids(), Some(&["h".to_owned(), "old".to_owned()][..]));
        assert_eq!(
            e.to_string(),
            "the write got no definite answer (HTTP 504 from Cloudflare, not an API answer (starts \"upstream request timeout\") replacing credentials (PUT)), and the keys live now are h, old, not the keys sent; u"
        );
        let reread = read(503, &refusal(10002, "Service Unavailable")).unwrap_err();
        let e = unconfirmed(cause, Err(reread));
        assert_eq!(e.live_kids(), None);
        assert!(e.to_string().contains(", and re-reading failed: HTTP 503 from Cloudflare (10002: Service Unavailable) reading live keys, not the keys sent; u"), "{e}");
    }
}
