//! `TargetState`: the Durable Object of one target (one API Shield token validation
//! configuration), named `<zone_id>/<config_id>` (see [`crate::state_api`]).
//!
//! It runs the target's syncs and rollbacks one at a time, records each run, keeps the key sets
//! it wrote and the grace period's first-missing times, and sends the alert webhook on a change of
//! state. Previews need no lock: they read the record and write nothing.
//!
//! # One run at a time
//! A Durable Object interleaves requests at every `await` on a fetch (its input gate only holds
//! them during storage operations), so runs are serialized by an in-memory gate
//! (durable-objects.md §5.3): the first caller runs; a caller arriving during a run waits and then
//! gets the *next* run, which starts after the current one ends, so its IdP data is never older
//! than its request; callers waiting together share that next run. A rollback never shares a run
//! with a sync. The gate lives in memory, which is exactly the scope in which runs could overlap:
//! one instance of an object exists at a time, and after a reset no run is in flight (a run cut
//! short is closed as `interrupted` by the next one, durable-objects.md §5.4).
//!
//! The gate is not `block_concurrency_while`: that would also hold off status reads for the whole
//! run, and resets the object past 30 s (durable-objects.md §5.2). Expected failures are JSON
//! answers with a status code, never an `Err` (which would reach the Worker as an exception).

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;

use futures_channel::oneshot;
use serde_json::Value;
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::worker_sys::{web_sys, DurableObjectState};
use worker::{console_error, console_log, Env, State};

use crate::alert;
use crate::cloudflare::credentials_body;
use crate::config::{Config, Target};
use crate::error::ServiceError;
use crate::history::{RunEnd, Trigger};
use crate::jwks::{decode_key, PublicJwk};
use crate::notify;
use crate::report;
use crate::shell::client::WorkerClient;
use crate::shell::store::{self, Finish};
use crate::shell::{load_config, now_ms, respond};
use crate::state_api::{parse_object_name, Call};
use crate::sync::{self, Context, Mode, TargetRun};

/// A status and a JSON body.
type Reply = (u16, String);

/// What a caller waits for. `allow` is the request's `allow_full_replacement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Sync { trigger: Trigger, allow: bool },
    Restore { run: i64, allow: bool },
}

struct Waiter {
    job: Job,
    reply: oneshot::Sender<Reply>,
}

/// The single-flight gate: whether a run is in progress, and who waits for the next one.
#[derive(Default)]
struct Gate {
    running: bool,
    queue: VecDeque<Waiter>,
}

impl Gate {
    /// The next batch: the first waiter, and when it is a sync, every sync queued right behind it
    /// with the same `allow_full_replacement` (a caller that did not allow a full replacement
    /// never shares a run that does).
    fn next_batch(&mut self) -> Vec<Waiter> {
        let mut batch = Vec::new();
        if let Some(first) = self.queue.pop_front() {
            let lead = first.job;
            batch.push(first);
            let shares = |job: Job| matches!((lead, job), (Job::Sync { allow: a, .. }, Job::Sync { allow: b, .. }) if a == b);
            while matches!(self.queue.front(), Some(w) if shares(w.job)) {
                batch.extend(self.queue.pop_front());
            }
        }
        batch
    }
}

/// The Durable Object class (binding `TARGET_STATE`, migration `v1`, `new_sqlite_classes`).
///
/// Exported with wasm-bindgen by hand rather than with `#[durable_object]`, whose glue converts
/// every request into a `worker::Request` (reading its headers and the runtime's `cf` object) and
/// every answer back: the object needs only the method and the URL, which this glue reads, and
/// answers through `io.js` (BENCHMARKS.md, "Where a sync's CPU time goes"). The JavaScript class
/// is what the macro makes: a constructor `(state, env)` and an async `fetch(request)`.
#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen)]
pub struct TargetState {
    state: State,
    env: Env,
    /// True once the schema is known to exist in this instance.
    ready: Cell<bool>,
    /// The settings and this object's target, once read (see [`TargetState::setting`]).
    settings: OnceCell<Result<(Config, Target), Reply>>,
    gate: RefCell<Gate>,
}

