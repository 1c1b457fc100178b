//! [`Client`] over the runtime's `fetch`: the Worker's and the Durable Object's one way out.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::wasm_bindgen::JsValue;
use worker::{
    AbortController, CacheMode, Date, Delay, Fetch, Headers, RequestInit, RequestRedirect,
};

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
            http::Method::Post => worker::Method::Post,
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
