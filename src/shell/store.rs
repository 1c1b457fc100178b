//! The target's SQLite storage inside its Durable Object: the schema and every statement.
//!
//! Every function is synchronous (SQL `exec` does not yield), so each one, and every sequence of
//! them without an `.await` between, runs atomically with respect to other requests and commits
//! as one implicit transaction (durable-objects.md §2.3, §5.1).
//!
//! # Schema
//! ```text
//! meta     (k TEXT PRIMARY KEY, v TEXT)    schema, first_seen_ms, first_missing (JSON), alert
//! runs     (id INTEGER PRIMARY KEY, started_ms, finished_ms, trigger, outcome, stage, code,
//!           message, kids, restored_from)  the last RUNS_KEPT runs, plus the last success and
//!                                          the last change
//! key_sets (run_id INTEGER PRIMARY KEY, written_ms, jwks)   the last KEY_SETS_KEPT written sets
//! ```
//! Rows written per run (what the Free plan's 100,000 a day counts, durable-objects.md §6): 3 in
//! the steady state (the run row's insert and update, and the prune of the oldest run); +2 when a
//! run writes keys (the key set and its prune); +1 or 2 when the first-missing record or the alert
//! state changes. Booleans are never bound (they would be stored as the text `'true'`), and no
//! cursor is read with `one()` (it throws on zero rows, fatally through the binding). Rows are read
//! as arrays of values (`raw()`), in the order the statement names the columns: deserializing
//! them through serde would add its JavaScript-object deserializer to the bundle.

use worker::{SqlCursor, SqlStorage, SqlStorageValue};

use crate::alert;
use crate::config::Target;
use crate::freshness::{self, Freshness};
use crate::grace::FirstMissing;
use crate::history::{
    failures_in_a_row, missing_keys, RunEnd, RunRow, TargetStatus, Trigger, KEY_SETS_KEPT,
    RUNS_KEPT,
};
use crate::timestamp::rfc3339;

type Result<T> = worker::Result<T>;

const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, started_ms INTEGER NOT NULL,
  finished_ms INTEGER, trigger TEXT NOT NULL, outcome TEXT, stage TEXT, code TEXT, message TEXT,
  kids TEXT, restored_from INTEGER);
CREATE TABLE IF NOT EXISTS key_sets (run_id INTEGER PRIMARY KEY, written_ms INTEGER NOT NULL,
  jwks TEXT NOT NULL);
INSERT OR IGNORE INTO meta (k, v) VALUES ('schema', '1');";

const RUN_COLUMNS: &str =
    "id, started_ms, finished_ms, trigger, outcome, stage, code, message, kids, restored_from";

const SUCCESS: &str = "outcome IN ('updated', 'unchanged')";

fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

