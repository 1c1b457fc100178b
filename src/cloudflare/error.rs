//! The vocabulary of Cloudflare API failures: Cloudflare's own error entries, the operation that
//! failed, what happened, and the stable code an operator acts on (reference
//! `cloudflare-api.md` §1.3).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::http::{Attempts, TransportError};

/// `source` of an `errors[]` entry: the part of the request that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ApiSource {
    /// A JSON Pointer into the request body, e.g. `/keys/2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

/// One `errors[]` or `messages[]` entry of the v4 envelope, with what Cloudflare adds to tell
/// the operator where to look (reference §1.3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ApiMessage {
    /// Cloudflare's numeric code (for example 10000 authentication, 7003 no such object, 971 rate
    /// limited, 110003 alg defaulted). 0 when the entry had none.
    #[serde(default)]
    pub code: u64,
    /// Cloudflare's text.
    #[serde(default)]
    pub message: String,
    /// The documentation of the refused operation (sent on 403 answers since 2026-08-20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_url: Option<String>,
    /// The part of the request that was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApiSource>,
    /// The underlying causes (for example 6111 under 6003).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_chain: Vec<ApiMessage>,
}

impl ApiMessage {
    /// An entry with only a code and a message.
    pub fn new(code: u64, message: &str) -> ApiMessage {
        ApiMessage {
            code,
            message: message.to_owned(),
            documentation_url: None,
            source: None,
            error_chain: Vec::new(),
        }
    }

    /// Whether this entry or any in its `error_chain` has `code`.
    fn has(&self, code: u64) -> bool {
        self.code == code || self.error_chain.iter().any(|e| e.has(code))
    }
}

/// `code: message`, then the chain in brackets: `6003: Invalid request headers [6111: …]`.
impl fmt::Display for ApiMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if !self.error_chain.is_empty() {
            f.write_str(" [")?;
            for (i, e) in self.error_chain.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                write!(f, "{e}")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// Which call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `GET` of the configuration before deciding anything.
    ReadLive,
    /// `PUT …/credentials`: full replacement.
    Replace,
    /// `PATCH …/credentials`: the write that keeps symmetric keys.
    Edit,
    /// `GET` of the configuration after a write whose outcome stayed unknown.
    Reread,
}

impl Operation {
    /// How a message names it, e.g. `reading live keys`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ReadLive => "reading live keys",
            Operation::Replace => "replacing credentials (PUT)",
            Operation::Edit => "editing credentials (PATCH)",
            Operation::Reread => "re-reading live keys",
        }
    }
}

/// What went wrong talking to Cloudflare (stage `cloudflare`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CfErrorKind {
    /// A non-2xx answer, or an envelope with `success: false`.
    Status {
        /// HTTP status.
        status: u16,
        /// The envelope's `errors[]`; empty when the body was not an envelope.
        errors: Vec<ApiMessage>,
        /// `retry-after` as sent, if any.
        retry_after: Option<String>,
        /// For a body that is not a v4 envelope (a gateway's page, `upstream request timeout`):
        /// its start, as [`crate::jwks::preview`] quotes it (`starts "…"`, or withheld).
        not_envelope: Option<String>,
    },
    /// A 2xx answer whose body is not the v4 envelope expected.
    Invalid {
        /// HTTP status.
        status: u16,
        /// What was wrong, with the start of the body as [`crate::jwks::preview`] quotes it.
        detail: String,
    },
    /// The write succeeded, but keys that were sent did not come back (Cloudflare dropped them),
    /// or came back with other key material.
    KeysDropped {
        /// `kid (alg)` of each key missing from the answer.
        missing: Vec<String>,
        /// `kid (alg)` of each key the answer shows with other material than was sent.
        altered: Vec<String>,
    },
    /// The request never got an answer (network error, timeout).
    Transport(TransportError),
    /// A write got no definite answer, and reading what is live did not show the keys sent.
    Unconfirmed {
        /// What the write got.
        cause: Box<CfError>,
        /// The kids live at the re-read, when it succeeded.
        live_kids: Option<Vec<String>>,
        /// Why the re-read failed, when it did.
        reread: Option<Box<CfError>>,
    },
}