#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    wasm_bindgen_futures = ::worker::wasm_bindgen_futures,
    js_sys = ::worker::js_sys
)]
impl TargetState {
    /// Called by the runtime once per instance.
    #[wasm_bindgen(constructor)]
    pub fn new(state: DurableObjectState, env: Env) -> Self {
        TargetState {
            state: State::from(state),
            env,
            ready: Cell::new(false),
            settings: OnceCell::new(),
            gate: RefCell::new(Gate::default()),
        }
    }

    /// Every request from the Worker ([`crate::state_api::Call`]); always resolves to a JSON
    /// answer, expected failures included (an `Err` would reach the Worker as an exception).
    #[wasm_bindgen(js_name = fetch)]
    pub async fn fetch(&self, req: web_sys::Request) -> Result<JsValue, JsValue> {
        let (status, body) = match Call::from_request(&req.method(), &req.url()) {
            Some(call) => self.answer(call).await,
            None => (
                404,
                report::error_json(
                    ServiceError::NotFound,
                    &format!("no state route {} {}", req.method(), req.url()),
                ),
            ),
        };
        Ok(respond(status, body, None).into())
    }
}

impl TargetState {
    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    async fn answer(&self, call: Call) -> Reply {
        if !self.ready.get() {
            if let Err(e) = store::ensure_schema(&self.sql(), now_ms()) {
                return internal(&e);
            }
            self.ready.set(true);
        }
        let allow = call.allows_full_replacement();
        match call {
            Call::Run { trigger, .. } => match self.setting(false) {
                // DRY_RUN: every run is a preview, which needs no lock and records nothing.
                Ok((config, _)) if config.dry_run => self.preview(trigger, allow).await,
                Ok(_) => self.gated(Job::Sync { trigger, allow }).await,
                Err(reply) => reply,
            },
            Call::Preview { .. } => self.preview(Trigger::Http, allow).await,
            Call::Rollback {
                run, write: true, ..
            } => self.gated(Job::Restore { run, allow }).await,
            Call::Rollback {
                run, write: false, ..
            } => self.restore_preview(run, allow).await,
            Call::Status => self.status(),
            Call::Freshness => self.freshness(),
        }
    }

    /// The settings and this object's target: the one whose zone and configuration IDs make the
    /// object's name. `allow_full_replacement` lets this one run replace every live key.
    ///
    /// Read once per instance: its `env` is fixed from construction (a new version of the Worker
    /// means a new instance), and every request of a run asks for them.
    fn setting(&self, allow_full_replacement: bool) -> Result<(Config, Target), Reply> {
        let (mut config, target) = self.settings.get_or_init(|| self.read_settings()).clone()?;
        if allow_full_replacement {
            config.allow_full_replacement_once();
        }
        Ok((config, target))
    }

    fn read_settings(&self) -> Result<(Config, Target), Reply> {
        let config =
            load_config(&self.env).map_err(|e| (500, report::config_error_json(&e, true)))?;
        let name = self.state.id().name().unwrap_or_default();
        let target = parse_object_name(&name).and_then(|(zone, cfg)| {
            config
                .targets
                .iter()
                .find(|t| t.zone_id == zone && t.config_id == cfg)
                .cloned()
        });
        match target {
            Some(t) => Ok((config, t)),
            None => Err((
                404,
                report::error_json(
                    ServiceError::TargetNotConfigured,
                    &format!("no configured target has zone and configuration {name}"),
                ),
            )),
        }
    }

    /// Joins the gate: waits for the run that starts after this call, running it if no run is in
    /// progress (and then every batch queued meanwhile).
    async fn gated(&self, job: Job) -> Reply {
        let (tx, rx) = oneshot::channel();
        let leader = {
            let mut g = self.gate.borrow_mut();
            g.queue.push_back(Waiter { job, reply: tx });
            !std::mem::replace(&mut g.running, true)
        };
        if leader {
            loop {
                let batch = self.gate.borrow_mut().next_batch();
                let Some(first) = batch.first() else {
                    self.gate.borrow_mut().running = false;
                    break;
                };
                let reply = self.run_once(first.job).await;
                for w in batch {
                    // A caller that gave up has dropped its receiver; nothing to do.
                    let _ = w.reply.send(reply.clone());
                }
            }
        }
        rx.await.unwrap_or_else(|_| {
            (
                503,
                report::error_json(
                    ServiceError::RunAbandoned,
                    "the run this request waited for was abandoned",
                ),
            )
        })
    }

