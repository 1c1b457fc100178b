//! Alerts on a change of a target's state (`ALERT_WEBHOOK_URL`): when it starts failing, when it
//! recovers, and when its live keys change. One alert per transition, never one per failed run.
//!
//! The state an alert announced (`ok` or `failing`) is recorded by the target's Durable Object;
//! [`after_run`] compares it with a run's report, and [`state_to_record`] says what to record
//! once the alert was sent. A run that recovers and changes the keys in the same write sends one
//! alert, `recovered`, listing the kids.
//!
//! A write that was applied but failed its verification (`CF_VERIFY_MISMATCH`; or
//! `CF_WRITE_UNCONFIRMED` with a re-read showing other kids live than before the write) changed
//! the live keys of a failing run: it is announced, as `failing` when the target was working,
//! else as `keys_changed` with the error. A rollback refused by a safety rule (stage `plan`) is an
//! operator's request turned down, not the target failing: it changes no state and sends nothing
//! (see [`crate::history::refused_restore`]).
//!
//! # Format
//! ```text
//! {"text": "jwks-sync prod: FAILING at fetch (JWKS_UNAVAILABLE): HTTP 503 from the IdP …; https://… (run 12, cron)\nWhat to do: The IdP answered 5xx …",
//!  "event": "failing" | "recovered" | "keys_changed",
//!  "target": "prod", "zone_id": "…", "config_id": "…",
//!  "outcome": "failed", "code": "JWKS_UNAVAILABLE", "hint": "The IdP answered 5xx …",
//!  "error": {"stage": "fetch", "code": "JWKS_UNAVAILABLE", "message": "…", "hint": "…"},
//!  "kids": {"added": ["k2"], "removed": ["k1"]},
//!  "run_id": 12, "trigger": "cron", "restored_from": 9, "time": "2026-09-14T10:05:00Z"}
//! ```
//! `text` is plain text (no markup, at most [`TEXT_CHARS`] characters) that Slack, Mattermost and
//! Discord's `/slack` endpoint display as the message (operations.md §2.6); its second line, the
//! error's hint, is there only when the whole text fits. The other fields are for machines.
//! `code`, `error` and `hint` are present when the run failed (`error` as the run reported it,
//! with `cloudflare_errors` and `live_kids` when there are some), `kids` when live keys changed
//! (for a write that failed its verification: the kids it sent, see [`Kids`]), `restored_from`
//! for a rollback. Nothing secret: keys by `kid` only, and no URL of the webhook
//! or heartbeat.

use serde::Serialize;

use crate::history::{refused_restore, Kids, Trigger};
use crate::report::{ErrorReport, Outcome, TargetReport};
use crate::timestamp::rfc3339;

/// Longest `text`, in characters: Discord's message limit, the smallest of the common receivers
/// (operations.md §2.6).
pub const TEXT_CHARS: usize = 2000;

/// The state the last alert announced, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Nothing announced, or the last alert said it works.
    Ok,
    /// The last alert said it fails.
    Failing,
}

impl State {
    /// Reads the recorded value: `failing`, else [`State::Ok`].
    pub fn from_recorded(value: Option<&str>) -> State {
        match value {
            Some("failing") => State::Failing,
            _ => State::Ok,
        }
    }

    /// `ok` or `failing`, as recorded and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Failing => "failing",
        }
    }
}

/// What an alert announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The target failed after working (or on its first run).
    Failing,
    /// The target succeeded after failing.
    Recovered,
    /// The live keys changed: a verified write of a working target, or a write that failed its
    /// verification while the target was already failing.
    KeysChanged,
}