/// A Cloudflare API failure: the operation, the URL, what happened and each attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfError {
    /// Which call.
    pub operation: Operation,
    /// The URL called.
    pub url: String,
    /// What happened (boxed, so a `Result` carrying the error stays small).
    pub kind: Box<CfErrorKind>,
    /// What each attempt got.
    pub attempts: Attempts,
}

impl CfError {
    /// The stable machine code (reference §1.3):
    /// - `CF_PATCH_REFUSED`: a `PATCH` answered 405 or 501, 404 on the route (7000, or no
    ///   envelope), or an error naming `PATCH`;
    /// - `CF_AUTH_MALFORMED` (6003, 6111 anywhere in `error_chain`), `CF_TOKEN_INVALID` (9109;
    ///   also 10001, "Unable to authenticate request" on other v4 routes), `CF_NOT_ENTITLED`
    ///   (10403), `CF_PERMISSION_DENIED` (10000, or a bare 401/403 envelope);
    /// - `CF_RATE_LIMITED` (429, 971), `CF_NOT_FOUND` (404, 7003, 7000);
    /// - `CF_UNAVAILABLE` (5xx, or a body that is not an envelope);
    /// - `CF_TOO_MANY_KEYS` (an error whose text speaks of too many keys or a key limit: the
    ///   exact answer is UNCONFIRMED, reference §1.2);
    /// - `CF_API_STATUS` (any other refusal), `CF_API_INVALID`, `CF_VERIFY_MISMATCH`,
    ///   `CF_API_UNREACHABLE`, `CF_WRITE_UNCONFIRMED`.
    pub fn code(&self) -> &'static str {
        match &*self.kind {
            CfErrorKind::Status {
                status,
                errors,
                not_envelope,
                ..
            } => status_code(self.operation, *status, errors, not_envelope.is_none()),
            CfErrorKind::Invalid { .. } => "CF_API_INVALID",
            CfErrorKind::KeysDropped { .. } => "CF_VERIFY_MISMATCH",
            CfErrorKind::Transport(_) => "CF_API_UNREACHABLE",
            CfErrorKind::Unconfirmed { .. } => "CF_WRITE_UNCONFIRMED",
        }
    }

    /// Cloudflare's own error entries, for the report.
    pub fn api_errors(&self) -> &[ApiMessage] {
        match &*self.kind {
            CfErrorKind::Status { errors, .. } => errors,
            CfErrorKind::Unconfirmed { cause, .. } => cause.api_errors(),
            _ => &[],
        }
    }

    /// For [`CfErrorKind::Unconfirmed`] after a successful re-read: the kids live now.
    pub fn live_kids(&self) -> Option<&[String]> {
        match &*self.kind {
            CfErrorKind::Unconfirmed { live_kids, .. } => live_kids.as_deref(),
            _ => None,
        }
    }

    /// The message without its URL: what happened, during which operation, after how many
    /// attempts.
    pub fn cause(&self) -> String {
        let op = self.operation.as_str();
        let attempts = self.attempts.suffix();
        match &*self.kind {
            CfErrorKind::Status {
                status,
                errors,
                retry_after,
                not_envelope,
            } => {
                let mut out = format!("HTTP {status} from Cloudflare");
                if let Some(start) = not_envelope {
                    out.push_str(&format!(", not an API answer ({start})"));
                } else if !errors.is_empty() {
                    let list: Vec<String> = errors.iter().map(ApiMessage::to_string).collect();
                    out.push_str(&format!(" ({})", list.join("; ")));
                }
                out.push_str(&format!(" {op}{attempts}"));
                if let Some(r) = retry_after {
                    out.push_str(&format!("; retry-after {r}"));
                }
                out
            }
            CfErrorKind::Invalid { status, detail } => {
                format!("HTTP {status} from Cloudflare {op}{attempts}, but {detail}")
            }
            CfErrorKind::KeysDropped { missing, altered } => {
                let mut parts = Vec::with_capacity(2);
                if !missing.is_empty() {
                    parts.push(format!(
                        "Cloudflare dropped {} of the keys sent {op}: {}",
                        missing.len(),
                        missing.join(", ")
                    ));
                }
                if !altered.is_empty() {
                    parts.push(format!(
                        "Cloudflare shows other key material for {} of the keys sent {op}: {}",
                        altered.len(),
                        altered.join(", ")
                    ));
                }
                parts.join("; ")
            }
            CfErrorKind::Transport(TransportError::Timeout { after_ms }) => format!(
                "no answer from Cloudflare within {after_ms} ms (FETCH_TIMEOUT_MS) {op}{attempts}"
            ),
            CfErrorKind::Transport(t) => format!("no answer from Cloudflare ({t}) {op}{attempts}"),
            CfErrorKind::Unconfirmed {
                cause,
                live_kids,
                reread,
            } => {
                let found = match (live_kids, reread) {
                    (Some(kids), _) if kids.is_empty() => {
                        "the configuration holds no keys now".to_owned()
                    }
                    (Some(kids), _) => format!("the keys live now are {}", kids.join(", ")),
                    (None, Some(e)) => format!("re-reading failed: {}", e.cause()),
                    (None, None) => "it could not be re-read".to_owned(),
                };
                format!(
                    "the write got no definite answer ({}), and {found}, not the keys sent",
                    cause.cause()
                )
            }
        }
    }
}

