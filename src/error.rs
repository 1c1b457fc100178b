//! The stage vocabulary shared by every error and by the sync report.

use serde::Serialize;

/// Where in the sync an error happened, as reported in a target's `error.stage`.
///
/// The serialized names are part of the Worker's interface (alerts match on them):
/// `config`, `fetch`, `parse`, `normalize`, `cloudflare`, `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stage {
    /// The Worker's own settings are missing or invalid; no request was made.
    Config,
    /// The identity provider could not be reached or did not answer 2xx.
    Fetch,
    /// The body the identity provider sent is not a JWKS or discovery document.
    Parse,
    /// The document is a JWKS, but no usable, unambiguous key set can be made from it.
    Normalize,
    /// The Cloudflare API refused, failed, or answered something that does not match what was sent.
    Cloudflare,
    /// The target's Durable Object (its run lock and history) did not answer in time, or failed;
    /// codes `STATE_TIMEOUT`, `STATE_UNAVAILABLE`. Whether a run happened is then unknown: see
    /// `GET /status`.
    State,
}

impl Stage {
    /// The serialized name, e.g. `"fetch"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Config => "config",
            Stage::Fetch => "fetch",
            Stage::Parse => "parse",
            Stage::Normalize => "normalize",
            Stage::Cloudflare => "cloudflare",
            Stage::State => "state",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Any failure of one target's sync: which stage, a stable code, and a message naming the URL.
///
/// Per-key drops are not errors (they are reported beside the keys); only a set that cannot be
/// pushed safely is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The IdP could not be fetched.
    Fetch(crate::source::FetchError),
    /// The IdP's document is not a usable JWKS or discovery document.
    Jwks(crate::jwks::JwksError),
    /// The Cloudflare API refused or failed.
    Cloudflare(crate::cloudflare::CfError),
}

impl Error {
    /// The stage reported in `error.stage`.
    pub fn stage(&self) -> Stage {
        match self {
            Error::Fetch(_) => Stage::Fetch,
            Error::Jwks(e) => e.stage(),
            Error::Cloudflare(_) => Stage::Cloudflare,
        }
    }

    /// The stable machine code reported in `error.code` (for example `JWKS_HTTP_STATUS`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Fetch(e) => e.code(),
            Error::Jwks(e) => e.code(),
            Error::Cloudflare(e) => e.code(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Fetch(e) => e.fmt(f),
            Error::Jwks(e) => e.fmt(f),
            Error::Cloudflare(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::source::FetchError> for Error {
    fn from(e: crate::source::FetchError) -> Self {
        Error::Fetch(e)
    }
}

impl From<crate::jwks::JwksError> for Error {
    fn from(e: crate::jwks::JwksError) -> Self {
        Error::Jwks(e)
    }
}

impl From<crate::cloudflare::CfError> for Error {
    fn from(e: crate::cloudflare::CfError) -> Self {
        Error::Cloudflare(e)
    }
}
