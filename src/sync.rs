//! The sync of every target: fetch → normalize → read live → diff → replace → verify → report.
//!
//! Safety over liveness: the only write is the final `PUT`, made only after every source of the
//! target was fetched and normalized without error and the live keys were read. Any earlier
//! failure leaves what is live untouched (stale-if-error, failure modes B12 and B21).

use crate::cloudflare::{self, CfError, CfErrorKind, LiveKeys};
use crate::config::{Config, Target};
use crate::diff::diff;
use crate::error::Error;
use crate::grace::{self, FirstMissing};
use crate::http::{
    send_with_retry, Client, Method, Request, RetryPolicy, TransportError, USER_AGENT,
};
use crate::jwks::{self, Options, PublicJwk};
use crate::report::{ErrorReport, KeyId, Outcome, TargetReport};
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

/// What one target's run takes from the target's recorded state and from the clock.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Milliseconds since the Unix epoch: the grace period's clock; its seconds date `x5c`
    /// certificates when ranking keys over the limit.
    pub now_ms: u64,
    /// When each live key the IdP stopped publishing was first found missing (see
    /// [`crate::grace`]); empty when the grace period is off.
    pub first_missing: &'a FirstMissing,
}

/// One target's run: its report, and what its Durable Object records.
#[derive(Debug, Clone)]
pub struct TargetRun {
    /// The result, as answered and logged.
    pub report: TargetReport,
    /// The keys of a verified write, exactly as sent: a set a rollback can restore.
    pub written: Option<Vec<PublicJwk>>,
    /// The first-missing times to record; `None` leaves the record as it is (the run did not get
    /// as far as comparing the IdP's keys with the live ones).
    pub first_missing: Option<FirstMissing>,
}

/// Syncs (or previews) one target: fetch → normalize → read live → grace period → diff →
/// replace → verify.
///
/// Writes only in [`Mode::Sync`] without `DRY_RUN`. With `RETAIN_REMOVED_KEYS_FOR` set, live
/// keys the IdP stopped publishing are kept beside its keys as [`grace::decide`] says.
pub async fn run_target<C: Client>(
    client: &C,
    config: &Config,
    target: &Target,
    mode: Mode,
    ctx: &Context<'_>,
) -> TargetRun {
    let write = mode == Mode::Sync && !config.dry_run;
    let run = Run::new(client, config, write, ctx.now_ms);
    let mut out = run.blank(target);
    if let Err(e) = run.sync(target, ctx, &mut out).await {
        out.report.error = Some(ErrorReport::from(&e));
    }
    out
}

/// Puts `keys` (a set an earlier run wrote) back as the target's credentials, through the same
/// read of the live keys, diff, write and verification as a sync. The IdP is not consulted.
///
/// `write` false previews the restore. `DRY_RUN` does not apply: a restore is an operator's
/// explicit request, typically made while `DRY_RUN` pauses the cron (README, "Rollback").
pub async fn restore_target<C: Client>(
    client: &C,
    config: &Config,
    target: &Target,
    keys: &[PublicJwk],
    write: bool,
    now_ms: u64,
) -> TargetRun {
    let run = Run::new(client, config, write, now_ms);
    let mut out = run.blank(target);
    out.report.keys = keys.iter().map(KeyId::from).collect();
    let pushed = match run.read_live(target).await {
        Ok(live) => run.push(target, &live, keys, &mut out.report).await,
        Err(e) => Err(e),
    };
    match pushed {
        Ok(true) => out.written = Some(keys.to_vec()),
        Ok(false) => {}
        Err(e) => out.report.error = Some(ErrorReport::from(&e)),
    }
    out
}

/// What every step of one target's run shares.
struct Run<'a, C> {
    client: &'a C,
    config: &'a Config,
    opts: Options,
    policy: RetryPolicy,
    write: bool,
}

impl<'a, C: Client> Run<'a, C> {
    fn new(client: &'a C, config: &'a Config, write: bool, now_ms: u64) -> Self {
        Run {
            client,
            config,
            opts: Options {
                now_unix_s: i64::try_from(now_ms / 1000).unwrap_or(i64::MAX),
                ..config.jwks.clone()
            },
            policy: RetryPolicy {
                timeout_ms: config.fetch_timeout_ms,
                ..RetryPolicy::default()
            },
            write,
        }
    }

