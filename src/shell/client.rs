//! [`Client`] over the runtime's `fetch`: the Worker's and the Durable Object's one way out.
//!
//! Each request is one call into `io.js` (next to this file), which builds the request, applies
//! the timeout and reads the body up to the limit on the JavaScript side, and returns one object.

use std::time::Duration;

use worker::js_sys::{Array, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Date, Delay};

use crate::http::{self, Client, TransportError};

#[wasm_bindgen(module = "/src/shell/io.js")]
extern "C" {
    /// See `io.js`: resolves to an answer or `{error}`, never rejects.
    #[wasm_bindgen(js_name = fetchBounded)]
    fn fetch_bounded(
        url: &str,
        method: &str,
        headers: Array,
        body: Option<String>,
        timeout_ms: f64,
        no_store: bool,
        max_bytes: f64,
    ) -> Promise;
}

/// [`Client`] over the runtime's `fetch`, with redirects left to the caller and a timeout by
/// `AbortController`.
pub struct WorkerClient;

impl Client for WorkerClient {
    async fn send(
        &self,
        req: &http::Request,
        max_body_bytes: usize,
    ) -> Result<http::Response, TransportError> {
        let headers = Array::new();
        for (name, value) in &req.headers {
            headers.push(&JsValue::from_str(name));
            headers.push(&JsValue::from_str(value));
        }
        let promise = fetch_bounded(
            &req.url,
            req.method.as_str(),
            headers,
            req.body.clone(),
            req.timeout_ms as f64,
            req.no_store,
            max_body_bytes as f64,
        );
        let answer = JsFuture::from(promise)
            .await
            .map_err(|e| TransportError::Network(format!("{e:?}")))?;
        let field = |name: &str| Reflect::get(&answer, &JsValue::from_str(name)).ok();
        let text = |name: &str| field(name).and_then(|v| v.as_string());
        match text("error").as_deref() {
            None => Ok(http::Response {
                status: field("status").and_then(|v| v.as_f64()).unwrap_or(0.0) as u16,
                content_type: text("contentType"),
                location: text("location"),
                retry_after: text("retryAfter"),
                body: field("body")
                    .map(|b| Uint8Array::new(&b).to_vec())
                    .unwrap_or_default(),
            }),
            Some("timeout") => Err(TransportError::Timeout {
                after_ms: req.timeout_ms,
            }),
            Some("too_large") => Err(TransportError::TooLarge {
                limit_bytes: max_body_bytes,
            }),
            Some(_) => Err(TransportError::Network(text("detail").unwrap_or_default())),
        }
    }

    async fn sleep(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }

    fn now_ms(&self) -> u64 {
        Date::now().as_millis()
    }
}
