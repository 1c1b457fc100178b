//! The one I/O port the core needs: send an HTTP request, sleep, read the clock; plus the retry
//! policy that every outbound call shares.
//!
//! The Worker implements [`Client`] in `shell::client` with one call per request into
//! `src/shell/io.js`, which sends it with the runtime's `fetch` (timeout by `AbortController`,
//! body read up to the limit); tests implement it with scripted answers, so retries, redirects
//! and the whole sync run natively.

use std::fmt;

/// The `User-Agent` sent on every request. Some IdPs behind WAFs refuse default client agents
/// (failure mode B14).
pub const USER_AGENT: &str = concat!(
    "jwks-sync/",
    env!("CARGO_PKG_VERSION"),
    " (Cloudflare Worker; API Shield key sync)"
);

/// HTTP methods the Worker sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `POST`
    Post,
}

impl Method {
    /// The method's name, e.g. `"GET"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Post => "POST",
        }
    }
}

/// An outbound request. Redirects are never followed by the client: callers see 3xx answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(&'static str, String)>,
    /// A UTF-8 body (JSON), if any.
    pub body: Option<String>,
    /// Give up on this one attempt after this many milliseconds.
    pub timeout_ms: u64,
    /// Ask the runtime not to answer from or store into a cache (`cache: "no-store"`).
    pub no_store: bool,
}

/// An answer, with the few headers the core reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// `content-type`, if sent.
    pub content_type: Option<String>,
    /// `location`, if sent.
    pub location: Option<String>,
    /// `retry-after`, if sent, as sent.
    pub retry_after: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The attempt took longer than its `timeout_ms`.
    Timeout {
        /// The limit that was exceeded, in milliseconds.
        after_ms: u64,
    },
    /// The body is over the caller's limit: announced by `content-length`, or found while reading
    /// it; reading stopped there.
    TooLarge {
        /// The limit, in bytes.
        limit_bytes: usize,
    },
    /// A network or runtime error, as the runtime worded it.
    Network(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Timeout { after_ms } => write!(f, "timed out after {after_ms} ms"),
            TransportError::TooLarge { limit_bytes } => {
                write!(f, "body is over the limit of {limit_bytes} bytes")
            }
            TransportError::Network(d) => write!(f, "network error: {d}"),
        }
    }
}

/// What the core needs from the runtime. Implementations must not follow redirects.
///
/// Futures need not be `Send`: a Worker isolate runs one thread.
#[allow(async_fn_in_trait)]
pub trait Client {
    /// Sends one request and reads the whole answer. `max_body_bytes` bounds what is read: a longer
    /// body is [`TransportError::TooLarge`], and is not read past the limit.
    async fn send(&self, req: &Request, max_body_bytes: usize) -> Result<Response, TransportError>;
    /// Waits `ms` milliseconds (wall clock; it costs no CPU time in a Worker).
    async fn sleep(&self, ms: u64);
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// How one logical call is retried: transport errors, 5xx and 429 are transient; any other status
/// is returned at once (a 4xx says the request is wrong, and repeating it cannot help).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait before the second attempt, in milliseconds; doubled before each next one.
    pub backoff_ms: u64,
    /// The longest `Retry-After` honoured, in milliseconds. A longer one ends the call at once
    /// (Cloudflare's rate limit blocks for 5 minutes: the next cron tick is the retry).
    pub max_retry_after_ms: u64,
    /// Wall-clock budget for all attempts and waits together, in milliseconds.
    pub budget_ms: u64,
    /// Timeout of one attempt, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for RetryPolicy {
    /// 3 attempts, 500 ms then 1000 ms backoff, `Retry-After` up to 10 s, 25 s in all, 8 s per
    /// attempt: seconds, not the 500 ms that made Nimbus time out against slow IdPs (B18).
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            backoff_ms: 500,
            max_retry_after_ms: 10_000,
            budget_ms: 25_000,
            timeout_ms: 8_000,
        }
    }
}

/// The final answer of a retried call, or the last transport error.
pub type Outcome = Result<Response, TransportError>;

/// What one attempt of a call got: a status, or why it got none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// An answer with this HTTP status.
    Status(u16),
    /// [`TransportError::Timeout`].
    Timeout,
    /// [`TransportError::TooLarge`].
    TooLarge,
    /// [`TransportError::Network`].
    Network,
}

impl Attempt {
    fn of(outcome: &Outcome) -> Attempt {
        match outcome {
            Ok(r) => Attempt::Status(r.status),
            Err(TransportError::Timeout { .. }) => Attempt::Timeout,
            Err(TransportError::TooLarge { .. }) => Attempt::TooLarge,
            Err(TransportError::Network(_)) => Attempt::Network,
        }
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Status(s) => write!(f, "{s}"),
            Attempt::Timeout => f.write_str("timeout"),
            Attempt::TooLarge => f.write_str("too large"),
            Attempt::Network => f.write_str("network error"),
        }
    }
}

/// Every attempt of one call, in order; the last one is the call's outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempts(pub Vec<Attempt>);

