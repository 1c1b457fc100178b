//! Fetching one source's keys: the JWKS GET with its headers, bounded `https` redirects and
//! retries, OIDC discovery, then extraction by the [`jwks`](crate::jwks) module.

use std::fmt;

use url::Url;

use crate::config::{is_allowed_url, Source};
use crate::error::Error;
use crate::http::{
    send_with_retry, Attempts, Client, Method, Request, RetryPolicy, TransportError, USER_AGENT,
};
use crate::jwks::{self, Extracted, Options, MAX_BODY_BYTES};

/// The `Accept` header of every IdP request: the JWKS media type (RFC 7517 §8.5.1) first.
pub const ACCEPT: &str = "application/jwk-set+json, application/json;q=0.9, */*;q=0.1";

/// Redirects followed per document, each to an `https` URL (or loopback `http`) only (B11).
pub const MAX_REDIRECTS: usize = 3;

/// A fetched document: the URL it finally came from, its content type and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The URL that answered 2xx, after redirects.
    pub url: String,
    /// `content-type`, if sent.
    pub content_type: Option<String>,
    /// The body, at most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
}

/// Why a document could not be fetched (stage `fetch`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchErrorKind {
    /// No answer after the retries.
    Transport(TransportError),
    /// The last answer was not 2xx (nor a followable redirect).
    Status {
        /// HTTP status.
        status: u16,
        /// `retry-after` as sent, if any.
        retry_after: Option<String>,
    },
    /// A redirect without `Location`, to a URL that is not `https`, or one too many.
    Redirect(String),
}

/// A fetch failure, naming the URL asked for and what each attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    /// The URL that failed.
    pub url: String,
    /// What happened.
    pub kind: FetchErrorKind,
    /// What each attempt of the failing request got (empty when no request failed, e.g. a
    /// refused redirect target).
    pub attempts: Attempts,
}

impl FetchError {
    /// The stable machine code. Statuses are told apart so an alert (and the hint) can say what to
    /// check: `JWKS_FORBIDDEN` (401, 403), `JWKS_NOT_FOUND` (404, 410), `JWKS_RATE_LIMITED` (429),
    /// `JWKS_TLS_ERROR` (Cloudflare's 525 and 526: TLS handshake failed, invalid certificate),
    /// `JWKS_DNS_ERROR` (530: a Worker's subrequest to a host it cannot resolve answers 530 with
    /// error 1016, developers.cloudflare.com/workers/platform/known-issues), `JWKS_UNREACHABLE`
    /// (no answer, or Cloudflare's 521-523: origin down or unreachable), `JWKS_UNAVAILABLE` (other
    /// 5xx), `JWKS_HTTP_STATUS` (any other status); `JWKS_TIMEOUT`, `JWKS_TOO_LARGE`,
    /// `JWKS_REDIRECT`.
    pub fn code(&self) -> &'static str {
        match &self.kind {
            FetchErrorKind::Transport(TransportError::Timeout { .. }) => "JWKS_TIMEOUT",
            FetchErrorKind::Transport(TransportError::TooLarge { .. }) => "JWKS_TOO_LARGE",
            FetchErrorKind::Transport(TransportError::Network(_)) => "JWKS_UNREACHABLE",
            FetchErrorKind::Status { status, .. } => match status {
                401 | 403 => "JWKS_FORBIDDEN",
                404 | 410 => "JWKS_NOT_FOUND",
                429 => "JWKS_RATE_LIMITED",
                525 | 526 => "JWKS_TLS_ERROR",
                530 => "JWKS_DNS_ERROR",
                521..=523 => "JWKS_UNREACHABLE",
                500..=599 => "JWKS_UNAVAILABLE",
                _ => "JWKS_HTTP_STATUS",
            },
            FetchErrorKind::Redirect(_) => "JWKS_REDIRECT",
        }
    }
}

/// `<cause>[ after N attempts (…)][; retry-after …]; <url>`: the cause first, so a log line or an
/// alert cut short still shows it.
impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attempts = self.attempts.suffix();
        match &self.kind {
            FetchErrorKind::Transport(TransportError::Timeout { after_ms }) => write!(
                f,
                "no answer from the IdP within {after_ms} ms (FETCH_TIMEOUT_MS){attempts}"
            )?,
            FetchErrorKind::Transport(t @ TransportError::TooLarge { .. }) => write!(f, "{t}")?,
            FetchErrorKind::Transport(t) => write!(f, "no answer from the IdP ({t}){attempts}")?,
            FetchErrorKind::Status {
                status,
                retry_after,
            } => {
                write!(f, "HTTP {status} from the IdP{attempts}")?;
                if let Some(r) = retry_after {
                    write!(f, "; retry-after {r}")?;
                }
            }
            FetchErrorKind::Redirect(d) => f.write_str(d)?,
        }
        write!(f, "; {}", self.url)
    }
}