/// The state after a recorded (not preview) run with `outcome`, and the alert to send.
/// `keys_changed` is true when the run changed the live keys (see [`after_run`]).
pub fn transition(before: State, outcome: Outcome, keys_changed: bool) -> (State, Option<Event>) {
    match (before, outcome) {
        (_, Outcome::WouldUpdate) => (before, None),
        (State::Ok, Outcome::Failed) => (State::Failing, Some(Event::Failing)),
        (State::Failing, Outcome::Failed) if keys_changed => {
            (State::Failing, Some(Event::KeysChanged))
        }
        (State::Failing, Outcome::Failed) => (State::Failing, None),
        (State::Failing, _) => (State::Ok, Some(Event::Recovered)),
        (State::Ok, _) if keys_changed => (State::Ok, Some(Event::KeysChanged)),
        (State::Ok, _) => (State::Ok, None),
    }
}

/// The state after the recorded run of `report`, and the alert to send. `verified_write` is true
/// when the run's write was verified (its outcome is `updated`). A rollback refused by a safety
/// rule keeps the state and sends nothing; a failed write that changed the live keys anyway
/// ([`failed_write_changed_live`]) counts as a change.
pub fn after_run(
    before: State,
    report: &TargetReport,
    verified_write: bool,
) -> (State, Option<Event>) {
    if refused_restore(report) {
        return (before, None);
    }
    let changed = verified_write || failed_write_changed_live(report);
    transition(before, report.outcome, changed)
}

/// The state to record after the alert for a change from `before` to `next` was sent or not:
/// `next` once it is announced (`delivered`, also true when no alert was due or no webhook is
/// set), else nothing, so that an undelivered `failing` or `recovered` alert is tried again by
/// the next run that sees the same change. `None` also when nothing changed (no row written).
pub fn state_to_record(before: State, next: State, delivered: bool) -> Option<State> {
    (next != before && delivered).then_some(next)
}

/// Whether the write of a failed run changed the live keys although it failed:
/// - `CF_VERIFY_MISMATCH`: Cloudflare accepted the write, without some keys or with other
///   material for them, so the rest of the set is live. Counted as a change even when the keys
///   dropped were exactly those to be added (the one case in which live stays as it was: the
///   alert's error names them).
/// - `CF_WRITE_UNCONFIRMED` after a successful re-read (`live_kids`): when the kids live now
///   differ from those live before the write (the diff's `unchanged`, `changed` and `removed`,
///   and the kept symmetric keys). Judged by kid: new material under the same kids is not seen.
pub fn failed_write_changed_live(report: &TargetReport) -> bool {
    let Some(e) = report.error.as_ref() else {
        return false;
    };
    match (e.code, &e.live_kids, &report.diff) {
        ("CF_VERIFY_MISMATCH", _, _) => true,
        ("CF_WRITE_UNCONFIRMED", Some(now), Some(d)) => {
            let before = || {
                d.unchanged
                    .iter()
                    .chain(&d.changed)
                    .chain(&d.removed)
                    .map(String::as_str)
                    .chain(report.kept.iter().map(|k| k.kid.as_str()))
            };
            // Compared as sets; a rare path over a few keys, so no set is built.
            let gone = before().any(|kid| !now.iter().any(|k| k == kid));
            gone || now.iter().any(|kid| !before().any(|k| k == kid))
        }
        _ => false,
    }
}

/// The kids an alert lists: those of a verified write ([`Kids::of`]), or those a failed write
/// that changed the live keys sent.
fn kids(report: &TargetReport) -> Option<Kids> {
    Kids::of(report).or_else(|| {
        let d = report
            .diff
            .as_ref()
            .filter(|_| failed_write_changed_live(report))?;
        Some(Kids {
            added: d.added.clone(),
            removed: d.removed.clone(),
            changed: d.changed.clone(),
        })
    })
}

