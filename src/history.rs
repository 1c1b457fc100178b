//! A target's run history: what each run records, and the status derived from the records
//! (`GET /status`).
//!
//! The target's Durable Object stores one row per run in a bounded table (the last
//! [`RUNS_KEPT`], plus the last success and the last change whatever their age) and the key sets
//! of the last [`KEY_SETS_KEPT`] verified writes, for rollback. This module is the plain-data side
//! of that: the row shapes, the summary a report turns into, and the views `GET /status` shows.
//! No secret is ever recorded: reports name keys by `kid` and `alg` only, and error messages
//! never carry a token or a secret URL.

use serde::Serialize;
use serde_json::Value;

use crate::error::Stage;
use crate::freshness::Freshness;
use crate::grace::FirstMissing;
use crate::report::{Outcome, TargetReport};
use crate::timestamp::rfc3339;

/// Runs kept per target: the newest 50 (about 4 hours on a 5-minute cron), plus the last
/// success and the last change when they are older.
pub const RUNS_KEPT: i64 = 50;

/// Key sets kept per target for rollback: those of the last 5 verified writes.
pub const KEY_SETS_KEPT: i64 = 5;

/// Longest error message recorded, in characters.
pub const MESSAGE_CHARS: usize = 500;

/// What started a recorded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The cron trigger.
    Cron,
    /// `POST /`.
    Http,
    /// `POST /rollback`.
    Rollback,
}

impl Trigger {
    /// `cron`, `http` or `rollback`, as recorded and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cron => "cron",
            Trigger::Http => "http",
            Trigger::Rollback => "rollback",
        }
    }
}

/// The kids a verified write changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Kids {
    /// Kids added.
    pub added: Vec<String>,
    /// Kids removed.
    pub removed: Vec<String>,
    /// Kids kept with new key material.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

impl Kids {
    /// Reads the recorded form; lists that are missing or unreadable are empty.
    pub fn from_json(text: &str) -> Kids {
        let v: Value = serde_json::from_str(text).unwrap_or_default();
        let list = |name: &str| -> Vec<String> {
            v.get(name)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Kids {
            added: list("added"),
            removed: list("removed"),
            changed: list("changed"),
        }
    }

    /// The kids a report's write changed: its diff when the outcome is `updated`, else `None`.
    pub fn of(report: &TargetReport) -> Option<Kids> {
        let diff = report
            .diff
            .as_ref()
            .filter(|_| report.outcome == Outcome::Updated)?;
        Some(Kids {
            added: diff.added.clone(),
            removed: diff.removed.clone(),
            changed: diff.changed.clone(),
        })
    }
}

/// True for a rollback that a safety rule refused before writing (stage `plan`:
/// `FULL_REPLACEMENT_REFUSED`, `KEY_LIMIT_REACHED`). Such a run is an operator's request turned
/// down, not the target failing: it is recorded as `refused`, is neither a success nor a failure
/// (for [`failures_in_a_row`] and alerts), and changes nothing live.
pub fn refused_restore(report: &TargetReport) -> bool {
    report.restored_from.is_some()
        && report.outcome == Outcome::Failed
        && report
            .error
            .as_ref()
            .is_some_and(|e| e.stage == Stage::Plan)
}

/// What a run records when it ends: the summary of its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    /// `updated`, `unchanged`, `failed`, or `refused` (see [`refused_restore`]); recorded runs
    /// are never previews.
    pub outcome: &'static str,
    /// The failed stage.
    pub stage: Option<&'static str>,
    /// The error code.
    pub code: Option<&'static str>,
    /// The error message, at most [`MESSAGE_CHARS`] characters.
    pub message: Option<String>,
    /// The kids changed, as JSON (`{"added":[…],"removed":[…]}`), for `updated` runs.
    pub kids: Option<String>,
}

