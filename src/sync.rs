//! The sync of every target: fetch → normalize → read live → plan → write → verify → report.
//!
//! Safety over liveness: the only write is the final `PUT` (or `PATCH`, when the configuration
//! holds symmetric keys to keep), made only after every source of the target was fetched and
//! normalized without error, the live keys were read, and no safety rule of [`crate::plan`]
//! refused. Any earlier failure leaves what is live untouched (stale-if-error, failure modes B12
//! and B21). A write that gets no definite answer is resolved by reading what is live.

use crate::cloudflare::{self, Operation, WriteError};
use crate::config::{Config, Target};
use crate::diff::{diff, holds_exactly};
use crate::error::Error;
use crate::http::{send_with_retry, Client, Method, Request, RetryPolicy, Sent, USER_AGENT};
use crate::jwks::{self, Options};
use crate::plan;
use crate::report::{ErrorReport, KeptKey, KeyId, Outcome, Report, TargetReport};
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
        warnings: config.warnings.clone(),
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
            kept: Vec::new(),
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
        let mut set = jwks::select(&extracted, opts)
            .inspect_err(|e| report.dropped = e.dropped().to_vec())?;

        let base = &self.config.cf_api_base;
        let config_url = cloudflare::config_url(base, &target.zone_id, &target.config_id);
        let sent = self.cf_call(Method::Get, &config_url, None, report).await;
        let live = cloudflare::parse_config(
            Operation::ReadLive,
            &config_url,
            &sent,
            opts.rsa_default_alg,
        )?;
        report.kept = live.symmetric.iter().map(KeptKey::from).collect();
        if !live.symmetric.is_empty() {
            // Kept keys count toward MAX_KEYS: the IdP's keys get what is left.
            let kept = live.symmetric.len();
            let room = plan::room_for_idp_keys(opts.max_keys, kept, &config_url)?;
            if set.keys.len() > room {
                let limited = Options {
                    max_keys: room,
                    ..opts.clone()
                };
                set = jwks::select(&extracted, &limited)
                    .inspect_err(|e| report.dropped = e.dropped().to_vec())?;
                report.warnings.push(format!(
                    "{kept} of the {} MAX_KEYS slots hold kept symmetric keys; the IdP's keys get {room}",
                    opts.max_keys
                ));
            }
        }
        drop(extracted);
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

        let (d, needed) = diff(&live, &set.keys);
        let allowed = plan::check_overlap(&d, self.config.full_replacement, &config_url);
        report.diff = Some(d);
        report.warnings.extend(allowed?);
        if !needed {
            report.outcome = Outcome::Unchanged;
            return Ok(());
        }
        if !self.write {
            report.outcome = Outcome::WouldUpdate;
            return Ok(());
        }

        // A PUT replaces every key and cannot keep a symmetric one (its secret is never read
        // back); PATCH keeps the stored secret of each key sent without it.
        let (method, op) = if live.symmetric.is_empty() {
            (Method::Put, Operation::Replace)
        } else {
            (Method::Patch, Operation::Edit)
        };
        let url = cloudflare::credentials_url(base, &target.zone_id, &target.config_id);
        let body = cloudflare::credentials_body(&set.keys, &live.symmetric);
        let sent = self.cf_call(method, &url, Some(body), report).await;
        match cloudflare::verify_write(op, &url, &sent, &set.keys, &live.symmetric) {
            Ok(accepted) => {
                let messages = accepted.messages.iter().map(|m| format!("cloudflare {m}"));
                report.warnings.extend(messages);
            }
            Err(WriteError::Definite(e)) => return Err(e.into()),
            Err(WriteError::Unknown(cause)) => {
                // The write may have been applied: what is live now is the answer.
                let sent = self.cf_call(Method::Get, &config_url, None, report).await;
                let reread = cloudflare::parse_config(
                    Operation::Reread,
                    &config_url,
                    &sent,
                    opts.rsa_default_alg,
                );
                match reread {
                    Ok(now) if holds_exactly(&now, &set.keys, &live.symmetric) => {
                        report.warnings.push(format!(
                            "the write got no definite answer ({}); a re-read shows the keys sent live",
                            cause.cause()
                        ));
                    }
                    Ok(now) => return Err(cloudflare::unconfirmed(cause, Ok(&now)).into()),
                    Err(e) => return Err(cloudflare::unconfirmed(cause, Err(e)).into()),
                }
            }
        }
        report.outcome = Outcome::Updated;
        Ok(())
    }

    /// One Cloudflare API call with the token, retried under the run's policy. A call that
    /// succeeded only after retries adds a warning to the target's report.
    async fn cf_call(
        &self,
        method: Method,
        url: &str,
        body: Option<String>,
        report: &mut TargetReport,
    ) -> Sent {
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
        let sent = send_with_retry(self.client, &req, &self.policy, MAX_CF_BODY_BYTES).await;
        let succeeded = matches!(&sent.outcome, Ok(r) if (200..300).contains(&r.status));
        if let Some(w) = sent.attempts.retried_warning().filter(|_| succeeded) {
            report
                .warnings
                .push(format!("{w}; {} {url}", method.as_str()));
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudflare::ApiMessage;
    use crate::config::{FullReplacement, Secret, Source};
    use crate::error::Stage;
    use crate::http::fake::{block_on, FakeClient};
    use crate::http::{Response, TransportError};
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
            full_replacement: FullReplacement::Refused,
            warnings: Vec::new(),
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
                "JWKS_UNAVAILABLE",
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
                "CF_PERMISSION_DENIED",
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
            "HTTP 404 from the IdP; https://new.example/jwks"
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
            "HTTP 400 from Cloudflare (10021: bad key) replacing credentials (PUT); {}",
            creds_url()
        );
        let e = t.error.unwrap();
        assert_eq!(e.message, want);
        assert_eq!(e.code, "CF_API_STATUS");
        assert_eq!(e.hint, crate::catalogue::hint("CF_API_STATUS"));
        assert_eq!(e.cloudflare_errors, vec![ApiMessage::new(10021, "bad key")]);
        assert_eq!(c.sent_to(Method::Put).len(), 1);
        assert_eq!(
            c.sent_to(Method::Get).len(),
            2,
            "no re-read after a refusal"
        );
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
        assert_eq!(
            t.warnings,
            vec![format!(
                "succeeded after 2 attempts (429); PUT {}",
                creds_url()
            )]
        );
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

    fn hs(kid: &str) -> Value {
        json!({"kty":"oct","kid":kid,"alg":"HS256"})
    }

    fn sent_bodies(c: &FakeClient, method: Method) -> Vec<Value> {
        c.sent
            .borrow()
            .iter()
            .filter(|r| r.method == method)
            .map(|r| serde_json::from_str(r.body.as_deref().unwrap()).unwrap())
            .collect()
    }

    fn answer(c: &FakeClient, method: Method, keys: &[Value]) {
        let body = json!({"success":true,"errors":[],"messages":[],"result":{"keys":keys}});
        c.json(method, &creds_url(), 200, &body.to_string());
    }

    fn live_answer(c: &FakeClient, keys: &[Value]) {
        let config = json!({"success":true,"errors":[],"messages":[],"result":{"id":CONFIG,"credentials":{"keys":keys}}});
        c.json(Method::Get, &config_url(), 200, &config.to_string());
    }

    /// Issue 10 point 1: a live symmetric key survives the sync, carried without `k` by PATCH.
    #[test]
    fn live_symmetric_keys_are_kept_through_patch() {
        let c = scripted(&[a(), b()], &[hs("hmac-1"), a()]);
        answer(&c, Method::Patch, &[a(), b(), hs("hmac-1")]);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        assert_eq!(t.outcome, Outcome::Updated, "{t:?}");
        assert!(
            c.sent_to(Method::Put).is_empty(),
            "a PUT would destroy the secret"
        );
        assert_eq!(
            sent_bodies(&c, Method::Patch),
            vec![json!({"keys": [a(), b(), hs("hmac-1")]})]
        );
        assert_eq!(
            t.kept,
            vec![KeptKey {
                kid: "hmac-1".into(),
                alg: "HS256".into(),
                why: "symmetric key managed outside the IdP: Cloudflare never returns its secret, so the write keeps it through PATCH",
            }]
        );
        let d = t.diff.unwrap();
        assert_eq!(
            (d.added, d.removed, d.unchanged),
            (vec!["b".to_owned()], vec![], vec!["a".to_owned()])
        );
    }

    #[test]
    fn the_issue_example_keeps_hmac_1_and_removes_nothing() {
        // Live [oct hmac-1, K], IdP publishes [K]: nothing to write at all.
        let c = scripted(&[a()], &[hs("hmac-1"), a()]);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        assert_eq!(t.outcome, Outcome::Unchanged, "{t:?}");
        assert_eq!(t.diff.unwrap().removed, Vec::<String>::new());
        assert!(c.sent_to(Method::Put).is_empty() && c.sent_to(Method::Patch).is_empty());
    }

    #[test]
    fn the_preview_lists_kept_keys_and_never_removes_them() {
        let c = scripted(&[b()], &[hs("h"), a()]);
        let mut cfg = config(&[JWKS_URL]);
        cfg.full_replacement = FullReplacement::AllowedBySetting;
        let t = run_one(&c, &cfg, Mode::Preview);
        assert_eq!(t.outcome, Outcome::WouldUpdate);
        assert_eq!(t.kept.len(), 1);
        assert_eq!(t.diff.unwrap().removed, vec!["a"]);
        assert!(c.sent_to(Method::Patch).is_empty());
    }

    #[test]
    fn a_symmetric_key_cloudflare_did_not_keep_fails_the_write() {
        let c = scripted(&[a(), b()], &[hs("h"), a()]);
        answer(&c, Method::Patch, &[a(), b()]);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        let e = t.error.unwrap();
        assert_eq!(e.code, "CF_VERIFY_MISMATCH");
        assert!(e.message.contains(": h (HS256); "), "{}", e.message);
    }

    #[test]
    fn a_refused_patch_fails_with_its_own_code_and_writes_nothing() {
        for (status, body) in [
            (
                405,
                r#"{"success":false,"errors":[{"code":7001,"message":"Method PATCH not available for that URI."}]}"#,
            ),
            (
                404,
                r#"{"success":false,"errors":[{"code":7000,"message":"No route for that URI"}]}"#,
            ),
        ] {
            let c = scripted(&[a(), b()], &[hs("h"), a()]);
            c.json(Method::Patch, &creds_url(), status, body);
            let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
            let e = t.error.unwrap();
            assert_eq!(
                (e.stage, e.code),
                (Stage::Cloudflare, "CF_PATCH_REFUSED"),
                "{status}"
            );
            assert!(e.hint.contains("separate configuration"));
            assert_eq!(c.sent_to(Method::Patch).len(), 1, "not retried");
            assert!(
                c.sent_to(Method::Put).is_empty(),
                "never falls back to a PUT"
            );
        }
    }

    #[test]
    fn kept_keys_count_toward_max_keys() {
        let c = scripted(&[a(), b()], &[hs("h1"), hs("h2")]);
        answer(&c, Method::Patch, &[a(), hs("h1"), hs("h2")]);
        let mut cfg = config(&[JWKS_URL]);
        cfg.jwks.max_keys = 3;
        let t = run_one(&c, &cfg, Mode::Sync);
        assert_eq!(t.outcome, Outcome::Updated, "{t:?}");
        assert_eq!(
            sent_bodies(&c, Method::Patch),
            vec![json!({"keys": [a(), hs("h1"), hs("h2")]})]
        );
        let drops: Vec<(&str, String)> = t
            .dropped
            .iter()
            .map(|d| (d.reason.code(), d.reason.to_string()))
            .collect();
        assert_eq!(
            drops,
            vec![("OVER_LIMIT", "over the limit of 1 keys".to_owned())]
        );
        assert_eq!(
            t.warnings,
            vec!["2 of the 3 MAX_KEYS slots hold kept symmetric keys; the IdP's keys get 1"]
        );
    }

    #[test]
    fn no_room_beside_kept_keys_fails_before_any_write() {
        let c = scripted(&[a()], &[hs("h1"), hs("h2")]);
        let mut cfg = config(&[JWKS_URL]);
        cfg.jwks.max_keys = 2;
        let t = run_one(&c, &cfg, Mode::Sync);
        let e = t.error.unwrap();
        assert_eq!((e.stage, e.code), (Stage::Plan, "KEY_LIMIT_REACHED"));
        assert!(c.sent_to(Method::Patch).is_empty() && c.sent_to(Method::Put).is_empty());
    }

    /// Issue 10 point 6: a key set that shares nothing with live is refused by default.
    #[test]
    fn a_full_replacement_is_refused_in_sync_and_preview_alike() {
        for mode in [Mode::Sync, Mode::Preview] {
            let c = scripted(&[b()], &[a()]);
            let t = run_one(&c, &config(&[JWKS_URL]), mode);
            assert_eq!(t.outcome, Outcome::Failed, "{mode:?}");
            let e = t.error.unwrap();
            assert_eq!((e.stage, e.code), (Stage::Plan, "FULL_REPLACEMENT_REFUSED"));
            assert_eq!(
                e.message,
                format!("the IdP's keys (b) share no kid and alg with the live keys (a); a write would replace every live key at once, so nothing was written; {}", config_url())
            );
            assert!(
                e.hint.contains("POST /?allow_full_replacement=true")
                    && e.hint.contains("ALLOW_FULL_REPLACEMENT=true")
            );
            assert_eq!(
                t.diff.unwrap().removed,
                vec!["a"],
                "the preview shows what it would remove"
            );
            assert!(c.sent_to(Method::Put).is_empty());
        }
    }

    #[test]
    fn a_full_replacement_goes_ahead_when_allowed() {
        for (allowance, by) in [
            (FullReplacement::AllowedBySetting, "ALLOW_FULL_REPLACEMENT"),
            (FullReplacement::AllowedOnce, "?allow_full_replacement=true"),
        ] {
            let c = scripted(&[b()], &[a()]);
            put_answers(&c, 200, &[b()]);
            let mut cfg = config(&[JWKS_URL]);
            cfg.full_replacement = allowance;
            let t = run_one(&c, &cfg, Mode::Sync);
            assert_eq!(t.outcome, Outcome::Updated, "{t:?}");
            assert_eq!(
                t.warnings,
                vec![format!("full replacement allowed by {by}: every live key (a) is replaced by the IdP's (b)")]
            );
            assert_eq!(put_body(&c), json!({"keys": [b()]}));
        }
    }

    #[test]
    fn only_symmetric_keys_live_is_not_a_full_replacement() {
        let c = scripted(&[a()], &[hs("h")]);
        answer(&c, Method::Patch, &[a(), hs("h")]);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        assert_eq!(t.outcome, Outcome::Updated, "{t:?}");
    }

    fn put_times(c: &FakeClient, answer: Result<Response, TransportError>) {
        for _ in 0..3 {
            c.on(Method::Put, &creds_url(), answer.clone());
        }
    }

    fn gateway_timeout() -> Result<Response, TransportError> {
        Ok(Response {
            status: 504,
            content_type: Some("text/plain".into()),
            body: b"upstream request timeout".to_vec(),
            ..Default::default()
        })
    }

    /// Issue 10 point 4: a write without a definite answer is resolved by reading what is live.
    #[test]
    fn an_unknown_write_outcome_that_was_applied_is_an_update_with_a_warning() {
        let c = scripted(&[a(), b()], &[a()]);
        put_times(&c, gateway_timeout());
        live_answer(&c, &[a(), b()]);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        assert_eq!(t.outcome, Outcome::Updated, "{t:?}");
        assert_eq!(
            t.warnings,
            vec!["the write got no definite answer (HTTP 504 from Cloudflare, not an API answer (starts \"upstream request timeout\") replacing credentials (PUT) after 3 attempts (504, 504, 504)); a re-read shows the keys sent live"]
        );
        assert_eq!(
            c.sent_to(Method::Get)
                .iter()
                .filter(|u| **u == config_url())
                .count(),
            2
        );
    }

    #[test]
    fn an_unknown_write_outcome_that_was_not_applied_fails_with_the_live_kids() {
        let c = scripted(&[a(), b()], &[a()]);
        put_times(&c, Err(TransportError::Timeout { after_ms: 8000 }));
        live_answer(&c, &[a()]);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        let e = t.error.unwrap();
        assert_eq!(
            (e.stage, e.code),
            (Stage::Cloudflare, "CF_WRITE_UNCONFIRMED")
        );
        assert_eq!(e.live_kids, Some(vec!["a".to_owned()]));
        assert_eq!(
            e.message,
            format!("the write got no definite answer (no answer from Cloudflare within 8000 ms (FETCH_TIMEOUT_MS) replacing credentials (PUT) after 3 attempts (timeout, timeout, timeout)), and the keys live now are a, not the keys sent; {}", creds_url())
        );
    }

    #[test]
    fn an_unknown_write_outcome_that_cannot_be_re_read_fails_without_live_kids() {
        let c = scripted(&[a(), b()], &[a()]);
        put_times(&c, Err(TransportError::Network("connection reset".into())));
        for _ in 0..3 {
            c.json(
                Method::Get,
                &config_url(),
                503,
                r#"{"success":false,"errors":[{"code":10002,"message":"Service Unavailable"}]}"#,
            );
        }
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        let e = t.error.unwrap();
        assert_eq!(e.code, "CF_WRITE_UNCONFIRMED");
        assert_eq!(e.live_kids, None);
        assert!(e.message.contains("and re-reading failed: HTTP 503 from Cloudflare (10002: Service Unavailable) re-reading live keys after 3 attempts"), "{}", e.message);
        assert_eq!(
            e.cloudflare_errors,
            vec![],
            "the write itself got no Cloudflare error"
        );
    }

    #[test]
    fn settings_warnings_reach_the_report_and_the_log_lines() {
        let c = scripted(&[a()], &[a()]);
        let mut cfg = config(&[JWKS_URL]);
        cfg.warnings = vec!["CF_API_TOKEN: removed the quotes around the token; re-enter the secret bare with `wrangler secret put CF_API_TOKEN`".into()];
        let r = block_on(run(&c, &cfg, Mode::Sync, 0));
        assert_eq!(r.warnings, cfg.warnings);
        let line: Value = serde_json::from_str(&r.log_lines("cron")[0].1).unwrap();
        assert_eq!(line["run_warnings"], json!(cfg.warnings));
        assert_eq!(line["outcome"], "unchanged");
    }

    #[test]
    fn a_read_that_succeeded_after_retries_is_a_warning() {
        let c = FakeClient::default();
        c.json(
            Method::Get,
            JWKS_URL,
            200,
            &json!({ "keys": [a()] }).to_string(),
        );
        c.json(Method::Get, &config_url(), 502, "<html>bad gateway</html>");
        live_answer(&c, &[a()]);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        assert_eq!(t.outcome, Outcome::Unchanged);
        assert_eq!(
            t.warnings,
            vec![format!(
                "succeeded after 2 attempts (502); GET {}",
                config_url()
            )]
        );
    }
}