impl std::error::Error for FetchError {}

/// GETs `url` with the IdP headers, following at most [`MAX_REDIRECTS`] redirects to allowed URLs,
/// retrying transient failures under `policy`. A request that succeeded only after retries adds a
/// warning to `warnings`.
///
/// # Errors
/// [`FetchError`] when no 2xx answer could be had.
pub async fn get_document<C: Client>(
    client: &C,
    url: &str,
    policy: &RetryPolicy,
    warnings: &mut Vec<String>,
) -> Result<Document, FetchError> {
    let mut current = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let req = Request {
            method: Method::Get,
            url: current.clone(),
            headers: vec![
                ("accept", ACCEPT.to_owned()),
                ("user-agent", USER_AGENT.to_owned()),
            ],
            body: None,
            timeout_ms: policy.timeout_ms,
            no_store: true,
        };
        let sent = send_with_retry(client, &req, policy, MAX_BODY_BYTES).await;
        let fail = |kind| FetchError {
            url: current.clone(),
            kind,
            attempts: sent.attempts.clone(),
        };
        let resp = match sent.outcome {
            Ok(resp) => resp,
            Err(t) => return Err(fail(FetchErrorKind::Transport(t))),
        };
        let retried = sent.attempts.retried_warning();
        let mut note_retries = |at: &str| {
            if let Some(w) = &retried {
                warnings.push(format!("{w}; GET {at}"));
            }
        };
        match resp.status {
            200..=299 => {
                note_retries(&current);
                return Ok(Document {
                    url: current,
                    content_type: resp.content_type,
                    body: resp.body,
                });
            }
            301 | 302 | 303 | 307 | 308 => {
                let Some(location) = resp.location else {
                    return Err(fail(FetchErrorKind::Redirect(format!(
                        "redirect {} without a location",
                        resp.status
                    ))));
                };
                let next = Url::parse(&current).and_then(|base| base.join(&location));
                match next {
                    Ok(next) if is_allowed_url(&next) => {
                        note_retries(&current);
                        current = next.into();
                    }
                    _ => {
                        return Err(fail(FetchErrorKind::Redirect(format!(
                            "redirect {} to {location:?} refused; only https targets are followed",
                            resp.status
                        ))))
                    }
                }
            }
            status => {
                return Err(fail(FetchErrorKind::Status {
                    status,
                    retry_after: resp.retry_after,
                }))
            }
        }
    }
    Err(FetchError {
        url: url.to_owned(),
        kind: FetchErrorKind::Redirect(format!(
            "more than {MAX_REDIRECTS} redirects; last to {current}"
        )),
        attempts: Attempts::default(),
    })
}

/// The discovery document URL of an issuer: `{issuer}/.well-known/openid-configuration`
/// (OpenID Connect Discovery 1.0 §4; a trailing `/` on the issuer is not doubled).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Fetches one source and extracts its candidate keys. `warnings` receives what deserves a look
/// but does not stop the sync.
///
/// An issuer is resolved through its discovery document to `jwks_uri`. A JWKS URL that turns out
/// to serve a discovery document is followed to its `jwks_uri` once (B23). The `jwks_uri` must be
/// an allowed URL, like any configured one. A discovery document whose `issuer` differs from the
/// configured one is a warning, not an error: OpenID Connect Discovery 1.0 §4.3 requires them to
/// be identical, but Entra ID's multi-tenant documents publish a template
/// (`https://login.microsoftonline.com/{tenantid}/v2.0`).
///
/// # Errors
/// Stage `fetch` for transport, status and redirect failures; `parse`/`normalize` from the
/// [`jwks`] module.
pub async fn extract_source<C: Client>(
    client: &C,
    source: &Source,
    opts: &Options,
    policy: &RetryPolicy,
    warnings: &mut Vec<String>,
) -> Result<Extracted, Error> {
    let jwks_url = match source {
        Source::JwksUrl(url) => {
            let doc = get_document(client, url, policy, warnings).await?;
            match jwks::extract(&doc.body, doc.content_type.as_deref(), &doc.url, opts) {
                Err(e) => match e.discovery_jwks_uri() {
                    Some(uri) => checked_jwks_uri(&doc.url, uri)?,
                    None => return Err(e.into()),
                },
                ok => return Ok(ok?),
            }
        }
        Source::Issuer(issuer) => {
            let doc = get_document(client, &discovery_url(issuer), policy, warnings).await?;
            let discovery =
                jwks::parse_discovery(&doc.body, doc.content_type.as_deref(), &doc.url)?;
            match discovery.issuer.as_deref() {
                Some(named) if named != issuer => warnings.push(format!(
                    "{}: the discovery document names issuer {named:?}, not the configured {issuer:?}",
                    doc.url
                )),
                _ => {}
            }
            checked_jwks_uri(&doc.url, &discovery.jwks_uri)?
        }
    };
    let doc = get_document(client, &jwks_url, policy, warnings).await?;
    let extracted = jwks::extract(&doc.body, doc.content_type.as_deref(), &doc.url, opts)?;
    Ok(extracted)
}

