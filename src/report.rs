//! The result of a sync or preview: the body of every response and the scheduled log.
//!
//! # Format
//! ```text
//! {"dry_run": false,
//!  "warnings": ["…"],
//!  "targets": [{"name": "default", "zone_id": "…", "config_id": "…",
//!               "outcome": "updated" | "unchanged" | "would_update" | "failed",
//!               "keys": [{"kid": "…", "alg": "RS256", "alg_inferred": true}],
//!               "kept": [{"kid": "…", "alg": "HS256", "why": "…"}],
//!               "dropped": [{"kid": "…", "code": "NOT_SIG", "reason": "…"}],
//!               "diff": {"added": […], "removed": […], "unchanged": […]},
//!               "warnings": ["…"],
//!               "error": {"stage": "fetch", "code": "JWKS_NOT_FOUND", "message": "…",
//!                         "hint": "…", "cloudflare_errors": […], "live_kids": […]}}]}
//! ```
//! The top-level `warnings` are about the settings (for example an API token that had to be
//! cleaned up); each target's are about its run. `error` is present only when `outcome` is
//! `failed`, its `cloudflare_errors` only when Cloudflare sent some, its `live_kids` only after an
//! unconfirmed write; `diff` only once the live keys were read. Nothing secret is ever part of
//! it: keys are reported by `kid` and `alg` only.

use serde::Serialize;

use crate::cloudflare::{ApiMessage, SymmetricKey};
use crate::config::ConfigError;
use crate::diff::Diff;
use crate::error::{Error, Stage};
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

/// A key the configuration holds that no sync removes, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptKey {
    /// Its `kid`.
    pub kid: String,
    /// Its `alg`.
    pub alg: String,
    /// Why it is kept.
    pub why: &'static str,
}

impl From<&SymmetricKey> for KeptKey {
    fn from(k: &SymmetricKey) -> Self {
        KeptKey {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            why: "symmetric key managed outside the IdP: Cloudflare never returns its secret, so the write keeps it through PATCH",
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
    /// What failed: the cause first, the URL last.
    pub message: String,
    /// What to do about it (from the catalogue, the same for every error with this code).
    pub hint: &'static str,
    /// Cloudflare's `errors[]`, with `documentation_url`, `source.pointer` and `error_chain`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cloudflare_errors: Vec<ApiMessage>,
    /// After a write whose outcome stayed unknown: the kids a re-read found live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_kids: Option<Vec<String>>,
}

impl From<&Error> for ErrorReport {
    fn from(e: &Error) -> Self {
        ErrorReport {
            stage: e.stage(),
            code: e.code(),
            message: e.to_string(),
            hint: e.hint(),
            cloudflare_errors: e.cloudflare_errors().to_vec(),
            live_kids: e.live_kids().map(<[String]>::to_vec),
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
    /// What happened.
    pub outcome: Outcome,
    /// The keys pushed, or that would be pushed.
    pub keys: Vec<KeyId>,
    /// Keys live in the configuration that the write keeps as they are (symmetric keys).
    pub kept: Vec<KeptKey>,
    /// Keys left out, each with its reason.
    pub dropped: Vec<Dropped>,
    /// The difference from what was live, once it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
    /// Things worth a look that did not stop the sync (Cloudflare `messages`, defaulted algs).
    pub warnings: Vec<String>,
    /// Why the target failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

/// The whole result, targets in configuration order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// True when nothing could be written (a preview, `?dry_run=true`, or `DRY_RUN`).
    pub dry_run: bool,
    /// Settings that deserve a look (see `Config::warnings`).
    pub warnings: Vec<String>,
    /// One entry per target.
    pub targets: Vec<TargetReport>,
}

impl Report {
    /// True when any target failed: the HTTP answer is then 502 and the cron invocation an error.
    pub fn failed(&self) -> bool {
        self.targets.iter().any(|t| t.outcome == Outcome::Failed)
    }

    /// The HTTP status of a sync or preview answer: 200 when every target succeeded, else 502.
    pub fn http_status(&self) -> u16 {
        if self.failed() {
            502
        } else {
            200
        }
    }

    /// The names and stages of failed targets, e.g. `prod (fetch), staging (cloudflare)`.
    pub fn failure_summary(&self) -> String {
        let failed: Vec<String> = self
            .targets
            .iter()
            .filter_map(|t| {
                t.error
                    .as_ref()
                    .map(|e| format!("{} ({})", t.name, e.stage))
            })
            .collect();
        failed.join(", ")
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        // Every field is a string, number, bool or list of them: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Report {
    /// One JSON line per target for the Worker's log, each marked whether it failed:
    /// `{"event":"jwks-sync","trigger":"cron","dry_run":false,"run_warnings":[…],"name":…,…}`
    /// (`run_warnings`, the report's top-level `warnings`, only when there are some).
    pub fn log_lines(&self, trigger: &str) -> Vec<(bool, String)> {
        #[derive(Serialize)]
        struct Line<'a> {
            event: &'static str,
            trigger: &'a str,
            dry_run: bool,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            run_warnings: &'a [String],
            #[serde(flatten)]
            target: &'a TargetReport,
        }
        self.targets
            .iter()
            .map(|target| {
                let line = Line {
                    event: "jwks-sync",
                    trigger,
                    dry_run: self.dry_run,
                    run_warnings: &self.warnings,
                    target,
                };
                (
                    target.outcome == Outcome::Failed,
                    serde_json::to_string(&line).unwrap_or_default(),
                )
            })
            .collect()
    }
}

/// The body of a non-sync error answer (401, 404, 405, 503):
/// `{"error":{"code":"NOT_FOUND","message":"…"}}`.
pub fn error_json(code: &str, message: &str) -> String {
    serde_json::json!({"error": {"code": code, "message": message}}).to_string()
}

/// The body answered when the settings are invalid: no target ran.
/// `{"dry_run":…,"targets":[],"error":{"stage":"config","code":"CONFIG_INVALID","message":…,"hint":…,"problems":[…]}}`
pub fn config_error_json(e: &ConfigError, dry_run: bool) -> String {
    let hint = crate::catalogue::hint(e.code());
    serde_json::json!({
        "dry_run": dry_run,
        "targets": [],
        "error": {"stage": Stage::Config, "code": e.code(), "message": e.to_string(), "hint": hint, "problems": e.problems},
    })
    .to_string()
}

/// The log line for invalid settings.
pub fn config_error_log(e: &ConfigError, trigger: &str) -> String {
    let hint = crate::catalogue::hint(e.code());
    serde_json::json!({
        "event": "jwks-sync", "trigger": trigger, "outcome": "failed",
        "error": {"stage": Stage::Config, "code": e.code(), "message": e.to_string(), "hint": hint},
    })
    .to_string()
}