impl Attempts {
    /// How many attempts were made.
    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// ` after 3 attempts (503, 503, 503)` when the call was retried, else empty: the tail of a
    /// failure's cause.
    pub fn suffix(&self) -> String {
        if self.0.len() < 2 {
            return String::new();
        }
        format!(" after {} attempts ({})", self.0.len(), join(&self.0))
    }

    /// For a call that succeeded only after retries, the warning that says so:
    /// `succeeded after 3 attempts (503, 503)`, listing what failed. `None` for a first-time success.
    pub fn retried_warning(&self) -> Option<String> {
        match self.0.split_last() {
            Some((_, failed)) if !failed.is_empty() => Some(format!(
                "succeeded after {} attempts ({})",
                self.0.len(),
                join(failed)
            )),
            _ => None,
        }
    }
}

fn join(attempts: &[Attempt]) -> String {
    let parts: Vec<String> = attempts.iter().map(Attempt::to_string).collect();
    parts.join(", ")
}

/// The outcome of a retried call and what each attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The final answer, or the last transport error.
    pub outcome: Outcome,
    /// Every attempt, the last one included.
    pub attempts: Attempts,
}

/// Sends `req` under `policy`, retrying transient failures. Returns the first non-transient answer,
/// or the last answer or error once attempts, budget or an over-long `Retry-After` end the call,
/// with what every attempt got (so a report can say a call succeeded only after retries, or how
/// many attempts a failure took).
pub async fn send_with_retry<C: Client>(
    client: &C,
    req: &Request,
    policy: &RetryPolicy,
    max_body_bytes: usize,
) -> Sent {
    let start = client.now_ms();
    let mut attempts = Vec::with_capacity(1);
    loop {
        let outcome = client.send(req, max_body_bytes).await;
        attempts.push(Attempt::of(&outcome));
        let done = |outcome| Sent {
            outcome,
            attempts: Attempts(attempts.clone()),
        };
        let wait = match &outcome {
            Ok(r) if r.status == 429 || r.status >= 500 => {
                match retry_after_ms(r.retry_after.as_deref()) {
                    Some(ms) if ms > policy.max_retry_after_ms => return done(outcome),
                    Some(ms) => ms,
                    None => backoff(policy, attempts.len()),
                }
            }
            Ok(_) => return done(outcome),
            Err(TransportError::TooLarge { .. }) => return done(outcome),
            Err(_) => backoff(policy, attempts.len()),
        };
        let elapsed = client.now_ms().saturating_sub(start);
        if attempts.len() >= policy.attempts as usize
            || elapsed + wait + policy.timeout_ms > policy.budget_ms
        {
            return done(outcome);
        }
        client.sleep(wait).await;
    }
}

/// The wait after attempt number `attempt` (from 1): `backoff_ms`, doubled after each attempt.
fn backoff(policy: &RetryPolicy, attempt: usize) -> u64 {
    policy
        .backoff_ms
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
}

/// `Retry-After` in milliseconds, from its delay-seconds form (RFC 9110 §10.2.3). The HTTP-date
/// form, and anything unreadable, give `None` (the backoff applies).
pub fn retry_after_ms(value: Option<&str>) -> Option<u64> {
    value?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| s.saturating_mul(1000))
}

#[cfg(test)]
pub(crate) mod fake {
    //! A scripted [`Client`] for native tests: answers are popped per URL, requests and sleeps are
    //! recorded, and the clock advances by each sleep.
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::{HashMap, VecDeque};
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    /// Scripted answers keyed by `METHOD url`; a URL with no script left answers 404.
    #[derive(Default)]
    pub struct FakeClient {
        pub script: RefCell<HashMap<String, VecDeque<Result<Response, TransportError>>>>,
        pub sent: RefCell<Vec<Request>>,
        pub sleeps: RefCell<Vec<u64>>,
        pub clock_ms: Cell<u64>,
    }

    impl FakeClient {
        pub fn on(
            &self,
            method: Method,
            url: &str,
            answer: Result<Response, TransportError>,
        ) -> &Self {
            self.script
                .borrow_mut()
                .entry(format!("{} {url}", method.as_str()))
                .or_default()
                .push_back(answer);
            self
        }
        pub fn json(&self, method: Method, url: &str, status: u16, body: &str) -> &Self {
            self.on(
                method,
                url,
                Ok(Response {
                    status,
                    content_type: Some("application/json".into()),
                    body: body.as_bytes().to_vec(),
                    ..Default::default()
                }),
            )
        }
        pub fn sent_to(&self, method: Method) -> Vec<String> {
            self.sent
                .borrow()
                .iter()
                .filter(|r| r.method == method)
                .map(|r| r.url.clone())
                .collect()
        }
    }

    impl Client for FakeClient {
        async fn send(&self, req: &Request, _max: usize) -> Result<Response, TransportError> {
            self.sent.borrow_mut().push(req.clone());
            let key = format!("{} {}", req.method.as_str(), req.url);
            self.script
                .borrow_mut()
                .get_mut(&key)
                .and_then(VecDeque::pop_front)
                .unwrap_or_else(|| {
                    Ok(Response {
                        status: 404,
                        ..Default::default()
                    })
                })
        }
        async fn sleep(&self, ms: u64) {
            self.sleeps.borrow_mut().push(ms);
            self.clock_ms.set(self.clock_ms.get() + ms);
        }
        fn now_ms(&self) -> u64 {
            self.clock_ms.get()
        }
    }

