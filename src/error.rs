//! The stage vocabulary shared by every error and by the sync report, and the per-target error.

use serde::Serialize;

use crate::cloudflare::{ApiMessage, CfError};
use crate::jwks::{ErrorKind as JwksKind, JwksError, Phase};
use crate::plan::PlanError;
use crate::source::FetchError;

/// Where in the sync an error happened, as reported in a target's `error.stage`.
///
/// The serialized names are part of the Worker's interface (alerts match on them):
/// `config`, `fetch`, `parse`, `normalize`, `plan`, `cloudflare`, `state`.
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
    /// The live keys were read, and a safety rule refuses the write that would follow
    /// (no overlap with the live keys, no room left beside kept keys). Nothing was written.
    Plan,
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
            Stage::Plan => "plan",
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

/// The stage reported for an error of the [`jwks`](crate::jwks) module, which has its own
/// [`Phase`] vocabulary.
///
/// `JWKS_TOO_LARGE` is reported at `fetch` whichever layer found it: the fetch stops reading at
/// the same limit, so the module's own check only backs it up.
pub fn jwks_stage(kind: JwksKind) -> Stage {
    match (kind, kind.phase()) {
        (JwksKind::TooLarge, _) => Stage::Fetch,
        (_, Phase::Options) => Stage::Config,
        (_, Phase::Normalize) => Stage::Normalize,
        _ => Stage::Parse,
    }
}

/// Any failure of one target's sync: its stage, a stable code, a message that leads with the
/// cause (the URL comes last), and the hint from the [`catalogue`](crate::catalogue).
///
/// Per-key drops are not errors (they are reported beside the keys); only a set that cannot be
/// pushed safely is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The IdP could not be fetched.
    Fetch(FetchError),
    /// The IdP's document is not a usable JWKS or discovery document.
    Jwks(JwksError),
    /// A safety rule refuses the planned write.
    Plan(PlanError),
    /// The Cloudflare API refused or failed.
    Cloudflare(CfError),
}

impl Error {
    /// The stage reported in `error.stage`.
    pub fn stage(&self) -> Stage {
        match self {
            Error::Fetch(_) => Stage::Fetch,
            Error::Jwks(e) => jwks_stage(e.kind()),
            Error::Plan(_) => Stage::Plan,
            Error::Cloudflare(_) => Stage::Cloudflare,
        }
    }

