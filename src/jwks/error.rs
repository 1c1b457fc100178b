//! The one error type of the JWKS module: a phase, a kind with a stable code, the URL, and detail.
//!
//! One public type with a kind, as in globset/jiff (style §1.5, §2.2), boxed so a
//! `Result<_, JwksError>` stays one word wide (jsonwebtoken, style §1.3).
//!
//! The module depends on nothing outside itself: [`Phase`] is its own vocabulary, which the
//! crate's error module maps onto the stages it reports.

use super::key::Dropped;

/// Which step of this module refused: its options, the shape of the document, or the keys in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// The [`super::Options`] are invalid; no document was looked at.
    Options,
    /// The bytes are not a JWKS (or discovery document) of the expected shape.
    Parse,
    /// The document is a JWKS, but no usable, safe, unambiguous key set can be made from it.
    Normalize,
}

impl Phase {
    /// `"options"`, `"parse"` or `"normalize"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Options => "options",
            Phase::Parse => "parse",
            Phase::Normalize => "normalize",
        }
    }
}

/// What went wrong, one variant per stable [`ErrorKind::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `Options` are invalid (e.g. `keys_pointer` not an RFC 6901 pointer). Phase `options`.
    BadOptions,
    /// The body is empty or only whitespace / a byte order mark.
    EmptyBody,
    /// The body is longer than [`super::MAX_BODY_BYTES`].
    TooLarge,
    /// The body is not valid JSON.
    NotJson,
    /// The body is an HTML page (a login page, an error page, a wrong URL: B10, B11).
    Html,
    /// The body is JSON but its top level is not an object (a string, array, number…).
    NotObject,
    /// The body is a `kid → PEM certificate` map (Google/Firebase `x509` endpoints), not a JWKS.
    PemMap,
    /// The body is a Keycloak realm document (`realm`, `public_key`), not its `/certs` JWKS.
    KeycloakRealm,
    /// The body is a Cloudflare v4 API envelope (`result`, `success`, `errors`), not a JWKS.
    CfEnvelope,
    /// No array at `Options::keys_pointer`, or the value there is not an array.
    NoKeyArray,
    /// The body is an OIDC discovery document: follow [`JwksError::discovery_jwks_uri`] (B23).
    DiscoveryDocument,
    /// The key array has more than [`super::MAX_KEY_ENTRIES`] entries.
    TooManyEntries,
    /// A key carries a private member; nothing may be pushed (RFC 7517 §9.1).
    PrivateKey,
    /// A symmetric `oct` key is published; nothing may be pushed (RFC 7518 §6.4).
    SymmetricKey,
    /// Two keys share (`kid`, `alg`) with different material; nothing may be pushed (B08).
    AmbiguousKid,
    /// Every key was dropped; see [`JwksError::dropped`] (B04, B12).
    NoUsableKeys,
    /// An OIDC discovery document is not JSON, not an object, or has no usable `jwks_uri`.
    DiscoveryInvalid,
}

