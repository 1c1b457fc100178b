//! The Worker's answer to a sync, preview or rollback: each target's report as the target's
//! Durable Object answered it, or as the Worker wrote it when the object did not answer.
//!
//! # Format
//! ```text
//! {"dry_run": false, "warnings": ["…"], "targets": [<target report>, …]}
//! ```
//! Each target report is passed on exactly as its object wrote it (see [`crate::report`]); the
//! Worker reads only what it needs to aggregate: the name, the outcome and the failed stage. The
//! top-level `warnings` are about the settings (`Config::warnings`: an API token that had to be
//! cleaned up), the same for every target; each target's own are about its run.

use serde::Serialize;
use serde_json::Value;

use crate::config::Target;
use crate::error::{ServiceError, Stage};
use crate::ops::{Ops, StaleAfterFrom};
use crate::report::{ErrorReport, Outcome, TargetReport};

/// The top-level warning of a `POST /` that asked to write while `DRY_RUN` is set: the answer's
/// `dry_run: true` alone is easy to miss.
pub const DRY_RUN_OVERRIDES: &str =
    "DRY_RUN is set: this POST / previewed and wrote nothing; set DRY_RUN to false (or remove it) to sync";

/// One target's report, as JSON text, and what the Worker read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetAnswer {
    json: String,
    name: String,
    /// `Some(stage)` when the outcome is `failed`.
    failed_at: Option<String>,
    /// True when the outcome is `updated` or `unchanged`: live holds the keys it should.
    in_sync: bool,
}

impl TargetAnswer {
    /// A target report as a Durable Object answered it. `Err` (a short description, without the
    /// text) when it is not a JSON object with `name` and `outcome`.
    pub fn from_json(json: String) -> Result<TargetAnswer, String> {
        let head: Value = serde_json::from_str(&json).map_err(|e| format!("not a report: {e}"))?;
        let field = |name: &str| head.get(name).and_then(Value::as_str);
        let (Some(name), Some(outcome)) = (field("name"), field("outcome")) else {
            return Err("not a report: no name or outcome".to_owned());
        };
        let failed_at = (outcome == "failed").then(|| {
            head.pointer("/error/stage")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned()
        });
        Ok(TargetAnswer {
            name: name.to_owned(),
            json,
            failed_at,
            in_sync: matches!(outcome, "updated" | "unchanged"),
        })
    }

    /// A report the Worker made itself.
    pub fn from_report(report: &TargetReport) -> TargetAnswer {
        TargetAnswer {
            json: report.to_json(),
            name: report.name.clone(),
            failed_at: report
                .failed()
                .then(|| report.error.as_ref().map_or(Stage::State, |e| e.stage))
                .map(|s| s.as_str().to_owned()),
            in_sync: matches!(report.outcome, Outcome::Updated | Outcome::Unchanged),
        }
    }

    /// The target's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The report's JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// True when the target failed.
    pub fn failed(&self) -> bool {
        self.failed_at.is_some()
    }

    /// True when the target is in sync: its outcome is `updated` or `unchanged` (not a failure,
    /// and not a `would_update` preview, which left live differing from the IdP).
    pub fn in_sync(&self) -> bool {
        self.in_sync
    }
}

/// Every target's answer, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    /// True when nothing could be written (a preview, `?dry_run=true`, or `DRY_RUN`).
    pub dry_run: bool,
    /// The settings' warnings (see `Config::warnings`).
    pub warnings: Vec<String>,
    /// One entry per target.
    pub targets: Vec<TargetAnswer>,
}

impl Answers {
    /// True when any target failed: the HTTP answer is then 502 and the cron invocation an error.
    pub fn failed(&self) -> bool {
        self.targets.iter().any(TargetAnswer::failed)
    }

    /// True when every target is in sync ([`TargetAnswer::in_sync`]): what the heartbeat's
    /// success ping says.
    pub fn in_sync(&self) -> bool {
        self.targets.iter().all(TargetAnswer::in_sync)
    }