/// The JSON body of the alert `event` for `report` (a recorded run: `run_id` set), sent at
/// `time_ms` (milliseconds since the epoch).
pub fn body(event: Event, report: &TargetReport, trigger: Trigger, time_ms: u64) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        text: String,
        event: Event,
        target: &'a str,
        zone_id: &'a str,
        config_id: &'a str,
        outcome: Outcome,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        hint: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a ErrorReport>,
        #[serde(skip_serializing_if = "Option::is_none")]
        kids: Option<Kids>,
        #[serde(skip_serializing_if = "Option::is_none")]
        run_id: Option<i64>,
        trigger: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        restored_from: Option<i64>,
        time: String,
    }
    let kids = kids(report);
    let b = Body {
        text: text(event, report, kids.as_ref(), trigger),
        event,
        target: &report.name,
        zone_id: &report.zone_id,
        config_id: &report.config_id,
        outcome: report.outcome,
        code: report.error.as_ref().map(|e| e.code),
        hint: report.error.as_ref().map(|e| e.hint),
        error: report.error.as_ref(),
        kids,
        run_id: report.run_id,
        trigger: trigger.as_str(),
        restored_from: report.restored_from,
        time: rfc3339(time_ms),
    };
    serde_json::to_string(&b).unwrap_or_default()
}