    /// One recorded run: a sync or a restore. Never panics; every failure is a reply.
    async fn run_once(&self, job: Job) -> Reply {
        let allow = match job {
            Job::Sync { allow, .. } | Job::Restore { allow, .. } => allow,
        };
        let (config, target) = match self.setting(allow) {
            Ok(s) => s,
            Err(reply) => return reply,
        };
        let sql = self.sql();
        let (trigger, restore) = match job {
            Job::Sync { trigger, .. } => (trigger, None),
            Job::Restore { run, .. } => match self.restorable(&config, run) {
                Ok(keys) => (Trigger::Rollback, Some((run, keys))),
                Err(reply) => return reply,
            },
        };
        let started = now_ms();
        let recorded = match store::recorded(&sql) {
            Ok(r) => r,
            Err(e) => return internal(&e),
        };
        let run_id = match store::start_run(&sql, started, trigger, restore.as_ref().map(|r| r.0)) {
            Ok(id) => id,
            Err(e) => return internal(&e),
        };
        let client = WorkerClient;
        let mut run = match &restore {
            None => {
                let ctx = Context {
                    now_ms: started,
                    first_missing: &recorded.first_missing,
                };
                sync::run_target(&client, &config, &target, Mode::Sync, &ctx).await
            }
            Some((_, keys)) => {
                sync::restore_target(&client, &config, &target, keys, true, started).await
            }
        };
        run.report.run_id = Some(run_id);
        run.report.restored_from = restore.map(|r| r.0);

        let finished = now_ms();
        // Only the asymmetric keys written: a restore keeps whatever symmetric keys are live then.
        let written = run
            .written
            .as_deref()
            .map(|keys| credentials_body(keys, &[]));
        let first_missing = run
            .first_missing
            .as_ref()
            .filter(|m| **m != recorded.first_missing);
        let finish = Finish {
            id: run_id,
            finished_ms: finished,
            written: written.as_deref(),
            first_missing,
        };
        if let Err(e) = store::finish_run(&sql, finish, &RunEnd::of(&run.report)) {
            run.report
                .warnings
                .push(format!("the run could not be recorded: {e}"));
        }
        let (next, event) =
            alert::transition(recorded.alert, run.report.outcome, run.written.is_some());
        let announced = self
            .alert(&config, &mut run, trigger, event, finished)
            .await;
        if next != recorded.alert && announced {
            // Recorded once announced (or when no webhook is set), so an undelivered
            // failing/recovered alert is tried again by the next run that sees the same change.
            if let Err(e) = store::set_alert_state(&sql, next) {
                run.report
                    .warnings
                    .push(format!("the alert state could not be recorded: {e}"));
            }
        }
        log(&run, trigger, false, &config.warnings);
        (200, run.report.to_json())
    }

    /// Sends the alert for `event`, if any and if a webhook is set. Returns false only when an
    /// alert could not be delivered; that becomes a warning of the run.
    async fn alert(
        &self,
        config: &Config,
        run: &mut TargetRun,
        trigger: Trigger,
        event: Option<alert::Event>,
        time_ms: u64,
    ) -> bool {
        let (Some(event), Some(url)) = (event, config.ops.alert_webhook_url.as_ref()) else {
            return true;
        };
        let body = alert::body(event, &run.report, trigger, time_ms);
        match notify::post_alert(&WorkerClient, url, body).await {
            Ok(()) => true,
            Err(e) => {
                let name = serde_json::to_value(event).unwrap_or(Value::Null);
                run.report.warnings.push(format!(
                    "alert webhook: {e}; the {} alert was not delivered",
                    name.as_str().unwrap_or("")
                ));
                false
            }
        }
    }

