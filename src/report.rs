//! The result of one target's sync, preview or restore: what its Durable Object answers and logs,
//! and what the Worker's answers (see [`crate::answers`]) list under `targets`.
//!
//! # Format
//! ```text
//! {"name": "default", "zone_id": "…", "config_id": "…", "run_id": 12, "restored_from": 9,
//!  "outcome": "updated" | "unchanged" | "would_update" | "failed",
//!  "keys": [{"kid": "…", "alg": "RS256", "alg_inferred": true}],
//!  "dropped": [{"kid": "…", "code": "NOT_SIG", "reason": "…"}],
//!  "diff": {"added": […], "removed": […], "unchanged": […]},
//!  "retained": [{"kid": "…", "alg": "RS256", "missing_since": "…Z", "until": "…Z"}],
//!  "warnings": ["…"],
//!  "error": {"stage": "fetch", "code": "JWKS_HTTP_STATUS", "message": "…"}}
//! ```
//! `error` is present only when `outcome` is `failed`; `diff` only once the live keys were read;
//! `run_id` only for a run recorded in the target's history; `restored_from` only for a rollback;
//! `retained` only when the grace period keeps keys. Nothing secret is ever part of it: keys are
//! reported by `kid` and `alg` only.

use serde::Serialize;

use crate::config::ConfigError;
use crate::diff::Diff;
use crate::error::{Error, Stage};
use crate::grace::Retained;
use crate::jwks::{Dropped, PublicJwk};

/// What happened to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The credentials were replaced and Cloudflare's answer verified.
    Updated,
    /// The live keys already equal the desired ones; nothing was written.
    Unchanged,
    /// A preview or dry run found a difference; nothing was written.
    WouldUpdate,
    /// The sync stopped at `error.stage`; what is live was not changed by this run.
    Failed,
}

/// A key as reported: identity only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyId {
    /// The key's `kid`.
    pub kid: String,
    /// The effective `alg`.
    pub alg: String,
    /// True when `alg` was not in the JWKS and was inferred (RSA default, or EC `crv`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub alg_inferred: bool,
}

impl From<&PublicJwk> for KeyId {
    fn from(k: &PublicJwk) -> Self {
        KeyId {
            kid: k.kid().to_owned(),
            alg: k.alg().as_str().to_owned(),
            alg_inferred: k.alg_inferred(),
        }
    }
}

/// A failure as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// Where it failed.
    pub stage: Stage,
    /// Stable machine code, for alerts.
    pub code: &'static str,
    /// What failed, naming the URL.
    pub message: String,
}

impl From<&Error> for ErrorReport {
    fn from(e: &Error) -> Self {
        ErrorReport {
            stage: e.stage(),
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// One target's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetReport {
    /// The target's name.
    pub name: String,
    /// Its zone ID.
    pub zone_id: String,
    /// Its token validation configuration ID.
    pub config_id: String,
    /// The history entry of this run (see `GET /status`); absent for previews and dry runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    /// For a rollback: the run whose written key set was put back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<i64>,
    /// What happened.
    pub outcome: Outcome,
    /// The keys pushed, or that would be pushed.
    pub keys: Vec<KeyId>,
    /// Keys left out, each with its reason.
    pub dropped: Vec<Dropped>,
    /// The difference from what was live, once it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
    /// Live keys the IdP no longer publishes, kept for `RETAIN_REMOVED_KEYS_FOR`; also listed in
    /// `keys`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retained: Vec<Retained>,
    /// Things worth a look that did not stop the sync (Cloudflare `messages`, defaulted algs).
    pub warnings: Vec<String>,
    /// Why the target failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

impl TargetReport {
    /// True when the target failed.
    pub fn failed(&self) -> bool {
        self.outcome == Outcome::Failed
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        // Every field is a string, number, bool or list of them: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The line for the Worker's log:
    /// `{"event":"jwks-sync","trigger":"cron","dry_run":false,"name":…,"outcome":…,…}`.
    /// `trigger` is `cron`, `http` or `rollback`.
    pub fn log_line(&self, trigger: &str, dry_run: bool) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            event: &'static str,
            trigger: &'a str,
            dry_run: bool,
            #[serde(flatten)]
            target: &'a TargetReport,
        }
        let line = Line {
            event: "jwks-sync",
            trigger,
            dry_run,
            target: self,
        };
        serde_json::to_string(&line).unwrap_or_default()
    }
}

/// The body of a non-sync error answer (401, 404, 405, 503):
/// `{"error":{"code":"NOT_FOUND","message":"…"}}`.
pub fn error_json(code: &str, message: &str) -> String {
    serde_json::json!({"error": {"code": code, "message": message}}).to_string()
}

/// The body answered when the settings are invalid: no target ran.
/// `{"dry_run":…,"targets":[],"error":{"stage":"config","code":"CONFIG_INVALID","message":…,"problems":[…]}}`
pub fn config_error_json(e: &ConfigError, dry_run: bool) -> String {
    serde_json::json!({
        "dry_run": dry_run,
        "targets": [],
        "error": {"stage": Stage::Config, "code": e.code(), "message": e.to_string(), "problems": e.problems},
    })
    .to_string()
}

/// The log line for invalid settings.
pub fn config_error_log(e: &ConfigError, trigger: &str) -> String {
    serde_json::json!({
        "event": "jwks-sync", "trigger": trigger, "outcome": "failed",
        "error": {"stage": Stage::Config, "code": e.code(), "message": e.to_string()},
    })
    .to_string()
}