impl ErrorKind {
    /// Stable `SCREAMING_SNAKE` code, e.g. `"JWKS_HTML"`. Codes are API: alerts match on them.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::BadOptions => "JWKS_BAD_OPTIONS",
            ErrorKind::EmptyBody => "JWKS_EMPTY_BODY",
            ErrorKind::TooLarge => "JWKS_TOO_LARGE",
            ErrorKind::NotJson => "JWKS_NOT_JSON",
            ErrorKind::Html => "JWKS_HTML",
            ErrorKind::NotObject => "JWKS_NOT_OBJECT",
            ErrorKind::PemMap => "JWKS_PEM_MAP",
            ErrorKind::KeycloakRealm => "JWKS_KEYCLOAK_REALM",
            ErrorKind::CfEnvelope => "JWKS_CF_ENVELOPE",
            ErrorKind::NoKeyArray => "JWKS_NO_KEY_ARRAY",
            ErrorKind::DiscoveryDocument => "JWKS_DISCOVERY_DOCUMENT",
            ErrorKind::TooManyEntries => "JWKS_TOO_MANY_ENTRIES",
            ErrorKind::PrivateKey => "JWKS_PRIVATE_KEY",
            ErrorKind::SymmetricKey => "JWKS_SYMMETRIC_KEY",
            ErrorKind::AmbiguousKid => "JWKS_AMBIGUOUS_KID",
            ErrorKind::NoUsableKeys => "JWKS_NO_USABLE_KEYS",
            ErrorKind::DiscoveryInvalid => "DISCOVERY_INVALID",
        }
    }

    /// The phase: `options` for bad options, `normalize` when the document is a JWKS but no safe,
    /// unambiguous key set can be made from it, `parse` for every document-shape problem.
    pub fn phase(self) -> Phase {
        match self {
            ErrorKind::BadOptions => Phase::Options,
            ErrorKind::PrivateKey
            | ErrorKind::SymmetricKey
            | ErrorKind::AmbiguousKid
            | ErrorKind::NoUsableKeys => Phase::Normalize,
            _ => Phase::Parse,
        }
    }

    /// Every kind, in declaration order (for tables that must cover them all).
    pub const ALL: [ErrorKind; 17] = [
        ErrorKind::BadOptions,
        ErrorKind::EmptyBody,
        ErrorKind::TooLarge,
        ErrorKind::NotJson,
        ErrorKind::Html,
        ErrorKind::NotObject,
        ErrorKind::PemMap,
        ErrorKind::KeycloakRealm,
        ErrorKind::CfEnvelope,
        ErrorKind::NoKeyArray,
        ErrorKind::DiscoveryDocument,
        ErrorKind::TooManyEntries,
        ErrorKind::PrivateKey,
        ErrorKind::SymmetricKey,
        ErrorKind::AmbiguousKid,
        ErrorKind::NoUsableKeys,
        ErrorKind::DiscoveryInvalid,
    ];

    /// The fixed "what" clause of the message.
    fn what(self) -> &'static str {
        match self {
            ErrorKind::BadOptions => "invalid jwks options",
            ErrorKind::EmptyBody => "body is empty",
            ErrorKind::TooLarge => "body is over the size limit",
            ErrorKind::NotJson => "body is not JSON",
            ErrorKind::Html => "body is HTML, not a JWKS",
            ErrorKind::NotObject => "top level is not a JSON object",
            ErrorKind::PemMap => "body is a map of PEM certificates keyed by kid, not a JWKS",
            ErrorKind::KeycloakRealm => "body is a keycloak realm document, not a JWKS",
            ErrorKind::CfEnvelope => "body is a cloudflare API response envelope, not a JWKS",
            ErrorKind::NoKeyArray => "no key array",
            ErrorKind::DiscoveryDocument => "body is an OIDC discovery document, not a JWKS",
            ErrorKind::TooManyEntries => "key array has too many entries",
            ErrorKind::PrivateKey => "JWKS serves private key material; nothing is pushed",
            ErrorKind::SymmetricKey => "JWKS serves a symmetric secret key; nothing is pushed",
            ErrorKind::AmbiguousKid => "ambiguous key; nothing is pushed",
            ErrorKind::NoUsableKeys => "no usable keys; nothing is pushed",
            ErrorKind::DiscoveryInvalid => "discovery document is invalid",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    url: String,
    detail: String,
    kid: Option<String>,
    jwks_uri: Option<String>,
    dropped: Vec<Dropped>,
}

/// The error of [`super::extract`], [`super::select`], [`super::normalize`] and
/// [`super::parse_discovery`].
///
/// `Display` renders `<what>; <detail>; <url>`: the cause first, so a log line or alert cut short
/// still shows it; lowercase first, no trailing period. For example
/// `body is HTML, not a JWKS; content-type text/html, starts "<!doctype html>"; https://idp.example/jwks`.
/// Messages never contain a secret value: private members are named, never printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksError(Box<Inner>);

impl JwksError {
    pub(crate) fn new(kind: ErrorKind, url: &str, detail: String) -> JwksError {
        JwksError(Box::new(Inner {
            kind,
            url: url.to_owned(),
            detail,
            kid: None,
            jwks_uri: None,
            dropped: Vec::new(),
        }))
    }

    pub(crate) fn with_kid(mut self, kid: Option<String>) -> JwksError {
        self.0.kid = kid;
        self
    }

    pub(crate) fn with_jwks_uri(mut self, uri: String) -> JwksError {
        self.0.jwks_uri = Some(uri);
        self
    }

    pub(crate) fn with_dropped(mut self, dropped: Vec<Dropped>) -> JwksError {
        self.0.dropped = dropped;
        self
    }

    /// The kind, for matching.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// Stable code, e.g. `"JWKS_NO_USABLE_KEYS"` (see [`ErrorKind::code`]).
    pub fn code(&self) -> &'static str {
        self.0.kind.code()
    }

    /// Which step refused (see [`ErrorKind::phase`]).
    pub fn phase(&self) -> Phase {
        self.0.kind.phase()
    }

    /// The URL of the document at fault (for [`super::select`] over several sources, the one at
    /// fault, or all of them joined with `", "`).
    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// The clause between the fixed text and the URL in the message.
    pub fn detail(&self) -> &str {
        &self.0.detail
    }

    /// The key id at fault for `JWKS_PRIVATE_KEY`, `JWKS_SYMMETRIC_KEY` and `JWKS_AMBIGUOUS_KID`
    /// (clipped to 64 characters), when the key has a string `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.0.kid.as_deref()
    }

    /// For `JWKS_DISCOVERY_DOCUMENT`: the `jwks_uri` to follow (once, https only: B23).
    pub fn discovery_jwks_uri(&self) -> Option<&str> {
        self.0.jwks_uri.as_deref()
    }

    /// For `JWKS_NO_USABLE_KEYS`: every dropped key with its reason, in source order.
    pub fn dropped(&self) -> &[Dropped] {
        &self.0.dropped
    }
}

impl std::fmt::Display for JwksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.kind.what())?;
        if !self.0.detail.is_empty() {
            write!(f, "; {}", self.0.detail)?;
        }
        write!(f, "; {}", self.0.url)
    }
}

impl std::error::Error for JwksError {}