impl RunEnd {
    /// The summary of `report`.
    pub fn of(report: &TargetReport) -> RunEnd {
        let outcome = match report.outcome {
            _ if refused_restore(report) => "refused",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::WouldUpdate => "would_update",
            Outcome::Failed => "failed",
        };
        let error = report.error.as_ref();
        RunEnd {
            outcome,
            stage: error.map(|e| e.stage.as_str()),
            code: error.map(|e| e.code),
            message: error.map(|e| e.message.chars().take(MESSAGE_CHARS).collect()),
            kids: Kids::of(report).map(|k| serde_json::to_string(&k).unwrap_or_default()),
        }
    }
}

/// One row of the `runs` table, as stored. Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    /// Row id: runs are numbered 1, 2, … in order.
    pub id: i64,
    /// When the run started.
    pub started_ms: i64,
    /// When it ended; `None` while it runs (or if it was cut short and not yet closed).
    pub finished_ms: Option<i64>,
    /// `cron`, `http` or `rollback`.
    pub trigger: String,
    /// `updated`, `unchanged`, `failed`, `refused` or `interrupted`; `None` while it runs.
    pub outcome: Option<String>,
    /// The failed stage.
    pub stage: Option<String>,
    /// The error code.
    pub code: Option<String>,
    /// The error message.
    pub message: Option<String>,
    /// [`Kids`] as JSON, for `updated` runs.
    pub kids: Option<String>,
    /// For a rollback: the run whose key set it restored.
    pub restored_from: Option<i64>,
}

/// A run as `GET /status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunView {
    /// The run's id; name it in `POST /rollback` to restore the key set it wrote.
    pub id: i64,
    /// `cron`, `http` or `rollback`.
    pub trigger: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC; absent while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Wall time, in milliseconds; absent while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// `updated`, `unchanged`, `failed`, `refused` (a rollback a safety rule turned down),
    /// `interrupted` (cut short by a deploy or a reset) or `running`.
    pub outcome: String,
    /// For `failed`: the stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// For `failed`: the error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// For `failed`: the error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For `updated`: the kids the write changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kids: Option<Kids>,
    /// For a rollback: the run whose key set it restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<i64>,
}

fn ms(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl RunRow {
    /// True for `updated` and `unchanged`.
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome.as_deref(), Some("updated" | "unchanged"))
    }

    /// The view `GET /status` shows.
    pub fn view(&self) -> RunView {
        RunView {
            id: self.id,
            trigger: self.trigger.clone(),
            started_at: rfc3339(ms(self.started_ms)),
            finished_at: self.finished_ms.map(|f| rfc3339(ms(f))),
            duration_ms: self
                .finished_ms
                .map(|f| ms(f).saturating_sub(ms(self.started_ms))),
            outcome: self.outcome.clone().unwrap_or_else(|| "running".to_owned()),
            stage: self.stage.clone(),
            code: self.code.clone(),
            message: self.message.clone(),
            kids: self.kids.as_deref().map(Kids::from_json),
            restored_from: self.restored_from,
        }
    }
}

/// Failed (or interrupted) runs since the last success, from the newest finished run's id, the
/// last success's id, and the `refused` rollbacks stored since that success (which are not
/// failures: see [`refused_restore`]). Runs are numbered without gaps, so this holds even when
/// the failed runs are older than the [`RUNS_KEPT`] still stored; a refused rollback older than
/// those is counted as a failure (it is no longer there to tell).
pub fn failures_in_a_row(
    newest_finished_id: Option<i64>,
    last_success_id: Option<i64>,
    refused_since: u64,
) -> u64 {
    let newest = newest_finished_id.unwrap_or(0);
    u64::try_from(newest - last_success_id.unwrap_or(0))
        .unwrap_or(0)
        .saturating_sub(refused_since)
}

/// A live key the IdP no longer publishes, as `GET /status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingKey {
    /// The key's `kid`.
    pub kid: String,
    /// Its `alg`.
    pub alg: String,
    /// When a run first found it missing (RFC 3339, UTC).
    pub missing_since: String,
}