    /// A run that has not got anywhere: `outcome` stays `Failed` unless the sync reaches one of
    /// its successful ends.
    fn blank(&self, target: &Target) -> TargetRun {
        TargetRun {
            report: TargetReport {
                name: target.name.clone(),
                zone_id: target.zone_id.clone(),
                config_id: target.config_id.clone(),
                outcome: Outcome::Failed,
                keys: Vec::new(),
                dropped: Vec::new(),
                diff: None,
                retained: Vec::new(),
                warnings: Vec::new(),
                error: None,
                run_id: None,
                restored_from: None,
            },
            written: None,
            first_missing: None,
        }
    }

    async fn sync(
        &self,
        target: &Target,
        ctx: &Context<'_>,
        out: &mut TargetRun,
    ) -> Result<(), Error> {
        let (client, opts, policy) = (self.client, &self.opts, &self.policy);
        let report = &mut out.report;
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

        let live = self.read_live(target).await?;
        let mut desired = set.keys;
        let mut kept_missing = FirstMissing::default();
        match self.config.ops.retain_removed_keys_for_ms {
            Some(period_ms) => {
                let d = grace::decide(
                    &live.keys,
                    &desired,
                    ctx.first_missing,
                    ctx.now_ms,
                    period_ms,
                    opts.max_keys,
                );
                report.keys.extend(d.keep.iter().map(KeyId::from));
                report.retained = d.retained;
                report.warnings.extend(d.warnings);
                desired.extend(d.keep);
                out.first_missing = Some(d.all_missing);
                kept_missing = d.kept_missing;
            }
            None => out.first_missing = Some(FirstMissing::default()),
        }
        if self.push(target, &live, &desired, &mut out.report).await? {
            // The write removed every missing key that was not kept.
            out.first_missing = Some(kept_missing);
            out.written = Some(desired);
        }
        Ok(())
    }

    /// Reads the target's live keys.
    async fn read_live(&self, target: &Target) -> Result<LiveKeys, Error> {
        let base = &self.config.cf_api_base;
        let url = cloudflare::config_url(base, &target.zone_id, &target.config_id);
        let resp = self
            .cf_call(Method::Get, &url, None, "read live keys")
            .await?;
        Ok(cloudflare::parse_config(
            &url,
            resp.status,
            &resp.body,
            self.opts.rsa_default_alg,
        )?)
    }

    /// Diffs `desired` against `live` and, when they differ and the run may write, replaces the
    /// credentials and verifies the answer. Returns whether a verified write happened.
    async fn push(
        &self,
        target: &Target,
        live: &LiveKeys,
        desired: &[PublicJwk],
        report: &mut TargetReport,
    ) -> Result<bool, Error> {
        let (d, needed) = diff(live, desired);
        report.diff = Some(d);
        if !needed {
            report.outcome = Outcome::Unchanged;
            return Ok(false);
        }
        if !self.write {
            report.outcome = Outcome::WouldUpdate;
            return Ok(false);
        }

        let base = &self.config.cf_api_base;
        let url = cloudflare::credentials_url(base, &target.zone_id, &target.config_id);
        let body = cloudflare::credentials_body(desired);
        let resp = self
            .cf_call(Method::Put, &url, Some(body), "replace credentials")
            .await?;
        let accepted = cloudflare::verify_put(&url, resp.status, &resp.body, desired)?;
        let messages = accepted.messages.iter().map(|m| format!("cloudflare {m}"));
        report.warnings.extend(messages);
        report.outcome = Outcome::Updated;
        Ok(true)
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
    use crate::jwks::decode_key;
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
        run_at(c, cfg, mode, 0, &FirstMissing::default()).report
    }