/// The human text: target and what happened first, then the detail, then the run; then, on a
/// second line, what to do (the error's hint) when the whole text fits [`TEXT_CHARS`].
fn text(event: Event, report: &TargetReport, kids: Option<&Kids>, trigger: Trigger) -> String {
    let mut t = format!("jwks-sync {}: ", report.name);
    match event {
        Event::Failing => match &report.error {
            Some(e) => t.push_str(&format!(
                "FAILING at {} ({}): {}",
                e.stage, e.code, e.message
            )),
            None => t.push_str("FAILING"),
        },
        Event::Recovered => t.push_str(&format!("recovered ({})", outcome_word(report.outcome))),
        Event::KeysChanged => match &report.error {
            Some(e) => t.push_str(&format!(
                "live keys changed by a write that failed at {} ({}): {}",
                e.stage, e.code, e.message
            )),
            None => t.push_str("live keys changed"),
        },
    }
    if let Some(k) = kids {
        for (label, list) in [
            ("added", &k.added),
            ("removed", &k.removed),
            ("changed", &k.changed),
        ] {
            if !list.is_empty() {
                t.push_str(&format!("; {label} {}", list.join(", ")));
            }
        }
    }
    if let Some(from) = report.restored_from {
        t.push_str(&format!("; restored the key set of run {from}"));
    }
    match report.run_id {
        Some(id) => t.push_str(&format!(" (run {id}, {})", trigger.as_str())),
        None => t.push_str(&format!(" ({})", trigger.as_str())),
    }
    const WHAT_TO_DO: &str = "\nWhat to do: ";
    let hint = report.error.as_ref().map_or("", |e| e.hint);
    let length = t.chars().count();
    if !hint.is_empty() && length + WHAT_TO_DO.len() + hint.chars().count() <= TEXT_CHARS {
        t.push_str(WHAT_TO_DO);
        t.push_str(hint);
    } else if length > TEXT_CHARS {
        t = t.chars().take(TEXT_CHARS - 1).collect();
        t.push('…');
    }
    t
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Updated => "updated",
        Outcome::Unchanged => "unchanged",
        Outcome::WouldUpdate => "would update",
        Outcome::Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Diff;
    use crate::error::Stage;
    use serde_json::{json, Value};

    const T: u64 = 1_789_380_300_000;

    fn report(outcome: Outcome) -> TargetReport {
        let target = crate::config::Target {
            name: "prod".into(),
            zone_id: "z".into(),
            config_id: "c".into(),
            sources: Vec::new(),
        };
        TargetReport {
            run_id: Some(12),
            outcome,
            diff: Some(Diff {
                added: vec!["k2".into()],
                removed: vec!["k1".into()],
                unchanged: vec!["k0".into()],
                changed: Vec::new(),
            }),
            error: (outcome == Outcome::Failed).then(|| ErrorReport {
                stage: Stage::Fetch,
                code: "JWKS_UNAVAILABLE",
                message: "HTTP 503 from the IdP; https://idp.example/jwks".into(),
                hint: crate::catalogue::hint("JWKS_UNAVAILABLE"),
                cloudflare_errors: Vec::new(),
                live_kids: None,
            }),
            ..TargetReport::new(&target)
        }
    }

    #[test]
    fn one_alert_per_transition() {
        use Outcome::*;
        let rows = [
            (
                State::Ok,
                Failed,
                false,
                State::Failing,
                Some(Event::Failing),
            ),
            (State::Failing, Failed, false, State::Failing, None),
            (
                State::Failing,
                Failed,
                true,
                State::Failing,
                Some(Event::KeysChanged),
            ),
            (
                State::Ok,
                Failed,
                true,
                State::Failing,
                Some(Event::Failing),
            ),
            (
                State::Failing,
                Unchanged,
                false,
                State::Ok,
                Some(Event::Recovered),
            ),
            (
                State::Failing,
                Updated,
                true,
                State::Ok,
                Some(Event::Recovered),
            ),
            (
                State::Ok,
                Updated,
                true,
                State::Ok,
                Some(Event::KeysChanged),
            ),
            (State::Ok, Unchanged, false, State::Ok, None),
            (State::Ok, WouldUpdate, false, State::Ok, None),
            (State::Failing, WouldUpdate, false, State::Failing, None),
        ];
        for (before, outcome, changed, after, event) in rows {
            assert_eq!(
                transition(before, outcome, changed),
                (after, event),
                "{before:?} {outcome:?}"
            );
        }
        // Five failed runs in a row: one alert.
        let mut state = State::Ok;
        let mut sent = 0;
        for _ in 0..5 {
            let (next, event) = transition(state, Outcome::Failed, false);
            state = next;
            sent += usize::from(event.is_some());
        }
        assert_eq!(sent, 1);
    }

    fn failed_write(code: &'static str, live_kids: Option<Vec<&str>>) -> TargetReport {
        let mut r = report(Outcome::Failed);
        let e = r.error.as_mut().unwrap();
        e.stage = Stage::Cloudflare;
        e.code = code;
        e.message =
            "Cloudflare dropped 1 of the keys sent writing the credentials: k2 (RS256)".into();
        e.hint = crate::catalogue::hint(code);
        e.live_kids = live_kids.map(|k| k.into_iter().map(str::to_owned).collect());
        r
    }

    /// Issue L4: a write applied but not verified changed what is live.
    #[test]
    fn a_failed_write_that_changed_the_live_keys_is_a_change() {
        // Live before the write: k0 (unchanged) and k1 (removed); k2 added.
        assert!(failed_write_changed_live(&failed_write(
            "CF_VERIFY_MISMATCH",
            None
        )));
        let unconfirmed = |live: Vec<&str>| {
            failed_write_changed_live(&failed_write("CF_WRITE_UNCONFIRMED", Some(live)))
        };
        assert!(unconfirmed(vec!["k0", "k2"]));
        assert!(unconfirmed(vec![]));
        assert!(!unconfirmed(vec!["k1", "k0"]), "the write was not applied");
        // Kept symmetric keys were live before, and are after.
        let mut r = failed_write("CF_WRITE_UNCONFIRMED", Some(vec!["k0", "k1", "hmac"]));
        r.kept = vec![crate::report::KeptKey {
            kid: "hmac".into(),
            alg: "HS256".into(),
            why: "kept",
        }];
        assert!(!failed_write_changed_live(&r));
        // Without a re-read, or a failure before any write: no change known.
        assert!(!failed_write_changed_live(&failed_write(
            "CF_WRITE_UNCONFIRMED",
            None
        )));
        assert!(!failed_write_changed_live(&report(Outcome::Failed)));
        assert!(!failed_write_changed_live(&report(Outcome::Updated)));
    }

    #[test]
    fn after_a_run() {
        let mismatch = failed_write("CF_VERIFY_MISMATCH", None);
        assert_eq!(
            after_run(State::Failing, &mismatch, false),
            (State::Failing, Some(Event::KeysChanged))
        );
        assert_eq!(
            after_run(State::Ok, &mismatch, false),
            (State::Failing, Some(Event::Failing))
        );
        let fetch_failed = report(Outcome::Failed);
        assert_eq!(
            after_run(State::Failing, &fetch_failed, false),
            (State::Failing, None)
        );
        assert_eq!(
            after_run(State::Ok, &report(Outcome::Updated), true),
            (State::Ok, Some(Event::KeysChanged))
        );
        // A rollback refused by a safety rule leaves the state, and alerts nothing.
        let mut refused = report(Outcome::Failed);
        refused.restored_from = Some(3);
        let e = refused.error.as_mut().unwrap();
        e.stage = Stage::Plan;
        e.code = "FULL_REPLACEMENT_REFUSED";
        assert_eq!(after_run(State::Ok, &refused, false), (State::Ok, None));
        assert_eq!(
            after_run(State::Failing, &refused, false),
            (State::Failing, None)
        );
    }

    #[test]
    fn the_state_is_recorded_once_announced() {
        use State::*;
        assert_eq!(state_to_record(Ok, Failing, true), Some(Failing));
        assert_eq!(
            state_to_record(Ok, Failing, false),
            None,
            "tried again next run"
        );
        assert_eq!(state_to_record(Failing, Ok, true), Some(Ok));
        assert_eq!(state_to_record(Ok, Ok, true), None, "nothing to write");
        assert_eq!(state_to_record(Failing, Failing, false), None);
    }

    #[test]
    fn a_failed_write_that_changed_the_keys_lists_them_with_its_error() {
        let b: Value = serde_json::from_str(&body(
            Event::KeysChanged,
            &failed_write("CF_VERIFY_MISMATCH", None),
            Trigger::Cron,
            T,
        ))
        .unwrap();
        let hint = crate::catalogue::hint("CF_VERIFY_MISMATCH");
        assert_eq!(
            b["text"],
            format!("jwks-sync prod: live keys changed by a write that failed at cloudflare (CF_VERIFY_MISMATCH): Cloudflare dropped 1 of the keys sent writing the credentials: k2 (RS256); added k2; removed k1 (run 12, cron)\nWhat to do: {hint}")
        );
        assert_eq!(b["kids"], json!({"added": ["k2"], "removed": ["k1"]}));
        assert_eq!(
            (&b["code"], &b["outcome"], &b["error"]["stage"]),
            (
                &json!("CF_VERIFY_MISMATCH"),
                &json!("failed"),
                &json!("cloudflare")
            )
        );
        // A failure that wrote nothing lists no kids.
        let b: Value = serde_json::from_str(&body(
            Event::Failing,
            &report(Outcome::Failed),
            Trigger::Cron,
            T,
        ))
        .unwrap();
        assert_eq!(b.get("kids"), None);
    }

    #[test]
    fn recorded_states() {
        assert_eq!(State::from_recorded(Some("failing")), State::Failing);
        assert_eq!(State::from_recorded(Some("ok")), State::Ok);
        assert_eq!(State::from_recorded(None), State::Ok);
        assert_eq!(
            (State::Ok.as_str(), State::Failing.as_str()),
            ("ok", "failing")
        );
    }

    #[test]
    fn failing_body() {
        let b: Value = serde_json::from_str(&body(
            Event::Failing,
            &report(Outcome::Failed),
            Trigger::Cron,
            T,
        ))
        .unwrap();
        let hint = crate::catalogue::hint("JWKS_UNAVAILABLE");
        assert!(!hint.is_empty());
        assert_eq!(
            b,
            json!({
                "text": format!("jwks-sync prod: FAILING at fetch (JWKS_UNAVAILABLE): HTTP 503 from the IdP; https://idp.example/jwks (run 12, cron)\nWhat to do: {hint}"),
                "event": "failing", "target": "prod", "zone_id": "z", "config_id": "c",
                "outcome": "failed", "code": "JWKS_UNAVAILABLE", "hint": hint,
                "error": {"stage": "fetch", "code": "JWKS_UNAVAILABLE", "message": "HTTP 503 from the IdP; https://idp.example/jwks", "hint": hint},
                "run_id": 12, "trigger": "cron", "time": "2026-09-14T10:05:00Z"
            })
        );
    }

    #[test]
    fn change_and_recovery_bodies_list_the_kids() {
        let b: Value = serde_json::from_str(&body(
            Event::KeysChanged,
            &report(Outcome::Updated),
            Trigger::Http,
            T,
        ))
        .unwrap();
        assert_eq!(
            b["text"],
            "jwks-sync prod: live keys changed; added k2; removed k1 (run 12, http)"
        );
        assert_eq!(b["kids"], json!({"added": ["k2"], "removed": ["k1"]}));
        assert_eq!(b.get("error"), None);
        assert_eq!(b.get("hint"), None);
        let mut r = report(Outcome::Updated);
        r.restored_from = Some(9);
        let b: Value =
            serde_json::from_str(&body(Event::Recovered, &r, Trigger::Rollback, T)).unwrap();
        assert_eq!(
            b["text"],
            "jwks-sync prod: recovered (updated); added k2; removed k1; restored the key set of run 9 (run 12, rollback)"
        );
        assert_eq!(b["restored_from"], 9);
        let b: Value = serde_json::from_str(&body(
            Event::Recovered,
            &report(Outcome::Unchanged),
            Trigger::Cron,
            T,
        ))
        .unwrap();
        assert_eq!(
            b["text"],
            "jwks-sync prod: recovered (unchanged) (run 12, cron)"
        );
        assert_eq!(b.get("kids"), None);
    }

    #[test]
    fn the_text_is_cut_to_the_smallest_receivers_limit() {
        let mut r = report(Outcome::Failed);
        r.error.as_mut().unwrap().message = "x".repeat(5000);
        let b: Value = serde_json::from_str(&body(Event::Failing, &r, Trigger::Cron, T)).unwrap();
        let text = b["text"].as_str().unwrap();
        assert_eq!(text.chars().count(), TEXT_CHARS);
        assert!(text.ends_with('…'));
        // The machine fields keep the whole message, and the hint.
        assert_eq!(b["error"]["message"].as_str().unwrap().len(), 5000);
        assert_eq!(b["hint"], crate::catalogue::hint("JWKS_UNAVAILABLE"));
    }

    /// The hint's line goes in only when the whole text fits: it is never cut.
    #[test]
    fn the_hint_is_a_second_line_when_it_fits() {
        let hint = crate::catalogue::hint("JWKS_UNAVAILABLE");
        let head_of = |message_chars: usize| {
            let mut r = report(Outcome::Failed);
            r.error.as_mut().unwrap().message = "x".repeat(message_chars);
            let b: Value =
                serde_json::from_str(&body(Event::Failing, &r, Trigger::Cron, T)).unwrap();
            b["text"].as_str().unwrap().to_owned()
        };
        // "jwks-sync prod: FAILING at fetch (JWKS_UNAVAILABLE): " + message + " (run 12, cron)"
        let frame =
            "jwks-sync prod: FAILING at fetch (JWKS_UNAVAILABLE): ".len() + " (run 12, cron)".len();
        let room = TEXT_CHARS - frame - "\nWhat to do: ".len() - hint.chars().count();
        let fits = head_of(room);
        assert_eq!(fits.chars().count(), TEXT_CHARS);
        assert!(fits.ends_with(&format!(" (run 12, cron)\nWhat to do: {hint}")));
        let over = head_of(room + 1);
        assert!(!over.contains("What to do"));
        assert!(over.ends_with(" (run 12, cron)"));
    }
}
