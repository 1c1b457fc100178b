//! The thin shell: workers-rs handlers and the runtime's `fetch`, wired to the pure core.
//!
//! Nothing here decides anything; each handler reads the environment, calls the core and writes
//! what the core returned.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::{
    console_error, console_log, event, AbortController, CacheMode, Context, Date, Delay, Env,
    Fetch, Headers, RequestInit, RequestRedirect,
};

use crate::auth::{self, Access};
use crate::config::{Config, FullReplacement, Secret};
use crate::http::{self, Client, TransportError};
use crate::report::{self, Report};
use crate::routes::{route, Route};
use crate::sync::{self, Mode};

/// Installs the panic hook once per isolate, so a panic's message reaches the log.
#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// `GET /healthz`, `GET /` (preview), `POST /` (sync); see [`crate::routes`].
#[event(fetch)]
async fn fetch(req: worker::Request, env: Env, _ctx: Context) -> worker::Result<worker::Response> {
    let url = req.url()?;
    let (status, body, extra): Reply = match route(req.method().as_ref(), url.path(), url.query()) {
        Route::Health => (200, r#"{"status":"ok"}"#.to_owned(), None),
        Route::NotFound => (
            404,
            report::error_json("NOT_FOUND", &format!("no route for {}", url.path())),
            None,
        ),
        Route::MethodNotAllowed(allow) => (
            405,
            report::error_json(
                "METHOD_NOT_ALLOWED",
                &format!("{} is not allowed here; allowed: {allow}", req.method()),
            ),
            Some(("allow", allow.to_owned())),
        ),
        r @ Route::Run { .. } => {
            let expected = lookup(&env, "SYNC_AUTH_TOKEN").map(Secret::new);
            match auth::check(req.headers().get("authorization")?.as_deref(), expected.as_ref()) {
                Access::Disabled => (
                    503,
                    report::error_json("AUTH_DISABLED", "SYNC_AUTH_TOKEN is not set; set it with `wrangler secret put SYNC_AUTH_TOKEN` to enable this endpoint"),
                    None,
                ),
                Access::Missing => (
                    401,
                    report::error_json("UNAUTHORIZED", "send Authorization: Bearer <SYNC_AUTH_TOKEN>"),
                    Some(("www-authenticate", r#"Bearer realm="jwks-sync""#.to_owned())),
                ),
                Access::Wrong => (
                    401,
                    report::error_json("UNAUTHORIZED", "the bearer token does not match SYNC_AUTH_TOKEN"),
                    Some(("www-authenticate", r#"Bearer realm="jwks-sync", error="invalid_token""#.to_owned())),
                ),
                Access::Allowed => run(&r, &env).await,
            }
        }
    };
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    if let Some((name, value)) = extra {
        headers.set(name, &value)?;
    }
    Ok(worker::Response::ok(body)?
        .with_status(status)
        .with_headers(headers))
}

/// An answer: status, JSON body, and one extra header.
type Reply = (u16, String, Option<(&'static str, String)>);

/// An authenticated `GET /` or `POST /`: the query is checked, then the settings, then the sync
/// or preview runs.
async fn run(route: &Route, env: &Env) -> Reply {
    let allow_once = match route {
        Route::Run {
            dry_run: Err(msg), ..
        } => return (400, report::error_json("BAD_REQUEST", msg), None),
        Route::Run {
            allow_full_replacement,
            ..
        } => *allow_full_replacement,
        _ => false,
    };
    match load_config(env) {
        Ok(mut config) => {
            if allow_once && config.full_replacement == FullReplacement::Refused {
                config.full_replacement = FullReplacement::AllowedOnce;
            }
            let mode = if route.writes() {
                Mode::Sync
            } else {
                Mode::Preview
            };
            let report = sync::run(&WorkerClient, &config, mode, now_unix_s()).await;
            log_report(&report, "http");
            (report.http_status(), report.to_json(), None)
        }
        Err(e) => {
            console_error!("{}", report::config_error_log(&e, "http"));
            (500, report::config_error_json(&e, !route.writes()), None)
        }
    }
}

/// The cron trigger. Written by hand instead of with `#[event(scheduled)]`, whose glue always
/// resolves: a failed sync must reject with a JavaScript `Error`, so Cloudflare's cron event log
/// shows the invocation as an exception naming the failed targets (not as a success, and not as
/// a panic, which would also reset the isolate).
#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, wasm_bindgen_futures = ::worker::wasm_bindgen_futures, js_sys = ::worker::js_sys)]
pub async fn scheduled(
    _event: worker::worker_sys::ScheduledEvent,
    env: Env,
    _ctx: worker::worker_sys::ScheduleContext,
) -> Result<JsValue, JsValue> {
    let config = match load_config(&env) {
        Ok(config) => config,
        Err(e) => {
            console_error!("{}", report::config_error_log(&e, "cron"));
            return Err(worker::js_sys::Error::new(&format!("jwks-sync: {e}")).into());
        }
    };
    let report = sync::run(&WorkerClient, &config, Mode::Sync, now_unix_s()).await;
    log_report(&report, "cron");
    if report.failed() {
        return Err(worker::js_sys::Error::new(&format!(
            "jwks-sync: sync failed for {}",
            report.failure_summary()
        ))
        .into());
    }
    Ok(JsValue::UNDEFINED)
}

/// One JSON line per target; failed targets go to the error log.
fn log_report(report: &Report, trigger: &str) {
    for (failed, line) in report.log_lines(trigger) {
        if failed {
            console_error!("{line}");
        } else {
            console_log!("{line}");
        }
    }
}

fn load_config(env: &Env) -> Result<Config, crate::config::ConfigError> {
    Config::from_lookup(|name| lookup(env, name))
}

/// A var or secret as a string, in one lookup (vars and secrets are both plain string bindings;
/// `env.var`/`env.secret` would build an error for every unset optional setting). A `[vars]` value
/// written as a TOML table or array (for example `SYNC_TARGETS`) arrives as an object and is turned
/// back into JSON text.
fn lookup(env: &Env, name: &str) -> Option<String> {
    let value = worker::js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    if let Some(s) = value.as_string() {
        return Some(s);
    }
    if value.is_undefined() || value.is_null() {
        return None;
    }
    worker::js_sys::JSON::stringify(&value)
        .ok()
        .map(String::from)
}

fn now_unix_s() -> i64 {
    (Date::now().as_millis() / 1000) as i64
}

/// [`Client`] over the runtime's `fetch`, with redirects left to the caller and a timeout by
/// `AbortController`.
struct WorkerClient;

impl Client for WorkerClient {
    async fn send(
        &self,
        req: &http::Request,
        max_body_bytes: usize,
    ) -> Result<http::Response, TransportError> {
        let net = |e: worker::Error| TransportError::Network(e.to_string());
        let headers = Headers::new();
        for (name, value) in &req.headers {
            headers.set(name, value).map_err(net)?;
        }
        let mut init = RequestInit::new();
        init.with_method(match req.method {
            http::Method::Get => worker::Method::Get,
            http::Method::Put => worker::Method::Put,
            http::Method::Patch => worker::Method::Patch,
        })
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
        if req.no_store {
            init.with_cache(CacheMode::NoStore);
        }
        if let Some(body) = &req.body {
            init.with_body(Some(JsValue::from_str(body)));
        }
        let request = worker::Request::new_with_init(&req.url, &init).map_err(net)?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async {
            let mut resp = Fetch::Request(request)
                .send_with_signal(&signal)
                .await
                .map_err(net)?;
            let h = resp.headers();
            let header = |name: &str| h.get(name).ok().flatten();
            let too_large = TransportError::TooLarge {
                limit_bytes: max_body_bytes,
            };
            if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
                if len > max_body_bytes {
                    return Err(too_large);
                }
            }
            let (content_type, location, retry_after) = (
                header("content-type"),
                header("location"),
                header("retry-after"),
            );
            // Read chunk by chunk up to the limit: content-length may be absent (chunked) or
            // describe a compressed body. No stream means no body (e.g. 204).
            let mut body = Vec::new();
            if let Ok(mut stream) = resp.stream() {
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(net)?;
                    if body.len() + chunk.len() > max_body_bytes {
                        return Err(too_large);
                    }
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(http::Response {
                status: resp.status_code(),
                content_type,
                location,
                retry_after,
                body,
            })
        };
        let exchange = std::pin::pin!(exchange);
        let timeout = std::pin::pin!(Delay::from(Duration::from_millis(req.timeout_ms)));
        let outcome = match select(exchange, timeout).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(_) => {
                controller.abort();
                Err(TransportError::Timeout {
                    after_ms: req.timeout_ms,
                })
            }
        };
        outcome
    }

    async fn sleep(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }

    fn now_ms(&self) -> u64 {
        Date::now().as_millis()
    }
}
