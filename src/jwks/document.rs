//! Document shape: bytes → the key array, or a specific "this is not a JWKS" error; and OIDC
//! discovery documents.
//!
//! The body is parsed once into a `serde_json::Value`; the key array is then taken out of it and
//! every entry handed to [`super::key::decode`]. Shapes that are not a JWKS are recognised by their
//! members so the error says what was found (B10, B23).

use serde_json::{Map, Value};

use super::error::{ErrorKind, JwksError};
use super::key::{
    clip, decode, kid_of, type_name, Candidate, DropReason, Dropped, PublicJwk, PRIVATE_MEMBERS,
};
use super::{Options, MAX_BODY_BYTES, MAX_KEY_ENTRIES};

/// How many bytes of a body are quoted in an error, at most (see [`super::preview`]).
const PREVIEW_BYTES: usize = 48;

/// How many names (member names, kids) an error lists, at most.
const LIST_NAMES: usize = 8;

/// The candidate keys of one document, before de-duplication and the key limit.
///
/// Made by [`super::extract`]; consumed by [`super::select`].
#[derive(Debug, Clone)]
pub struct Extracted {
    pub(crate) url: String,
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) dropped: Vec<Dropped>,
}

impl Extracted {
    /// The URL the document was fetched from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Keys that passed the per-key filter, in source order.
    pub fn keys(&self) -> impl Iterator<Item = &PublicJwk> {
        self.candidates.iter().map(|c| &c.jwk)
    }

    /// Entries dropped by the per-key filter, in source order.
    pub fn dropped(&self) -> &[Dropped] {
        &self.dropped
    }
}

/// An OpenID Connect discovery document, reduced to what the sync needs
/// (OpenID Connect Discovery 1.0 §3: `issuer` REQUIRED, `jwks_uri` REQUIRED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// `issuer`, when it is a string (not validated: some IdPs publish a template, e.g. Entra
    /// `https://login.microsoftonline.com/{tenantid}/v2.0`).
    pub issuer: Option<String>,
    /// `jwks_uri`: where the JWKS is. Not resolved or checked for https here; the fetcher does that (B11).
    pub jwks_uri: String,
}

/// Checks the options every entry point relies on.
pub(crate) fn check_options(opts: &Options, url: &str) -> Result<(), JwksError> {
    // RFC 6901 §3: a JSON Pointer is empty (the whole document) or starts with "/".
    if !(opts.keys_pointer.is_empty() || opts.keys_pointer.starts_with('/')) {
        return Err(JwksError::new(
            ErrorKind::BadOptions,
            url,
            format!(
                "keys_pointer \"{}\" is not an RFC 6901 JSON pointer",
                clip(&opts.keys_pointer)
            ),
        ));
    }
    if !opts.rsa_default_alg.is_rsa() {
        return Err(JwksError::new(
            ErrorKind::BadOptions,
            url,
            format!(
                "rsa_default_alg {} is not an RSA algorithm",
                opts.rsa_default_alg
            ),
        ));
    }
    if opts.max_keys == 0 {
        return Err(JwksError::new(
            ErrorKind::BadOptions,
            url,
            "max_keys is 0".to_owned(),
        ));
    }
    Ok(())
}

/// `content-type <value>` for messages, or `no content-type`.
fn describe_ct(content_type: Option<&str>) -> String {
    match content_type {
        Some(ct) => format!("content-type {}", clip(ct)),
        None => "no content-type".to_owned(),
    }
}

/// See [`super::preview`].
pub(crate) fn preview(text: &[u8]) -> String {
    if names_private_member(text) {
        return "first bytes withheld: the body names a private key member".to_owned();
    }
    if holds_pem_private_key(text) {
        return "first bytes withheld: the body holds a PEM private key".to_owned();
    }
    let cut = text.get(..PREVIEW_BYTES).unwrap_or(text);
    let more = if cut.len() < text.len() { "…" } else { "" };
    format!("starts \"{}{more}\"", clip(&String::from_utf8_lossy(cut)))
}

/// True when `text` holds a private JWK member name in quotes, e.g. `"d"` ([`PRIVATE_MEMBERS`]).
fn names_private_member(text: &[u8]) -> bool {
    PRIVATE_MEMBERS.iter().any(|m| {
        let quoted = format!("\"{m}\"");
        text.windows(quoted.len()).any(|w| w == quoted.as_bytes())
    })
}

