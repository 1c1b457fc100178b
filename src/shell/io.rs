//! The Rust side of `io.js` (next to this file): its three functions, the one reader of the plain
//! objects they resolve to, and the clock.

use worker::js_sys::{Array, Promise, Reflect};
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys;
use worker::Date;

#[wasm_bindgen(module = "/src/shell/io.js")]
extern "C" {
    /// See `io.js`: resolves to an answer or `{error}`, never rejects.
    #[wasm_bindgen(js_name = fetchBounded)]
    pub(crate) fn fetch_bounded(
        url: &str,
        method: &str,
        headers: Array,
        body: Option<String>,
        timeout_ms: f64,
        no_store: bool,
        max_bytes: f64,
    ) -> Promise;

    /// See `io.js`: one request to a Durable Object, resolving to `{status, text}` or `{error}`;
    /// never rejects.
    #[wasm_bindgen(js_name = callObject)]
    pub(crate) fn call_object(
        namespace: &JsValue,
        name: &str,
        method: &str,
        url: &str,
        timeout_ms: f64,
    ) -> Promise;

    /// See `io.js`: a JSON response, with one extra header when `extra_name` is not empty.
    #[wasm_bindgen(js_name = jsonResponse)]
    fn json_response(
        status: u16,
        body: &str,
        extra_name: &str,
        extra_value: &str,
    ) -> web_sys::Response;
}

/// A JSON response that no cache keeps, with at most one extra header; built in one call to
/// `io.js`.
pub(crate) fn respond(
    status: u16,
    body: String,
    extra: Option<(&'static str, String)>,
) -> web_sys::Response {
    let (name, value) = extra.unwrap_or(("", String::new()));
    json_response(status, &body, name, &value)
}

/// The plain object a function of `io.js` resolved to, read field by field.
pub(crate) struct Answer(JsValue);

impl Answer {
    /// Awaits `promise`, one of `io.js`'s. They never reject; should one all the same, `Err` is
    /// the runtime's description of why.
    pub(crate) async fn of(promise: Promise) -> Result<Answer, String> {
        JsFuture::from(promise)
            .await
            .map(Answer)
            .map_err(|e| format!("{e:?}"))
    }

    /// The field `name`; `None` when it cannot be read.
    pub(crate) fn field(&self, name: &str) -> Option<JsValue> {
        Reflect::get(&self.0, &JsValue::from_str(name)).ok()
    }

    /// The string field `name`; `None` when absent, `null` or not a string.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.field(name).and_then(|v| v.as_string())
    }

    /// The `status` field, an HTTP status; 0 when absent.
    pub(crate) fn status(&self) -> u16 {
        self.field("status")
            .and_then(|v| v.as_f64())
            .map_or(0, |s| s as u16)
    }
}

/// Milliseconds since the Unix epoch, from the runtime's clock (which, in a Worker, advances only
/// across I/O).
pub(crate) fn now_ms() -> u64 {
    Date::now().as_millis()
}
