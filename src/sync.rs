//! The sync of every target: fetch → normalize → read live → diff → replace → verify → report.
//!
//! Safety over liveness: the only write is the final `PUT`, made only after every source of the
//! target was fetched and normalized without error and the live keys were read. Any earlier
//! failure leaves what is live untouched (stale-if-error, failure modes B12 and B21).

use crate::cloudflare::{self, CfError, CfErrorKind};
use crate::config::{Config, Target};
use crate::diff::diff;
use crate::error::Error;
use crate::http::{
    send_with_retry, Client, Method, Request, RetryPolicy, TransportError, USER_AGENT,
};
use crate::jwks::{self, Options};
use crate::report::{ErrorReport, KeyId, Outcome, Report, TargetReport};
use crate::source::extract_source;

/// Largest Cloudflare API answer read, in bytes.
const MAX_CF_BODY_BYTES: usize = 1_048_576;

/// Whether a run may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Replace credentials where they differ (unless the config says `DRY_RUN`).
    Sync,
    /// Compute everything, write nothing.
    Preview,
}

/// Syncs (or previews) every target of `config` in order and reports each.
///
/// `now_unix_s` (seconds since the epoch) dates `x5c` certificates when ranking keys over the limit.
pub async fn run<C: Client>(client: &C, config: &Config, mode: Mode, now_unix_s: i64) -> Report {
    let write = mode == Mode::Sync && !config.dry_run;
    let run = Run {
        client,
        config,
        opts: Options {
            now_unix_s,
            ..config.jwks.clone()
        },
        policy: RetryPolicy {
            timeout_ms: config.fetch_timeout_ms,
            ..RetryPolicy::default()
        },
        write,
    };
    let mut targets = Vec::with_capacity(config.targets.len());
    for target in &config.targets {
        targets.push(run.target(target).await);
    }
    Report {
        dry_run: !write,
        targets,
    }
}

/// What every target of one run shares.
struct Run<'a, C> {
    client: &'a C,
    config: &'a Config,
    opts: Options,
    policy: RetryPolicy,
    write: bool,
}

