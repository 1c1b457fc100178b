//! The thin shell: workers-rs handlers, the runtime client and the targets' Durable Object, wired
//! to the pure core.
//!
//! Nothing here decides anything; each handler reads the environment, calls the core or a target's
//! Durable Object, and writes what came back.
//! - this file: the Worker's `fetch` and `scheduled` handlers, and its calls to the objects;
//! - `client`: the runtime's `fetch` as the core's [`crate::http::Client`];
//! - `target_state`: the `TargetState` Durable Object (the gate's channels, history, alerts);
//! - `store`: its SQLite storage;
//! - `io.rs` and `io.js`: each outbound request, call to an object and JSON answer as one call
//!   into JavaScript (the JS/wasm crossings were most of a sync's CPU time; BENCHMARKS.md).

mod client;
mod io;
mod store;
mod target_state;

use std::collections::BTreeMap;

use futures_util::future::join_all;
use worker::js_sys::Reflect;
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys;
use worker::{console_error, console_log, console_warn, event, Context, Env};

use crate::answers::{self, Answers, TargetAnswer};
use crate::auth::{self, Access};
use crate::config::{Config, ConfigError, Secret, Target};
use crate::error::ServiceError;
use crate::freshness::{self, Freshness};
use crate::history::Trigger;
use crate::notify::{self, Beat};
use crate::report;
use crate::routes::{rollback_request, route, Route};
use crate::state_api::{object_name, Call};
use client::WorkerClient;
use io::{call_object, respond, Answer};

/// How long the Worker waits for a target's object to answer a sync or rollback, in
/// milliseconds (catalogue hint of `STATE_TIMEOUT`: 180 s). It bounds the wait, not the run: past
/// it the target is reported `STATE_TIMEOUT` (whether the run happened is then unknown to the
/// Worker), while the object finishes the run and records it (`GET /status` shows it).
///
/// A caller waits for the run in progress, if any, then for its own (the gate answers it as soon
/// as that run ends, `crate::gate`). Each outbound call of a run is bounded by its retry budget
/// (25 s, `http::RetryPolicy`; 12 s for the alert), but a run makes several: per source up to two
/// documents (discovery, then the JWKS), each through up to 4 redirect hops, then 2 or 3
/// Cloudflare calls, then an alert. Against slow services (say `FETCH_TIMEOUT_MS=20000` and an
/// IdP that times out) one run can take longer than this, and a wait for two runs more so: this
/// is a bound on how long a cron invocation or a client is held, sized for the runs seen in
/// practice (a few seconds), not a guarantee that a run ends within it.
const RUN_TIMEOUT_MS: u64 = 180_000;

/// How long the Worker waits for a target's object to answer a status or freshness read, in
/// milliseconds (catalogue hint: 10 s).
const READ_TIMEOUT_MS: u64 = 10_000;

/// Installs the panic hook once per isolate, so a panic's message reaches the log.
#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// `GET /healthz` (freshness), `GET /` (preview), `POST /` (sync), `GET /status`,
/// `POST /rollback`; see [`crate::routes`]. Every route but `/healthz` and the refusals of a
/// path or method needs the bearer token, checked before anything else of the request.
///
/// The request stays the runtime's own (`web_sys::Request`): converting it to a
/// `worker::Request` would read every header and the `cf` object, of which only the method, the
/// URL and one header are needed.
#[event(fetch)]
async fn fetch(
    req: web_sys::Request,
    env: Env,
    _ctx: Context,
) -> worker::Result<web_sys::Response> {
    let url = url::Url::parse(&req.url())?;
    let method = req.method();
    let r = route(&method, url.path(), url.query());
    let (status, body, extra): Reply = match &r {
        Route::Health => {
            let (status, body) = health(&env).await;
            (status, body, None)
        }
        Route::NotFound => (
            404,
            report::error_json(
                ServiceError::NotFound,
                &format!("no route for {}", url.path()),
            ),
            None,
        ),
        Route::MethodNotAllowed(allow) => (
            405,
            report::error_json(
                ServiceError::MethodNotAllowed,
                &format!("{method} is not allowed here; allowed: {allow}"),
            ),
            Some(("allow", (*allow).to_owned())),
        ),
        Route::Status | Route::Rollback { .. } | Route::Run { .. } => {
            match authorize(req.headers().get("authorization")?.as_deref(), &env) {
                Err(refusal) => refusal,
                Ok(()) => match &r {
                    Route::Status => status(&env).await,
                    Route::Rollback { refused: Some(why) } => {
                        (400, report::error_json(ServiceError::BadRequest, why), None)
                    }
                    Route::Rollback { refused: None } => {
                        rollback(&request_text(&req).await, &env).await
                    }
                    _ => run(&r, &env).await,
                },
            }
        }
    };
    Ok(respond(status, body, extra))
}

