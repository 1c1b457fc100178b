//! Normalization of a fetched JWKS: bytes → the exact key set API Shield accepts, with a per-key
//! account of what was dropped and why, or a specific error (issue 3).
//!
//! Pure Rust, no workers-rs types: `cargo test` runs it natively. Never reads the clock (`now` is
//! an option) and never panics.
//!
//! # Layout
//! - [`alg`](Alg): the supported algorithm and curve vocabulary.
//! - `document`: document shape (key array at a JSON pointer, the not-a-JWKS shapes, discovery).
//! - `key`: one JWK value → [`PublicJwk`] or a [`DropReason`].
//! - `select`: de-duplication, ambiguity, the key limit, the empty-result error, [`Canonical`].
//! - `cert`: `x5c` leaf validity for ranking over the limit.
//! - `error`: [`JwksError`], its [`ErrorKind`] codes and its own [`Phase`] vocabulary.
//!
//! # Flow
//! ```text
//! extract(body, content_type, url, opts)   one document → Extracted (candidates + dropped)
//!   └ select(&[extracted, …], opts)        dedupe (kid, alg) → ambiguity → max_keys → non-empty
//! normalize = extract + select for one document
//! ```
//!
//! # Example
//! ```
//! use jwks_sync::jwks::{normalize, Alg, Options};
//! let body = br#"{"keys":[{"kty":"EC","kid":"k1","crv":"P-256",
//!   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//!   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
//!   {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"}]}"#;
//! let set = normalize(body, Some("application/json"), "https://idp.example/jwks", &Options::default()).unwrap();
//! assert_eq!(set.keys[0].kid(), "k1");
//! assert_eq!(set.keys[0].alg(), Alg::ES256);
//! assert!(set.keys[0].alg_inferred());
//! assert_eq!(set.dropped[0].reason.code(), "NOT_SIG");
//! ```

mod alg;
mod cert;
mod document;
mod error;
mod key;
mod select;

pub use alg::{Alg, Crv, UnknownAlg};
pub use document::{Discovery, Extracted};
pub use error::{ErrorKind, JwksError, Phase};
pub use key::{DropReason, Dropped, PublicJwk, MIN_RSA_BITS, PRIVATE_MEMBERS};
pub use select::{Canonical, KeySet};

/// Largest body accepted, in bytes (1 MiB). Checked before parsing (B22). The largest real JWKS in
/// the fixtures (Entra common, 11 keys with certificates) is about 18 KB.
pub const MAX_BODY_BYTES: usize = 1_048_576;

/// Largest key array accepted, in entries. Checked before any per-key work (B22); real sets have
/// at most a few dozen keys.
pub const MAX_KEY_ENTRIES: usize = 1000;

/// Normalization options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// RFC 6901 JSON Pointer to the key array. Default `"/keys"` (RFC 7517 §5). `""` means the
    /// whole document is the array; `"/result/credentials/keys"` reads a Cloudflare envelope.
    pub keys_pointer: String,
    /// Algorithm given to RSA keys without `alg`, recorded as inferred. Must be RS*/PS*.
    /// Default RS256, as Cloudflare does (api.mdx, message 110003).
    pub rsa_default_alg: Alg,
    /// Most keys to output, in keys. Default 16 (Cloudflare's per-configuration default since the
    /// 2026-08-27 changelog; older accounts are held to 4). Must be at least 1, and at least the
    /// number of sources given to [`select`] (each keeps one key).
    pub max_keys: usize,
    /// Current time, in Unix seconds, used to tell expired `x5c` certificates when ranking over
    /// the limit. Default 0 (nothing counts as expired).
    pub now_unix_s: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            keys_pointer: "/keys".to_owned(),
            rsa_default_alg: Alg::RS256,
            max_keys: 16,
            now_unix_s: 0,
        }
    }
}

/// One document → its candidate keys and per-key drops.
///
/// `body` is the raw response body (a UTF-8 BOM and surrounding whitespace are tolerated);
/// `content_type` is only used in messages and to call an unparsable body HTML (a valid JWKS is
/// accepted under any content type, e.g. `text/plain`); `url` names the document in errors.
///
/// # Errors
/// `parse` phase: `JWKS_TOO_LARGE` (over [`MAX_BODY_BYTES`]), `JWKS_EMPTY_BODY`, `JWKS_HTML`,
/// `JWKS_NOT_JSON`, `JWKS_NOT_OBJECT`, `JWKS_PEM_MAP`, `JWKS_KEYCLOAK_REALM`, `JWKS_CF_ENVELOPE`,
/// `JWKS_DISCOVERY_DOCUMENT` (with [`JwksError::discovery_jwks_uri`]), `DISCOVERY_INVALID`,
/// `JWKS_NO_KEY_ARRAY`, `JWKS_TOO_MANY_ENTRIES` (over [`MAX_KEY_ENTRIES`]).
/// `normalize` phase: `JWKS_PRIVATE_KEY` / `JWKS_SYMMETRIC_KEY` when any entry carries secret
/// material, naming the kid and member but never the value. `options` phase: `JWKS_BAD_OPTIONS`.
pub fn extract(
    body: &[u8],
    content_type: Option<&str>,
    url: &str,
    opts: &Options,
) -> Result<Extracted, JwksError> {
    document::extract(body, content_type, url, opts)
}