/// See [`CfError::code`].
fn status_code(op: Operation, status: u16, errors: &[ApiMessage], envelope: bool) -> &'static str {
    let has = |code: u64| errors.iter().any(|e| e.has(code));
    // "an error naming the method": `Method PATCH not available for that URI.` and the like.
    let names_patch = errors.iter().any(|e| {
        let m = e.message.to_ascii_lowercase();
        m.contains("patch")
            && ["method", "not supported", "not allowed", "not available"]
                .iter()
                .any(|w| m.contains(w))
    });
    if op == Operation::Edit
        && (matches!(status, 405 | 501)
            || (status == 404 && (has(7000) || !envelope))
            || (names_patch && status != 429))
    {
        return "CF_PATCH_REFUSED";
    }
    if has(6003) || has(6111) {
        "CF_AUTH_MALFORMED"
    } else if has(9109) || has(10001) {
        "CF_TOKEN_INVALID"
    } else if has(10403) {
        "CF_NOT_ENTITLED"
    } else if has(10000) {
        "CF_PERMISSION_DENIED"
    } else if status == 429 || has(971) {
        "CF_RATE_LIMITED"
    } else if status == 404 || has(7003) || has(7000) {
        "CF_NOT_FOUND"
    } else if !envelope || status >= 500 {
        "CF_UNAVAILABLE"
    } else if status == 401 || status == 403 {
        "CF_PERMISSION_DENIED"
    } else if errors.iter().any(|e| speaks_of_too_many_keys(&e.message)) {
        "CF_TOO_MANY_KEYS"
    } else {
        "CF_API_STATUS"
    }
}

/// Whether an error text says the configuration would hold too many keys (UNCONFIRMED wording:
/// "too many keys", "key limit", "maximum … keys", "exceeds … keys").
fn speaks_of_too_many_keys(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("key")
        && (m.contains("too many")
            || m.contains("limit")
            || m.contains("maximum")
            || m.contains("exceed"))
}

/// `<cause>; <url>`: the cause first, so a line cut short still shows it.
impl fmt::Display for CfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.cause(), self.url)
    }
}

impl std::error::Error for CfError {}
