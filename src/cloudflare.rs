//! The Cloudflare API's token validation routes: request building and response mapping.
//!
//! Pure: it builds URLs and bodies and interprets `(status, body)` pairs; the sync sends them.
//! Routes and shapes: Cloudflare API reference, "Token Validation" (see docs/cloudflare-api.md).
//! Responses are mapped three ways, as cloudflare-rs does: a 2xx whose envelope parses and says
//! `success` is a success; a 2xx that does not parse is invalid; anything else is an error with
//! whatever `errors[]` could be read.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::jwks::{decode_key, Alg, PublicJwk};

/// `GET {base}/zones/{zone_id}/token_validation/config/{config_id}`: one configuration.
pub fn config_url(base: &str, zone_id: &str, config_id: &str) -> String {
    format!("{base}/zones/{zone_id}/token_validation/config/{config_id}")
}

/// `PUT {base}/zones/{zone_id}/token_validation/config/{config_id}/credentials`: full replacement
/// of the configuration's keys.
pub fn credentials_url(base: &str, zone_id: &str, config_id: &str) -> String {
    format!("{}/credentials", config_url(base, zone_id, config_id))
}

/// The PUT body: `{"keys":[…]}` with each key exactly as [`PublicJwk`] serializes it.
pub fn credentials_body(keys: &[PublicJwk]) -> String {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        keys: &'a [PublicJwk],
    }
    // Serializing plain strings into a String cannot fail.
    serde_json::to_string(&Body { keys }).unwrap_or_default()
}

/// One `errors[]` or `messages[]` entry of the v4 envelope.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct ApiMessage {
    /// Cloudflare's numeric code (for example 10000 authentication, 7003 no such object, 971 rate
    /// limited, 110003 alg defaulted). 0 when the entry had none.
    #[serde(default)]
    pub code: u64,
    /// Cloudflare's text.
    #[serde(default)]
    pub message: String,
}

impl fmt::Display for ApiMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    #[serde(default)]
    messages: Vec<ApiMessage>,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    keys: Option<Vec<Value>>,
}

/// What went wrong talking to Cloudflare (stage `cloudflare`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CfErrorKind {
    /// A non-2xx answer, or an envelope with `success: false`. `retry_after_s` is the
    /// `retry-after` header in seconds, when sent.
    Status {
        /// HTTP status.
        status: u16,
        /// The envelope's `errors[]`, empty when the body was not an envelope.
        errors: Vec<ApiMessage>,
    },
    /// A 2xx answer whose body is not the v4 envelope expected.
    Invalid {
        /// HTTP status.
        status: u16,
        /// What was wrong, with the first bytes of the body.
        detail: String,
    },
    /// The PUT succeeded, but keys that were sent did not come back: Cloudflare dropped them.
    KeysDropped {
        /// `kid (alg)` of each key missing from the answer.
        missing: Vec<String>,
    },
    /// The request never got an answer (network error, timeout).
    Transport {
        /// What the runtime said.
        detail: String,
    },
}

/// A Cloudflare API failure, naming the operation and URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfError {
    /// `read live keys` or `replace credentials`.
    pub operation: &'static str,
    /// The URL called.
    pub url: String,
    /// What happened.
    pub kind: CfErrorKind,
}

impl CfError {
    /// The stable machine code: `CF_API_STATUS`, `CF_RATE_LIMITED`, `CF_API_INVALID`,
    /// `CF_VERIFY_MISMATCH` or `CF_API_UNREACHABLE`.
    pub fn code(&self) -> &'static str {
        match &self.kind {
            CfErrorKind::Status { status: 429, .. } => "CF_RATE_LIMITED",
            CfErrorKind::Status { .. } => "CF_API_STATUS",
            CfErrorKind::Invalid { .. } => "CF_API_INVALID",
            CfErrorKind::KeysDropped { .. } => "CF_VERIFY_MISMATCH",
            CfErrorKind::Transport { .. } => "CF_API_UNREACHABLE",
        }
    }

    /// Cloudflare's own error entries, for the report.
    pub fn api_errors(&self) -> &[ApiMessage] {
        match &self.kind {
            CfErrorKind::Status { errors, .. } => errors,
            _ => &[],
        }
    }
}