    /// The HTTP status: 200 when every target succeeded, else 502.
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
            .filter_map(|t| t.failed_at.as_ref().map(|s| format!("{} ({s})", t.name)))
            .collect();
        failed.join(", ")
    }

    /// The answer as one line of JSON. Each target's text is valid JSON (checked when it was
    /// read), so it is put in as it is.
    pub fn to_json(&self) -> String {
        // A list of strings always serializes.
        let warnings = serde_json::to_string(&self.warnings).unwrap_or_default();
        let mut out = format!(
            "{{\"dry_run\":{},\"warnings\":{warnings},\"targets\":[",
            self.dry_run
        );
        for (i, t) in self.targets.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&t.json);
        }
        out.push_str("]}");
        out
    }
}

/// The report of a target whose Durable Object did not answer usably: outcome `failed`, stage
/// `state`, with the code of `e` (`STATE_TIMEOUT`, `STATE_UNAVAILABLE`, or the object's own
/// failure, see [`refused`]), `message`, and the hint.
pub fn unavailable(target: &Target, e: ServiceError, message: String) -> TargetReport {
    TargetReport {
        error: Some(ErrorReport {
            stage: Stage::State,
            code: e.code(),
            message,
            hint: e.hint(),
            cloudflare_errors: Vec::new(),
            live_kids: None,
        }),
        ..TargetReport::new(target)
    }
}

/// What a target's object that refused a run (answered `status`, not 200, with body `text`) is
/// reported as: its own failure when the body names one of stage `state` (`STATE_STORAGE`,
/// `RUN_ABANDONED`, `TARGET_NOT_CONFIGURED`), else `STATE_UNAVAILABLE`; the message quotes the
/// object's message, or the status when there is none.
pub fn refused(status: u16, text: &str) -> (ServiceError, String) {
    let body: Option<Value> = serde_json::from_str(text).ok();
    let field = |name: &str| {
        body.as_ref()
            .and_then(|v| v.pointer(&format!("/error/{name}")))
            .and_then(Value::as_str)
    };
    let code = field("code")
        .and_then(ServiceError::from_code)
        .filter(|e| e.stage() == Some(Stage::State))
        .unwrap_or(ServiceError::StateUnavailable);
    let what = field("message").map_or_else(|| format!("HTTP {status}"), str::to_owned);
    (code, format!("the target's state refused the run: {what}"))
}

/// What the Worker makes of a target's object that answered a rollback with `status` (not 200)
/// and body `text`: its `RUN_NOT_RESTORABLE` refusal is passed on as it is (the request named a
/// run that cannot be restored; no run was reached); anything else is the target failing at stage
/// `state`, read as [`refused`] reads a sync's (`TARGET_NOT_CONFIGURED`, `STATE_STORAGE`,
/// `RUN_ABANDONED`, or `STATE_UNAVAILABLE` for any other answer), which `POST /` reports the
/// same way.
pub fn rollback_refused(status: u16, text: &str) -> Result<(), (ServiceError, String)> {
    let code = serde_json::from_str::<Value>(text).ok().and_then(|v| {
        v.pointer("/error/code")
            .and_then(Value::as_str)
            .and_then(ServiceError::from_code)
    });
    match code {
        Some(ServiceError::RunNotRestorable) => Ok(()),
        _ => Err(refused(status, text)),
    }
}