    fn run_at(
        c: &FakeClient,
        cfg: &Config,
        mode: Mode,
        now_ms: u64,
        first_missing: &FirstMissing,
    ) -> TargetRun {
        let ctx = Context {
            now_ms,
            first_missing,
        };
        block_on(run_target(c, cfg, &cfg.targets[0], mode, &ctx))
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
            let r = run_at(&c, &cfg, mode, 0, &FirstMissing::default());
            assert_eq!(r.report.outcome, Outcome::WouldUpdate);
            assert!(c.sent_to(Method::Put).is_empty());
            assert_eq!(r.written, None);
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

    const HOUR: u64 = 3_600_000;
    /// 2026-09-14T10:00:00Z.
    const NOW: u64 = 1_789_380_000_000;

    fn retaining(period_ms: u64) -> Config {
        let mut cfg = config(&[JWKS_URL]);
        cfg.ops.retain_removed_keys_for_ms = Some(period_ms);
        cfg
    }

    fn missing(entries: &[(&str, u64)]) -> FirstMissing {
        let list: Vec<Value> = entries
            .iter()
            .map(|(kid, t)| json!({"kid": kid, "alg": "ES256", "since_ms": t}))
            .collect();
        FirstMissing::from_json(&Value::Array(list).to_string())
    }

    #[test]
    fn a_retired_key_stays_live_for_its_grace_period() {
        // The IdP dropped a; it is still live, so it is kept: nothing to write.
        let c = scripted(&[b()], &[a(), b()]);
        let r = run_at(
            &c,
            &retaining(2 * HOUR),
            Mode::Sync,
            NOW,
            &FirstMissing::default(),
        );
        assert_eq!(r.report.outcome, Outcome::Unchanged, "{:?}", r.report);
        assert!(c.sent_to(Method::Put).is_empty());
        let kids: Vec<&str> = r.report.keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["b", "a"]);
        assert_eq!(r.report.retained.len(), 1);
        assert_eq!(
            (
                r.report.retained[0].kid.as_str(),
                r.report.retained[0].until.as_str()
            ),
            ("a", "2026-09-14T12:00:00Z")
        );
        assert_eq!(r.first_missing, Some(missing(&[("a", NOW)])));
        assert_eq!(r.written, None);
    }

    #[test]
    fn once_its_period_is_over_the_key_goes_and_leaves_the_record() {
        let c = scripted(&[b()], &[a(), b()]);
        put_answers(&c, 200, &[b()]);
        let rec = missing(&[("a", NOW - 2 * HOUR)]);
        let r = run_at(&c, &retaining(2 * HOUR), Mode::Sync, NOW, &rec);
        assert_eq!(r.report.outcome, Outcome::Updated, "{:?}", r.report);
        assert_eq!(put_body(&c), json!({ "keys": [b()] }));
        assert!(r.report.retained.is_empty());
        assert_eq!(r.report.diff.unwrap().removed, vec!["a"]);
        assert_eq!(r.first_missing, Some(FirstMissing::default()));
        let written: Vec<&str> = r
            .written
            .as_ref()
            .unwrap()
            .iter()
            .map(|k| k.kid())
            .collect();
        assert_eq!(written, ["b"]);
    }

    #[test]
    fn a_failed_write_keeps_the_first_missing_times_of_keys_still_live() {
        let c = scripted(&[b()], &[a(), b()]);
        c.json(
            Method::Put,
            &creds_url(),
            400,
            r#"{"success":false,"errors":[]}"#,
        );
        let rec = missing(&[("a", NOW - 2 * HOUR)]);
        let r = run_at(&c, &retaining(2 * HOUR), Mode::Sync, NOW, &rec);
        assert_eq!(r.report.outcome, Outcome::Failed);
        assert_eq!(
            r.first_missing,
            Some(rec),
            "a is still live: its clock must not restart"
        );
        assert_eq!(r.written, None);
    }

    #[test]
    fn without_a_grace_period_a_retired_key_goes_at_once_and_nothing_is_recorded() {
        let c = scripted(&[b()], &[a(), b()]);
        put_answers(&c, 200, &[b()]);
        let rec = missing(&[("a", NOW)]);
        let r = run_at(&c, &config(&[JWKS_URL]), Mode::Sync, NOW, &rec);
        assert_eq!(r.report.outcome, Outcome::Updated);
        assert_eq!(put_body(&c), json!({ "keys": [b()] }));
        assert_eq!(r.first_missing, Some(FirstMissing::default()));
    }

    #[test]
    fn a_run_that_never_compared_keys_leaves_the_record_alone() {
        let c = FakeClient::default();
        let r = run_at(
            &c,
            &retaining(HOUR),
            Mode::Sync,
            NOW,
            &missing(&[("a", NOW)]),
        );
        assert_eq!(r.report.outcome, Outcome::Failed);
        assert_eq!(r.first_missing, None);
    }

    #[test]
    fn a_preview_shows_what_the_grace_period_would_push() {
        let c = scripted(&[b()], &[a(), b()]);
        let rec = missing(&[("a", NOW - 2 * HOUR)]);
        let r = run_at(&c, &retaining(2 * HOUR), Mode::Preview, NOW, &rec);
        assert_eq!(r.report.outcome, Outcome::WouldUpdate);
        assert_eq!(r.report.diff.unwrap().removed, vec!["a"]);
        assert!(c.sent_to(Method::Put).is_empty());
    }