impl fmt::Display for CfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cloudflare {} {}: ", self.operation, self.url)?;
        match &self.kind {
            CfErrorKind::Status { status, errors } => {
                write!(f, "HTTP {status}")?;
                for e in errors {
                    write!(f, "; {e}")?;
                }
                Ok(())
            }
            CfErrorKind::Invalid { status, detail } => write!(f, "HTTP {status}; {detail}"),
            CfErrorKind::KeysDropped { missing } => write!(
                f,
                "the answer lacks {} key(s) that were sent: {}; Cloudflare dropped them",
                missing.len(),
                missing.join(", ")
            ),
            CfErrorKind::Transport { detail } => write!(f, "no answer; {detail}"),
        }
    }
}

impl std::error::Error for CfError {}

/// The live configuration as read from Cloudflare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKeys {
    /// Keys in the form the JWKS module compares, where Cloudflare's answer could be decoded.
    pub keys: Vec<PublicJwk>,
    /// `(kid, alg)` of every stored key, decodable or not (a symmetric key's secret is never
    /// returned, so it cannot be compared; it still counts as live).
    pub ids: Vec<(String, String)>,
}

/// Maps the answer to `GET …/token_validation/config/{id}`: `result.credentials.keys`.
///
/// # Errors
/// [`CfErrorKind::Status`] for a non-2xx answer or `success: false`; [`CfErrorKind::Invalid`] for a
/// 2xx that is not an envelope with `result.credentials.keys` as an array.
pub fn parse_config(
    url: &str,
    status: u16,
    body: &[u8],
    rsa_default_alg: Alg,
) -> Result<LiveKeys, CfError> {
    let op = "read live keys";
    let env = parse_envelope(op, url, status, body)?;
    let Some(raw) = env
        .result
        .pointer("/credentials/keys")
        .and_then(Value::as_array)
    else {
        return Err(invalid(
            op,
            url,
            status,
            "result.credentials.keys is not an array",
            body,
        ));
    };
    let mut live = LiveKeys {
        keys: Vec::with_capacity(raw.len()),
        ids: Vec::with_capacity(raw.len()),
    };
    for v in raw {
        live.ids.push(id_of(v));
        if let Ok(k) = decode_key(v, rsa_default_alg) {
            live.keys.push(k);
        }
    }
    Ok(live)
}

/// The verified outcome of a PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutAccepted {
    /// Cloudflare's `messages[]` (for example code 110003), to surface as warnings.
    pub messages: Vec<ApiMessage>,
}

/// Maps and verifies the answer to `PUT …/credentials`: the envelope says success, and every
/// `(kid, alg)` sent came back. Keys are read from the top level (`keys`, as the API schema has
/// it), or from `result.keys` / `result.credentials.keys`.
///
/// # Errors
/// As [`parse_config`], plus [`CfErrorKind::KeysDropped`] naming each key that did not come back
/// (Cloudflare drops keys it does not support silently: api.mdx, "validate the API response").
pub fn verify_put(
    url: &str,
    status: u16,
    body: &[u8],
    sent: &[PublicJwk],
) -> Result<PutAccepted, CfError> {
    let op = "replace credentials";
    let env = parse_envelope(op, url, status, body)?;
    let returned: Vec<(String, String)> = match (&env.keys, &env.result) {
        (Some(keys), _) => keys.iter().map(id_of).collect(),
        (None, result) => match result
            .get("keys")
            .or_else(|| result.pointer("/credentials/keys"))
            .and_then(Value::as_array)
        {
            Some(keys) => keys.iter().map(id_of).collect(),
            None => {
                return Err(invalid(
                    op,
                    url,
                    status,
                    "the answer carries no keys array",
                    body,
                ))
            }
        },
    };
    let missing: Vec<String> = sent
        .iter()
        .filter(|k| {
            !returned
                .iter()
                .any(|(kid, alg)| kid == k.kid() && alg == k.alg().as_str())
        })
        .map(|k| format!("{} ({})", k.kid(), k.alg()))
        .collect();
    if !missing.is_empty() {
        return Err(CfError {
            operation: op,
            url: url.to_owned(),
            kind: CfErrorKind::KeysDropped { missing },
        });
    }
    Ok(PutAccepted {
        messages: env.messages,
    })
}