    /// The stable machine code reported in `error.code` (for example `JWKS_NOT_FOUND`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Fetch(e) => e.code(),
            Error::Jwks(e) => e.code(),
            Error::Plan(e) => e.code(),
            Error::Cloudflare(e) => e.code(),
        }
    }

    /// What to do about it, from the [`catalogue`](crate::catalogue).
    pub fn hint(&self) -> &'static str {
        crate::catalogue::hint(self.code())
    }

    /// Cloudflare's own `errors[]` entries, with their `documentation_url`, `source.pointer` and
    /// `error_chain`; empty for errors that did not come from a Cloudflare answer.
    pub fn cloudflare_errors(&self) -> &[ApiMessage] {
        match self {
            Error::Cloudflare(e) => e.api_errors(),
            _ => &[],
        }
    }

    /// For a write whose outcome stayed unknown: the kids a re-read found live.
    pub fn live_kids(&self) -> Option<&[String]> {
        match self {
            Error::Cloudflare(e) => e.live_kids(),
            _ => None,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Fetch(e) => e.fmt(f),
            Error::Jwks(e) => e.fmt(f),
            Error::Plan(e) => e.fmt(f),
            Error::Cloudflare(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Self {
        Error::Fetch(e)
    }
}

impl From<JwksError> for Error {
    fn from(e: JwksError) -> Self {
        Error::Jwks(e)
    }
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Self {
        Error::Plan(e)
    }
}

impl From<CfError> for Error {
    fn from(e: CfError) -> Self {
        Error::Cloudflare(e)
    }
}

/// A failure outside a target's sync: of the request itself (a route, auth, a query or body the
/// Worker refuses, a rollback it cannot do), or of the target's Durable Object. Answered as
/// `{"error":{"code","message","hint"}}` (see [`crate::report::error_json`]), or, for the object's
/// failures during a run, as the target's error at stage `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceError {
    /// 404: no such route, or `POST /rollback` names no configured target.
    NotFound,
    /// 405: a known path with another method.
    MethodNotAllowed,
    /// 401: no bearer token, or not `SYNC_AUTH_TOKEN`.
    Unauthorized,
    /// 503: `SYNC_AUTH_TOKEN` is not set, so the authenticated endpoints are off.
    AuthDisabled,
    /// 400: a query or body the Worker does not accept.
    BadRequest,
    /// 404, 409 or 500 on `POST /rollback`: that run's key set cannot be put back.
    RunNotRestorable,
    /// The target's object did not answer within the Worker's timeout.
    StateTimeout,
    /// The target's object could not be reached, or answered something that is not a report.
    StateUnavailable,
    /// The target's object could not read or write its storage.
    StateStorage,
    /// The object's gate dropped a waiting request's channel without answering it (no reset:
    /// a reset ends the object's instance, and the Worker sees `STATE_UNAVAILABLE` or
    /// `STATE_TIMEOUT`).
    RunAbandoned,
    /// The object's zone and configuration are in no configured target.
    TargetNotConfigured,
}

impl ServiceError {
    /// Every one, for the catalogue's tests.
    pub const ALL: [ServiceError; 11] = [
        ServiceError::NotFound,
        ServiceError::MethodNotAllowed,
        ServiceError::Unauthorized,
        ServiceError::AuthDisabled,
        ServiceError::BadRequest,
        ServiceError::RunNotRestorable,
        ServiceError::StateTimeout,
        ServiceError::StateUnavailable,
        ServiceError::StateStorage,
        ServiceError::RunAbandoned,
        ServiceError::TargetNotConfigured,
    ];

    /// The stable code, as answered in `error.code`.
    pub fn code(self) -> &'static str {
        match self {
            ServiceError::NotFound => "NOT_FOUND",
            ServiceError::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ServiceError::Unauthorized => "UNAUTHORIZED",
            ServiceError::AuthDisabled => "AUTH_DISABLED",
            ServiceError::BadRequest => "BAD_REQUEST",
            ServiceError::RunNotRestorable => "RUN_NOT_RESTORABLE",
            ServiceError::StateTimeout => "STATE_TIMEOUT",
            ServiceError::StateUnavailable => "STATE_UNAVAILABLE",
            ServiceError::StateStorage => "STATE_STORAGE",
            ServiceError::RunAbandoned => "RUN_ABANDONED",
            ServiceError::TargetNotConfigured => "TARGET_NOT_CONFIGURED",
        }
    }

    /// [`Stage::State`] for a failure of the target's object; `None` for an answer to the request
    /// itself, which no run reached.
    pub fn stage(self) -> Option<Stage> {
        match self {
            ServiceError::StateTimeout
            | ServiceError::StateUnavailable
            | ServiceError::StateStorage
            | ServiceError::RunAbandoned
            | ServiceError::TargetNotConfigured => Some(Stage::State),
            _ => None,
        }
    }

    /// The one whose code is `code`, if any.
    pub fn from_code(code: &str) -> Option<ServiceError> {
        ServiceError::ALL.into_iter().find(|e| e.code() == code)
    }

    /// What to do about it, from the [`catalogue`](crate::catalogue).
    pub fn hint(self) -> &'static str {
        crate::catalogue::hint(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{entry, CATALOGUE};
    use crate::cloudflare::{CfErrorKind, Operation};
    use crate::config::ConfigError;
    use crate::http::{Attempts, TransportError};
    use crate::plan::PlanErrorKind;
    use crate::source::FetchErrorKind;
    use std::collections::BTreeSet;

    fn fetch(kind: FetchErrorKind) -> Error {
        Error::Fetch(FetchError {
            url: "u".into(),
            kind,
            attempts: Attempts::default(),
        })
    }

    fn status(status: u16) -> Error {
        fetch(FetchErrorKind::Status {
            status,
            retry_after: None,
        })
    }

    fn cf(operation: Operation, kind: CfErrorKind) -> Error {
        Error::Cloudflare(CfError {
            operation,
            url: "u".into(),
            kind: Box::new(kind),
            attempts: Attempts::default(),
        })
    }

    fn cf_status(operation: Operation, status: u16, code: u64, message: &str) -> Error {
        cf(
            operation,
            CfErrorKind::Status {
                status,
                errors: vec![ApiMessage::new(code, message)],
                retry_after: None,
                not_envelope: None,
            },
        )
    }

    /// One error of every kind the sync can report.
    fn every_error() -> Vec<Error> {
        let mut all: Vec<Error> = JwksKind::ALL
            .iter()
            .map(|&k| Error::Jwks(JwksError::new(k, "u", String::new())))
            .collect();
        all.extend([
            fetch(FetchErrorKind::Transport(TransportError::Timeout {
                after_ms: 1,
            })),
            fetch(FetchErrorKind::Transport(TransportError::TooLarge {
                limit_bytes: 1,
            })),
            fetch(FetchErrorKind::Transport(TransportError::Network(
                "x".into(),
            ))),
            fetch(FetchErrorKind::Redirect("x".into())),
        ]);
        all.extend([401, 404, 429, 503, 522, 525, 530, 418].map(status));
        all.extend([
            cf_status(Operation::ReadLive, 400, 6003, "Invalid request headers"),
            cf_status(Operation::ReadLive, 403, 9109, "Invalid access token"),
            cf_status(Operation::ReadLive, 403, 10000, "Authentication error"),
            cf_status(Operation::ReadLive, 403, 10403, "not entitled"),
            cf_status(Operation::ReadLive, 404, 7003, "Could not route"),
            cf_status(Operation::ReadLive, 429, 971, "Please wait"),
            cf_status(Operation::ReadLive, 503, 10002, "Service Unavailable"),
            cf_status(Operation::Replace, 400, 110007, "too many keys"),
            cf_status(Operation::Edit, 405, 7001, "Method PATCH not available"),
            cf_status(Operation::Replace, 400, 110005, "too small"),
            cf(
                Operation::ReadLive,
                CfErrorKind::Invalid {
                    status: 200,
                    detail: "x".into(),
                },
            ),
            cf(
                Operation::Replace,
                CfErrorKind::KeysDropped {
                    missing: vec!["a (RS256)".into()],
                    altered: vec![],
                },
            ),
            cf(
                Operation::ReadLive,
                CfErrorKind::Transport(TransportError::Network("x".into())),
            ),
        ]);
        let cause = CfError {
            operation: Operation::Replace,
            url: "u".into(),
            kind: Box::new(CfErrorKind::Transport(TransportError::Timeout {
                after_ms: 1,
            })),
            attempts: Attempts::default(),
        };
        all.push(Error::Cloudflare(crate::cloudflare::unconfirmed(
            cause.clone(),
            Err(cause),
        )));
        all.extend(
            [
                PlanErrorKind::NoOverlap {
                    live: vec![],
                    desired: vec![],
                    changed: vec![],
                    proposed: crate::plan::Proposed::IdpKeys,
                },
                PlanErrorKind::NoRoomToRestore {
                    max_keys: 1,
                    kept: 1,
                    restored: 1,
                },
                PlanErrorKind::NoRoom {
                    max_keys: 1,
                    kept: 1,
                },
                PlanErrorKind::NoRoomForSources {
                    max_keys: 2,
                    kept: 1,
                    sources: vec![],
                },
            ]
            .map(|kind| {
                Error::Plan(PlanError {
                    url: "u".into(),
                    kind,
                })
            }),
        );
        all
    }

    #[test]
    fn every_reported_code_is_in_the_catalogue_with_its_stage_and_hint() {
        for e in every_error() {
            let entry =
                entry(e.code()).unwrap_or_else(|| panic!("{} is not in the catalogue", e.code()));
            assert_eq!(Some(e.stage()), entry.stage, "{}", e.code());
            assert_eq!(e.hint(), entry.hint);
            assert!(!e.hint().is_empty());
        }
        let config = ConfigError { problems: vec![] };
        assert_eq!(
            entry(config.code()).map(|e| e.stage),
            Some(Some(Stage::Config))
        );
        for e in ServiceError::ALL {
            let entry =
                entry(e.code()).unwrap_or_else(|| panic!("{} is not in the catalogue", e.code()));
            assert_eq!(e.stage(), entry.stage, "{}", e.code());
            assert_eq!(e.hint(), entry.hint);
            assert!(!e.hint().is_empty());
            assert_eq!(ServiceError::from_code(e.code()), Some(e));
        }
    }

    /// The catalogue lists exactly the codes the Worker reports: every run error, the settings
    /// error, and every [`ServiceError`] (requests refused, the target's object failing).
    #[test]
    fn every_catalogue_entry_is_reported_by_some_error() {
        let mut produced: BTreeSet<&str> = every_error().iter().map(Error::code).collect();
        produced.insert(ConfigError { problems: vec![] }.code());
        produced.extend(ServiceError::ALL.map(ServiceError::code));
        let listed: BTreeSet<&str> = CATALOGUE.iter().map(|e| e.code).collect();
        assert_eq!(produced, listed);
    }

    #[test]
    fn messages_lead_with_the_cause_and_end_with_the_url() {
        for e in every_error() {
            let msg = e.to_string();
            assert!(msg.ends_with("; u"), "{}: {msg}", e.code());
            assert!(!msg.starts_with('u'), "{}: {msg}", e.code());
        }
    }

    #[test]
    fn jwks_phases_map_onto_stages() {
        assert_eq!(jwks_stage(JwksKind::BadOptions), Stage::Config);
        assert_eq!(jwks_stage(JwksKind::Html), Stage::Parse);
        assert_eq!(jwks_stage(JwksKind::NoUsableKeys), Stage::Normalize);
        assert_eq!(jwks_stage(JwksKind::TooLarge), Stage::Fetch);
    }
}
