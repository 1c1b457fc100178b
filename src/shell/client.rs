//! [`Client`] over the runtime's `fetch`: the Worker's and the Durable Object's one way out.
//!
//! Each request is one call into `io.js` (see `io.rs`), which builds the request, applies the
//! timeout and reads the body up to the limit on the JavaScript side, and returns one object.

use std::time::Duration;

use worker::js_sys::{Array, Uint8Array};
use worker::wasm_bindgen::JsValue;
use worker::Delay;

use super::io::{fetch_bounded, now_ms, Answer};
use crate::http::{self, Client, TransportError};

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
        let answer = Answer::of(promise).await.map_err(TransportError::Network)?;
        match answer.text("error").as_deref() {
            None => Ok(http::Response {
                status: answer.status(),
                content_type: answer.text("contentType"),
                location: answer.text("location"),
                retry_after: answer.text("retryAfter"),
                body: answer
                    .field("body")
                    .map(|b| Uint8Array::new(&b).to_vec())
                    .unwrap_or_default(),
            }),
            Some("timeout") => Err(TransportError::Timeout {
                after_ms: req.timeout_ms,
            }),
            Some("too_large") => Err(TransportError::TooLarge {
                limit_bytes: max_body_bytes,
            }),
            Some(_) => Err(TransportError::Network(
                answer.text("detail").unwrap_or_default(),
            )),
        }
    }

    async fn sleep(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }

    fn now_ms(&self) -> u64 {
        now_ms()
    }
}
