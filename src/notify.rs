//! Sending the heartbeat ping and the alert webhook: which heartbeat URL a cron run pings, the
//! requests, the retry policy, and how an outcome is reported without showing the secret URL.
//!
//! Both are best effort: a failure is a warning (in the run's report or the cron log line), never
//! a failed sync. Each waits about 5 s per attempt and retries once, on a transport error, a 5xx
//! or a 429, within the attempt's budget; any other 4xx is final (a revoked Slack webhook answers
//! 403/404/410, and Discord counts repeated 4xx toward an IP ban: operations.md §2.1, §2.3).

use url::Url;

use crate::config::{is_allowed_url, Secret};
use crate::http::{
    send_with_retry, Client, Method, Request, RetryPolicy, TransportError, USER_AGENT,
};

/// Which heartbeat URL a cron run pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// `HEARTBEAT_URL`: the cron ran and every target is in sync.
    Success,
    /// `HEARTBEAT_FAIL_URL`: the cron ran, and a target is not in sync, or the settings are
    /// invalid.
    Fail,
}

impl Beat {
    /// `success` or `fail`, as the cron's log line names the ping.
    pub fn as_str(self) -> &'static str {
        match self {
            Beat::Success => "success",
            Beat::Fail => "fail",
        }
    }
}

/// The heartbeat a cron run sends, once every target is done: `success` when every target is
/// in sync (`in_sync`: each outcome `updated` or `unchanged`), else `fail` when it is set, else
/// nothing (the missing success ping is then the signal). A `would_update` under `DRY_RUN` is not
/// in sync: live differs from what the IdP publishes, and the Worker was told not to fix it
/// (README: under `DRY_RUN`, runs are not successes). operations.md §1.5.
pub fn heartbeat<'a>(
    in_sync: bool,
    success: Option<&'a Secret>,
    fail: Option<&'a Secret>,
) -> Option<(Beat, &'a Secret)> {
    if in_sync {
        success.map(|url| (Beat::Success, url))
    } else {
        fail.map(|url| (Beat::Fail, url))
    }
}

/// `HEARTBEAT_FAIL_URL` read on its own (trimmed, blank as unset), for a cron run whose settings
/// are invalid as a whole: `Some` when it is a URL the settings would accept
/// ([`is_allowed_url`]), so the failure can still be reported with `heartbeat(false, None, …)`.
/// The success URL is never pinged for a run that did not sync.
pub fn fail_url_alone(lookup: impl Fn(&str) -> Option<String>) -> Option<Secret> {
    let value = lookup("HEARTBEAT_FAIL_URL")?;
    let value = value.trim();
    let url = Url::parse(value).ok()?;
    is_allowed_url(&url).then(|| Secret::new(value.to_owned()))
}

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

    const OK_URL: &str = "https://hc-ping.com/abc";
    const FAIL_URL: &str = "https://hc-ping.com/abc/fail";

    fn beat(in_sync: bool, success: Option<&str>, fail: Option<&str>) -> Option<(Beat, String)> {
        let (success, fail) = (success.map(secret_of), fail.map(secret_of));
        heartbeat(in_sync, success.as_ref(), fail.as_ref())
            .map(|(b, url)| (b, url.expose().to_owned()))
    }

    fn secret_of(url: &str) -> Secret {
        Secret::new(url.to_owned())
    }

    /// Issue M2: the success URL only when every target is in sync.
    #[test]
    fn the_success_url_only_when_in_sync_else_the_fail_url_if_set() {
        let (ok, fail) = (Some(OK_URL), Some(FAIL_URL));
        assert_eq!(beat(true, ok, fail), Some((Beat::Success, OK_URL.into())));
        assert_eq!(beat(false, ok, fail), Some((Beat::Fail, FAIL_URL.into())));
        assert_eq!(beat(true, ok, None), Some((Beat::Success, OK_URL.into())));
        assert_eq!(
            beat(false, ok, None),
            None,
            "the missing ping is the signal"
        );
        assert_eq!(beat(true, None, None), None);
        assert_eq!(
            beat(true, None, fail),
            None,
            "never the fail URL for a run in sync"
        );
        assert_eq!(
            (Beat::Success.as_str(), Beat::Fail.as_str()),
            ("success", "fail")
        );
    }

    /// Issue M3: with invalid settings, a valid HEARTBEAT_FAIL_URL read on its own is pinged.
    #[test]
    fn invalid_settings_ping_a_valid_fail_url_read_on_its_own() {
        let alone = |value: &str| {
            let value = value.to_owned();
            fail_url_alone(|name| (name == "HEARTBEAT_FAIL_URL").then(|| value.clone()))
                .map(|s| s.expose().to_owned())
        };
        assert_eq!(alone(&format!("  {FAIL_URL}\n")), Some(FAIL_URL.to_owned()));
        let local = "http://127.0.0.1:8788/hb/fail";
        assert_eq!(alone(local), Some(local.to_owned()));
        for bad in ["http://hc-ping.example/abc/fail", "not a url", "  ", ""] {
            assert_eq!(alone(bad), None, "{bad:?}");
        }
        assert_eq!(fail_url_alone(|_| None), None);
        let fail = fail_url_alone(|_| Some(FAIL_URL.to_owned()));
        assert_eq!(
            heartbeat(false, None, fail.as_ref()).map(|(b, u)| (b, u.expose())),
            Some((Beat::Fail, FAIL_URL))
        );
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