/// Maps any failed answer's body to a [`CfError`] (used when retries are exhausted).
pub fn status_error(operation: &'static str, url: &str, status: u16, body: &[u8]) -> CfError {
    let errors = serde_json::from_slice::<Envelope>(body)
        .map(|e| e.errors)
        .unwrap_or_default();
    CfError {
        operation,
        url: url.to_owned(),
        kind: CfErrorKind::Status { status, errors },
    }
}

fn parse_envelope(
    op: &'static str,
    url: &str,
    status: u16,
    body: &[u8],
) -> Result<Envelope, CfError> {
    if !(200..300).contains(&status) {
        return Err(status_error(op, url, status, body));
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(env) if env.success => Ok(env),
        Ok(env) => Err(CfError {
            operation: op,
            url: url.to_owned(),
            kind: CfErrorKind::Status {
                status,
                errors: env.errors,
            },
        }),
        Err(_) => Err(invalid(
            op,
            url,
            status,
            "body is not a Cloudflare API envelope",
            body,
        )),
    }
}

fn invalid(op: &'static str, url: &str, status: u16, what: &str, body: &[u8]) -> CfError {
    CfError {
        operation: op,
        url: url.to_owned(),
        kind: CfErrorKind::Invalid {
            status,
            detail: format!("{what}; starts {:?}", first_chars(body, 60)),
        },
    }
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

/// The first `n` characters of a body, lossily decoded, for error messages.
pub fn first_chars(body: &[u8], n: usize) -> String {
    String::from_utf8_lossy(&body[..body.len().min(n * 4)])
        .chars()
        .take(n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn put_body_is_exact() {
        assert_eq!(
            credentials_body(&[ec_key("a")]),
            format!(
                r#"{{"keys":[{{"kty":"EC","kid":"a","alg":"ES256","crv":"P-256","x":"{X}","y":"{Y}"}}]}}"#
            )
        );
    }

    #[test]
    fn reads_the_documented_config_response() {
        let body = include_bytes!("../tests/fixtures/jwks/real/cloudflare-api-token-validation-config-response-envelope.json");
        let live = parse_config("u", 200, body, Alg::RS256).unwrap();
        let ids: Vec<(&str, &str)> = live
            .ids
            .iter()
            .map(|(k, a)| (k.as_str(), a.as_str()))
            .collect();
        assert_eq!(live.keys.len(), live.ids.len());
        assert_eq!(ids.len(), 1);
        assert_eq!(live.keys[0].kid(), ids[0].0);
    }

    #[test]
    fn config_errors_map_three_ways() {
        let e = parse_config("u", 403, br#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#, Alg::RS256).unwrap_err();
        assert_eq!(e.code(), "CF_API_STATUS");
        assert_eq!(
            e.to_string(),
            "cloudflare read live keys u: HTTP 403; 10000: Authentication error"
        );
        let e = parse_config("u", 200, b"<html>oops</html>", Alg::RS256).unwrap_err();
        assert_eq!(e.code(), "CF_API_INVALID");
        assert_eq!(e.to_string(), "cloudflare read live keys u: HTTP 200; body is not a Cloudflare API envelope; starts \"<html>oops</html>\"");
        let e = parse_config(
            "u",
            200,
            br#"{"success":true,"errors":[],"messages":[],"result":{"credentials":{}}}"#,
            Alg::RS256,
        )
        .unwrap_err();
        assert_eq!(e.code(), "CF_API_INVALID");
        let e = parse_config("u", 429, b"", Alg::RS256).unwrap_err();
        assert_eq!(e.code(), "CF_RATE_LIMITED");
        let e = parse_config(
            "u",
            200,
            br#"{"success":false,"errors":[{"code":7003,"message":"no route"}]}"#,
            Alg::RS256,
        )
        .unwrap_err();
        assert_eq!(
            e.kind,
            CfErrorKind::Status {
                status: 200,
                errors: vec![ApiMessage {
                    code: 7003,
                    message: "no route".into()
                }]
            }
        );
    }

    #[test]
    fn live_keys_that_cannot_be_decoded_still_count() {
        let body = json!({"success":true,"errors":[],"messages":[],"result":{"credentials":{"keys":[
            {"kty":"oct","kid":"h","alg":"HS256"},
            {"kty":"EC","kid":"e","alg":"ES256","crv":"P-256","x":X,"y":Y}
        ]}}});
        let live = parse_config("u", 200, body.to_string().as_bytes(), Alg::RS256).unwrap();
        assert_eq!(
            live.ids,
            vec![("h".into(), "HS256".into()), ("e".into(), "ES256".into())]
        );
        assert_eq!(live.keys, vec![ec_key("e")]);
    }

    #[test]
    fn put_verification_accepts_both_shapes_and_surfaces_messages() {
        let sent = [ec_key("a")];
        let top = json!({"success":true,"errors":[],"messages":[{"code":110003,"message":"defaulted"}],
            "keys":[{"kty":"EC","kid":"a","alg":"ES256","crv":"P-256","x":X,"y":Y}]});
        let ok = verify_put("u", 200, top.to_string().as_bytes(), &sent).unwrap();
        assert_eq!(
            ok.messages,
            vec![ApiMessage {
                code: 110003,
                message: "defaulted".into()
            }]
        );
        let nested = json!({"success":true,"errors":[],"messages":[],"result":{"keys":[{"kid":"a","alg":"ES256"}]}});
        assert!(verify_put("u", 200, nested.to_string().as_bytes(), &sent).is_ok());
    }

    #[test]
    fn put_verification_names_dropped_keys() {
        let sent = [ec_key("a"), ec_key("b")];
        let body =
            json!({"success":true,"errors":[],"messages":[],"keys":[{"kid":"a","alg":"ES256"}]});
        let e = verify_put("u", 200, body.to_string().as_bytes(), &sent).unwrap_err();
        assert_eq!(e.code(), "CF_VERIFY_MISMATCH");
        assert_eq!(
            e.kind,
            CfErrorKind::KeysDropped {
                missing: vec!["b (ES256)".into()]
            }
        );
        assert_eq!(
            e.to_string(),
            "cloudflare replace credentials u: the answer lacks 1 key(s) that were sent: b (ES256); Cloudflare dropped them"
        );
        let no_keys = json!({"success":true,"errors":[],"messages":[],"result":null});
        assert_eq!(
            verify_put("u", 200, no_keys.to_string().as_bytes(), &sent)
                .unwrap_err()
                .code(),
            "CF_API_INVALID"
        );
    }

    #[test]
    fn put_error_envelope() {
        let body = json!({"success":false,"errors":[{"code":10021,"message":"too many keys"}],"messages":[],"result":null});
        let e = verify_put("u", 400, body.to_string().as_bytes(), &[ec_key("a")]).unwrap_err();
        assert_eq!(
            e.api_errors(),
            &[ApiMessage {
                code: 10021,
                message: "too many keys".into()
            }]
        );
        assert_eq!(
            e.to_string(),
            "cloudflare replace credentials u: HTTP 400; 10021: too many keys"
        );
    }
}