fn to_ms(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Every row of `cursor`, each as its column values.
fn rows(cursor: SqlCursor) -> Result<Vec<Vec<SqlStorageValue>>> {
    cursor.raw().collect()
}

/// An INTEGER column (SQLite may hand back a whole REAL); `None` for NULL and anything else.
fn int_at(row: &[SqlStorageValue], i: usize) -> Option<i64> {
    match row.get(i) {
        Some(SqlStorageValue::Integer(v)) => Some(*v),
        Some(SqlStorageValue::Float(v)) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

/// A TEXT column; `None` for NULL and anything else.
fn text_at(row: &mut [SqlStorageValue], i: usize) -> Option<String> {
    match row.get_mut(i) {
        Some(SqlStorageValue::String(v)) => Some(std::mem::take(v)),
        _ => None,
    }
}

/// Creates the tables if needed and records when the state was first consulted. Costs no row
/// write once done.
///
/// # Errors
/// The runtime's error when a statement fails (the storage is unavailable or over its limits).
pub fn ensure_schema(sql: &SqlStorage, now_ms: u64) -> Result<()> {
    sql.exec(SCHEMA, None)?;
    sql.exec(
        "INSERT OR IGNORE INTO meta (k, v) VALUES ('first_seen_ms', ?)",
        vec![now_ms.to_string().into()],
    )?;
    Ok(())
}

/// What a run reads from the record before it starts.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The grace period's first-missing times.
    pub first_missing: FirstMissing,
    /// The state the last alert announced.
    pub alert: alert::State,
    /// When the state was first consulted, in milliseconds since the epoch.
    pub first_seen_ms: u64,
}

/// Reads the record's `meta` values.
///
/// # Errors
/// The runtime's error when the statement fails. Values that cannot be read are defaults (no
/// first-missing time, alert state `ok`, first seen at 0), not errors.
pub fn recorded(sql: &SqlStorage) -> Result<Recorded> {
    let meta: Vec<(String, String)> = rows(sql.exec(
        "SELECT k, v FROM meta WHERE k IN ('first_missing', 'alert', 'first_seen_ms')",
        None,
    )?)?
    .into_iter()
    .filter_map(|mut r| Some((text_at(&mut r, 0)?, text_at(&mut r, 1)?)))
    .collect();
    let get = |name: &str| {
        meta.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    Ok(Recorded {
        first_missing: get("first_missing")
            .map(FirstMissing::from_json)
            .unwrap_or_default(),
        alert: alert::State::from_recorded(get("alert")),
        first_seen_ms: get("first_seen_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    })
}

/// The first column of the first row, as an integer.
fn first_int(cursor: SqlCursor) -> Result<Option<i64>> {
    Ok(rows(cursor)?.first().and_then(|r| int_at(r, 0)))
}

/// Closes runs left unfinished by an instance that was reset or redeployed mid-run (they can no
/// longer finish: only one instance of an object runs at a time, and this one's gate is idle),
/// then records a new run as started. Returns its id.
///
/// # Errors
/// The runtime's error when a statement fails, or a `RustError` when the insert returns no id.
pub fn start_run(
    sql: &SqlStorage,
    now_ms: u64,
    trigger: Trigger,
    restored_from: Option<i64>,
) -> Result<i64> {
    sql.exec(
        "UPDATE runs SET finished_ms = ?, outcome = 'interrupted' WHERE finished_ms IS NULL",
        vec![int(now_ms)],
    )?;
    first_int(sql.exec(
        "INSERT INTO runs (started_ms, trigger, restored_from) VALUES (?, ?, ?) RETURNING id",
        vec![int(now_ms), trigger.as_str().into(), restored_from.into()],
    )?)?
    .ok_or_else(|| worker::Error::RustError("INSERT … RETURNING id returned no id".into()))
}

/// What a run records when it ends, besides its summary.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    /// The run's id, from [`start_run`].
    pub id: i64,
    /// When it ended, in milliseconds since the epoch.
    pub finished_ms: u64,
    /// The key set a verified write sent (`{"keys":[…]}`), kept for rollback.
    pub written: Option<&'a str>,
    /// A new first-missing record, when it changed.
    pub first_missing: Option<&'a FirstMissing>,
}

/// Records the end of a run, its key set and first-missing record, and prunes the history to its
/// bounds. Call with no `.await` in between, after the run's last outbound request.
///
/// # Errors
/// The runtime's error when a statement fails; the statements that ran before it are not undone
/// (SQLite in a Durable Object has no transaction to roll back, durable-objects.md §2.3).
pub fn finish_run(sql: &SqlStorage, f: Finish<'_>, end: &RunEnd) -> Result<()> {
    sql.exec(
        "UPDATE runs SET finished_ms = ?, outcome = ?, stage = ?, code = ?, message = ?, kids = ? WHERE id = ?",
        vec![
            int(f.finished_ms),
            end.outcome.into(),
            end.stage.into(),
            end.code.into(),
            end.message.clone().into(),
            end.kids.clone().into(),
            f.id.into(),
        ],
    )?;
    // Keep the newest RUNS_KEPT runs, and the last success and last change whatever their age:
    // `GET /status` and the freshness check read them.
    sql.exec(
        &format!(
            "DELETE FROM runs WHERE id <= ? \
             AND id <> (SELECT coalesce(max(id), 0) FROM runs WHERE {SUCCESS}) \
             AND id <> (SELECT coalesce(max(id), 0) FROM runs WHERE outcome = 'updated')"
        ),
        vec![(f.id - RUNS_KEPT).into()],
    )?;
    if let Some(jwks) = f.written {
        sql.exec(
            "INSERT INTO key_sets (run_id, written_ms, jwks) VALUES (?, ?, ?)",
            vec![f.id.into(), int(f.finished_ms), jwks.into()],
        )?;
        sql.exec(
            "DELETE FROM key_sets WHERE run_id NOT IN \
             (SELECT run_id FROM key_sets ORDER BY run_id DESC LIMIT ?)",
            vec![KEY_SETS_KEPT.into()],
        )?;
    }
    if let Some(record) = f.first_missing {
        if record.is_empty() {
            sql.exec("DELETE FROM meta WHERE k = 'first_missing'", None)?;
        } else {
            set_meta(sql, "first_missing", &record.to_json())?;
        }
    }
    Ok(())
}

/// Records the state the last alert announced.
///
/// # Errors
/// The runtime's error when a statement fails (the storage is unavailable or over its limits).
pub fn set_alert_state(sql: &SqlStorage, state: alert::State) -> Result<()> {
    set_meta(sql, "alert", state.as_str())
}

fn set_meta(sql: &SqlStorage, k: &str, v: &str) -> Result<()> {
    sql.exec(
        "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
        vec![k.into(), v.into()],
    )?;
    Ok(())
}

/// The key set run `run_id` wrote (`{"keys":[…]}`), if it is still kept.
///
/// # Errors
/// The runtime's error when a statement fails (the storage is unavailable or over its limits).
pub fn key_set(sql: &SqlStorage, run_id: i64) -> Result<Option<String>> {
    let cursor = sql.exec(
        "SELECT jwks FROM key_sets WHERE run_id = ?",
        vec![run_id.into()],
    )?;
    Ok(rows(cursor)?.first_mut().and_then(|r| text_at(r, 0)))
}

/// The runs whose key sets are kept, newest first.
///
/// # Errors
/// The runtime's error when a statement fails (the storage is unavailable or over its limits).
pub fn restorable_runs(sql: &SqlStorage) -> Result<Vec<i64>> {
    let cursor = sql.exec("SELECT run_id FROM key_sets ORDER BY run_id DESC", None)?;
    Ok(rows(cursor)?.iter().filter_map(|r| int_at(r, 0)).collect())
}

fn runs(sql: &SqlStorage, filter: &str, limit: i64) -> Result<Vec<RunRow>> {
    let cursor = sql.exec(
        &format!("SELECT {RUN_COLUMNS} FROM runs {filter} ORDER BY id DESC LIMIT ?"),
        vec![limit.into()],
    )?;
    Ok(rows(cursor)?
        .into_iter()
        .map(|mut r| RunRow {
            id: int_at(&r, 0).unwrap_or(0),
            started_ms: int_at(&r, 1).unwrap_or(0),
            finished_ms: int_at(&r, 2),
            trigger: text_at(&mut r, 3).unwrap_or_default(),
            outcome: text_at(&mut r, 4),
            stage: text_at(&mut r, 5),
            code: text_at(&mut r, 6),
            message: text_at(&mut r, 7),
            kids: text_at(&mut r, 8),
            restored_from: int_at(&r, 9),
        })
        .collect())
}

fn last_success_ms(sql: &SqlStorage) -> Result<Option<u64>> {
    let cursor = sql.exec(
        &format!("SELECT max(finished_ms) FROM runs WHERE {SUCCESS}"),
        None,
    )?;
    Ok(first_int(cursor)?.map(to_ms))
}

/// The target's freshness at `now_ms` against `stale_after_ms`.
///
/// # Errors
/// The runtime's error when a statement fails (the storage is unavailable or over its limits).
pub fn freshness(sql: &SqlStorage, now_ms: u64, stale_after_ms: u64) -> Result<Freshness> {
    let first_seen_ms = recorded(sql)?.first_seen_ms;
    Ok(freshness::of(
        now_ms,
        stale_after_ms,
        last_success_ms(sql)?,
        first_seen_ms,
    ))
}

/// The target's status for `GET /status`.
///
/// # Errors
/// The runtime's error when a statement fails (the storage is unavailable or over its limits).
pub fn status(
    sql: &SqlStorage,
    target: &Target,
    now_ms: u64,
    stale_after_ms: u64,
) -> Result<TargetStatus> {
    let rec = recorded(sql)?;
    let recent = runs(sql, "", RUNS_KEPT)?;
    let last_success = runs(sql, &format!("WHERE {SUCCESS}"), 1)?
        .into_iter()
        .next();
    let last_change = runs(sql, "WHERE outcome = 'updated'", 1)?
        .into_iter()
        .next();
    let newest_finished = first_int(sql.exec(
        "SELECT max(id) FROM runs WHERE finished_ms IS NOT NULL",
        None,
    )?)?;
    let last_success_id = last_success.as_ref().map(|r| r.id);
    let refused_since = first_int(sql.exec(
        "SELECT count(*) FROM runs WHERE outcome = 'refused' AND id > ?",
        vec![last_success_id.unwrap_or(0).into()],
    )?)?;
    Ok(TargetStatus {
        name: target.name.clone(),
        zone_id: target.zone_id.clone(),
        config_id: target.config_id.clone(),
        freshness: freshness::of(
            now_ms,
            stale_after_ms,
            last_success.as_ref().and_then(|r| r.finished_ms).map(to_ms),
            rec.first_seen_ms,
        ),
        alert_state: rec.alert.as_str(),
        failures_in_a_row: failures_in_a_row(
            newest_finished,
            last_success_id,
            refused_since.map_or(0, to_ms),
        ),
        last_run: recent.first().map(RunRow::view),
        last_success: last_success.as_ref().map(RunRow::view),
        last_change: last_change.as_ref().map(RunRow::view),
        missing_keys: missing_keys(&rec.first_missing),
        restorable_runs: restorable_runs(sql)?,
        first_seen: rfc3339(rec.first_seen_ms),
        runs: recent.iter().map(RunRow::view).collect(),
    })
}