/// Resolves `jwks_uri` against the discovery document's URL and applies the URL rule.
fn checked_jwks_uri(from: &str, uri: &str) -> Result<String, FetchError> {
    match Url::parse(from).and_then(|base| base.join(uri)) {
        Ok(u) if is_allowed_url(&u) => Ok(u.into()),
        _ => Err(FetchError {
            url: from.to_owned(),
            kind: FetchErrorKind::Redirect(format!(
                "jwks_uri {uri:?} refused; only https URLs are followed"
            )),
            attempts: Attempts::default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Stage;
    use crate::http::fake::{block_on, FakeClient};
    use crate::http::Response;

    const JWKS: &str = r#"{"keys":[{"kty":"EC","kid":"e1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    fn redirect(status: u16, to: &str) -> Result<Response, TransportError> {
        Ok(Response {
            status,
            location: Some(to.into()),
            ..Default::default()
        })
    }

    /// Extracts `src` with default options; returns the result and the warnings.
    fn extract(c: &FakeClient, src: &Source) -> (Result<Extracted, Error>, Vec<String>) {
        let mut warnings = Vec::new();
        let policy = RetryPolicy::default();
        let r = block_on(extract_source(
            c,
            src,
            &Options::default(),
            &policy,
            &mut warnings,
        ));
        (r, warnings)
    }

    fn kids(e: &Extracted) -> Vec<String> {
        jwks::select(std::slice::from_ref(e), &Options::default())
            .unwrap()
            .keys
            .iter()
            .map(|k| k.kid().to_owned())
            .collect()
    }

    #[test]
    fn sends_the_idp_headers_without_cache() {
        let c = FakeClient::default();
        c.json(Method::Get, "https://idp.example/jwks", 200, JWKS);
        let doc = block_on(get_document(
            &c,
            "https://idp.example/jwks",
            &RetryPolicy::default(),
            &mut Vec::new(),
        ))
        .unwrap();
        assert_eq!(doc.body, JWKS.as_bytes());
        let sent = c.sent.borrow();
        assert_eq!(
            sent[0].headers,
            vec![
                ("accept", ACCEPT.to_owned()),
                ("user-agent", USER_AGENT.to_owned())
            ]
        );
        assert!(sent[0].no_store);
        assert_eq!(sent[0].timeout_ms, 8_000);
    }

    #[test]
    fn follows_relative_https_redirects() {
        let c = FakeClient::default();
        c.on(
            Method::Get,
            "https://idp.example/jwks",
            redirect(301, "/v2/jwks"),
        );
        c.json(Method::Get, "https://idp.example/v2/jwks", 200, JWKS);
        let doc = block_on(get_document(
            &c,
            "https://idp.example/jwks",
            &RetryPolicy::default(),
            &mut Vec::new(),
        ))
        .unwrap();
        assert_eq!(doc.url, "https://idp.example/v2/jwks");
    }

    #[test]
    fn refuses_a_downgrade_to_http() {
        let c = FakeClient::default();
        c.on(
            Method::Get,
            "https://idp.example/jwks",
            redirect(302, "http://evil.example/jwks"),
        );
        let e = block_on(get_document(
            &c,
            "https://idp.example/jwks",
            &RetryPolicy::default(),
            &mut Vec::new(),
        ))
        .unwrap_err();
        assert_eq!(e.code(), "JWKS_REDIRECT");
        assert_eq!(
            e.to_string(),
            "redirect 302 to \"http://evil.example/jwks\" refused; only https targets are followed; https://idp.example/jwks"
        );
    }

    #[test]
    fn stops_a_redirect_loop() {
        let c = FakeClient::default();
        for _ in 0..=MAX_REDIRECTS {
            c.on(
                Method::Get,
                "https://idp.example/a",
                redirect(307, "https://idp.example/a"),
            );
        }
        let e = block_on(get_document(
            &c,
            "https://idp.example/a",
            &RetryPolicy::default(),
            &mut Vec::new(),
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "more than 3 redirects; last to https://idp.example/a; https://idp.example/a"
        );
        assert_eq!(c.sent.borrow().len(), MAX_REDIRECTS + 1);
    }

    #[test]
    fn a_403_is_a_fetch_failure() {
        let c = FakeClient::default();
        c.json(Method::Get, "https://idp.example/jwks", 403, "forbidden");
        let e = block_on(get_document(
            &c,
            "https://idp.example/jwks",
            &RetryPolicy::default(),
            &mut Vec::new(),
        ))
        .unwrap_err();
        assert_eq!(
            e.kind,
            FetchErrorKind::Status {
                status: 403,
                retry_after: None
            }
        );
        assert_eq!(e.code(), "JWKS_FORBIDDEN");
        assert_eq!(
            e.to_string(),
            "HTTP 403 from the IdP; https://idp.example/jwks"
        );
    }

    /// Each way an IdP answer can fail has its own code, so the hint can say what to check.
    #[test]
    fn every_failing_status_has_its_code() {
        let rows = [
            (401, "JWKS_FORBIDDEN"),
            (403, "JWKS_FORBIDDEN"),
            (404, "JWKS_NOT_FOUND"),
            (410, "JWKS_NOT_FOUND"),
            (429, "JWKS_RATE_LIMITED"),
            (500, "JWKS_UNAVAILABLE"),
            (503, "JWKS_UNAVAILABLE"),
            (521, "JWKS_UNREACHABLE"),
            (522, "JWKS_UNREACHABLE"),
            (523, "JWKS_UNREACHABLE"),
            (524, "JWKS_UNAVAILABLE"),
            (525, "JWKS_TLS_ERROR"),
            (526, "JWKS_TLS_ERROR"),
            (530, "JWKS_DNS_ERROR"),
            (400, "JWKS_HTTP_STATUS"),
            (304, "JWKS_HTTP_STATUS"),
        ];
        for (status, code) in rows {
            let c = FakeClient::default();
            for _ in 0..3 {
                c.json(Method::Get, "https://idp.example/jwks", status, "no");
            }
            let e = block_on(get_document(
                &c,
                "https://idp.example/jwks",
                &RetryPolicy::default(),
                &mut Vec::new(),
            ))
            .unwrap_err();
            assert_eq!(e.code(), code, "{status}");
            assert_eq!(
                crate::catalogue::entry(code).map(|e| e.stage),
                Some(Some(crate::error::Stage::Fetch)),
                "{code}"
            );
        }
    }

    #[test]
    fn a_failure_after_retries_says_how_many_and_the_retry_after() {
        let c = FakeClient::default();
        for _ in 0..2 {
            c.on(
                Method::Get,
                "https://idp.example/jwks",
                Ok(Response {
                    status: 503,
                    ..Default::default()
                }),
            );
        }
        c.on(
            Method::Get,
            "https://idp.example/jwks",
            Ok(Response {
                status: 429,
                retry_after: Some("600".into()),
                ..Default::default()
            }),
        );
        let e = block_on(get_document(
            &c,
            "https://idp.example/jwks",
            &RetryPolicy::default(),
            &mut Vec::new(),
        ))
        .unwrap_err();
        assert_eq!(e.code(), "JWKS_RATE_LIMITED");
        assert_eq!(
            e.to_string(),
            "HTTP 429 from the IdP after 3 attempts (503, 503, 429); retry-after 600; https://idp.example/jwks"
        );
    }

    #[test]
    fn a_timeout_names_fetch_timeout_ms() {
        let c = FakeClient::default();
        for _ in 0..3 {
            c.on(
                Method::Get,
                "https://idp.example/jwks",
                Err(TransportError::Timeout { after_ms: 500 }),
            );
        }
        let e = block_on(get_document(
            &c,
            "https://idp.example/jwks",
            &RetryPolicy::default(),
            &mut Vec::new(),
        ))
        .unwrap_err();
        assert_eq!(e.code(), "JWKS_TIMEOUT");
        assert_eq!(
            e.to_string(),
            "no answer from the IdP within 500 ms (FETCH_TIMEOUT_MS) after 3 attempts (timeout, timeout, timeout); https://idp.example/jwks"
        );
        assert!(crate::catalogue::hint("JWKS_TIMEOUT").contains("FETCH_TIMEOUT_MS"));
    }

    #[test]
    fn a_success_after_retries_is_a_warning() {
        let c = FakeClient::default();
        c.json(Method::Get, "https://idp.example/jwks", 502, "busy");
        c.json(Method::Get, "https://idp.example/jwks", 200, JWKS);
        let mut warnings = Vec::new();
        block_on(get_document(
            &c,
            "https://idp.example/jwks",
            &RetryPolicy::default(),
            &mut warnings,
        ))
        .unwrap();
        assert_eq!(
            warnings,
            vec!["succeeded after 2 attempts (502); GET https://idp.example/jwks"]
        );
    }

    #[test]
    fn resolves_an_issuer_through_discovery() {
        let c = FakeClient::default();
        c.json(
            Method::Get,
            "https://idp.example/tenant/.well-known/openid-configuration",
            200,
            r#"{"issuer":"https://idp.example/tenant/","jwks_uri":"https://idp.example/tenant/keys"}"#,
        );
        c.json(Method::Get, "https://idp.example/tenant/keys", 200, JWKS);
        let src = Source::Issuer("https://idp.example/tenant/".into());
        let (e, warnings) = extract(&c, &src);
        assert!(warnings.is_empty(), "{warnings:?}");
        let e = e.unwrap();
        assert_eq!(kids(&e), vec!["e1"]);
    }

    #[test]
    fn a_different_issuer_in_discovery_is_a_warning() {
        let c = FakeClient::default();
        c.json(
            Method::Get,
            "https://login.example/common/v2.0/.well-known/openid-configuration",
            200,
            r#"{"issuer":"https://login.example/{tenantid}/v2.0","jwks_uri":"https://login.example/keys"}"#,
        );
        c.json(Method::Get, "https://login.example/keys", 200, JWKS);
        let (r, warnings) = extract(
            &c,
            &Source::Issuer("https://login.example/common/v2.0".into()),
        );
        assert_eq!(kids(&r.unwrap()), vec!["e1"]);
        assert_eq!(
            warnings,
            vec!["https://login.example/common/v2.0/.well-known/openid-configuration: the discovery document names issuer \"https://login.example/{tenantid}/v2.0\", not the configured \"https://login.example/common/v2.0\""]
        );
    }

    #[test]
    fn a_jwks_url_serving_discovery_is_followed_once() {
        let c = FakeClient::default();
        c.json(
            Method::Get,
            "https://idp.example/jwks",
            200,
            r#"{"issuer":"x","jwks_uri":"https://idp.example/keys"}"#,
        );
        c.json(
            Method::Get,
            "https://idp.example/keys",
            200,
            r#"{"issuer":"x","jwks_uri":"https://idp.example/jwks"}"#,
        );
        let src = Source::JwksUrl("https://idp.example/jwks".into());
        let e = extract(&c, &src).0.unwrap_err();
        assert_eq!(e.stage(), Stage::Parse);
        assert_eq!(e.code(), "JWKS_DISCOVERY_DOCUMENT");
        assert_eq!(c.sent.borrow().len(), 2);
    }

    #[test]
    fn an_http_jwks_uri_is_refused() {
        let c = FakeClient::default();
        c.json(
            Method::Get,
            "https://idp.example/.well-known/openid-configuration",
            200,
            r#"{"issuer":"https://idp.example","jwks_uri":"http://idp.example/keys"}"#,
        );
        let src = Source::Issuer("https://idp.example".into());
        let e = extract(&c, &src).0.unwrap_err();
        assert_eq!(e.stage(), Stage::Fetch);
        assert_eq!(e.code(), "JWKS_REDIRECT");
        assert_eq!(c.sent.borrow().len(), 1);
    }
}