/// An answer: status, JSON body, and one extra header.
type Reply = (u16, String, Option<(&'static str, String)>);

/// Checks `Authorization: Bearer <SYNC_AUTH_TOKEN>` ([`crate::auth`]); `Err` is the answer that
/// refuses the request.
fn authorize(authorization: Option<&str>, env: &Env) -> Result<(), Reply> {
    let expected = lookup(env, "SYNC_AUTH_TOKEN").map(Secret::new);
    match auth::check(authorization, expected.as_ref()) {
        Access::Allowed => Ok(()),
        Access::Disabled => Err((
            503,
            report::error_json(ServiceError::AuthDisabled, "SYNC_AUTH_TOKEN is not set; set it with `wrangler secret put SYNC_AUTH_TOKEN` to enable this endpoint"),
            None,
        )),
        Access::Missing => Err((
            401,
            report::error_json(ServiceError::Unauthorized, "send Authorization: Bearer <SYNC_AUTH_TOKEN>"),
            Some(("www-authenticate", r#"Bearer realm="jwks-sync""#.to_owned())),
        )),
        Access::Wrong => Err((
            401,
            report::error_json(ServiceError::Unauthorized, "the bearer token does not match SYNC_AUTH_TOKEN"),
            Some(("www-authenticate", r#"Bearer realm="jwks-sync", error="invalid_token""#.to_owned())),
        )),
    }
}

/// The request's body as text; empty when it has none or it cannot be read.
async fn request_text(req: &web_sys::Request) -> String {
    let text = match req.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|t| t.as_string()),
        Err(_) => None,
    };
    text.unwrap_or_default()
}

/// An authenticated `GET /` or `POST /`: the query is checked, then the settings, then every
/// target's object runs the sync or preview.
async fn run(route: &Route, env: &Env) -> Reply {
    let allow_full_replacement = match route {
        Route::Run {
            dry_run: Err(msg), ..
        } => return (400, report::error_json(ServiceError::BadRequest, msg), None),
        Route::Run {
            allow_full_replacement,
            ..
        } => *allow_full_replacement,
        _ => false,
    };
    match load_config(env) {
        Ok(config) => {
            let call = if route.writes() {
                Call::Run {
                    trigger: Trigger::Http,
                    allow_full_replacement,
                }
            } else {
                Call::Preview {
                    allow_full_replacement,
                }
            };
            let dry_run = !route.writes() || config.dry_run;
            let targets = run_all(env, &config, call, dry_run).await;
            let mut warnings = config.warnings;
            if route.writes() && config.dry_run {
                warnings.push(answers::DRY_RUN_OVERRIDES.to_owned());
            }
            let a = Answers {
                dry_run,
                warnings,
                targets,
            };
            (a.http_status(), a.to_json(), None)
        }
        Err(e) => {
            console_error!("{}", report::config_error_log(&e, "http"));
            (500, report::config_error_json(&e, !route.writes()), None)
        }
    }
}

/// `POST /rollback`: one target's object restores a key set an earlier run wrote.
async fn rollback(body: &str, env: &Env) -> Reply {
    let request = match rollback_request(body) {
        Ok(r) => r,
        Err(msg) => {
            return (
                400,
                report::error_json(ServiceError::BadRequest, &msg),
                None,
            )
        }
    };
    let config = match load_config(env) {
        Ok(c) => c,
        Err(e) => {
            console_error!("{}", report::config_error_log(&e, "rollback"));
            return (500, report::config_error_json(&e, request.dry_run), None);
        }
    };
    let Some(target) = config.targets.iter().find(|t| t.name == request.target) else {
        let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
        let msg = format!(
            "no target named {:?}; targets: {}",
            request.target,
            names.join(", ")
        );
        return (404, report::error_json(ServiceError::NotFound, &msg), None);
    };
    let call = Call::Rollback {
        run: request.run,
        write: !request.dry_run,
        allow_full_replacement: request.allow_full_replacement,
    };
    let warnings = &config.warnings;
    let log = (Trigger::Rollback, request.dry_run, warnings.as_slice());
    let answer = match call_state(env, target, call, RUN_TIMEOUT_MS).await {
        Ok((200, text)) => {
            target_answer(target, text, Trigger::Rollback, request.dry_run, warnings)
        }
        Ok((status, text)) => match answers::rollback_refused(status, &text) {
            // No such run, or over MAX_KEYS: the request is refused; no run was reached.
            Ok(()) => return (status, text, None),
            Err((e, msg)) => unavailable(target, e, msg, log),
        },
        Err((e, msg)) => unavailable(target, e, msg, log),
    };
    let a = Answers {
        dry_run: request.dry_run,
        warnings: config.warnings.clone(),
        targets: vec![answer],
    };
    (a.http_status(), a.to_json(), None)
}

/// `GET /status`: every target's status and history, and the freshness settings.
async fn status(env: &Env) -> Reply {
    let config = match load_config(env) {
        Ok(c) => c,
        Err(e) => return (500, report::config_error_json(&e, true), None),
    };
    let mut all_answered = true;
    let targets: Vec<String> = call_all(env, &config, Call::Status, READ_TIMEOUT_MS)
        .await
        .into_iter()
        .zip(&config.targets)
        .map(|(answer, t)| match answer {
            Ok((200, text)) if text.starts_with('{') => text,
            Ok((status, _)) => {
                all_answered = false;
                answers::unavailable_status(
                    t,
                    ServiceError::StateUnavailable,
                    &format!("the target's state answered {status}"),
                )
            }
            Err((e, msg)) => {
                all_answered = false;
                answers::unavailable_status(t, e, &msg)
            }
        })
        .collect();
    let body = answers::status_json(&config.ops, crate::ops::crons(), &targets);
    (if all_answered { 200 } else { 502 }, body, None)
}

/// `GET /healthz`: 200 when every target succeeded within `STALE_AFTER`, else 503 naming the
/// stale ones; 503 for invalid settings, without saying which.
async fn health(env: &Env) -> (u16, String) {
    let Ok(config) = load_config(env) else {
        return freshness::invalid_settings();
    };
    let answers = call_all(env, &config, Call::Freshness, READ_TIMEOUT_MS).await;
    let targets: Vec<(&str, Option<Freshness>)> = config
        .targets
        .iter()
        .zip(answers)
        .map(|(t, a)| {
            let f = match a {
                Ok((200, text)) => Freshness::from_json(&text),
                _ => None,
            };
            (t.name.as_str(), f)
        })
        .collect();
    freshness::verdict(&targets)
}

/// Every target's run or preview, concurrently, in configuration order.
async fn run_all(env: &Env, config: &Config, call: Call, dry_run: bool) -> Vec<TargetAnswer> {
    let trigger = match call {
        Call::Run { trigger, .. } => trigger,
        _ => Trigger::Http,
    };
    let answers = call_all(env, config, call, RUN_TIMEOUT_MS).await;
    let log = (trigger, dry_run, config.warnings.as_slice());
    config
        .targets
        .iter()
        .zip(answers)
        .map(|(t, answer)| match answer {
            Ok((200, text)) => target_answer(t, text, trigger, dry_run, &config.warnings),
            Ok((status, text)) => {
                let (e, msg) = answers::refused(status, &text);
                unavailable(t, e, msg, log)
            }
            Err((e, msg)) => unavailable(t, e, msg, log),
        })
        .collect()
}

/// Calls every target's object at once (a hung object delays the others by its timeout at most),
/// answers in configuration order.
async fn call_all(
    env: &Env,
    config: &Config,
    call: Call,
    timeout_ms: u64,
) -> Vec<Result<(u16, String), (ServiceError, String)>> {
    join_all(
        config
            .targets
            .iter()
            .map(|t| call_state(env, t, call, timeout_ms)),
    )
    .await
}

/// A report the object answered, or a `STATE_UNAVAILABLE` one when it is not a report.
fn target_answer(
    t: &Target,
    text: String,
    trigger: Trigger,
    dry_run: bool,
    warnings: &[String],
) -> TargetAnswer {
    TargetAnswer::from_json(text).unwrap_or_else(|e| {
        unavailable(
            t,
            ServiceError::StateUnavailable,
            format!("the target's state answered {e}"),
            (trigger, dry_run, warnings),
        )
    })
}

/// A failed target whose object did not answer usably; logged here (with the trigger, `dry_run`
/// and the settings' warnings of `log`), as the object could not.
fn unavailable(
    t: &Target,
    e: ServiceError,
    msg: String,
    log: (Trigger, bool, &[String]),
) -> TargetAnswer {
    let (trigger, dry_run, warnings) = log;
    let report = answers::unavailable(t, e, msg);
    console_error!("{}", report.log_line(trigger.as_str(), dry_run, warnings));
    TargetAnswer::from_report(&report)
}

/// Calls a target's object with a timeout. `Err` is `STATE_TIMEOUT` or `STATE_UNAVAILABLE`, and a
/// message.
async fn call_state(
    env: &Env,
    target: &Target,
    call: Call,
    timeout_ms: u64,
) -> Result<(u16, String), (ServiceError, String)> {
    let unavailable = |detail: String| {
        (
            ServiceError::StateUnavailable,
            format!("the target's state is unavailable: {detail}"),
        )
    };
    let namespace = Reflect::get(env, &JsValue::from_str("TARGET_STATE"))
        .map_err(|e| unavailable(format!("{e:?}")))?;
    let (method, url) = call.request();
    let name = object_name(&target.zone_id, &target.config_id);
    let promise = call_object(&namespace, &name, method, &url, timeout_ms as f64);
    let answer = Answer::of(promise).await.map_err(unavailable)?;
    match answer.text("error").as_deref() {
        None => Ok((answer.status(), answer.text("text").unwrap_or_default())),
        Some("timeout") => Err((
            ServiceError::StateTimeout,
            format!(
                "the target's state did not answer within {} s; see GET /status",
                timeout_ms / 1000
            ),
        )),
        Some(_) => Err(unavailable(answer.text("detail").unwrap_or_default())),
    }
}

/// The cron trigger. Written by hand instead of with `#[event(scheduled)]`, whose glue always
/// resolves: a failed sync must reject with a JavaScript `Error`, so Cloudflare's cron event log
/// shows the invocation as an exception naming the failed targets (not as a success, and not as
/// a panic, which would also reset the isolate). The details are in the JSON log lines; the
/// rejection is one short line (see [`cron_failure`]).
///
/// After every target, the heartbeat ([`notify::heartbeat`]): `HEARTBEAT_URL` when every target
/// is in sync, else `HEARTBEAT_FAIL_URL` if set; with invalid settings, `HEARTBEAT_FAIL_URL` when
/// that one setting is valid ([`notify::fail_url_alone`]). Only here: a manual `POST /` must not hide
/// a dead cron.
#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, wasm_bindgen_futures = ::worker::wasm_bindgen_futures, js_sys = ::worker::js_sys)]
pub async fn scheduled(
    _event: worker::worker_sys::ScheduledEvent,
    env: Env,
    _ctx: worker::worker_sys::ScheduleContext,
) -> Result<JsValue, JsValue> {
    let settings = settings(&env);
    let config = match config_of(&settings) {
        Ok(config) => config,
        Err(e) => {
            console_error!("{}", report::config_error_log(&e, "cron"));
            let fail = notify::fail_url_alone(|name| settings.get(name).cloned());
            let ping = notify::heartbeat(false, None, fail.as_ref());
            heartbeat(ping, answers::cron_settings_line).await;
            return Err(cron_failure(&format!("jwks-sync: {e}")));
        }
    };
    let call = Call::Run {
        trigger: Trigger::Cron,
        allow_full_replacement: false,
    };
    let targets = run_all(&env, &config, call, config.dry_run).await;
    let a = Answers {
        dry_run: config.dry_run,
        warnings: config.warnings,
        targets,
    };
    // The targets logged their own lines; this one only reports the ping, when there is one.
    let ops = &config.ops;
    let ping = notify::heartbeat(
        a.in_sync(),
        ops.heartbeat_url.as_ref(),
        ops.heartbeat_fail_url.as_ref(),
    );
    heartbeat(ping, |outcome| answers::cron_line(&a, outcome)).await;
    if a.failed() {
        return Err(cron_failure(&format!(
            "jwks-sync: sync failed for {}",
            a.failure_summary()
        )));
    }
    Ok(JsValue::UNDEFINED)
}

/// Sends `ping`, if any, and logs its outcome with `line` (`success ping sent`,
/// `fail ping failed: HTTP 404`, …). A failed ping is a warning, never a failed run.
async fn heartbeat(ping: Option<(Beat, &Secret)>, line: impl Fn(&str) -> String) {
    let Some((beat, url)) = ping else {
        return;
    };
    let kind = beat.as_str();
    match notify::ping(&WorkerClient, url).await {
        Ok(()) => console_log!("{}", line(&format!("{kind} ping sent"))),
        Err(e) => console_warn!("{}", line(&format!("{kind} ping failed: {e}"))),
    }
}

#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen)]
extern "C" {
    /// The runtime's `structuredClone` (HTML Standard, "structured serialize").
    #[wasm_bindgen(js_name = structuredClone, catch)]
    fn structured_clone(value: &JsValue) -> Result<JsValue, JsValue>;
}

/// The value a failed cron run rejects with: an `Error` whose message is `message` and whose stack
/// is `Error: <message>`, without call frames. An `Error` made in wasm carries the frames V8
/// captured at its creation (wasm function indexes, meaningless to a reader), and workerd's
/// inspector, which `wrangler dev` prints, reads those, not the `stack` property; a structured
/// clone is a new `Error` with none.
fn cron_failure(message: &str) -> JsValue {
    let error: JsValue = worker::js_sys::Error::new(message).into();
    let quiet = structured_clone(&error).unwrap_or(error);
    // Only fails on a frozen object, which a fresh clone is not; the message is what matters.
    let _ = worker::js_sys::Reflect::set(
        &quiet,
        &JsValue::from_str("stack"),
        &JsValue::from_str(&format!("Error: {message}")),
    );
    quiet
}

/// The settings of `env`, validated.
pub(crate) fn load_config(env: &Env) -> Result<Config, ConfigError> {
    config_of(&settings(env))
}

/// The settings `settings` holds, validated (one instance of the reading code for every caller).
fn config_of(settings: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    Config::from_lookup(|name| settings.get(name).cloned())
}

/// Every var and secret of `env` as strings, read in one crossing into JavaScript
/// (`JSON.stringify(env)`) instead of one per setting: the settings are read on every request,
/// and each lookup crossed the JS/wasm boundary (BENCHMARKS.md, "Where a sync's CPU time goes").
/// A `[vars]` value written as a TOML table or array (for example `SYNC_TARGETS`) arrives as an
/// object and is kept as its JSON text; bindings that are objects (the Durable Object namespace)
/// stringify to `{}` and match no setting's name. Unset and `null` values are left out.
fn settings(env: &Env) -> BTreeMap<String, String> {
    let text = worker::js_sys::JSON::stringify(env)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default();
    let values: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&text).unwrap_or_default();
    values
        .into_iter()
        .filter_map(|(name, value)| match value {
            serde_json::Value::String(s) => Some((name, s)),
            serde_json::Value::Null => None,
            other => Some((name, other.to_string())),
        })
        .collect()
}

/// One var or secret, read alone (`SYNC_AUTH_TOKEN` before anything else of a request).
fn lookup(env: &Env, name: &str) -> Option<String> {
    let value = worker::js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    value.as_string()
}