    /// Runs a future that never waits on anything outside itself (the fake never pends).
    pub fn block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;

    const U: &str = "https://idp.example/jwks";

    fn get() -> Request {
        Request {
            method: Method::Get,
            url: U.into(),
            headers: vec![],
            body: None,
            timeout_ms: 8_000,
            no_store: true,
        }
    }

    fn status(s: u16, retry_after: Option<&str>) -> Result<Response, TransportError> {
        Ok(Response {
            status: s,
            retry_after: retry_after.map(Into::into),
            ..Default::default()
        })
    }

    #[test]
    fn retries_5xx_with_backoff_then_succeeds() {
        let c = FakeClient::default();
        c.on(Method::Get, U, status(503, None))
            .on(Method::Get, U, status(502, None))
            .on(Method::Get, U, status(200, None));
        let sent = block_on(send_with_retry(&c, &get(), &RetryPolicy::default(), 10));
        assert_eq!(sent.outcome.unwrap().status, 200);
        assert_eq!(*c.sleeps.borrow(), vec![500, 1000]);
        assert_eq!(
            sent.attempts,
            Attempts(vec![
                Attempt::Status(503),
                Attempt::Status(502),
                Attempt::Status(200)
            ])
        );
        assert_eq!(
            sent.attempts.retried_warning().as_deref(),
            Some("succeeded after 3 attempts (503, 502)")
        );
    }

    #[test]
    fn a_first_time_success_warns_of_nothing() {
        let c = FakeClient::default();
        c.on(Method::Get, U, status(200, None));
        let sent = block_on(send_with_retry(&c, &get(), &RetryPolicy::default(), 10));
        assert_eq!(sent.attempts, Attempts(vec![Attempt::Status(200)]));
        assert_eq!(sent.attempts.retried_warning(), None);
        assert_eq!(sent.attempts.suffix(), "");
    }

    #[test]
    fn honours_retry_after_within_the_cap() {
        let c = FakeClient::default();
        c.on(Method::Get, U, status(429, Some("2")))
            .on(Method::Get, U, status(200, None));
        let sent = block_on(send_with_retry(&c, &get(), &RetryPolicy::default(), 10));
        assert_eq!(sent.outcome.unwrap().status, 200);
        assert_eq!(*c.sleeps.borrow(), vec![2000]);
        assert_eq!(
            sent.attempts.retried_warning().as_deref(),
            Some("succeeded after 2 attempts (429)")
        );
    }

    #[test]
    fn an_over_long_retry_after_ends_the_call_at_once() {
        let c = FakeClient::default();
        c.on(Method::Get, U, status(429, Some("300")));
        let sent = block_on(send_with_retry(&c, &get(), &RetryPolicy::default(), 10));
        assert_eq!(sent.outcome.unwrap().status, 429);
        assert!(c.sleeps.borrow().is_empty());
        assert_eq!(sent.attempts.count(), 1);
    }

    #[test]
    fn a_4xx_is_never_retried() {
        let c = FakeClient::default();
        c.on(Method::Get, U, status(400, None));
        let sent = block_on(send_with_retry(&c, &get(), &RetryPolicy::default(), 10));
        assert_eq!(sent.outcome.unwrap().status, 400);
        assert_eq!(c.sent.borrow().len(), 1);
    }

    #[test]
    fn transport_errors_retry_until_attempts_run_out() {
        let c = FakeClient::default();
        for _ in 0..2 {
            c.on(
                Method::Get,
                U,
                Err(TransportError::Timeout { after_ms: 8000 }),
            );
        }
        c.on(Method::Get, U, Err(TransportError::Network("reset".into())));
        let sent = block_on(send_with_retry(&c, &get(), &RetryPolicy::default(), 10));
        assert_eq!(
            sent.outcome.unwrap_err(),
            TransportError::Network("reset".into())
        );
        assert_eq!(c.sent.borrow().len(), 3);
        assert_eq!(
            sent.attempts.suffix(),
            " after 3 attempts (timeout, timeout, network error)"
        );
    }

    #[test]
    fn the_budget_bounds_the_waits() {
        let c = FakeClient::default();
        for _ in 0..3 {
            c.on(Method::Get, U, status(503, Some("9")));
        }
        let policy = RetryPolicy {
            budget_ms: 20_000,
            ..RetryPolicy::default()
        };
        let sent = block_on(send_with_retry(&c, &get(), &policy, 10));
        assert_eq!(sent.outcome.unwrap().status, 503);
        // 9 s + 8 s timeout fits in 20 s once; a second 9 s wait would not.
        assert_eq!(*c.sleeps.borrow(), vec![9000]);
        assert_eq!(sent.attempts.suffix(), " after 2 attempts (503, 503)");
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after_ms(Some(" 120 ")), Some(120_000));
        assert_eq!(retry_after_ms(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after_ms(None), None);
    }
}