/// Several sources' candidates (e.g. two IdPs during a migration) → one key set.
///
/// In order: a source with no usable key fails the whole set (a merge must not push one IdP's
/// keys without the other's); exact duplicates of (`kid`, `alg`, material) collapse to the first
/// (`DUPLICATE`); the same (`kid`, `alg`) with different material fails (B08; API Shield requires
/// unique `{alg,kid}` pairs); over `max_keys`, each source first keeps its best-ranked key (a key
/// two sources publish counts for both), so no source of a merge loses every key, then the
/// remaining slots go by rank (current `x5c` leaf certificates newest `notBefore` first, then
/// keys without certificate dates, then expired certificates; ties in source order), and the
/// rest is dropped as `OVER_LIMIT`; an empty result fails (B04, B12: never push an empty set).
/// The keys come out in source order, whatever their rank.
///
/// The sources are borrowed, so the same candidates can be selected again under another limit.
///
/// # Errors
/// `options` phase: `JWKS_BAD_OPTIONS` for invalid options, or when `max_keys` is less than the
/// number of sources (each keeps at least one key; the error's URL lists them all).
/// `normalize` phase: `JWKS_NO_USABLE_KEYS` naming the source without a usable key (with
/// [`JwksError::dropped`]), or for no sources at all; `JWKS_AMBIGUOUS_KID` naming the kid and
/// both entries.
pub fn select(sources: &[Extracted], opts: &Options) -> Result<KeySet, JwksError> {
    select::select(sources, opts)
}

/// [`extract`] then [`select`] for one document.
///
/// # Errors
/// Those of [`extract`], then those of [`select`]: `JWKS_AMBIGUOUS_KID`, or
/// `JWKS_NO_USABLE_KEYS` when every key was dropped (each with its reason in
/// [`JwksError::dropped`]).
pub fn normalize(
    body: &[u8],
    content_type: Option<&str>,
    url: &str,
    opts: &Options,
) -> Result<KeySet, JwksError> {
    select(&[extract(body, content_type, url, opts)?], opts)
}

/// One JWK value (e.g. as Cloudflare returns a live key) → a [`PublicJwk`], with the same per-key
/// rules as [`extract`] but no set-level refusal. `rsa_default_alg` is the `alg` given to an RSA
/// key without one (recorded as inferred).
///
/// # Errors
/// The [`DropReason`] the per-key rules give the value (`UNSUPPORTED_KTY`, `MISSING_KID`,
/// `RSA_TOO_SMALL`…); secret material is returned as [`DropReason::PrivateMember`] /
/// [`DropReason::Symmetric`], naming the member, never its value.
pub fn decode_key(
    value: &serde_json::Value,
    rsa_default_alg: Alg,
) -> Result<PublicJwk, DropReason> {
    key::decode(value, 0, rsa_default_alg).map(|c| c.jwk)
}

/// Order-independent canonical form: equal iff the same set of (`kid`, `alg`, key material).
pub fn canonical(keys: &[PublicJwk]) -> Canonical {
    select::canonical(keys)
}

/// The start of a body that is not what was expected, for an error message: `starts "<first
/// bytes>"`, at most 48 bytes (then `…`), invalid UTF-8 replaced and everything but printable
/// ASCII escaped, so it is safe for logs. The one rule for quoting a fetched body, used for the
/// IdP's documents and Cloudflare's answers alike.
///
/// A body that may hold a secret is not quoted at all, only said to be withheld: one that names
/// a private JWK member in quotes (`"d"`, `"k"`, … [`PRIVATE_MEMBERS`]), or holds a PEM private
/// key (`-----BEGIN … PRIVATE KEY-----`). Such a body that is not valid JSON never reaches the
/// private-key refusal, and its first bytes could be part of the secret.
pub fn preview(body: &[u8]) -> String {
    document::preview(body)
}

/// The body of `/.well-known/openid-configuration` → its `jwks_uri` and `issuer`
/// (OpenID Connect Discovery 1.0 §3 and §4).
///
/// # Errors
/// `JWKS_TOO_LARGE` over [`MAX_BODY_BYTES`]; otherwise `DISCOVERY_INVALID` (phase `parse`) when
/// the body is empty, HTML, not JSON, not an object, or has no non-empty string `jwks_uri`.
pub fn parse_discovery(
    body: &[u8],
    content_type: Option<&str>,
    url: &str,
) -> Result<Discovery, JwksError> {
    document::parse_discovery(body, content_type, url)
}
