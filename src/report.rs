//! The result of one target's sync, preview or restore: what its Durable Object answers and logs,
//! and what the Worker's answers (see [`crate::answers`]) list under `targets`.
//!
//! # Format
//! ```text
//! {"name": "default", "zone_id": "…", "config_id": "…", "run_id": 12, "restored_from": 9,
//!  "outcome": "updated" | "unchanged" | "would_update" | "failed",
//!  "keys": [{"kid": "…", "alg": "RS256", "alg_inferred": true}],
//!  "kept": [{"kid": "…", "alg": "HS256", "why": "…"}],
//!  "dropped": [{"kid": "…", "code": "NOT_SIG", "reason": "…"}],
//!  "diff": {"added": […], "removed": […], "unchanged": […]},
//!  "retained": [{"kid": "…", "alg": "RS256", "missing_since": "…Z", "until": "…Z"}],
//!  "warnings": ["…"],
//!  "error": {"stage": "fetch", "code": "JWKS_NOT_FOUND", "message": "…", "hint": "…",
//!            "cloudflare_errors": […], "live_kids": […]}}
//! ```
//! `error` is present only when `outcome` is `failed`, its `cloudflare_errors` only when
//! Cloudflare sent some, its `live_kids` only after an unconfirmed write; `diff` only once the live
//! keys were read; `run_id` only for a run recorded in the target's history; `restored_from` only
//! for a rollback; `retained` only when the grace period keeps keys. The warnings about the
//! settings (an API token that had to be cleaned up) are not part of it: the Worker's answer has
//! them at the top level (see [`crate::answers`]), and each log line as `run_warnings`. Nothing
//! secret is ever part of it: keys are reported by `kid` and `alg` only.

use serde::Serialize;

use crate::cloudflare::{ApiMessage, SymmetricKey};
use crate::config::{ConfigError, Target};
use crate::diff::Diff;
use crate::error::{Error, ServiceError, Stage};
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
    /// The run stopped at `error.stage`. Before the write (every stage but `cloudflare` and
    /// `state`, and `cloudflare` while reading), and when Cloudflare refused the write, what is
    /// live was not changed by this run. It may have been: `CF_VERIFY_MISMATCH` means the write
    /// was applied without some keys (or with other material for them), `CF_WRITE_UNCONFIRMED`
    /// that it got no definite answer and a re-read did not show the keys sent, and at `state`
    /// whether a run happened at all is unknown. The next run reads what is live and converges.
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
    /// Keys live in the configuration that the write keeps as they are (symmetric keys).
    pub kept: Vec<KeptKey>,
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
    /// The report of a run of `target` that has not got anywhere yet: outcome `failed`, no keys,
    /// no error. Every run starts from it, and reaches a successful outcome or sets `error`.
    pub fn new(target: &Target) -> TargetReport {
        TargetReport {
            name: target.name.clone(),
            zone_id: target.zone_id.clone(),
            config_id: target.config_id.clone(),
            run_id: None,
            restored_from: None,
            outcome: Outcome::Failed,
            keys: Vec::new(),
            kept: Vec::new(),
            dropped: Vec::new(),
            diff: None,
            retained: Vec::new(),
            warnings: Vec::new(),
            error: None,
        }
    }

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
    /// `{"event":"jwks-sync","trigger":"cron","dry_run":false,"run_warnings":[…],"name":…,"outcome":…,…}`.
    /// `trigger` is `cron`, `http` or `rollback`; `run_warnings` are the settings' warnings (see
    /// `Config::warnings`), present only when there are some.
    pub fn log_line(&self, trigger: &str, dry_run: bool, run_warnings: &[String]) -> String {
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
        let line = Line {
            event: "jwks-sync",
            trigger,
            dry_run,
            run_warnings,
            target: self,
        };
        serde_json::to_string(&line).unwrap_or_default()
    }
}

/// The body of an answer that is not a run's report (400, 401, 404, 405, 409, 500, 503), with the
/// hint from the catalogue:
/// `{"error":{"code":"NOT_FOUND","message":"…","hint":"…"}}`.
pub fn error_json(e: ServiceError, message: &str) -> String {
    serde_json::json!({"error": {"code": e.code(), "message": message, "hint": e.hint()}})
        .to_string()
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn report() -> TargetReport {
        let target = Target {
            name: "default".into(),
            zone_id: "z".into(),
            config_id: "c".into(),
            sources: Vec::new(),
        };
        TargetReport {
            run_id: Some(3),
            outcome: Outcome::Unchanged,
            ..TargetReport::new(&target)
        }
    }

    /// Issue 10, point 2: the settings' warnings (a cleaned-up API token) are in every target's
    /// log line, as `run_warnings`; a line without any has no such member.
    #[test]
    fn settings_warnings_reach_the_report_and_the_log_lines() {
        let warnings = vec!["CF_API_TOKEN: removed the quotes around the token; re-enter the secret bare with `wrangler secret put CF_API_TOKEN`".to_owned()];
        let line: Value =
            serde_json::from_str(&report().log_line("cron", false, &warnings)).unwrap();
        assert_eq!(line["run_warnings"], json!(warnings));
        assert_eq!(
            (
                &line["event"],
                &line["trigger"],
                &line["outcome"],
                &line["run_id"]
            ),
            (
                &json!("jwks-sync"),
                &json!("cron"),
                &json!("unchanged"),
                &json!(3)
            )
        );
        let line: Value = serde_json::from_str(&report().log_line("http", true, &[])).unwrap();
        assert_eq!(line.get("run_warnings"), None);
        assert_eq!(line["dry_run"], json!(true));
    }

    #[test]
    fn an_answer_that_is_not_a_report_has_its_code_and_hint() {
        let body: Value = serde_json::from_str(&error_json(
            ServiceError::Unauthorized,
            "send Authorization: Bearer <SYNC_AUTH_TOKEN>",
        ))
        .unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": "UNAUTHORIZED", "message": "send Authorization: Bearer <SYNC_AUTH_TOKEN>",
                             "hint": crate::catalogue::hint("UNAUTHORIZED")}})
        );
        assert!(!body["error"]["hint"].as_str().unwrap().is_empty());
    }
}
