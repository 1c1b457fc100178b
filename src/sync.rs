//! One target's sync, preview or restore: fetch → normalize → read live → grace period → plan →
//! write → verify (or re-read) → report.
//!
//! Safety over liveness: the only write is the final `PUT` (or `PATCH`, when the configuration
//! holds symmetric keys to keep), made only after every source of the target was fetched and
//! normalized without error, the live keys were read, and no safety rule of [`crate::plan`]
//! refused. Any earlier failure leaves what is live untouched (stale-if-error, failure modes B12
//! and B21). A write that gets no definite answer is resolved by reading what is live.
//!
//! Syncs, previews and restores (rollbacks) share one write path, [`Run::push`]: the same diff,
//! no-overlap rule, choice of `PUT` or `PATCH`, verification and re-read.
//!
//! # `MAX_KEYS`
//! Kept symmetric keys can never be dropped (a write without them would destroy their secret), so
//! they take their slots first; the IdP's keys get the slots left (none left, or fewer than the
//! target's sources, each of which keeps a key, is `KEY_LIMIT_REACHED`); keys retained by the
//! grace period get whatever room remains after both.
//! A restored set is put back whole or not at all: with the kept keys it must fit.

use crate::cloudflare::{self, LiveKeys, Operation, WriteError};
use crate::config::{Config, Source, Target};
use crate::diff::{diff, holds_exactly};
use crate::error::Error;
use crate::grace::{self, FirstMissing};
use crate::http::{send_with_retry, Client, Method, Request, RetryPolicy, Sent, USER_AGENT};
use crate::jwks::{self, DropReason, Options, PublicJwk};
use crate::plan::{self, Proposed};
use crate::report::{ErrorReport, KeptKey, KeyId, Outcome, TargetReport};
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
    /// The asymmetric keys of a verified write, exactly as sent: a set a rollback can restore.
    /// Kept symmetric keys are not part of it (they are kept by every write, restores included).
    pub written: Option<Vec<PublicJwk>>,
    /// The first-missing times to record; `None` leaves the record as it is (the run did not get
    /// as far as comparing the IdP's keys with the live ones).
    pub first_missing: Option<FirstMissing>,
}