/// True when `text` holds a PEM private key's encapsulation boundary: `-----BEGIN `, then a
/// label that holds `PRIVATE KEY` before its closing `-----` (RFC 7468 §10 and §11: `PRIVATE
/// KEY`, `ENCRYPTED PRIVATE KEY`; and the legacy `RSA PRIVATE KEY`, `EC PRIVATE KEY`, `OPENSSH
/// PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`).
fn holds_pem_private_key(text: &[u8]) -> bool {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const PRIVATE: &[u8] = b"PRIVATE KEY";
    // Labels are short; a boundary whose label runs longer is not one.
    const LONGEST_LABEL: usize = 64;
    text.windows(BEGIN.len())
        .enumerate()
        .filter(|(_, w)| *w == BEGIN)
        .any(|(at, _)| {
            let rest = text.get(at + BEGIN.len()..).unwrap_or_default();
            let rest = rest.get(..LONGEST_LABEL).unwrap_or(rest);
            let label = rest
                .windows(5)
                .position(|w| w == b"-----")
                .and_then(|end| rest.get(..end))
                .unwrap_or_default();
            label.windows(PRIVATE.len()).any(|w| w == PRIVATE)
        })
}

/// Size check, then a UTF-8 byte order mark and surrounding whitespace removed (RFC 8259 §8.1
/// forbids the BOM but lets parsers ignore it; servers send both).
fn trim_body<'a>(body: &'a [u8], url: &str) -> Result<&'a [u8], JwksError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(JwksError::new(
            ErrorKind::TooLarge,
            url,
            format!("{} bytes; limit {MAX_BODY_BYTES} bytes", body.len()),
        ));
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    Ok(body.trim_ascii())
}

/// Parses the trimmed body as JSON, or explains what it is instead. With `discovery`, every
/// failure is reported as `DISCOVERY_INVALID` rather than the JWKS shape codes.
fn parse_json(
    text: &[u8],
    content_type: Option<&str>,
    url: &str,
    discovery: bool,
) -> Result<Value, JwksError> {
    let (empty, html, not_json) = if discovery {
        (
            ErrorKind::DiscoveryInvalid,
            ErrorKind::DiscoveryInvalid,
            ErrorKind::DiscoveryInvalid,
        )
    } else {
        (ErrorKind::EmptyBody, ErrorKind::Html, ErrorKind::NotJson)
    };
    let ct = describe_ct(content_type);
    if text.is_empty() {
        // EMPTY_BODY says "body is empty" already; DISCOVERY_INVALID does not.
        let detail = if discovery {
            format!("body is empty; {ct}")
        } else {
            ct
        };
        return Err(JwksError::new(empty, url, detail));
    }
    let is_html_ct = content_type.is_some_and(|c| c.to_ascii_lowercase().contains("html"));
    if text.first() == Some(&b'<') {
        return Err(JwksError::new(
            html,
            url,
            format!("{ct}, {}", preview(text)),
        ));
    }
    serde_json::from_slice(text).map_err(|e| {
        // serde_json's syntax errors name a line and column, never the input itself.
        let kind = if is_html_ct { html } else { not_json };
        JwksError::new(kind, url, format!("{e}; {ct}, {}", preview(text)))
    })
}

/// Names of up to [`LIST_NAMES`] members, clipped, for messages.
fn list_members(m: &Map<String, Value>) -> String {
    let mut names: Vec<String> = m
        .keys()
        .take(LIST_NAMES)
        .map(|k| format!("\"{}\"", clip(k)))
        .collect();
    if m.len() > LIST_NAMES {
        names.push(format!("and {} more", m.len() - LIST_NAMES));
    }
    if names.is_empty() {
        "the object is empty".to_owned()
    } else {
        format!("members {}", names.join(", "))
    }
}

/// Explains an object that has no key array at the pointer.
fn classify_object(m: &Map<String, Value>, url: &str, pointer: &str) -> JwksError {
    // OpenID Connect Discovery 1.0 §3: jwks_uri is REQUIRED in a provider's metadata (B23).
    if let Some(uri) = m.get("jwks_uri") {
        return match uri.as_str() {
            Some(u) if !u.is_empty() => JwksError::new(
                ErrorKind::DiscoveryDocument,
                url,
                format!("follow its jwks_uri \"{}\"", clip(u)),
            )
            .with_jwks_uri(u.to_owned()),
            _ => JwksError::new(
                ErrorKind::DiscoveryInvalid,
                url,
                format!("jwks_uri is a JSON {}, not a URL string", type_name(uri)),
            ),
        };
    }
    // Cloudflare v4 envelope: {"result":…,"success":…,"errors":[],"messages":[]} (cloudflare-api.md §1).
    if m.contains_key("result") && m.contains_key("success") {
        return JwksError::new(
            ErrorKind::CfEnvelope,
            url,
            "a token validation configuration keeps its keys at /result/credentials/keys"
                .to_owned(),
        );
    }
    // Keycloak `GET /realms/<realm>`: {"realm":…,"public_key":"<SPKI base64>","token-service":…}.
    if m.contains_key("realm") && m.contains_key("public_key") {
        let hint = match m.get("token-service").and_then(Value::as_str) {
            Some(ts) => format!("the realm's JWKS is at \"{}/certs\"", clip(ts)),
            None => "the realm's JWKS is at <realm>/protocol/openid-connect/certs".to_owned(),
        };
        return JwksError::new(ErrorKind::KeycloakRealm, url, hint);
    }
    // Google/Firebase `…/x509/…` and oauth2/v1/certs: {"<kid>": "-----BEGIN CERTIFICATE-----…"}.
    let is_pem = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s.trim_start().starts_with("-----BEGIN CERTIFICATE-----"))
    };
    if !m.is_empty() && m.values().all(is_pem) {
        let kids: Vec<String> = m
            .keys()
            .take(LIST_NAMES)
            .map(|k| format!("\"{}\"", clip(k)))
            .collect();
        return JwksError::new(
            ErrorKind::PemMap,
            url,
            format!(
                "{} certificates, kids {}; use the provider's JWKS endpoint instead",
                m.len(),
                kids.join(", ")
            ),
        );
    }
    JwksError::new(
        ErrorKind::NoKeyArray,
        url,
        format!(
            "nothing at \"{}\"; {}; if the keys are elsewhere, point keys_pointer (JWKS_KEYS_POINTER) at them",
            clip(pointer),
            list_members(m)
        ),
    )
}