/// The log line of a cron invocation that pinged a heartbeat URL, after its targets' own lines:
/// `{"event":"jwks-sync-cron","dry_run":false,"targets":2,"failed":["prod (fetch)"],"heartbeat":"fail ping sent"}`,
/// with `run_warnings` (the settings' warnings) when there are some. A failed ping is a warning
/// here (`"heartbeat":"success ping failed: HTTP 404"`), never a failed run.
pub fn cron_line(answers: &Answers, heartbeat: &str) -> String {
    let failed = answers
        .targets
        .iter()
        .filter_map(|t| t.failed_at.as_ref().map(|s| format!("{} ({s})", t.name)))
        .collect();
    let line = CronLine {
        event: "jwks-sync-cron",
        dry_run: answers.dry_run,
        run_warnings: &answers.warnings,
        targets: answers.targets.len(),
        failed,
        heartbeat,
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// The log line of a cron invocation whose settings are invalid, after the settings' own error
/// line, when it pinged the heartbeat (`HEARTBEAT_FAIL_URL`, read on its own): no target ran,
/// and the settings are what failed:
/// `{"event":"jwks-sync-cron","dry_run":false,"targets":0,"failed":["settings (config)"],"heartbeat":"fail ping sent"}`.
pub fn cron_settings_line(heartbeat: &str) -> String {
    let line = CronLine {
        event: "jwks-sync-cron",
        dry_run: false,
        run_warnings: &[],
        targets: 0,
        failed: vec![format!("settings ({})", Stage::Config)],
        heartbeat,
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// The cron invocation's log line (see [`cron_line`]).
#[derive(Serialize)]
struct CronLine<'a> {
    event: &'static str,
    dry_run: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    run_warnings: &'a [String],
    targets: usize,
    failed: Vec<String>,
    heartbeat: &'a str,
}

/// A target's entry in `GET /status` when its Durable Object did not answer:
/// `{"name":…,"zone_id":…,"config_id":…,"error":{"stage":"state","code":…,"message":…,"hint":…}}`.
pub fn unavailable_status(target: &Target, e: ServiceError, message: &str) -> String {
    serde_json::json!({
        "name": target.name, "zone_id": target.zone_id, "config_id": target.config_id,
        "error": {"stage": Stage::State, "code": e.code(), "message": message, "hint": e.hint()},
    })
    .to_string()
}

/// The body of `GET /status`: the freshness settings and each target's status (JSON objects, as
/// their objects answered).
///
/// # Format
/// ```text
/// {"stale_after_s": 900, "stale_after_from": "cron", "crons": ["*/5 * * * *"],
///  "targets": [<see crate::history::TargetStatus>, …]}
/// ```
pub fn status_json(ops: &Ops, crons: &[&str], targets: &[String]) -> String {
    #[derive(Serialize)]
    struct Head<'a> {
        stale_after_s: u64,
        stale_after_from: StaleAfterFrom,
        crons: &'a [&'a str],
    }
    let head = Head {
        stale_after_s: ops.stale_after_ms / 1000,
        stale_after_from: ops.stale_after_from,
        crons,
    };
    let head = serde_json::to_string(&head).unwrap_or_default();
    // `head` is an object: reopen it to append the targets, kept as their objects wrote them.
    let mut out = head.strip_suffix('}').unwrap_or("{").to_owned();
    out.push_str(",\"targets\":[");
    out.push_str(&targets.join(","));
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(v: Value) -> TargetAnswer {
        TargetAnswer::from_json(v.to_string()).unwrap()
    }

    #[test]
    fn reports_pass_through_and_failures_are_summed_up() {
        let ok = r#"{"name":"prod","zone_id":"z","outcome":"updated","keys":[]}"#;
        let bad = json!({"name":"staging","outcome":"failed","error":{"stage":"fetch","code":"JWKS_TIMEOUT","message":"m"}});
        let a = Answers {
            dry_run: false,
            warnings: Vec::new(),
            targets: vec![
                TargetAnswer::from_json(ok.to_owned()).unwrap(),
                answer(bad.clone()),
            ],
        };
        assert!(a.failed());
        assert_eq!(a.http_status(), 502);
        assert_eq!(a.failure_summary(), "staging (fetch)");
        let body: Value = serde_json::from_str(&a.to_json()).unwrap();
        let ok_value: Value = serde_json::from_str(ok).unwrap();
        assert_eq!(
            body,
            json!({"dry_run": false, "warnings": [], "targets": [ok_value, bad]})
        );
        // A report is passed on byte for byte: its key order is kept.
        assert!(a.to_json().starts_with(&format!(
            r#"{{"dry_run":false,"warnings":[],"targets":[{ok},"#
        )));
    }

    #[test]
    fn all_succeeded_is_200() {
        let a = Answers {
            dry_run: true,
            warnings: Vec::new(),
            targets: vec![answer(json!({"name":"p","outcome":"would_update"}))],
        };
        assert!(!a.failed());
        assert_eq!(a.http_status(), 200);
        assert_eq!(a.failure_summary(), "");
        assert_eq!(
            serde_json::from_str::<Value>(&a.to_json()).unwrap()["dry_run"],
            json!(true)
        );
    }

    #[test]
    fn what_is_not_a_report_is_refused() {
        for text in [
            "",
            "[]",
            "{\"name\":\"p\"}",
            "{\"outcome\":\"failed\"}",
            "{} trailing",
        ] {
            assert!(TargetAnswer::from_json(text.to_owned()).is_err(), "{text}");
        }
    }

    fn target() -> Target {
        Target {
            name: "prod".into(),
            zone_id: "z".into(),
            config_id: "c".into(),
            sources: Vec::new(),
        }
    }

    #[test]
    fn an_unavailable_target_is_failed_at_state() {
        let t = TargetAnswer::from_report(&unavailable(
            &target(),
            ServiceError::StateTimeout,
            "m".into(),
        ));
        let a = Answers {
            dry_run: false,
            warnings: Vec::new(),
            targets: vec![t],
        };
        assert_eq!(a.failure_summary(), "prod (state)");
        let body: Value = serde_json::from_str(&a.to_json()).unwrap();
        assert_eq!(
            body["targets"][0],
            json!({"name":"prod","zone_id":"z","config_id":"c","outcome":"failed","keys":[],"kept":[],"dropped":[],"warnings":[],
                   "error":{"stage":"state","code":"STATE_TIMEOUT","message":"m",
                            "hint": crate::catalogue::hint("STATE_TIMEOUT")}})
        );
    }

    #[test]
    fn the_cron_line_names_failures_and_the_heartbeat() {
        let a = Answers {
            dry_run: false,
            warnings: Vec::new(),
            targets: vec![
                answer(json!({"name":"a","outcome":"unchanged"})),
                TargetAnswer::from_report(&unavailable(
                    &target(),
                    ServiceError::StateTimeout,
                    "m".into(),
                )),
            ],
        };
        assert_eq!(
            cron_line(&a, "fail ping sent"),
            r#"{"event":"jwks-sync-cron","dry_run":false,"targets":2,"failed":["prod (state)"],"heartbeat":"fail ping sent"}"#
        );
        let ok = Answers {
            dry_run: true,
            warnings: vec!["CF_API_TOKEN: w".into()],
            targets: vec![answer(json!({"name":"a","outcome":"would_update"}))],
        };
        assert_eq!(
            cron_line(&ok, "success ping failed: HTTP 404"),
            r#"{"event":"jwks-sync-cron","dry_run":true,"run_warnings":["CF_API_TOKEN: w"],"targets":1,"failed":[],"heartbeat":"success ping failed: HTTP 404"}"#
        );
    }

    #[test]
    fn the_cron_line_of_invalid_settings_names_them_as_failed() {
        assert_eq!(
            cron_settings_line("fail ping sent"),
            r#"{"event":"jwks-sync-cron","dry_run":false,"targets":0,"failed":["settings (config)"],"heartbeat":"fail ping sent"}"#
        );
    }

    /// Issue M2: only `updated` and `unchanged` are in sync; a `would_update` (DRY_RUN) is not.
    #[test]
    fn in_sync_means_updated_or_unchanged_everywhere() {
        let answers = |outcomes: &[&str]| Answers {
            dry_run: false,
            warnings: Vec::new(),
            targets: outcomes
                .iter()
                .map(|o| answer(json!({"name": "p", "outcome": o, "error": {"stage": "fetch"}})))
                .collect(),
        };
        assert!(answers(&["updated", "unchanged"]).in_sync());
        let dry = answers(&["unchanged", "would_update"]);
        assert!(!dry.in_sync());
        assert!(!dry.failed(), "a preview is not a failure either");
        assert!(!answers(&["updated", "failed"]).in_sync());
        let made = TargetAnswer::from_report(&unavailable(
            &target(),
            ServiceError::StateTimeout,
            "m".into(),
        ));
        assert!(!made.in_sync());
        let mut ok = unavailable(&target(), ServiceError::StateTimeout, "m".into());
        ok.error = None;
        ok.outcome = Outcome::Unchanged;
        assert!(TargetAnswer::from_report(&ok).in_sync());
    }

    /// `POST /rollback` (review, section 3): only the object's `RUN_NOT_RESTORABLE` is passed
    /// on; anything else is the target failing at stage `state`, as for `POST /`.
    #[test]
    fn a_rollback_refusal_is_passed_on_only_when_the_run_is_not_restorable() {
        let body = |code: &str, message: &str| {
            json!({"error": {"code": code, "message": message, "hint": "h"}}).to_string()
        };
        for status in [404, 409, 500] {
            assert_eq!(
                rollback_refused(status, &body("RUN_NOT_RESTORABLE", "run 9 …")),
                Ok(())
            );
        }
        assert_eq!(
            rollback_refused(404, &body("TARGET_NOT_CONFIGURED", "no configured target")),
            Err((
                ServiceError::TargetNotConfigured,
                "the target's state refused the run: no configured target".to_owned()
            ))
        );
        assert_eq!(
            rollback_refused(500, &body("STATE_STORAGE", "disk"))
                .unwrap_err()
                .0,
            ServiceError::StateStorage
        );
        assert_eq!(
            rollback_refused(503, &body("RUN_ABANDONED", "gone"))
                .unwrap_err()
                .0,
            ServiceError::RunAbandoned
        );
        // The object's own invalid settings, or an answer that is not the object's: unavailable.
        let config = json!({"targets": [], "error": {"stage": "config", "code": "CONFIG_INVALID", "message": "m"}});
        assert_eq!(
            rollback_refused(500, &config.to_string()).unwrap_err().0,
            ServiceError::StateUnavailable
        );
        assert_eq!(
            rollback_refused(502, "<html>"),
            Err((
                ServiceError::StateUnavailable,
                "the target's state refused the run: HTTP 502".to_owned()
            ))
        );
    }

    #[test]
    fn the_status_body_wraps_each_targets_status() {
        let ops = Ops {
            stale_after_ms: 900_000,
            stale_after_from: StaleAfterFrom::Cron,
            ..Ops::default()
        };
        let body = status_json(
            &ops,
            &["*/5 * * * *"],
            &[
                r#"{"name":"a","runs":[]}"#.to_owned(),
                unavailable_status(&target(), ServiceError::StateTimeout, "m"),
            ],
        );
        let hint = crate::catalogue::hint("STATE_TIMEOUT");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"stale_after_s": 900, "stale_after_from": "cron", "crons": ["*/5 * * * *"],
                   "targets": [{"name":"a","runs":[]},
                               {"name":"prod","zone_id":"z","config_id":"c","error":{"stage":"state","code":"STATE_TIMEOUT","message":"m","hint":hint}}]})
        );
        assert!(body.starts_with(r#"{"stale_after_s":900,"stale_after_from":"cron","crons":["*/5 * * * *"],"targets":[{"name":"a""#));
    }

    /// Issue 10's settings warnings reach the Worker's answer at the top level.
    #[test]
    fn the_settings_warnings_are_answered_at_the_top_level() {
        let w = "CF_API_TOKEN: removed the quotes around the token; re-enter the secret bare with `wrangler secret put CF_API_TOKEN`";
        let a = Answers {
            dry_run: false,
            warnings: vec![w.to_owned()],
            targets: vec![answer(json!({"name":"p","outcome":"unchanged"}))],
        };
        let body: Value = serde_json::from_str(&a.to_json()).unwrap();
        assert_eq!(body["warnings"], json!([w]));
        assert_eq!(body["targets"][0]["outcome"], "unchanged");
    }

    #[test]
    fn an_objects_own_failure_keeps_its_code() {
        let body = |code: &str| {
            json!({"error":{"code":code,"message":"the run this request waited for was abandoned"}})
                .to_string()
        };
        assert_eq!(
            refused(503, &body("RUN_ABANDONED")),
            (
                ServiceError::RunAbandoned,
                "the target's state refused the run: the run this request waited for was abandoned"
                    .to_owned()
            )
        );
        assert_eq!(
            refused(500, &body("STATE_STORAGE")).0,
            ServiceError::StateStorage
        );
        // A code of another stage, or none, is the object being unavailable.
        assert_eq!(
            refused(500, &body("CONFIG_INVALID")).0,
            ServiceError::StateUnavailable
        );
        assert_eq!(
            refused(404, &body("NOT_FOUND")).0,
            ServiceError::StateUnavailable
        );
        assert_eq!(
            refused(502, "<html>"),
            (
                ServiceError::StateUnavailable,
                "the target's state refused the run: HTTP 502".to_owned()
            )
        );
    }
}
