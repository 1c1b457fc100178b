//! Sending the heartbeat ping and the alert webhook: the requests, the retry policy, and how an
//! outcome is reported without showing the secret URL.
//!
//! Both are best effort: a failure is a warning (in the run's report or the cron log line), never
//! a failed sync. Each waits about 5 s per attempt and retries once, on a transport error, a 5xx
//! or a 429, within the attempt's budget; any other 4xx is final (a revoked Slack webhook answers
//! 403/404/410, and Discord counts repeated 4xx toward an IP ban: operations.md §2.1, §2.3).

use crate::config::Secret;
use crate::http::{
    send_with_retry, Client, Method, Request, RetryPolicy, TransportError, USER_AGENT,
};

/// Retry policy of a ping or an alert: 2 attempts of at most 5 s, 1 s apart (or `Retry-After` up
/// to 5 s), 12 s in all (operations.md §1.5: "about 5 s per ping, at most one retry").
pub const POLICY: RetryPolicy = RetryPolicy {
    attempts: 2,
    backoff_ms: 1_000,
    max_retry_after_ms: 5_000,
    budget_ms: 12_000,
    timeout_ms: 5_000,
};

/// Largest answer read from a heartbeat or webhook receiver, in bytes; only the status matters.
const MAX_BODY_BYTES: usize = 65_536;

/// Pings a heartbeat URL with `GET`, the one method every dead-man's-switch service accepts
/// (healthchecks.io, Better Stack, Cronitor, Uptime Kuma: operations.md §1.5).
///
/// # Errors
/// A description without the URL: `HTTP 404`, `timed out after 5000 ms`, `no answer`.
pub async fn ping<C: Client>(client: &C, url: &Secret) -> Result<(), String> {
    send(client, Method::Get, url, None).await
}

/// Posts an alert body (JSON) to a webhook URL.
///
/// # Errors
/// As [`ping`].
pub async fn post_alert<C: Client>(client: &C, url: &Secret, body: String) -> Result<(), String> {
    send(client, Method::Post, url, Some(body)).await
}

async fn send<C: Client>(
    client: &C,
    method: Method,
    url: &Secret,
    body: Option<String>,
) -> Result<(), String> {
    let mut headers = vec![("user-agent", USER_AGENT.to_owned())];
    if body.is_some() {
        headers.push(("content-type", "application/json".to_owned()));
    }
    let req = Request {
        method,
        url: url.expose().to_owned(),
        headers,
        body,
        timeout_ms: POLICY.timeout_ms,
        no_store: true,
    };
    match send_with_retry(client, &req, &POLICY, MAX_BODY_BYTES)
        .await
        .outcome
    {
        Ok(r) if (200..300).contains(&r.status) => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status)),
        // The runtime's wording of a network error may contain the URL: never pass it on.
        Err(TransportError::Network(_)) => Err("no answer (network error)".to_owned()),
        Err(e @ TransportError::Timeout { .. }) => Err(e.to_string()),
        // Only the status counts; a long answer is an answer.
        Err(TransportError::TooLarge { .. }) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::fake::{block_on, FakeClient};
    use crate::http::Response;

    const URL: &str = "https://hooks.example/T0/B0/very-secret";

    fn secret() -> Secret {
        Secret::new(URL.into())
    }

    fn status(s: u16) -> Result<Response, TransportError> {
        Ok(Response {
            status: s,
            ..Default::default()
        })
    }

    #[test]
    fn an_alert_is_a_json_post() {
        let c = FakeClient::default();
        c.on(Method::Post, URL, status(200));
        assert_eq!(
            block_on(post_alert(&c, &secret(), "{\"text\":\"t\"}".into())),
            Ok(())
        );
        let sent = c.sent.borrow();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].body.as_deref(), Some("{\"text\":\"t\"}"));
        assert!(sent[0]
            .headers
            .contains(&("content-type", "application/json".to_owned())));
        assert_eq!(sent[0].timeout_ms, 5_000);
    }

    #[test]
    fn a_ping_is_a_get_without_a_body() {
        let c = FakeClient::default();
        c.on(Method::Get, URL, status(200));
        assert_eq!(block_on(ping(&c, &secret())), Ok(()));
        assert_eq!(c.sent.borrow()[0].body, None);
    }

    #[test]
    fn a_5xx_or_429_is_retried_once() {
        for first in [500, 503, 429] {
            let c = FakeClient::default();
            c.on(Method::Post, URL, status(first))
                .on(Method::Post, URL, status(200));
            assert_eq!(
                block_on(post_alert(&c, &secret(), "{}".into())),
                Ok(()),
                "{first}"
            );
            assert_eq!(c.sent.borrow().len(), 2);
        }
        let c = FakeClient::default();
        for _ in 0..3 {
            c.on(Method::Post, URL, status(502));
        }
        assert_eq!(
            block_on(post_alert(&c, &secret(), "{}".into())),
            Err("HTTP 502".to_owned())
        );
        assert_eq!(c.sent.borrow().len(), 2, "one retry, no more");
    }

    #[test]
    fn other_4xx_are_never_retried() {
        for s in [400, 403, 404, 410] {
            let c = FakeClient::default();
            c.on(Method::Post, URL, status(s));
            assert_eq!(
                block_on(post_alert(&c, &secret(), "{}".into())),
                Err(format!("HTTP {s}"))
            );
            assert_eq!(c.sent.borrow().len(), 1);
        }
    }

    #[test]
    fn failures_never_show_the_url() {
        let c = FakeClient::default();
        for _ in 0..2 {
            c.on(
                Method::Get,
                URL,
                Err(TransportError::Network(format!("fetch failed: {URL}"))),
            );
        }
        let e = block_on(ping(&c, &secret())).unwrap_err();
        assert_eq!(e, "no answer (network error)");
        let c = FakeClient::default();
        for _ in 0..2 {
            c.on(
                Method::Get,
                URL,
                Err(TransportError::Timeout { after_ms: 5000 }),
            );
        }
        assert_eq!(
            block_on(ping(&c, &secret())),
            Err("timed out after 5000 ms".to_owned())
        );
    }
}