impl<C: Client> Run<'_, C> {
    async fn target(&self, target: &Target) -> TargetReport {
        let mut report = TargetReport {
            name: target.name.clone(),
            zone_id: target.zone_id.clone(),
            config_id: target.config_id.clone(),
            outcome: Outcome::Failed,
            keys: Vec::new(),
            dropped: Vec::new(),
            diff: None,
            warnings: Vec::new(),
            error: None,
        };
        // `outcome` stays `Failed` unless the sync reaches one of its successful ends.
        if let Err(e) = self.sync(target, &mut report).await {
            report.error = Some(ErrorReport::from(&e));
        }
        report
    }

    async fn sync(&self, target: &Target, report: &mut TargetReport) -> Result<(), Error> {
        let (client, opts, policy) = (self.client, &self.opts, &self.policy);
        // Every source must succeed: a partial set could lock users out.
        let mut extracted = Vec::with_capacity(target.sources.len());
        for source in &target.sources {
            extracted
                .push(extract_source(client, source, opts, policy, &mut report.warnings).await?);
        }
        // An empty result still reports each drop, where tools read them.
        let set =
            jwks::select(extracted, opts).inspect_err(|e| report.dropped = e.dropped().to_vec())?;
        report.keys = set.keys.iter().map(KeyId::from).collect();
        report.dropped = set.dropped;
        for k in set
            .keys
            .iter()
            .filter(|k| k.alg_inferred() && k.alg().is_rsa())
        {
            let warning = format!("{}: no alg in the JWKS; sending {}", k.kid(), k.alg());
            report.warnings.push(warning);
        }

        let base = &self.config.cf_api_base;
        let url = cloudflare::config_url(base, &target.zone_id, &target.config_id);
        let resp = self
            .cf_call(Method::Get, &url, None, "read live keys")
            .await?;
        let live = cloudflare::parse_config(&url, resp.status, &resp.body, opts.rsa_default_alg)?;
        let (d, needed) = diff(&live, &set.keys);
        report.diff = Some(d);
        if !needed {
            report.outcome = Outcome::Unchanged;
            return Ok(());
        }
        if !self.write {
            report.outcome = Outcome::WouldUpdate;
            return Ok(());
        }

        let url = cloudflare::credentials_url(base, &target.zone_id, &target.config_id);
        let body = cloudflare::credentials_body(&set.keys);
        let resp = self
            .cf_call(Method::Put, &url, Some(body), "replace credentials")
            .await?;
        let accepted = cloudflare::verify_put(&url, resp.status, &resp.body, &set.keys)?;
        let messages = accepted.messages.iter().map(|m| format!("cloudflare {m}"));
        report.warnings.extend(messages);
        report.outcome = Outcome::Updated;
        Ok(())
    }

    /// One Cloudflare API call with the token, retried under the run's policy.
    async fn cf_call(
        &self,
        method: Method,
        url: &str,
        body: Option<String>,
        operation: &'static str,
    ) -> Result<crate::http::Response, CfError> {
        let token = format!("Bearer {}", self.config.cf_api_token.expose());
        let mut headers = vec![
            ("authorization", token),
            ("user-agent", USER_AGENT.to_owned()),
            ("accept", "application/json".to_owned()),
        ];
        if body.is_some() {
            headers.push(("content-type", "application/json".to_owned()));
        }
        let req = Request {
            method,
            url: url.to_owned(),
            headers,
            body,
            timeout_ms: self.policy.timeout_ms,
            no_store: true,
        };
        send_with_retry(self.client, &req, &self.policy, MAX_CF_BODY_BYTES)
            .await
            .map_err(|t: TransportError| CfError {
                operation,
                url: url.to_owned(),
                kind: CfErrorKind::Transport {
                    detail: t.to_string(),
                },
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, Source};
    use crate::error::Stage;
    use crate::http::fake::{block_on, FakeClient};
    use crate::http::Response;
    use serde_json::{json, Value};

    const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
    const CONFIG: &str = "4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7";
    const BASE: &str = "https://api.example/client/v4";
    const JWKS_URL: &str = "https://idp.example/jwks";
    const NEW_URL: &str = "https://new.example/jwks";
    const TOKEN: &str = "cf-secret-token-value";
    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const X2: &str = "WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis";
    const Y2: &str = "y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE";

    /// One target fed by `urls`.
    fn config(urls: &[&str]) -> Config {
        let sources = urls.iter().map(|u| Source::JwksUrl((*u).into())).collect();
        Config {
            targets: vec![Target {
                name: "default".into(),
                zone_id: ZONE.into(),
                config_id: CONFIG.into(),
                sources,
            }],
            cf_api_base: BASE.into(),
            cf_api_token: Secret::new(TOKEN.into()),
            dry_run: false,
            jwks: Options::default(),
            fetch_timeout_ms: 8_000,
            ops: crate::ops::Ops::default(),
        }
    }

    fn ec(kid: &str, x: &str, y: &str) -> Value {
        json!({"kty":"EC","kid":kid,"alg":"ES256","crv":"P-256","x":x,"y":y})
    }

    fn a() -> Value {
        ec("a", X, Y)
    }

    fn b() -> Value {
        ec("b", X2, Y2)
    }

    fn config_url() -> String {
        cloudflare::config_url(BASE, ZONE, CONFIG)
    }

    fn creds_url() -> String {
        cloudflare::credentials_url(BASE, ZONE, CONFIG)
    }

    /// A client whose IdP at [`JWKS_URL`] serves `idp` and whose configuration holds `live`.
    fn scripted(idp: &[Value], live: &[Value]) -> FakeClient {
        let c = FakeClient::default();
        c.json(
            Method::Get,
            JWKS_URL,
            200,
            &json!({ "keys": idp }).to_string(),
        );
        let config = json!({"success":true,"errors":[],"messages":[],"result":{"id":CONFIG,"credentials":{"keys":live}}});
        c.json(Method::Get, &config_url(), 200, &config.to_string());
        c
    }

    /// A client whose IdP serves key `a` and whose Cloudflare API refuses the token with `status`.
    fn cf_refuses(status: u16) -> FakeClient {
        let c = FakeClient::default();
        c.json(
            Method::Get,
            JWKS_URL,
            200,
            &json!({ "keys": [a()] }).to_string(),
        );
        let refusal =
            r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}"#;
        c.json(Method::Get, &config_url(), status, refusal);
        c
    }

    fn put_answers(c: &FakeClient, status: u16, keys: &[Value]) {
        let body = json!({"success":status < 300,"errors":[],"messages":[],"keys":keys});
        c.json(Method::Put, &creds_url(), status, &body.to_string());
    }

    fn put_body(c: &FakeClient) -> Value {
        let sent = c.sent.borrow();
        let put = sent
            .iter()
            .find(|r| r.method == Method::Put)
            .expect("a PUT was sent");
        serde_json::from_str(put.body.as_deref().unwrap()).unwrap()
    }

    fn run_one(c: &FakeClient, cfg: &Config, mode: Mode) -> TargetReport {
        let mut r = block_on(run(c, cfg, mode, 0));
        assert_eq!(r.targets.len(), 1);
        r.targets.remove(0)
    }

    #[test]
    fn first_sync_pushes_exactly_the_normalized_keys() {
        let enc = json!({"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"});
        let c = scripted(&[a(), enc], &[]);
        put_answers(&c, 200, &[a()]);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        assert_eq!(t.outcome, Outcome::Updated, "{t:?}");
        assert_eq!(
            t.keys,
            vec![KeyId {
                kid: "a".into(),
                alg: "ES256".into(),
                alg_inferred: false
            }]
        );
        assert_eq!(t.dropped.len(), 1);
        assert_eq!(t.dropped[0].reason.code(), "NOT_SIG");
        assert_eq!(t.diff.as_ref().unwrap().added, vec!["a"]);
        assert_eq!(put_body(&c), json!({ "keys": [a()] }));
        let sent = c.sent.borrow();
        let put = sent.iter().find(|r| r.method == Method::Put).unwrap();
        assert!(put
            .body
            .as_deref()
            .unwrap()
            .starts_with(r#"{"keys":[{"kty":"EC","kid":"a","alg":"ES256","crv":"P-256","x":"#));
        assert!(put
            .headers
            .contains(&("authorization", format!("Bearer {TOKEN}"))));
        assert!(put
            .headers
            .contains(&("content-type", "application/json".to_owned())));
    }

    #[test]
    fn nothing_new_means_no_put() {
        let c = scripted(&[a()], &[a()]);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        assert_eq!(t.outcome, Outcome::Unchanged);
        assert!(c.sent_to(Method::Put).is_empty());
    }

    #[test]
    fn preview_and_dry_run_never_write() {
        for (mode, dry) in [(Mode::Preview, false), (Mode::Sync, true)] {
            let c = scripted(&[a()], &[]);
            let mut cfg = config(&[JWKS_URL]);
            cfg.dry_run = dry;
            let r = block_on(run(&c, &cfg, mode, 0));
            assert!(r.dry_run);
            assert_eq!(r.targets[0].outcome, Outcome::WouldUpdate);
            assert!(c.sent_to(Method::Put).is_empty());
        }
    }

    #[test]
    fn every_failure_before_the_write_leaves_live_untouched() {
        let idp = |status: u16, content_type: &str, body: &str| {
            let c = FakeClient::default();
            for _ in 0..3 {
                c.on(
                    Method::Get,
                    JWKS_URL,
                    Ok(Response {
                        status,
                        content_type: Some(content_type.into()),
                        body: body.into(),
                        ..Default::default()
                    }),
                );
            }
            c
        };
        let cases = [
            (
                "idp 500",
                idp(500, "text/plain", "boom"),
                Stage::Fetch,
                "JWKS_HTTP_STATUS",
            ),
            (
                "idp html",
                idp(200, "text/html", "<!doctype html><p>hi"),
                Stage::Parse,
                "JWKS_HTML",
            ),
            (
                "no usable keys",
                idp(
                    200,
                    "application/json",
                    r#"{"keys":[{"kty":"OKP","kid":"o","crv":"Ed25519","x":"AAAA"}]}"#,
                ),
                Stage::Normalize,
                "JWKS_NO_USABLE_KEYS",
            ),
            (
                "empty keys",
                idp(200, "application/json", r#"{"keys":[]}"#),
                Stage::Normalize,
                "JWKS_NO_USABLE_KEYS",
            ),
            (
                "cf 403",
                cf_refuses(403),
                Stage::Cloudflare,
                "CF_API_STATUS",
            ),
        ];
        for (name, c, stage, code) in cases {
            let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
            assert_eq!(t.outcome, Outcome::Failed, "{name}");
            let e = t.error.unwrap();
            assert_eq!((e.stage, e.code), (stage, code), "{name}: {}", e.message);
            assert!(c.sent_to(Method::Put).is_empty(), "{name}");
            let drops: Vec<&str> = t.dropped.iter().map(|d| d.reason.code()).collect();
            let want: &[&str] = if name == "no usable keys" {
                &["UNSUPPORTED_KTY"]
            } else {
                &[]
            };
            assert_eq!(drops, want, "{name}");
        }
    }

    #[test]
    fn a_failed_source_fails_a_merged_target() {
        let c = scripted(&[a()], &[]);
        let t = run_one(&c, &config(&[JWKS_URL, NEW_URL]), Mode::Sync);
        assert_eq!(
            t.error.unwrap().message,
            "fetch https://new.example/jwks: expected 2xx, got 404"
        );
        assert!(c
            .sent_to(Method::Get)
            .iter()
            .all(|u| !u.contains("/zones/")));
    }

    #[test]
    fn two_sources_merge_into_one_put() {
        let c = scripted(&[a()], &[a()]);
        c.json(
            Method::Get,
            NEW_URL,
            200,
            &json!({ "keys": [b()] }).to_string(),
        );
        put_answers(&c, 200, &[a(), b()]);
        let t = run_one(&c, &config(&[JWKS_URL, NEW_URL]), Mode::Sync);
        assert_eq!(t.outcome, Outcome::Updated, "{t:?}");
        let d = t.diff.unwrap();
        assert_eq!(
            (d.added, d.unchanged),
            (vec!["b".to_owned()], vec!["a".to_owned()])
        );
        assert_eq!(put_body(&c), json!({ "keys": [a(), b()] }));
    }

    #[test]
    fn a_key_cloudflare_dropped_fails_the_target() {
        let c = scripted(&[a(), b()], &[]);
        put_answers(&c, 200, &[a()]);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        assert_eq!(t.outcome, Outcome::Failed);
        assert_eq!(t.error.unwrap().code, "CF_VERIFY_MISMATCH");
    }

    #[test]
    fn a_rejected_put_is_not_retried() {
        let c = scripted(&[a()], &[]);
        c.json(
            Method::Put,
            &creds_url(),
            400,
            r#"{"success":false,"errors":[{"code":10021,"message":"bad key"}]}"#,
        );
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        let want = format!(
            "cloudflare replace credentials {}: HTTP 400; 10021: bad key",
            creds_url()
        );
        assert_eq!(t.error.unwrap().message, want);
        assert_eq!(c.sent_to(Method::Put).len(), 1);
    }

    #[test]
    fn a_put_answered_429_is_retried_after_its_retry_after() {
        let c = scripted(&[a()], &[]);
        c.on(
            Method::Put,
            &creds_url(),
            Ok(Response {
                status: 429,
                retry_after: Some("1".into()),
                ..Default::default()
            }),
        );
        put_answers(&c, 200, &[a()]);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        assert_eq!(t.outcome, Outcome::Updated);
        assert_eq!(*c.sleeps.borrow(), vec![1000]);
    }

    #[test]
    fn defaulted_algs_are_warnings() {
        let n = "wA".to_owned() + &"A".repeat(340);
        let c = scripted(&[json!({"kty":"RSA","kid":"r","n":n,"e":"AQAB"})], &[]);
        let answer = json!({"success":true,"errors":[],
            "messages":[{"code":110003,"message":"keys[0].alg was omitted and defaulted to \"RS256\" (kid r)"}],
            "keys":[{"kid":"r","alg":"RS256"}]});
        c.json(Method::Put, &creds_url(), 200, &answer.to_string());
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        assert_eq!(t.outcome, Outcome::Updated, "{t:?}");
        assert_eq!(
            t.keys,
            vec![KeyId {
                kid: "r".into(),
                alg: "RS256".into(),
                alg_inferred: true
            }]
        );
        assert_eq!(
            t.warnings,
            vec![
                "r: no alg in the JWKS; sending RS256",
                "cloudflare 110003: keys[0].alg was omitted and defaulted to \"RS256\" (kid r)"
            ]
        );
    }

    #[test]
    fn the_report_never_holds_the_token() {
        let c = cf_refuses(401);
        let r = block_on(run(&c, &config(&[JWKS_URL]), Mode::Sync, 0));
        assert!(!r.to_json().contains(TOKEN));
        assert_eq!(r.http_status(), 502);
        assert_eq!(r.failure_summary(), "default (cloudflare)");
    }
}
