//! `TargetState`: the Durable Object of one target (one API Shield token validation
//! configuration), named `<zone_id>/<config_id>` (see [`crate::state_api`]).
//!
//! It runs the target's syncs and rollbacks one at a time, records each run, keeps the key sets
//! it wrote and the grace period's first-missing times, and sends the alert webhook on a change of
//! state. Previews need no lock: they read the record and write nothing.
//!
//! # One run at a time
//! A Durable Object interleaves requests at every `await` on a fetch (its input gate only holds
//! them during storage operations), so runs are serialized by an in-memory gate: its rules (one
//! run at a time; a caller gets a run that starts after its request; waiting syncs with the same
//! allowance share a run; a rollback never shares; each caller is answered when its own run
//! ends) are [`crate::gate`]'s, and this object only keeps its channels and awaits them. The gate
//! lives in memory, which is exactly the scope in which runs could overlap: one instance of an
//! object exists at a time, and after a reset no run is in flight (a run cut short is closed as
//! `interrupted` by the next one, durable-objects.md §5.4).
//!
//! The gate is not `block_concurrency_while`: that would also hold off status reads for the whole
//! run, and resets the object past 30 s (durable-objects.md §5.2). Expected failures are JSON
//! answers with a status code, never an `Err` (which would reach the Worker as an exception).

use std::cell::{Cell, OnceCell, RefCell};

use futures_channel::oneshot;
use serde_json::Value;
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::worker_sys::{web_sys, DurableObjectState};
use worker::{console_error, console_log, Env, State};

use super::client::WorkerClient;
use super::io::{now_ms, respond};
use super::load_config;
use super::store::{self, Finish, Recorded};
use crate::alert;
use crate::cloudflare::credentials_body;
use crate::config::{Config, Target};
use crate::error::ServiceError;
use crate::gate::{Batch, Gate, Job};
use crate::history::{RunEnd, Trigger};
use crate::jwks::PublicJwk;
use crate::notify;
use crate::report;
use crate::rollback::restorable;
use crate::state_api::{parse_object_name, Call};
use crate::sync::{self, Context, Mode, TargetRun};

/// What the object answers a request with: a status and a JSON body.
type Json = (u16, String);

/// How a waiting caller is reached: the gate sends it either the answer of the run it waited
/// for, or a batch to run.
type Waiter = oneshot::Sender<Turn>;

/// What a waiting caller is sent.
enum Turn {
    /// The run it waited for ended with this answer.
    Answer(Json),
    /// It runs this batch, then answers the batch's waiters and hands the gate on.
    Lead(Batch<Waiter>),
}