    /// The key set run `run` wrote, decoded and checked like any key set before a write.
    fn restorable(&self, config: &Config, run: i64) -> Result<Vec<PublicJwk>, Reply> {
        let stored = match store::key_set(&self.sql(), run) {
            Ok(s) => s,
            Err(e) => return Err(internal(&e)),
        };
        let Some(text) = stored else {
            let kept = store::restorable_runs(&self.sql()).unwrap_or_default();
            let kept: Vec<String> = kept.iter().map(i64::to_string).collect();
            return Err((
                404,
                report::error_json(
                    ServiceError::RunNotRestorable,
                    &format!(
                        "run {run} has no written key set kept; restorable runs: {}",
                        if kept.is_empty() {
                            "none".to_owned()
                        } else {
                            kept.join(", ")
                        }
                    ),
                ),
            ));
        };
        let keys: Option<Vec<PublicJwk>> = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("keys").and_then(Value::as_array).cloned())
            .and_then(|keys| {
                keys.iter()
                    .map(|k| decode_key(k, config.jwks.rsa_default_alg).ok())
                    .collect()
            });
        match keys {
            Some(keys) if !keys.is_empty() && keys.len() <= config.jwks.max_keys => Ok(keys),
            Some(keys) if keys.len() > config.jwks.max_keys => Err((
                409,
                report::error_json(
                    ServiceError::RunNotRestorable,
                    &format!(
                        "run {run} wrote {} keys, more than MAX_KEYS ({}) allows now",
                        keys.len(),
                        config.jwks.max_keys
                    ),
                ),
            )),
            _ => Err((
                500,
                report::error_json(
                    ServiceError::RunNotRestorable,
                    &format!("the key set recorded for run {run} cannot be read"),
                ),
            )),
        }
    }

    /// A preview with the recorded grace period: what a sync would push. Not recorded.
    async fn preview(&self, trigger: Trigger, allow: bool) -> Reply {
        let (config, target) = match self.setting(allow) {
            Ok(s) => s,
            Err(reply) => return reply,
        };
        let recorded = match store::recorded(&self.sql()) {
            Ok(r) => r,
            Err(e) => return internal(&e),
        };
        let ctx = Context {
            now_ms: now_ms(),
            first_missing: &recorded.first_missing,
        };
        let run = sync::run_target(&WorkerClient, &config, &target, Mode::Preview, &ctx).await;
        log(&run, trigger, true, &config.warnings);
        (200, run.report.to_json())
    }

    /// What restoring run `run`'s key set would change. Not recorded, no lock.
    async fn restore_preview(&self, run: i64, allow: bool) -> Reply {
        let (config, target) = match self.setting(allow) {
            Ok(s) => s,
            Err(reply) => return reply,
        };
        let keys = match self.restorable(&config, run) {
            Ok(k) => k,
            Err(reply) => return reply,
        };
        let mut out =
            sync::restore_target(&WorkerClient, &config, &target, &keys, false, now_ms()).await;
        out.report.restored_from = Some(run);
        log(&out, Trigger::Rollback, true, &config.warnings);
        (200, out.report.to_json())
    }

    fn status(&self) -> Reply {
        let (config, target) = match self.setting(false) {
            Ok(s) => s,
            Err(reply) => return reply,
        };
        match store::status(&self.sql(), &target, now_ms(), config.ops.stale_after_ms) {
            Ok(s) => (200, serde_json::to_string(&s).unwrap_or_default()),
            Err(e) => internal(&e),
        }
    }

    fn freshness(&self) -> Reply {
        let (config, _) = match self.setting(false) {
            Ok(s) => s,
            Err(reply) => return reply,
        };
        match store::freshness(&self.sql(), now_ms(), config.ops.stale_after_ms) {
            Ok(f) => (200, serde_json::to_string(&f).unwrap_or_default()),
            Err(e) => internal(&e),
        }
    }
}

/// One JSON line per run, with the settings' `warnings`; failures go to the error log.
fn log(run: &TargetRun, trigger: Trigger, dry_run: bool, warnings: &[String]) {
    let line = run.report.log_line(trigger.as_str(), dry_run, warnings);
    if run.report.failed() {
        console_error!("{line}");
    } else {
        console_log!("{line}");
    }
}

/// A 500 `STATE_STORAGE` answer for a storage error (the runtime's text names no secret).
fn internal(e: &worker::Error) -> Reply {
    let code = ServiceError::StateStorage;
    console_error!("{}", report::error_json(code, &e.to_string()));
    (
        500,
        report::error_json(
            code,
            &format!("the target's state could not be read or written: {e}"),
        ),
    )
}