/// The missing keys of a first-missing record, as shown.
pub fn missing_keys(record: &FirstMissing) -> Vec<MissingKey> {
    record
        .iter()
        .map(|(kid, alg, since)| MissingKey {
            kid: kid.to_owned(),
            alg: alg.to_owned(),
            missing_since: rfc3339(since),
        })
        .collect()
}

/// One target's status, as `GET /status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetStatus {
    /// The target's name.
    pub name: String,
    /// Its zone ID.
    pub zone_id: String,
    /// Its token validation configuration ID.
    pub config_id: String,
    /// Freshness against `STALE_AFTER`, as `GET /healthz` judges it.
    pub freshness: Freshness,
    /// `ok` or `failing`: the state the last alert announced.
    pub alert_state: &'static str,
    /// Failed or interrupted runs since the last success.
    pub failures_in_a_row: u64,
    /// The newest run (`running` while one is in progress).
    pub last_run: Option<RunView>,
    /// The newest `updated` or `unchanged` run.
    pub last_success: Option<RunView>,
    /// The newest `updated` run, with its kids.
    pub last_change: Option<RunView>,
    /// Live keys the IdP no longer publishes, recorded for the grace period.
    pub missing_keys: Vec<MissingKey>,
    /// Runs whose written key set `POST /rollback` can restore, newest first.
    pub restorable_runs: Vec<i64>,
    /// When the target's state was first consulted (RFC 3339, UTC).
    pub first_seen: String,
    /// The kept runs, newest first.
    pub runs: Vec<RunView>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Diff;
    use crate::report::ErrorReport;
    use serde_json::json;

    fn report(outcome: Outcome) -> TargetReport {
        let target = crate::config::Target {
            name: "prod".into(),
            zone_id: "z".into(),
            config_id: "c".into(),
            sources: Vec::new(),
        };
        TargetReport {
            outcome,
            diff: Some(Diff {
                added: vec!["new".into()],
                removed: vec!["old".into()],
                unchanged: vec!["same".into()],
                changed: Vec::new(),
            }),
            ..TargetReport::new(&target)
        }
    }

    #[test]
    fn an_update_records_its_kids() {
        assert_eq!(
            RunEnd::of(&report(Outcome::Updated)),
            RunEnd {
                outcome: "updated",
                stage: None,
                code: None,
                message: None,
                kids: Some(r#"{"added":["new"],"removed":["old"]}"#.into()),
            }
        );
        // A diff that was not written is not a change.
        assert_eq!(RunEnd::of(&report(Outcome::Unchanged)).kids, None);
        assert_eq!(RunEnd::of(&report(Outcome::Failed)).kids, None);
    }

    #[test]
    fn a_failure_records_stage_code_and_a_clipped_message() {
        let mut r = report(Outcome::Failed);
        r.error = Some(ErrorReport {
            stage: Stage::Fetch,
            code: "JWKS_TIMEOUT",
            message: "é".repeat(600),
            hint: crate::catalogue::hint("JWKS_TIMEOUT"),
            cloudflare_errors: Vec::new(),
            live_kids: None,
        });
        let end = RunEnd::of(&r);
        assert_eq!(
            (end.outcome, end.stage, end.code),
            ("failed", Some("fetch"), Some("JWKS_TIMEOUT"))
        );
        assert_eq!(end.message, Some("é".repeat(MESSAGE_CHARS)));
    }

    #[test]
    fn views() {
        let row = RunRow {
            id: 7,
            started_ms: 1_789_380_000_000,
            finished_ms: Some(1_789_380_000_812),
            trigger: "cron".into(),
            outcome: Some("updated".into()),
            stage: None,
            code: None,
            message: None,
            kids: Some(r#"{"added":["a"],"removed":[]}"#.into()),
            restored_from: None,
        };
        assert!(row.succeeded());
        assert_eq!(
            serde_json::to_value(row.view()).unwrap(),
            json!({"id":7,"trigger":"cron","started_at":"2026-09-14T10:00:00Z","finished_at":"2026-09-14T10:00:00Z",
                   "duration_ms":812,"outcome":"updated","kids":{"added":["a"],"removed":[]}})
        );
        let running = RunRow {
            finished_ms: None,
            outcome: None,
            kids: None,
            trigger: "rollback".into(),
            restored_from: Some(3),
            ..row
        };
        assert!(!running.succeeded());
        assert_eq!(
            serde_json::to_value(running.view()).unwrap(),
            json!({"id":7,"trigger":"rollback","started_at":"2026-09-14T10:00:00Z","outcome":"running","restored_from":3})
        );
    }

    #[test]
    fn failures_in_a_row_count_from_the_last_success() {
        assert_eq!(failures_in_a_row(None, None, 0), 0);
        assert_eq!(failures_in_a_row(Some(4), None, 0), 4);
        assert_eq!(failures_in_a_row(Some(9), Some(9), 0), 0);
        assert_eq!(failures_in_a_row(Some(130), Some(10), 0), 120);
    }

    /// Issue L4: a refused rollback is no failure of the target.
    #[test]
    fn refused_rollbacks_are_not_failures_in_a_row() {
        // Success 5, then a refused rollback: nothing failed.
        assert_eq!(failures_in_a_row(Some(6), Some(5), 1), 0);
        // Success 5, failed 6, refused 7, failed 8.
        assert_eq!(failures_in_a_row(Some(8), Some(5), 1), 2);
        assert_eq!(failures_in_a_row(Some(2), None, 2), 0);
    }

    fn refused(stage: Stage, code: &'static str, restored_from: Option<i64>) -> TargetReport {
        let mut r = report(Outcome::Failed);
        r.restored_from = restored_from;
        r.error = Some(ErrorReport {
            stage,
            code,
            message: "m".into(),
            hint: crate::catalogue::hint(code),
            cloudflare_errors: Vec::new(),
            live_kids: None,
        });
        r
    }

    #[test]
    fn a_rollback_refused_by_a_safety_rule_is_recorded_as_refused() {
        for code in ["FULL_REPLACEMENT_REFUSED", "KEY_LIMIT_REACHED"] {
            let r = refused(Stage::Plan, code, Some(3));
            assert!(refused_restore(&r), "{code}");
            let end = RunEnd::of(&r);
            assert_eq!(
                (end.outcome, end.stage, end.code, end.kids),
                ("refused", Some("plan"), Some(code), None)
            );
        }
        // The same refusal of a sync is a failure: the IdP's keys cannot be written.
        let sync = refused(Stage::Plan, "FULL_REPLACEMENT_REFUSED", None);
        assert!(!refused_restore(&sync));
        assert_eq!(RunEnd::of(&sync).outcome, "failed");
        // A rollback that failed at Cloudflare did fail.
        let cf = refused(Stage::Cloudflare, "CF_VERIFY_MISMATCH", Some(3));
        assert!(!refused_restore(&cf));
        assert_eq!(RunEnd::of(&cf).outcome, "failed");
        let mut ok = report(Outcome::Updated);
        ok.restored_from = Some(3);
        assert!(!refused_restore(&ok));
    }

    #[test]
    fn missing_keys_are_shown_with_their_first_missing_time() {
        let record =
            FirstMissing::from_json(r#"[{"kid":"k","alg":"RS256","since_ms":1789380000000}]"#);
        assert_eq!(
            missing_keys(&record),
            vec![MissingKey {
                kid: "k".into(),
                alg: "RS256".into(),
                missing_since: "2026-09-14T10:00:00Z".into()
            }]
        );
    }

    #[test]
    fn triggers() {
        let names: Vec<&str> = [Trigger::Cron, Trigger::Http, Trigger::Rollback]
            .iter()
            .map(|t| t.as_str())
            .collect();
        assert_eq!(names, ["cron", "http", "rollback"]);
    }
}