/// Syncs (or previews) one target: fetch → normalize → read live → grace period → plan → write →
/// verify.
///
/// Writes only in [`Mode::Sync`] without `DRY_RUN`. Live symmetric keys are kept (the write is
/// then a `PATCH`). With `RETAIN_REMOVED_KEYS_FOR` set, live keys the IdP stopped publishing are
/// kept beside its keys as [`grace::decide`] says. A write that would replace every live key is
/// refused unless `config.full_replacement` allows it ([`plan::check_overlap`]).
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
/// read of the live keys, diff, no-overlap rule, write (keeping live symmetric keys) and
/// verification as a sync. The IdP is not consulted.
///
/// `write` false previews the restore. `DRY_RUN` does not apply: a restore is an operator's
/// explicit request, typically made while `DRY_RUN` pauses the cron (README, "Rollback"). A set
/// that keeps none of the live keys (see [`plan::check_overlap`]) needs `config.full_replacement`
/// to allow it, as a sync does (the body of `POST /rollback` can allow it once).
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
    match run.restore(target, keys, &mut out.report).await {
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
            report: TargetReport::new(target),
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
        let mut set = jwks::select(&extracted, opts)
            .inspect_err(|e| report.dropped = e.dropped().to_vec())?;

        let live = self.read_live(target, report).await?;
        let kept = live.symmetric.len();
        if kept > 0 {
            // Kept keys count toward MAX_KEYS: the IdP's keys get what is left.
            let url = self.config_url(target);
            let sources: Vec<&str> = target.sources.iter().map(Source::url).collect();
            let room = plan::room_for_idp_keys(opts.max_keys, kept, &sources, &url)?;
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
        let over: Vec<&str> = report
            .dropped
            .iter()
            .filter(|d| matches!(d.reason, DropReason::OverLimit { .. }))
            .map(|d| d.kid.as_deref().unwrap_or("(no kid)"))
            .collect();
        if !over.is_empty() {
            // Not a failure (the set is the best that fits), but the IdP may sign with one of
            // them next: an operator must hear of it before its tokens are refused.
            report.warnings.push(format!(
                "{} usable key(s) left out over MAX_KEYS ({}): {}; tokens the IdP signs with them are refused: raise MAX_KEYS if the account allows more keys",
                over.len(),
                opts.max_keys,
                over.join(", ")
            ));
        }
        for k in set
            .keys
            .iter()
            .filter(|k| k.alg_inferred() && k.alg().is_rsa())
        {
            let warning = format!("{}: no alg in the JWKS; sending {}", k.kid(), k.alg());
            report.warnings.push(warning);
        }

        let idp_count = set.keys.len();
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
                    kept,
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
        let source = (idp_count, Proposed::IdpKeys);
        if self
            .push(target, &live, &desired, source, &mut out.report)
            .await?
        {
            // The write removed every missing key that was not kept.
            out.first_missing = Some(kept_missing);
            out.written = Some(desired);
        }
        Ok(())
    }

    /// A restore of `keys`: read live, check that the set fits beside the kept symmetric keys,
    /// then the same write path as a sync. Returns whether a verified write happened.
    async fn restore(
        &self,
        target: &Target,
        keys: &[PublicJwk],
        report: &mut TargetReport,
    ) -> Result<bool, Error> {
        let live = self.read_live(target, report).await?;
        plan::room_for_restore(
            self.opts.max_keys,
            live.symmetric.len(),
            keys.len(),
            &self.config_url(target),
        )?;
        let source = (keys.len(), Proposed::RestoredSet);
        self.push(target, &live, keys, source, report).await
    }

    fn config_url(&self, target: &Target) -> String {
        cloudflare::config_url(&self.config.cf_api_base, &target.zone_id, &target.config_id)
    }

    /// Reads the target's live keys, and lists the symmetric ones as kept in `report`.
    async fn read_live(
        &self,
        target: &Target,
        report: &mut TargetReport,
    ) -> Result<LiveKeys, Error> {
        let url = self.config_url(target);
        let sent = self.cf_call(Method::Get, &url, None, report).await;
        let live =
            cloudflare::parse_config(Operation::ReadLive, &url, &sent, self.opts.rsa_default_alg)?;
        report.kept = live.symmetric.iter().map(KeptKey::from).collect();
        Ok(live)
    }

    /// The one write path. Diffs `desired` against `live`, applies the no-overlap rule (the
    /// preview shows the same verdict), and, when they differ and the run may write, writes
    /// `desired` with the live symmetric keys (`PUT`, or `PATCH` when there are symmetric keys to
    /// keep) and verifies the answer; a write without a definite answer is settled by re-reading.
    /// Returns whether a verified write happened.
    ///
    /// `source` is where `desired` comes from: the first `n` keys are the IdP's for a sync (the
    /// rest are retained by the grace period), or all of them the restored set. Retained keys are
    /// live keys, so they count as overlap (an IdP that rotates without overlap is what the grace
    /// period serves); when they are the only overlap, a warning says so.
    async fn push(
        &self,
        target: &Target,
        live: &LiveKeys,
        desired: &[PublicJwk],
        source: (usize, Proposed),
        report: &mut TargetReport,
    ) -> Result<bool, Error> {
        let config_url = self.config_url(target);
        let (d, needed) = diff(live, desired);
        let (own, proposed) = source;
        let allowed = plan::check_overlap(&d, self.config.full_replacement, proposed, &config_url);
        report.diff = Some(d);
        report.warnings.extend(allowed?);
        if let Some(idp) = desired.get(..own).filter(|idp| idp.len() < desired.len()) {
            report
                .warnings
                .extend(plan::retained_only_overlap(&diff(live, idp).0));
        }
        if !needed {
            report.outcome = Outcome::Unchanged;
            return Ok(false);
        }
        if !self.write {
            report.outcome = Outcome::WouldUpdate;
            return Ok(false);
        }

        // A PUT replaces every key and cannot keep a symmetric one (its secret is never read
        // back); PATCH keeps the stored secret of each key sent without it.
        let (method, op) = if live.symmetric.is_empty() {
            (Method::Put, Operation::Replace)
        } else {
            (Method::Patch, Operation::Edit)
        };
        let base = &self.config.cf_api_base;
        let url = cloudflare::credentials_url(base, &target.zone_id, &target.config_id);
        let body = cloudflare::credentials_body(desired, &live.symmetric);
        let sent = self.cf_call(method, &url, Some(body), report).await;
        match cloudflare::verify_write(op, &url, &sent, desired, &live.symmetric) {
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
                    self.opts.rsa_default_alg,
                );
                match reread {
                    Ok(now) if holds_exactly(&now, desired, &live.symmetric) => {
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
        Ok(true)
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
    use crate::config::{FullReplacement, Secret};
    use crate::error::Stage;
    use crate::http::fake::{block_on, FakeClient};
    use crate::http::{Response, TransportError};
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

    /// L3: an answer showing a key sent with other material fails the run, naming the key.
    #[test]
    fn a_key_cloudflare_answers_with_other_material_fails_the_target() {
        let c = scripted(&[a(), b()], &[a()]);
        put_answers(&c, 200, &[a(), ec("b", X, Y)]);
        let r = run_at(
            &c,
            &config(&[JWKS_URL]),
            Mode::Sync,
            0,
            &FirstMissing::default(),
        );
        let e = r.report.error.unwrap();
        assert_eq!((e.stage, e.code), (Stage::Cloudflare, "CF_VERIFY_MISMATCH"));
        assert_eq!(
            e.message,
            format!("Cloudflare shows other key material for 1 of the keys sent replacing credentials (PUT): b (ES256); {}", creds_url())
        );
        assert_eq!(r.written, None, "not a set a rollback may restore");
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
                            // {a} shares nothing with live {b}: the rollback's body allowed that once.
        cfg.full_replacement = FullReplacement::AllowedOnce;
        let keys = vec![decode_key(&a(), jwks::Alg::RS256).unwrap()];
        let r = block_on(restore_target(&c, &cfg, &cfg.targets[0], &keys, true, NOW));
        assert_eq!(r.report.outcome, Outcome::Updated, "{:?}", r.report);
        assert_eq!(
            r.report.warnings,
            vec!["full replacement allowed by \"allow_full_replacement\": true: every live key (b) is replaced by the restored keys (a)"]
        );
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

    /// M4: a live HS256 key shown without `kty` is kept through PATCH, never deleted by a PUT.
    #[test]
    fn a_live_hs_key_without_kty_is_kept() {
        let bare = json!({"kid":"hmac-1","alg":"HS256"});
        let c = scripted(&[a(), b()], &[a(), bare.clone()]);
        answer(&c, Method::Patch, &[a(), b(), bare]);
        let t = run_one(&c, &config(&[JWKS_URL]), Mode::Sync);
        assert_eq!(t.outcome, Outcome::Updated, "{t:?}");
        assert!(c.sent_to(Method::Put).is_empty(), "a PUT would delete it");
        assert_eq!(
            sent_bodies(&c, Method::Patch),
            vec![json!({"keys": [a(), b(), hs("hmac-1")]})]
        );
        assert_eq!(t.kept.len(), 1);
        assert_eq!(t.diff.unwrap().removed, Vec::<String>::new());
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
            vec![
                "2 of the 3 MAX_KEYS slots hold kept symmetric keys; the IdP's keys get 1",
                "1 usable key(s) left out over MAX_KEYS (3): b; tokens the IdP signs with them are refused: raise MAX_KEYS if the account allows more keys"
            ]
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

    /// H2: the re-selection under the room kept symmetric keys leave still keeps a key of each
    /// source of a merged target (the ranking alone keeps the first source's keys).
    #[test]
    fn room_beside_kept_keys_keeps_a_key_of_each_source() {
        let c = scripted(&[a(), c_key()], &[a(), hs("h1"), hs("h2")]);
        c.json(
            Method::Get,
            NEW_URL,
            200,
            &json!({ "keys": [b()] }).to_string(),
        );
        answer(&c, Method::Patch, &[a(), b(), hs("h1"), hs("h2")]);
        let mut cfg = config(&[JWKS_URL, NEW_URL]);
        cfg.jwks.max_keys = 4;
        let t = run_one(&c, &cfg, Mode::Sync);
        assert_eq!(t.outcome, Outcome::Updated, "{t:?}");
        assert_eq!(
            sent_bodies(&c, Method::Patch),
            vec![json!({"keys": [a(), b(), hs("h1"), hs("h2")]})]
        );
        let drops: Vec<(Option<&str>, &str)> = t
            .dropped
            .iter()
            .map(|d| (d.kid.as_deref(), d.reason.code()))
            .collect();
        assert_eq!(drops, vec![(Some("c"), "OVER_LIMIT")]);
        assert!(
            t.warnings
                .iter()
                .any(|w| w.starts_with("1 usable key(s) left out over MAX_KEYS (4): c; ")),
            "{:?}",
            t.warnings
        );
    }

    /// H2: fewer slots beside the kept keys than sources fails before any write, naming them.
    #[test]
    fn fewer_slots_than_sources_beside_kept_keys_fails_before_any_write() {
        let c = scripted(&[a()], &[a(), hs("h1"), hs("h2")]);
        c.json(
            Method::Get,
            NEW_URL,
            200,
            &json!({ "keys": [b()] }).to_string(),
        );
        let mut cfg = config(&[JWKS_URL, NEW_URL]);
        cfg.jwks.max_keys = 3;
        let t = run_one(&c, &cfg, Mode::Sync);
        let e = t.error.unwrap();
        assert_eq!((e.stage, e.code), (Stage::Plan, "KEY_LIMIT_REACHED"));
        assert_eq!(
            e.message,
            format!("2 symmetric key(s) kept in the configuration leave 1 of the 3 slots of MAX_KEYS, fewer than the 2 sources merged into this target ({JWKS_URL}, {NEW_URL}), each of which keeps at least one key; nothing was written; {}", config_url())
        );
        assert!(e.hint.contains("each source"), "{}", e.hint);
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

    // ---- One write path for syncs, previews and restores (issues 10 and 11 together) ----

    fn c_key() -> Value {
        ec("c", X2, Y)
    }

    fn keys_of(values: &[Value]) -> Vec<PublicJwk> {
        values
            .iter()
            .map(|v| decode_key(v, jwks::Alg::RS256).unwrap())
            .collect()
    }

    fn restore(c: &FakeClient, cfg: &Config, keys: &[Value], write: bool) -> TargetRun {
        block_on(restore_target(
            c,
            cfg,
            &cfg.targets[0],
            &keys_of(keys),
            write,
            NOW,
        ))
    }

    /// A rollback keeps the live symmetric keys as a sync does: PATCH, `kept` listed, verified;
    /// what it records as written is the asymmetric set only.
    #[test]
    fn a_restore_keeps_live_symmetric_keys_through_patch() {
        let c = scripted(&[], &[b(), hs("hmac-1")]);
        answer(&c, Method::Patch, &[a(), b(), hs("hmac-1")]);
        let r = restore(&c, &config(&[JWKS_URL]), &[a(), b()], true);
        assert_eq!(r.report.outcome, Outcome::Updated, "{:?}", r.report);
        assert!(
            c.sent_to(Method::Put).is_empty(),
            "a PUT would destroy hmac-1"
        );
        assert_eq!(
            sent_bodies(&c, Method::Patch),
            vec![json!({"keys": [a(), b(), hs("hmac-1")]})]
        );
        assert_eq!(r.report.kept.len(), 1);
        assert_eq!(r.report.kept[0].kid, "hmac-1");
        assert_eq!(r.report.diff.unwrap().removed, Vec::<String>::new());
        assert_eq!(r.written, Some(keys_of(&[a(), b()])));

        // Cloudflare losing the symmetric key fails the restore like a sync.
        let c = scripted(&[], &[b(), hs("hmac-1")]);
        answer(&c, Method::Patch, &[a(), b()]);
        let r = restore(&c, &config(&[JWKS_URL]), &[a(), b()], true);
        assert_eq!(r.report.error.unwrap().code, "CF_VERIFY_MISMATCH");
        assert_eq!(r.written, None);
    }

    /// The no-overlap rule judges a restore too: a set sharing nothing with live needs
    /// `allow_full_replacement` (from the rollback's body); its preview shows the same verdict.
    #[test]
    fn a_restore_that_shares_no_key_with_live_is_refused_unless_allowed() {
        for write in [true, false] {
            let c = scripted(&[], &[b()]);
            let r = restore(&c, &config(&[JWKS_URL]), &[a()], write);
            assert_eq!(r.report.outcome, Outcome::Failed);
            let e = r.report.error.unwrap();
            assert_eq!((e.stage, e.code), (Stage::Plan, "FULL_REPLACEMENT_REFUSED"));
            assert_eq!(
                e.message,
                format!("the restored keys (a) share no kid and alg with the live keys (b); a write would replace every live key at once, so nothing was written; {}", config_url())
            );
            assert_eq!(r.report.diff.unwrap().removed, vec!["b"]);
            assert!(c.sent_to(Method::Put).is_empty());
            assert_eq!(r.written, None);
        }
        // ALLOW_FULL_REPLACEMENT allows it as it allows a sync.
        let c = scripted(&[], &[b()]);
        put_answers(&c, 200, &[a()]);
        let mut cfg = config(&[JWKS_URL]);
        cfg.full_replacement = FullReplacement::AllowedBySetting;
        let r = restore(&c, &cfg, &[a()], true);
        assert_eq!(r.report.outcome, Outcome::Updated);
        assert_eq!(
            r.report.warnings,
            vec!["full replacement allowed by ALLOW_FULL_REPLACEMENT: every live key (b) is replaced by the restored keys (a)"]
        );
    }

    /// A restored set is put back whole: with the kept symmetric keys it must fit MAX_KEYS.
    #[test]
    fn a_restore_that_does_not_fit_beside_kept_keys_writes_nothing() {
        let c = scripted(&[], &[a(), hs("h1")]);
        let mut cfg = config(&[JWKS_URL]);
        cfg.jwks.max_keys = 2;
        let r = restore(&c, &cfg, &[a(), b()], true);
        let e = r.report.error.unwrap();
        assert_eq!((e.stage, e.code), (Stage::Plan, "KEY_LIMIT_REACHED"));
        assert_eq!(
            e.message,
            format!("the restored set's 2 key(s) and the 1 symmetric key(s) kept in the configuration exceed MAX_KEYS (2); nothing was written; {}", config_url())
        );
        assert!(c.sent_to(Method::Patch).is_empty() && c.sent_to(Method::Put).is_empty());
    }

    /// A restore whose write gets no definite answer is settled by re-reading, as a sync is.
    #[test]
    fn a_restore_without_a_definite_answer_is_settled_by_a_re_read() {
        let c = scripted(&[], &[b()]);
        put_times(&c, gateway_timeout());
        live_answer(&c, &[a(), b()]);
        let r = restore(&c, &config(&[JWKS_URL]), &[a(), b()], true);
        assert_eq!(r.report.outcome, Outcome::Updated, "{:?}", r.report);
        assert_eq!(r.report.warnings.len(), 1);
        assert!(r.report.warnings[0].ends_with("a re-read shows the keys sent live"));
        assert_eq!(r.written, Some(keys_of(&[a(), b()])));
    }

    /// MAX_KEYS: the kept symmetric keys take their slots, the IdP's keys the slots left, and the
    /// grace period's retained keys only what remains after both.
    #[test]
    fn max_keys_serves_kept_keys_then_the_idp_then_retained_keys() {
        // MAX_KEYS 3; live: retired a, symmetric h; the IdP publishes b and c.
        let c = scripted(&[b(), c_key()], &[a(), hs("h")]);
        let mut cfg = retaining(2 * HOUR);
        cfg.jwks.max_keys = 3;
        cfg.full_replacement = FullReplacement::AllowedBySetting;
        answer(&c, Method::Patch, &[b(), c_key(), hs("h")]);
        let r = run_at(&c, &cfg, Mode::Sync, NOW, &FirstMissing::default());
        assert_eq!(r.report.outcome, Outcome::Updated, "{:?}", r.report);
        assert_eq!(
            sent_bodies(&c, Method::Patch),
            vec![json!({"keys": [b(), c_key(), hs("h")]})]
        );
        assert!(r.report.retained.is_empty());
        assert_eq!(
            r.report.warnings[0],
            "a (ES256): retired by the IdP and within its grace period, but there is no room for it under MAX_KEYS (3); removed"
        );
        // MAX_KEYS 4: room for the retired key after the IdP's and the kept one.
        let c = scripted(&[b(), c_key()], &[a(), hs("h")]);
        cfg.jwks.max_keys = 4;
        answer(&c, Method::Patch, &[b(), c_key(), a(), hs("h")]);
        let r = run_at(&c, &cfg, Mode::Sync, NOW, &FirstMissing::default());
        assert_eq!(r.report.outcome, Outcome::Updated, "{:?}", r.report);
        assert_eq!(
            sent_bodies(&c, Method::Patch),
            vec![json!({"keys": [b(), c_key(), a(), hs("h")]})]
        );
        assert_eq!(r.report.retained.len(), 1);
        assert_eq!(r.written, Some(keys_of(&[b(), c_key(), a()])));
    }

    /// Keys the grace period retains are live keys, so they count as overlap: an IdP that
    /// rotates without overlap is served (issue 11's grace period), with a warning that only the
    /// retained keys overlap (a wrong source would take every live key when the period ends).
    #[test]
    fn an_overlap_made_only_of_retained_keys_passes_with_a_warning() {
        let c = scripted(&[b()], &[a()]);
        put_answers(&c, 200, &[b(), a()]);
        let r = run_at(
            &c,
            &retaining(2 * HOUR),
            Mode::Sync,
            NOW,
            &FirstMissing::default(),
        );
        assert_eq!(r.report.outcome, Outcome::Updated, "{:?}", r.report);
        assert_eq!(put_body(&c), json!({"keys": [b(), a()]}));
        assert_eq!(
            r.report.warnings,
            vec!["the IdP's keys (b) share no kid and alg with the live keys (a); only the grace period (RETAIN_REMOVED_KEYS_FOR) keeps those live, and they go when it ends: if this is not a rotation, check JWKS_URL or OIDC_ISSUER"]
        );
        // The preview says the same.
        let c = scripted(&[b()], &[a()]);
        let r = run_at(
            &c,
            &retaining(2 * HOUR),
            Mode::Preview,
            NOW,
            &FirstMissing::default(),
        );
        assert_eq!(r.report.outcome, Outcome::WouldUpdate);
        assert_eq!(r.report.warnings.len(), 1);
        // Once a shares the set with b, nothing to warn about.
        let c = scripted(&[b()], &[a(), b()]);
        let r = run_at(
            &c,
            &retaining(2 * HOUR),
            Mode::Sync,
            NOW,
            &FirstMissing::default(),
        );
        assert_eq!(r.report.outcome, Outcome::Unchanged);
        assert!(r.report.warnings.is_empty(), "{:?}", r.report.warnings);
        // Past the period, with nothing retained, the rule refuses as without a grace period.
        let c = scripted(&[b()], &[a()]);
        let rec = missing(&[("a", NOW - 2 * HOUR)]);
        let r = run_at(&c, &retaining(2 * HOUR), Mode::Sync, NOW, &rec);
        assert_eq!(r.report.error.unwrap().code, "FULL_REPLACEMENT_REFUSED");
        assert!(c.sent_to(Method::Put).is_empty());
    }
}
