//! The stage vocabulary shared by every error and by the sync report.

use serde::Serialize;

/// Where in the sync an error happened, as reported in a target's `error.stage`.
///
/// The serialized names are part of the Worker's interface (alerts match on them):
/// `config`, `fetch`, `parse`, `normalize`, `cloudflare`.
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
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