/// See [`super::extract`].
pub(crate) fn extract(
    body: &[u8],
    content_type: Option<&str>,
    url: &str,
    opts: &Options,
) -> Result<Extracted, JwksError> {
    check_options(opts, url)?;
    let text = trim_body(body, url)?;
    let mut doc = parse_json(text, content_type, url, false)?;
    let pointer = opts.keys_pointer.as_str();
    let keys = match doc.pointer_mut(pointer) {
        Some(Value::Array(a)) => std::mem::take(a),
        Some(other) => {
            return Err(JwksError::new(
                ErrorKind::NoKeyArray,
                url,
                format!(
                    "\"{}\" is a JSON {}, not an array",
                    clip(pointer),
                    type_name(other)
                ),
            ))
        }
        None => {
            return Err(match &doc {
                Value::Object(m) => classify_object(m, url, pointer),
                Value::String(s) => JwksError::new(
                    ErrorKind::NotObject,
                    url,
                    format!(
                        "found a JSON string; {}, {}",
                        describe_ct(content_type),
                        preview(s.as_bytes())
                    ),
                ),
                other => JwksError::new(
                    ErrorKind::NotObject,
                    url,
                    format!("found a JSON {}", type_name(other)),
                ),
            })
        }
    };
    if keys.len() > MAX_KEY_ENTRIES {
        return Err(JwksError::new(
            ErrorKind::TooManyEntries,
            url,
            format!("{} entries; limit {MAX_KEY_ENTRIES}", keys.len()),
        ));
    }
    let mut candidates = Vec::with_capacity(keys.len());
    let mut dropped = Vec::new();
    for (index, v) in keys.iter().enumerate() {
        match decode(v, index, opts.rsa_default_alg) {
            Ok(c) => candidates.push(c),
            Err(reason) if reason.is_secret() => return Err(refuse(url, index, v, &reason)),
            Err(reason) => dropped.push(Dropped {
                index,
                kid: kid_of(v),
                reason,
            }),
        }
    }
    Ok(Extracted {
        url: url.to_owned(),
        candidates,
        dropped,
    })
}

/// The whole-run refusal for secret material. Names the entry, its kid and the member, never a value.
fn refuse(url: &str, index: usize, v: &Value, reason: &DropReason) -> JwksError {
    let kind = match reason {
        DropReason::Symmetric => ErrorKind::SymmetricKey,
        _ => ErrorKind::PrivateKey,
    };
    let kid = kid_of(v);
    let who = match &kid {
        Some(k) => format!("entry {index} kid \"{k}\""),
        None => format!("entry {index} (no kid)"),
    };
    JwksError::new(kind, url, format!("{who}: {reason}")).with_kid(kid)
}

/// See [`super::parse_discovery`].
pub(crate) fn parse_discovery(
    body: &[u8],
    content_type: Option<&str>,
    url: &str,
) -> Result<Discovery, JwksError> {
    let text = trim_body(body, url)?;
    let doc = parse_json(text, content_type, url, true)?;
    let invalid = |detail: String| JwksError::new(ErrorKind::DiscoveryInvalid, url, detail);
    let Value::Object(mut m) = doc else {
        return Err(invalid(format!(
            "found a JSON {}, not an object",
            type_name(&doc)
        )));
    };
    let jwks_uri = match m.remove("jwks_uri") {
        Some(Value::String(u)) if !u.is_empty() => u,
        Some(Value::String(_)) => return Err(invalid("jwks_uri is empty".to_owned())),
        Some(other) => {
            return Err(invalid(format!(
                "jwks_uri is a JSON {}, not a URL string",
                type_name(&other)
            )))
        }
        None if m.get("keys").is_some_and(Value::is_array) => {
            return Err(invalid(
                "no jwks_uri; the body is a JWKS itself, configure it as the JWKS URL".to_owned(),
            ))
        }
        None => return Err(invalid(format!("no jwks_uri; {}", list_members(&m)))),
    };
    let issuer = match m.remove("issuer") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    Ok(Discovery { issuer, jwks_uri })
}