    /// Issue 11, point 7: Entra ID's edge nodes alternate between two overlapping sets (flap-a,
    /// 11 keys; flap-b, 8 keys, 7 shared). With a grace period, once the union is live, neither
    /// set causes a write; without one, every flip writes.
    #[test]
    fn an_idp_flapping_between_two_sets_stops_causing_writes_once_the_union_is_live() {
        let fixture = |name: &str| {
            std::fs::read_to_string(format!(
                "{}/tests/fixtures/jwks/real/entra-common-v2-keys-{name}.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        let (flap_a, flap_b) = (fixture("flap-a-11keys"), fixture("flap-b-8keys"));
        let kids = |body: &str| -> Vec<String> {
            let v: Value = serde_json::from_str(body).unwrap();
            v["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect()
        };
        let mut union = kids(&flap_a);
        union.extend(
            kids(&flap_b)
                .into_iter()
                .filter(|k| !kids(&flap_a).contains(k)),
        );
        assert_eq!(union.len(), 12);
        let answer: Vec<Value> = union
            .iter()
            .map(|k| json!({"kid": k, "alg": "RS256"}))
            .collect();

        let flips = |cfg: &Config| -> Vec<usize> {
            let mut live: Vec<Value> = Vec::new();
            let mut record = FirstMissing::default();
            let mut writes = Vec::new();
            for (i, body) in [&flap_a, &flap_b, &flap_a, &flap_b, &flap_a, &flap_b]
                .iter()
                .enumerate()
            {
                let c = FakeClient::default();
                c.json(Method::Get, JWKS_URL, 200, body);
                let live_body = json!({"success":true,"errors":[],"messages":[],"result":{"credentials":{"keys":live}}});
                c.json(Method::Get, &config_url(), 200, &live_body.to_string());
                put_answers(&c, 200, &answer);
                let now = NOW + i as u64 * 300_000;
                let r = run_at(&c, cfg, Mode::Sync, now, &record);
                assert_ne!(r.report.outcome, Outcome::Failed, "{:?}", r.report.error);
                if let Some(m) = r.first_missing {
                    record = m;
                }
                if !c.sent_to(Method::Put).is_empty() {
                    live = put_body(&c)["keys"].as_array().unwrap().clone();
                    writes.push(live.len());
                }
            }
            writes
        };
        assert_eq!(
            flips(&retaining(HOUR)),
            vec![11, 12],
            "a write of flap-a, then one of the union"
        );
        assert_eq!(
            flips(&config(&[JWKS_URL])),
            vec![11, 8, 11, 8, 11, 8],
            "every flip writes"
        );
    }

    #[test]
    fn a_restore_writes_the_given_set_through_the_same_verification() {
        let c = scripted(&[], &[b()]);
        put_answers(&c, 200, &[a()]);
        let mut cfg = config(&[JWKS_URL]);
        cfg.dry_run = true; // DRY_RUN pauses the cron, not an operator's restore
        let keys = vec![decode_key(&a(), jwks::Alg::RS256).unwrap()];
        let r = block_on(restore_target(&c, &cfg, &cfg.targets[0], &keys, true, NOW));
        assert_eq!(r.report.outcome, Outcome::Updated, "{:?}", r.report);
        assert_eq!(put_body(&c), json!({ "keys": [a()] }));
        let d = r.report.diff.as_ref().unwrap();
        assert_eq!(
            (d.added.clone(), d.removed.clone()),
            (vec!["a".to_owned()], vec!["b".to_owned()])
        );
        assert!(
            c.sent_to(Method::Get).iter().all(|u| u != JWKS_URL),
            "the IdP is not asked"
        );
        assert_eq!(r.written, Some(keys.clone()));
        assert_eq!(r.first_missing, None);

        // Cloudflare dropping a restored key fails the restore.
        let c = scripted(&[], &[b()]);
        put_answers(&c, 200, &[]);
        let r = block_on(restore_target(&c, &cfg, &cfg.targets[0], &keys, true, NOW));
        assert_eq!(r.report.error.unwrap().code, "CF_VERIFY_MISMATCH");
        assert_eq!(r.written, None);

        // A restore preview writes nothing.
        let c = scripted(&[], &[b()]);
        let r = block_on(restore_target(&c, &cfg, &cfg.targets[0], &keys, false, NOW));
        assert_eq!(r.report.outcome, Outcome::WouldUpdate);
        assert!(c.sent_to(Method::Put).is_empty());
    }

    #[test]
    fn the_report_never_holds_the_token() {
        let c = cf_refuses(401);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        assert!(!serde_json::to_string(&t).unwrap().contains(TOKEN));
        assert_eq!(t.outcome, Outcome::Failed);
        assert_eq!(t.error.unwrap().stage, Stage::Cloudflare);
    }
}