impl Turn {
    /// The batch of a lead not taken (its waiter was gone), to hand to the next one.
    fn into_batch(self) -> Option<Batch<Waiter>> {
        match self {
            Turn::Lead(batch) => Some(batch),
            Turn::Answer(_) => None,
        }
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
    settings: OnceCell<Result<(Config, Target), Json>>,
    gate: RefCell<Gate<Waiter>>,
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

    async fn answer(&self, call: Call) -> Json {
        if !self.ready.get() {
            if let Err(e) = store::ensure_schema(&self.sql(), now_ms()) {
                return internal(&e);
            }
            self.ready.set(true);
        }
        let allow_full_replacement = call.allows_full_replacement();
        match call {
            Call::Run { trigger, .. } => match self.setting(false) {
                // DRY_RUN: every run is a preview, which needs no lock and records nothing.
                Ok((config, _)) if config.dry_run => {
                    self.preview(trigger, allow_full_replacement).await
                }
                Ok(_) => {
                    let job = Job::Sync {
                        trigger,
                        allow_full_replacement,
                    };
                    self.gated(job).await
                }
                Err(reply) => reply,
            },
            Call::Preview { .. } => self.preview(Trigger::Http, allow_full_replacement).await,
            Call::Rollback {
                run, write: true, ..
            } => {
                let job = Job::Restore {
                    run,
                    allow_full_replacement,
                };
                self.gated(job).await
            }
            Call::Rollback {
                run, write: false, ..
            } => self.restore_preview(run, allow_full_replacement).await,
            Call::Status => self.status(),
            Call::Freshness => self.freshness(),
        }
    }

    /// The settings and this object's target: the one whose zone and configuration IDs make the
    /// object's name. `allow_full_replacement` lets this one run replace every live key.
    ///
    /// Read once per instance: its `env` is fixed from construction (a new version of the Worker
    /// means a new instance), and every request of a run asks for them.
    fn setting(&self, allow_full_replacement: bool) -> Result<(Config, Target), Json> {
        let (mut config, target) = self.settings.get_or_init(|| self.read_settings()).clone()?;
        if allow_full_replacement {
            config.allow_full_replacement_once();
        }
        Ok((config, target))
    }

    fn read_settings(&self) -> Result<(Config, Target), Json> {
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

    /// Joins the gate ([`crate::gate`]) and waits for the run that answers this call: the run it
    /// makes itself when no run is in progress or when the gate hands it a batch, or the run of
    /// the batch it waits in. A caller that ran a batch answers that batch's waiters, hands the
    /// gate on, and returns at once.
    async fn gated(&self, job: Job) -> Json {
        let (tx, rx) = oneshot::channel();
        let joined = self.gate.borrow_mut().join(job, tx);
        let batch = match joined {
            Some(batch) => batch,
            None => match rx.await {
                Ok(Turn::Answer(reply)) => return reply,
                Ok(Turn::Lead(batch)) => batch,
                Err(_) => return abandoned(),
            },
        };
        let reply = self.run_once(batch.job).await;
        for w in batch.waiters {
            // A caller that gave up has dropped its receiver; nothing to do.
            let _ = w.send(Turn::Answer(reply.clone()));
        }
        self.gate
            .borrow_mut()
            .hand_over(|w, next| w.send(Turn::Lead(next)).err().and_then(Turn::into_batch));
        reply
    }

    /// One recorded run: a sync or a restore. Never panics; every failure is an answer.
    async fn run_once(&self, job: Job) -> Json {
        self.recorded_run(job).await.unwrap_or_else(|reply| reply)
    }

    async fn recorded_run(&self, job: Job) -> Result<Json, Json> {
        let (config, target) = self.setting(job.allows_full_replacement())?;
        let sql = self.sql();
        let (trigger, restore) = match job {
            Job::Sync { trigger, .. } => (trigger, None),
            Job::Restore { run, .. } => (
                Trigger::Rollback,
                Some((run, self.restorable(&config, run)?)),
            ),
        };
        let started = now_ms();
        let recorded = store::recorded(&sql).map_err(|e| internal(&e))?;
        let restored_from = restore.as_ref().map(|r| r.0);
        let run_id =
            store::start_run(&sql, started, trigger, restored_from).map_err(|e| internal(&e))?;
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
        run.report.restored_from = restored_from;
        let finished = now_ms();
        record(&sql, run_id, finished, &recorded, &mut run);
        self.announce(&config, &recorded, &mut run, trigger, finished)
            .await;
        log(&run, trigger, false, &config.warnings);
        Ok((200, run.report.to_json()))
    }

    /// The alert for the run, if its change of state calls for one ([`alert::after_run`]), and
    /// the alert state recorded once it is announced ([`alert::state_to_record`]). An alert that
    /// could not be delivered, or a state that could not be recorded, is a warning of the run.
    async fn announce(
        &self,
        config: &Config,
        recorded: &Recorded,
        run: &mut TargetRun,
        trigger: Trigger,
        time_ms: u64,
    ) {
        let (next, event) = alert::after_run(recorded.alert, &run.report, run.written.is_some());
        let delivered = match (event, config.ops.alert_webhook_url.as_ref()) {
            (Some(event), Some(url)) => {
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
            _ => true,
        };
        if let Some(state) = alert::state_to_record(recorded.alert, next, delivered) {
            if let Err(e) = store::set_alert_state(&self.sql(), state) {
                run.report
                    .warnings
                    .push(format!("the alert state could not be recorded: {e}"));
            }
        }
    }

    /// The key set run `run` wrote, decoded and checked like any key set before a write
    /// ([`restorable`]).
    fn restorable(&self, config: &Config, run: i64) -> Result<Vec<PublicJwk>, Json> {
        let sql = self.sql();
        let stored = store::key_set(&sql, run).map_err(|e| internal(&e))?;
        // Only read to name the restorable runs in a refusal.
        let kept = match stored {
            Some(_) => Vec::new(),
            None => store::restorable_runs(&sql).unwrap_or_default(),
        };
        restorable(run, stored.as_deref(), &kept, &config.jwks)
    }

    /// A preview with the recorded grace period: what a sync would push. Not recorded.
    async fn preview(&self, trigger: Trigger, allow: bool) -> Json {
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
    async fn restore_preview(&self, run: i64, allow: bool) -> Json {
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

    fn status(&self) -> Json {
        let (config, target) = match self.setting(false) {
            Ok(s) => s,
            Err(reply) => return reply,
        };
        match store::status(&self.sql(), &target, now_ms(), config.ops.stale_after_ms) {
            Ok(s) => (200, serde_json::to_string(&s).unwrap_or_default()),
            Err(e) => internal(&e),
        }
    }

    fn freshness(&self) -> Json {
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

/// Records the end of the run `run_id` at `finished_ms`: its summary, the key set a verified
/// write sent (the asymmetric keys only: a restore keeps whatever symmetric keys are live then),
/// and the first-missing times when they changed. A record that fails is a warning of the run.
fn record(
    sql: &worker::SqlStorage,
    run_id: i64,
    finished_ms: u64,
    recorded: &Recorded,
    run: &mut TargetRun,
) {
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
        finished_ms,
        written: written.as_deref(),
        first_missing,
    };
    if let Err(e) = store::finish_run(sql, finish, &RunEnd::of(&run.report)) {
        run.report
            .warnings
            .push(format!("the run could not be recorded: {e}"));
    }
}

/// A 503 `RUN_ABANDONED` answer: the gate dropped this caller's channel without answering it.
fn abandoned() -> Json {
    (
        503,
        report::error_json(
            ServiceError::RunAbandoned,
            "the gate dropped this request without an answer while it waited for its run",
        ),
    )
}

/// A 500 `STATE_STORAGE` answer for a storage error (the runtime's text names no secret).
fn internal(e: &worker::Error) -> Json {
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
