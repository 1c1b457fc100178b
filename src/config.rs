//! The Worker's settings, read from `wrangler.toml` vars and Worker secrets.
//!
//! [`Config::from_lookup`] takes a lookup function instead of a workers-rs `Env`, so every rule here
//! is tested natively; the shell reads every var and secret in one `JSON.stringify(env)` and
//! passes a lookup into that map (`make deploy`'s check passes one over `wrangler.toml` and the
//! secrets' names). All problems are collected and reported together, before any request is
//! made.

use std::fmt;

use serde::Deserialize;
use url::Url;

use crate::jwks::{Alg, Options as JwksOptions};
use crate::ops::Ops;

/// The Cloudflare API base used when `CF_API_BASE` is not set.
pub const DEFAULT_CF_API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// Largest accepted `MAX_KEYS`. Cloudflare's default limit is 16 keys per token validation
/// configuration (changelog 2026-08-27); Enterprise accounts can ask for more.
pub const MAX_KEYS_CEILING: usize = 256;

/// A secret value (API token, auth token). Its `Debug` never shows the value, so it cannot reach a
/// log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The value, for the one place that needs it (an `Authorization` header, a comparison).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Whether a write that keeps none of the keys of a non-empty live configuration may go ahead
/// (see [`crate::plan::check_overlap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullReplacement {
    /// Refused (the default).
    Refused,
    /// Allowed on every run: `ALLOW_FULL_REPLACEMENT=true`.
    AllowedBySetting,
    /// Allowed for this request only: `POST /?allow_full_replacement=true`.
    AllowedOnce,
}

/// Where a target's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A JWKS URL, fetched directly. A discovery document found there is followed once.
    JwksUrl(String),
    /// An OIDC issuer, resolved through `{issuer}/.well-known/openid-configuration` to its
    /// `jwks_uri` (OpenID Connect Discovery 1.0 §4).
    Issuer(String),
}

impl Source {
    /// The URL the source names: the JWKS URL or the issuer.
    pub fn url(&self) -> &str {
        match self {
            Source::JwksUrl(u) | Source::Issuer(u) => u,
        }
    }
}

/// One API Shield token validation configuration and the sources whose keys it should hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A name for reports and logs: `default` in the single-target form.
    pub name: String,
    /// The zone ID: 32 hexadecimal characters, in lower case whatever case the setting used, so
    /// one configuration is one target (and one Durable Object, named after both IDs).
    pub zone_id: String,
    /// The token validation configuration ID: a UUID, in lower case like `zone_id`.
    pub config_id: String,
    /// One or more sources; their keys are merged into the one configuration (an IdP migration).
    pub sources: Vec<Source>,
}

/// Everything a sync needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The configurations to keep in step, in the order they are reported.
    pub targets: Vec<Target>,
    /// Cloudflare API base URL without a trailing slash. Env `CF_API_BASE`.
    pub cf_api_base: String,
    /// Cloudflare API token (API Gateway edit). Secret `CF_API_TOKEN`.
    pub cf_api_token: Secret,
    /// When true, cron and `POST /` preview instead of writing. Env `DRY_RUN`, default false.
    pub dry_run: bool,
    /// Normalization options: `JWKS_KEYS_POINTER`, `MAX_KEYS`, `RSA_DEFAULT_ALG`.
    pub jwks: JwksOptions,
    /// Timeout of one outbound request attempt, in milliseconds. Env `FETCH_TIMEOUT_MS`, default
    /// [`DEFAULT_FETCH_TIMEOUT_MS`], 100 to 20000.
    pub fetch_timeout_ms: u64,
    /// Freshness, grace period, heartbeat and alerts (see [`crate::ops`]).
    pub ops: Ops,
    /// Whether a write may replace every live key. Env `ALLOW_FULL_REPLACEMENT`, default false
    /// ([`FullReplacement::Refused`]); the shell raises it to [`FullReplacement::AllowedOnce`] for
    /// `POST /?allow_full_replacement=true`.
    pub full_replacement: FullReplacement,
    /// What deserves a look in the settings without stopping the run (the API token had to be
    /// cleaned up); reported in the result's top-level `warnings` and logged with every target.
    pub warnings: Vec<String>,
}

/// Default timeout of one outbound request attempt, in milliseconds: seconds, not the 500 ms that
/// made clients time out against slow IdPs (failure mode B18).
pub const DEFAULT_FETCH_TIMEOUT_MS: u64 = 8_000;

/// Every problem found in the settings, reported as one error (stage `config`, code
/// `CONFIG_INVALID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// One line per problem, each naming the setting.
    pub problems: Vec<String>,
}

impl ConfigError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        "CONFIG_INVALID"
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem", self.problems.len())?;
        if self.problems.len() != 1 {
            f.write_str("s")?;
        }
        f.write_str(" in the settings: ")?;
        f.write_str(&self.problems.join("; "))
    }
}

impl std::error::Error for ConfigError {}

/// The shape of one `SYNC_TARGETS` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSpec {
    name: Option<String>,
    zone_id: Option<String>,
    config_id: Option<String>,
    #[serde(default)]
    sources: Vec<SourceSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceSpec {
    jwks_url: Option<String>,
    issuer: Option<String>,
}

impl Config {
    /// Reads and validates every setting through `lookup` (name → value; `None` or empty when
    /// unset).
    ///
    /// # Settings
    /// Either the single-target form (`JWKS_URL` or `OIDC_ISSUER`, exactly one, plus `CF_ZONE_ID`
    /// and `CF_TOKEN_CONFIG_ID`) or `SYNC_TARGETS`, a JSON array:
    /// ```text
    /// [{"name": "prod", "zone_id": "<32 hex>", "config_id": "<uuid>",
    ///   "sources": [{"jwks_url": "https://…"}, {"issuer": "https://…"}]}]
    /// ```
    /// Optional: `JWKS_KEYS_POINTER` (RFC 6901, default `/keys`), `MAX_KEYS` (1 to
    /// [`MAX_KEYS_CEILING`], default 16), `RSA_DEFAULT_ALG` (RS256/384/512, PS256/384/512; default
    /// RS256), `CF_API_BASE` (default [`DEFAULT_CF_API_BASE`]), `DRY_RUN` (`true`/`false`),
    /// `FETCH_TIMEOUT_MS` (default [`DEFAULT_FETCH_TIMEOUT_MS`]), `ALLOW_FULL_REPLACEMENT`
    /// (`true`/`false`, default false), and those of [`Ops::read`] (`STALE_AFTER`,
    /// `RETAIN_REMOVED_KEYS_FOR`).
    /// Secrets: `CF_API_TOKEN`, cleaned up by [`normalize_token`] (each step a warning);
    /// optionally `HEARTBEAT_URL`, `HEARTBEAT_FAIL_URL`, `ALERT_WEBHOOK_URL`.
    ///
    /// # Errors
    /// A [`ConfigError`] listing every problem: missing values, both forms set, a zone ID that is
    /// not 32 hex characters, a configuration ID that is not a UUID, a URL that is not `https`
    /// (plain `http` is allowed for loopback hosts only, for local runs), bad JSON.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();

        let single = [
            "JWKS_URL",
            "OIDC_ISSUER",
            "CF_ZONE_ID",
            "CF_TOKEN_CONFIG_ID",
        ];
        let targets = match get("SYNC_TARGETS") {
            Some(json) => {
                let set: Vec<&str> = single
                    .iter()
                    .copied()
                    .filter(|n| get(n).is_some())
                    .collect();
                if !set.is_empty() {
                    problems.push(format!(
                        "SYNC_TARGETS is set, and so is {}; use one form or the other",
                        set.join(", ")
                    ));
                }
                parse_targets(&json, &mut problems)
            }
            None => single_target(&get, &mut problems),
        };

        let cf_api_base = match get("CF_API_BASE") {
            Some(base) => {
                check_url("CF_API_BASE", &base, &mut problems);
                base.trim_end_matches('/').to_owned()
            }
            None => DEFAULT_CF_API_BASE.to_owned(),
        };
        let mut warnings = Vec::new();
        let cf_api_token = match lookup("CF_API_TOKEN").filter(|v| !v.trim().is_empty()) {
            None => {
                problems.push(
                    "CF_API_TOKEN is not set; add it with `wrangler secret put CF_API_TOKEN`"
                        .to_owned(),
                );
                None
            }
            Some(raw) => match normalize_token("CF_API_TOKEN", &raw) {
                Ok((token, steps)) => {
                    warnings.extend(steps);
                    Some(Secret::new(token))
                }
                Err(problem) => {
                    problems.push(problem);
                    None
                }
            },
        };
        // SYNC_AUTH_TOKEN is compared by `auth::check` on every request, cleaned up the same way;
        // here only to say how it was stored. It is not a problem of the settings: the cron runs
        // without it.
        if let Some(raw) = lookup("SYNC_AUTH_TOKEN").filter(|v| !v.trim().is_empty()) {
            match normalize_token("SYNC_AUTH_TOKEN", &raw) {
                Ok((_, steps)) => warnings.extend(steps),
                Err(problem) => warnings.push(problem),
            }
        }
        let mut flag = |name: &str| match get(name).as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                problems.push(format!(
                    "{name} must be true, false, 1 or 0, got {}",
                    shown(other)
                ));
                false
            }
        };
        let dry_run = flag("DRY_RUN");
        let full_replacement = if flag("ALLOW_FULL_REPLACEMENT") {
            FullReplacement::AllowedBySetting
        } else {
            FullReplacement::Refused
        };

        let mut jwks = JwksOptions::default();
        if let Some(pointer) = get("JWKS_KEYS_POINTER") {
            if pointer.starts_with('/') {
                jwks.keys_pointer = pointer;
            } else {
                problems.push(format!(
                    "JWKS_KEYS_POINTER must be an RFC 6901 JSON Pointer starting with '/', got {}",
                    shown(&pointer)
                ));
            }
        }
        if let Some(max) = get("MAX_KEYS") {
            match max.parse::<usize>() {
                Ok(n) if (1..=MAX_KEYS_CEILING).contains(&n) => jwks.max_keys = n,
                _ => problems.push(format!(
                    "MAX_KEYS must be a whole number from 1 to {MAX_KEYS_CEILING}, got {}",
                    shown(&max)
                )),
            }
        }
        for t in targets.iter().filter(|t| t.sources.len() > jwks.max_keys) {
            // Each source keeps at least one key (jwks::select), or a merge could lock out the
            // users of the source that lost every key.
            let urls: Vec<&str> = t.sources.iter().map(Source::url).collect();
            problems.push(format!(
                "MAX_KEYS ({}) is less than the {} sources of target {:?} ({}), and each source keeps at least one key: raise MAX_KEYS or merge fewer sources",
                jwks.max_keys,
                urls.len(),
                t.name,
                urls.join(", ")
            ));
        }
        if let Some(alg) = get("RSA_DEFAULT_ALG") {
            match Alg::parse(&alg) {
                Some(a) if a.is_rsa() => jwks.rsa_default_alg = a,
                _ => problems.push(format!(
                    "RSA_DEFAULT_ALG must be one of RS256, RS384, RS512, PS256, PS384, PS512, got {}",
                    shown(&alg)
                )),
            }
        }

        let mut fetch_timeout_ms = DEFAULT_FETCH_TIMEOUT_MS;
        if let Some(ms) = get("FETCH_TIMEOUT_MS") {
            match ms.parse::<u64>() {
                Ok(n) if (100..=20_000).contains(&n) => fetch_timeout_ms = n,
                _ => problems.push(format!(
                    "FETCH_TIMEOUT_MS must be a whole number of milliseconds from 100 to 20000, got {}",
                    shown(&ms)
                )),
            }
        }

        let ops = Ops::read(&get, &mut problems);

        match (problems.is_empty(), cf_api_token) {
            (true, Some(cf_api_token)) => Ok(Config {
                targets,
                cf_api_base,
                cf_api_token,
                dry_run,
                jwks,
                fetch_timeout_ms,
                ops,
                full_replacement,
                warnings,
            }),
            _ => Err(ConfigError { problems }),
        }
    }
}

impl Config {
    /// Lets this one run replace every live key (`POST /?allow_full_replacement=true`, or
    /// `"allow_full_replacement": true` in a rollback's body), unless `ALLOW_FULL_REPLACEMENT`
    /// already allows every run (its warning then names the setting).
    pub fn allow_full_replacement_once(&mut self) {
        if self.full_replacement == FullReplacement::Refused {
            self.full_replacement = FullReplacement::AllowedOnce;
        }
    }
}

/// Cleans up a token secret (`name` is `CF_API_TOKEN` or `SYNC_AUTH_TOKEN`) as pasted, minimally: trims ASCII whitespace (a trailing newline from
/// `echo … | wrangler secret put`), strips one pair of surrounding quotes (`"…"` or `'…'`, from
/// copying a `.dev.vars` or shell line), then a leading `Bearer ` in any case (from copying a
/// header). Each step that changed something is a warning that says to re-enter the secret bare;
/// none holds any part of the token. No length or character-set rule: token formats change.
///
/// Cloudflare answers a malformed `Authorization` header with 400/6003 or 403/10000, which says
/// nothing of quotes or a doubled `Bearer` (reference `cloudflare-api.md` §1.3).
///
/// # Errors
/// A problem (naming the setting, the kind of character and its position, never the token) when
/// the token still holds whitespace or a control character, or nothing is left.
pub fn normalize_token(name: &str, raw: &str) -> Result<(String, Vec<String>), String> {
    let reenter = format!("re-enter the secret bare with `wrangler secret put {name}`");
    let mut warnings = Vec::new();
    let mut token = raw.trim_ascii();
    if token.len() != raw.len() {
        warnings.push(format!(
            "{name}: removed whitespace around the token; {reenter}"
        ));
    }
    for q in ['"', '\''] {
        if let Some(inner) = token
            .strip_prefix(q)
            .and_then(|t| t.strip_suffix(q))
            .filter(|_| token.len() >= 2)
        {
            token = inner;
            warnings.push(format!(
                "{name}: removed the quotes around the token; {reenter}"
            ));
            break;
        }
    }
    // "Bearer" as a word: followed by a space, or alone (its space trimmed above).
    let bearer = token
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("bearer"));
    let rest = token
        .get(6..)
        .filter(|r| bearer && (r.is_empty() || r.starts_with(' ')));
    if let Some(rest) = rest {
        token = rest.trim_start_matches(' ');
        warnings.push(format!(
            "{name}: removed a leading \"Bearer \" (it belongs in the Authorization header, not in the secret); {reenter}"
        ));
    }
    if token.is_empty() {
        return Err(format!(
            "{name} holds no token once quotes and \"Bearer \" are removed; {reenter}"
        ));
    }
    let count = token.chars().count();
    if let Some((at, c)) = token
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        let what = if c.is_whitespace() {
            "whitespace"
        } else {
            "a control character"
        };
        return Err(format!(
            "{name} holds {what} (U+{:04X}) at character {} of {count}; a token has none: {reenter}",
            c as u32,
            at + 1
        ));
    }
    Ok((token.to_owned(), warnings))
}

fn single_target(get: &impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Vec<Target> {
    let source = match (get("JWKS_URL"), get("OIDC_ISSUER")) {
        (Some(url), Some(issuer)) => {
            problems.push("JWKS_URL and OIDC_ISSUER are both set; set exactly one".to_owned());
            check_url("JWKS_URL", &url, problems);
            check_url("OIDC_ISSUER", &issuer, problems);
            None
        }
        (Some(url), None) => {
            check_url("JWKS_URL", &url, problems);
            Some(Source::JwksUrl(url))
        }
        (None, Some(issuer)) => {
            check_url("OIDC_ISSUER", &issuer, problems);
            Some(Source::Issuer(issuer))
        }
        (None, None) => {
            problems.push(
                "no source: set JWKS_URL or OIDC_ISSUER (or SYNC_TARGETS for several targets)"
                    .to_owned(),
            );
            None
        }
    };
    let zone_id = get("CF_ZONE_ID");
    let config_id = get("CF_TOKEN_CONFIG_ID");
    check_ids(
        "CF_ZONE_ID",
        zone_id.as_deref(),
        "CF_TOKEN_CONFIG_ID",
        config_id.as_deref(),
        problems,
    );
    match (source, zone_id, config_id) {
        (Some(source), Some(zone_id), Some(config_id)) => vec![Target {
            name: "default".to_owned(),
            zone_id: zone_id.to_ascii_lowercase(),
            config_id: config_id.to_ascii_lowercase(),
            sources: vec![source],
        }],
        _ => Vec::new(),
    }
}

fn parse_targets(json: &str, problems: &mut Vec<String>) -> Vec<Target> {
    // Each entry is read on its own, so one malformed target does not hide the others' problems.
    let entries: Vec<serde_json::Value> = match serde_json::from_str(json) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(format!("SYNC_TARGETS is not a JSON array of targets: {e}"));
            return Vec::new();
        }
    };
    if entries.is_empty() {
        problems.push("SYNC_TARGETS is an empty array".to_owned());
    }
    let mut targets: Vec<Target> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let at = format!("SYNC_TARGETS[{i}]");
        let spec: TargetSpec = match serde_json::from_value(entry) {
            Ok(spec) => spec,
            Err(e) => {
                problems.push(format!("{at}: {e}"));
                continue;
            }
        };
        let name = match spec.name.filter(|n| !n.trim().is_empty()) {
            Some(n) => n,
            None => {
                problems.push(format!("{at}.name is missing"));
                format!("#{i}")
            }
        };
        if targets.iter().any(|t| t.name == name) {
            problems.push(format!("{at}.name {name:?} is used twice"));
        }
        let (zone_field, config_field) = (format!("{at}.zone_id"), format!("{at}.config_id"));
        check_ids(
            &zone_field,
            spec.zone_id.as_deref(),
            &config_field,
            spec.config_id.as_deref(),
            problems,
        );
        if spec.sources.is_empty() {
            problems.push(format!(
                "{at}.sources must list at least one {{\"jwks_url\"}} or {{\"issuer\"}}"
            ));
        }
        let mut sources = Vec::with_capacity(spec.sources.len());
        for (j, s) in spec.sources.into_iter().enumerate() {
            let field = format!("{at}.sources[{j}]");
            match (s.jwks_url, s.issuer) {
                (Some(url), None) => {
                    check_url(&format!("{field}.jwks_url"), &url, problems);
                    sources.push(Source::JwksUrl(url));
                }
                (None, Some(issuer)) => {
                    check_url(&format!("{field}.issuer"), &issuer, problems);
                    sources.push(Source::Issuer(issuer));
                }
                _ => problems.push(format!(
                    "{field} must have exactly one of jwks_url or issuer"
                )),
            }
        }
        if let (Some(zone_id), Some(config_id)) = (spec.zone_id, spec.config_id) {
            let (zone_id, config_id) =
                (zone_id.to_ascii_lowercase(), config_id.to_ascii_lowercase());
            if targets
                .iter()
                .any(|t| t.zone_id == zone_id && t.config_id == config_id)
            {
                problems.push(format!(
                    "{at} names configuration {config_id} of zone {zone_id} again; two targets would overwrite each other"
                ));
            }
            targets.push(Target {
                name,
                zone_id,
                config_id,
                sources,
            });
        }
    }
    targets
}

fn check_ids(
    zone_field: &str,
    zone_id: Option<&str>,
    config_field: &str,
    config_id: Option<&str>,
    problems: &mut Vec<String>,
) {
    match zone_id {
        None => problems.push(format!("{zone_field} is not set")),
        Some(z) if !is_zone_id(z) => problems.push(format!(
            "{zone_field} must be 32 hexadecimal characters, got {}",
            shown(z)
        )),
        Some(_) => {}
    }
    match config_id {
        None => problems.push(format!("{config_field} is not set")),
        Some(c) if !is_uuid(c) => problems.push(format!(
            "{config_field} must be a UUID (8-4-4-4-12 hexadecimal), got {}",
            shown(c)
        )),
        Some(_) => {}
    }
}

/// How a settings problem shows the value it refuses: whole when it has at most
/// [`SHOWN_CHARS`] characters, else its first [`SHOWN_CHARS`] and its length
/// (`"not-"… (10 characters)`). A secret pasted into the wrong setting (an API token in
/// `CF_ZONE_ID`, a webhook URL in `JWKS_URL`) then reaches the answer and the log as no more than
/// that, as a token's problems show no more than its length. Secret settings (`CF_API_TOKEN`,
/// `SYNC_AUTH_TOKEN`, the heartbeat and webhook URLs) are never shown at all.
pub(crate) fn shown(value: &str) -> String {
    let count = value.chars().count();
    if count <= SHOWN_CHARS {
        return format!("{value:?}");
    }
    let start: String = value.chars().take(SHOWN_CHARS).collect();
    format!("{start:?}… ({count} characters)")
}

/// How many characters of a refused setting's value a problem shows (see [`shown`]).
const SHOWN_CHARS: usize = 4;

/// A Cloudflare zone ID: 32 hexadecimal characters.
fn is_zone_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A UUID in its 8-4-4-4-12 text form (RFC 9562 §4).
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Checks that `value` is an absolute `https` URL, or `http` on a loopback host (local runs).
fn check_url(field: &str, value: &str, problems: &mut Vec<String>) {
    match Url::parse(value) {
        // A JWKS and a discovery document are public: a user name or password in the URL is a
        // mistake, and would reach every message that names the URL.
        Ok(url) if !url.username().is_empty() || url.password().is_some() => {
            problems.push(format!(
                "{field} must not hold a user name or password (`user:pass@`): URLs appear in messages and logs (a JWKS is public; Cloudflare's token is CF_API_TOKEN)"
            ))
        }
        Ok(url) if is_allowed_url(&url) => {}
        Ok(_) => problems.push(format!(
            "{field} must be an https URL (http only for a loopback host), got {}",
            shown(value)
        )),
        // Unicode host names are not resolved (idna_adapter 1.0, Cargo.toml): say how to write one.
        Err(url::ParseError::IdnaError) => problems.push(format!(
            "{field} has a non-ASCII host name; write it in its ASCII (punycode, xn--…) form, got {}",
            shown(value)
        )),
        Err(e) => problems.push(format!("{field} is not a URL ({e}), got {}", shown(value))),
    }
}

/// True for `https` URLs, and for `http` URLs whose host is loopback (`localhost`, 127.0.0.0/8,
/// `[::1]`). Used for configured URLs and for every redirect target.
pub fn is_allowed_url(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
    const CONFIG: &str = "4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7";

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    fn problems(pairs: &[(&str, &str)]) -> Vec<String> {
        load(pairs)
            .map(|_| ())
            .expect_err("config should be refused")
            .problems
    }

    #[test]
    fn single_target_form_with_defaults() {
        let c = load(&[
            ("JWKS_URL", "https://idp.example/jwks"),
            ("CF_ZONE_ID", ZONE),
            ("CF_TOKEN_CONFIG_ID", CONFIG),
            ("CF_API_TOKEN", "tok"),
        ])
        .unwrap();
        assert_eq!(
            c.targets,
            vec![Target {
                name: "default".into(),
                zone_id: ZONE.into(),
                config_id: CONFIG.into(),
                sources: vec![Source::JwksUrl("https://idp.example/jwks".into())],
            }]
        );
        assert_eq!(c.cf_api_base, DEFAULT_CF_API_BASE);
        assert!(!c.dry_run);
        assert_eq!(c.jwks.max_keys, 16);
        assert_eq!(c.jwks.keys_pointer, "/keys");
        assert_eq!(c.jwks.rsa_default_alg, Alg::RS256);
        assert_eq!(c.fetch_timeout_ms, DEFAULT_FETCH_TIMEOUT_MS);
        assert_eq!(c.cf_api_token.expose(), "tok");
    }

    #[test]
    fn optional_settings_are_read() {
        let c = load(&[
            ("OIDC_ISSUER", "http://127.0.0.1:8788/idp/main"),
            ("CF_ZONE_ID", ZONE),
            ("CF_TOKEN_CONFIG_ID", CONFIG),
            ("CF_API_TOKEN", "tok"),
            ("CF_API_BASE", "http://localhost:8788/client/v4/"),
            ("DRY_RUN", "true"),
            ("MAX_KEYS", "4"),
            ("RSA_DEFAULT_ALG", "PS256"),
            ("JWKS_KEYS_POINTER", "/data/keys"),
            ("FETCH_TIMEOUT_MS", "500"),
            ("RETAIN_REMOVED_KEYS_FOR", "2h"),
            ("STALE_AFTER", "45m"),
        ])
        .unwrap();
        assert_eq!(
            c.targets[0].sources,
            vec![Source::Issuer("http://127.0.0.1:8788/idp/main".into())]
        );
        assert_eq!(c.cf_api_base, "http://localhost:8788/client/v4");
        assert!(c.dry_run);
        assert_eq!(c.jwks.max_keys, 4);
        assert_eq!(c.jwks.rsa_default_alg, Alg::PS256);
        assert_eq!(c.jwks.keys_pointer, "/data/keys");
        assert_eq!(c.fetch_timeout_ms, 500);
        assert_eq!(c.ops.retain_removed_keys_for_ms, Some(7_200_000));
        assert_eq!(c.ops.stale_after_ms, 2_700_000);
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let p = problems(&[
            ("JWKS_URL", "http://idp.example/jwks"),
            ("CF_ZONE_ID", "not-a-zone"),
            ("CF_TOKEN_CONFIG_ID", "1234"),
            ("MAX_KEYS", "0"),
            ("RSA_DEFAULT_ALG", "ES256"),
            ("DRY_RUN", "maybe"),
            ("JWKS_KEYS_POINTER", "keys"),
            ("STALE_AFTER", "forever"),
        ]);
        assert_eq!(
            p,
            vec![
                "JWKS_URL must be an https URL (http only for a loopback host), got \"http\"… (23 characters)",
                "CF_ZONE_ID must be 32 hexadecimal characters, got \"not-\"… (10 characters)",
                "CF_TOKEN_CONFIG_ID must be a UUID (8-4-4-4-12 hexadecimal), got \"1234\"",
                "CF_API_TOKEN is not set; add it with `wrangler secret put CF_API_TOKEN`",
                "DRY_RUN must be true, false, 1 or 0, got \"mayb\"… (5 characters)",
                "JWKS_KEYS_POINTER must be an RFC 6901 JSON Pointer starting with '/', got \"keys\"",
                "MAX_KEYS must be a whole number from 1 to 256, got \"0\"",
                "RSA_DEFAULT_ALG must be one of RS256, RS384, RS512, PS256, PS384, PS512, got \"ES25\"… (5 characters)",
                "STALE_AFTER must be a duration above zero, such as 90s, 15m, 2h or 1d (units s, m, h, d; at most 365d), got \"fore\"… (7 characters)",
            ]
        );
    }

    #[test]
    fn nothing_set_names_each_missing_value() {
        assert_eq!(
            problems(&[]),
            vec![
                "no source: set JWKS_URL or OIDC_ISSUER (or SYNC_TARGETS for several targets)",
                "CF_ZONE_ID is not set",
                "CF_TOKEN_CONFIG_ID is not set",
                "CF_API_TOKEN is not set; add it with `wrangler secret put CF_API_TOKEN`",
            ]
        );
    }

    #[test]
    fn both_single_sources_are_refused() {
        let p = problems(&[
            ("JWKS_URL", "http://a.example/jwks"),
            ("OIDC_ISSUER", "https://a.example"),
            ("CF_ZONE_ID", ZONE),
            ("CF_TOKEN_CONFIG_ID", CONFIG),
            ("CF_API_TOKEN", "tok"),
        ]);
        assert_eq!(
            p,
            vec![
                "JWKS_URL and OIDC_ISSUER are both set; set exactly one",
                "JWKS_URL must be an https URL (http only for a loopback host), got \"http\"… (21 characters)"
            ]
        );
    }

    #[test]
    fn sync_targets_with_merged_sources() {
        let json = format!(
            r#"[{{"name":"api","zone_id":"{ZONE}","config_id":"{CONFIG}",
                 "sources":[{{"jwks_url":"https://old.example/jwks"}},{{"issuer":"https://new.example"}}]}}]"#
        );
        let c = load(&[("SYNC_TARGETS", &json), ("CF_API_TOKEN", "tok")]).unwrap();
        assert_eq!(c.targets.len(), 1);
        assert_eq!(c.targets[0].name, "api");
        assert_eq!(
            c.targets[0].sources,
            vec![
                Source::JwksUrl("https://old.example/jwks".into()),
                Source::Issuer("https://new.example".into())
            ]
        );
    }

    #[test]
    fn sync_targets_problems() {
        let json = format!(
            r#"[{{"name":"a","zone_id":"{ZONE}","config_id":"{CONFIG}","sources":[{{"jwks_url":"https://x.example/j"}}]}},
                {{"name":"a","zone_id":"{ZONE}","config_id":"{CONFIG}","sources":[{{"jwks_url":"ftp://x","issuer":"https://y"}}]}},
                {{"zone_id":"abc","sources":[]}}]"#
        );
        let p = problems(&[
            ("SYNC_TARGETS", &json),
            ("CF_ZONE_ID", ZONE),
            ("CF_API_TOKEN", "t"),
        ]);
        assert_eq!(
            p,
            vec![
                "SYNC_TARGETS is set, and so is CF_ZONE_ID; use one form or the other",
                "SYNC_TARGETS[1].name \"a\" is used twice",
                "SYNC_TARGETS[1].sources[0] must have exactly one of jwks_url or issuer",
                "SYNC_TARGETS[1] names configuration 4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7 of zone 023e105f4ecef8ad9ca31a8372d0c353 again; two targets would overwrite each other",
                "SYNC_TARGETS[2].name is missing",
                "SYNC_TARGETS[2].zone_id must be 32 hexadecimal characters, got \"abc\"",
                "SYNC_TARGETS[2].config_id is not set",
                "SYNC_TARGETS[2].sources must list at least one {\"jwks_url\"} or {\"issuer\"}",
            ]
        );
    }

    /// H2: a merged target needs a MAX_KEYS slot per source, checked with the settings.
    #[test]
    fn max_keys_below_a_targets_source_count_is_a_problem() {
        let json = format!(
            r#"[{{"name":"api","zone_id":"{ZONE}","config_id":"{CONFIG}",
                 "sources":[{{"jwks_url":"https://old.example/jwks"}},{{"issuer":"https://new.example"}}]}}]"#
        );
        assert_eq!(
            problems(&[("SYNC_TARGETS", &json), ("CF_API_TOKEN", "tok"), ("MAX_KEYS", "1")]),
            vec!["MAX_KEYS (1) is less than the 2 sources of target \"api\" (https://old.example/jwks, https://new.example), and each source keeps at least one key: raise MAX_KEYS or merge fewer sources"]
        );
        let c = load(&[
            ("SYNC_TARGETS", &json),
            ("CF_API_TOKEN", "tok"),
            ("MAX_KEYS", "2"),
        ]);
        assert_eq!(c.unwrap().jwks.max_keys, 2);
    }

    /// L1: IDs are case-insensitive hexadecimal; read in lower case, the same configuration
    /// written in two cases is one target, and two such entries are caught as duplicates.
    #[test]
    fn ids_are_read_in_lower_case() {
        let upper = (ZONE.to_ascii_uppercase(), CONFIG.to_ascii_uppercase());
        for (zone, config) in [(ZONE, CONFIG), (upper.0.as_str(), upper.1.as_str())] {
            let c = load(&[
                ("JWKS_URL", "https://idp.example/jwks"),
                ("CF_ZONE_ID", zone),
                ("CF_TOKEN_CONFIG_ID", config),
                ("CF_API_TOKEN", "tok"),
            ])
            .unwrap();
            assert_eq!(
                (
                    c.targets[0].zone_id.as_str(),
                    c.targets[0].config_id.as_str()
                ),
                (ZONE, CONFIG),
                "{zone}/{config}"
            );
        }
        let json = format!(
            r#"[{{"name":"a","zone_id":"{}","config_id":"{}","sources":[{{"jwks_url":"https://x.example/j"}}]}},
                {{"name":"b","zone_id":"{ZONE}","config_id":"{CONFIG}","sources":[{{"jwks_url":"https://y.example/j"}}]}}]"#,
            upper.0, upper.1
        );
        assert_eq!(
            problems(&[("SYNC_TARGETS", &json), ("CF_API_TOKEN", "t")]),
            vec![format!("SYNC_TARGETS[1] names configuration {CONFIG} of zone {ZONE} again; two targets would overwrite each other")]
        );
    }

    #[test]
    fn sync_targets_bad_json() {
        let p = problems(&[("SYNC_TARGETS", "{\"name\":1}"), ("CF_API_TOKEN", "t")]);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("SYNC_TARGETS is not a JSON array of targets: "),
            "{p:?}"
        );
        let p = problems(&[("SYNC_TARGETS", "[]"), ("CF_API_TOKEN", "t")]);
        assert_eq!(p, vec!["SYNC_TARGETS is an empty array"]);
    }

    #[test]
    fn a_malformed_target_does_not_hide_the_next_ones_problems() {
        let json = r#"[{"name":"a","zone_id":"z","config_id":"c","sources":[],"jwks_uri":"x"},
                       {"name":"b","zone_id":"z","config_id":"c","sources":[{"jwks_url":"https://x.example"}]}]"#;
        let p = problems(&[("SYNC_TARGETS", json), ("CF_API_TOKEN", "t")]);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(
            p[0].starts_with("SYNC_TARGETS[0]: unknown field `jwks_uri`"),
            "{p:?}"
        );
        assert_eq!(
            p[1..],
            [
                "SYNC_TARGETS[1].zone_id must be 32 hexadecimal characters, got \"z\"",
                "SYNC_TARGETS[1].config_id must be a UUID (8-4-4-4-12 hexadecimal), got \"c\""
            ]
        );
    }

    #[test]
    fn credentials_in_a_url_are_refused_without_showing_them() {
        let p = problems(&[
            ("JWKS_URL", "https://user:hunter2pass@idp.example/jwks"),
            ("CF_ZONE_ID", ZONE),
            ("CF_TOKEN_CONFIG_ID", CONFIG),
            ("CF_API_TOKEN", "tok"),
            ("CF_API_BASE", "https://token@api.example/client/v4"),
        ]);
        assert_eq!(
            p,
            vec![
                "JWKS_URL must not hold a user name or password (`user:pass@`): URLs appear in messages and logs (a JWKS is public; Cloudflare's token is CF_API_TOKEN)",
                "CF_API_BASE must not hold a user name or password (`user:pass@`): URLs appear in messages and logs (a JWKS is public; Cloudflare's token is CF_API_TOKEN)",
            ]
        );
    }

    #[test]
    fn url_rules() {
        let ok = |s: &str| is_allowed_url(&Url::parse(s).unwrap());
        assert!(ok("https://idp.example/jwks"));
        assert!(ok("http://localhost:8788/jwks"));
        assert!(ok("http://127.0.0.5/jwks"));
        assert!(ok("http://[::1]:80/jwks"));
        assert!(!ok("http://idp.example/jwks"));
        assert!(!ok("http://10.0.0.1/jwks"));
        assert!(!ok("file:///etc/passwd"));
        assert!(!ok("ftp://idp.example/jwks"));
    }

    #[test]
    fn host_names_must_be_ascii() {
        // idna_adapter 1.0 (Cargo.toml) resolves no Unicode host names: punycode works, and a
        // Unicode one is a clear config problem instead of a silently different host.
        let ok = |s: &str| is_allowed_url(&Url::parse(s).unwrap());
        assert!(ok("https://xn--bcher-kva.example/jwks"));
        let p = problems(&[
            ("JWKS_URL", "https://bücher.example/jwks"),
            ("CF_ZONE_ID", ZONE),
            ("CF_TOKEN_CONFIG_ID", CONFIG),
            ("CF_API_TOKEN", "tok"),
        ]);
        assert_eq!(
            p,
            vec!["JWKS_URL has a non-ASCII host name; write it in its ASCII (punycode, xn--…) form, got \"http\"… (27 characters)"]
        );
    }

    #[test]
    fn ids() {
        assert!(is_zone_id(ZONE));
        assert!(is_zone_id(&ZONE.to_uppercase()));
        assert!(!is_zone_id(&ZONE[1..]));
        assert!(!is_zone_id("023e105f4ecef8ad9ca31a8372d0c35g"));
        assert!(is_uuid(CONFIG));
        assert!(!is_uuid("4a7ee8d3dd634ceb9d5fc27831854ce7"));
        assert!(!is_uuid("4a7ee8d3-dd63-4ceb-9d5f-c27831854cez"));
    }

    /// A secret pasted into the wrong setting is never echoed back whole: a problem shows at most
    /// its first four characters and its length.
    #[test]
    fn a_secret_in_the_wrong_setting_is_not_echoed() {
        let token = "Ab3xQkT7mNpR2sVwYc4dF6gH8jL0zU5eW1oI9tC2";
        let hook = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX";
        let p = problems(&[
            ("JWKS_URL", token),
            ("CF_ZONE_ID", token),
            ("CF_TOKEN_CONFIG_ID", token),
            ("CF_API_TOKEN", "tok"),
            ("DRY_RUN", token),
            ("MAX_KEYS", token),
            ("RSA_DEFAULT_ALG", token),
            ("FETCH_TIMEOUT_MS", token),
            ("JWKS_KEYS_POINTER", token),
            ("STALE_AFTER", token),
            ("RETAIN_REMOVED_KEYS_FOR", hook),
            (
                "CF_API_BASE",
                "http://hooks.example/T000/B000/XXXXsecretXXXX",
            ),
        ]);
        assert_eq!(p.len(), 11, "{p:?}");
        assert_eq!(
            p[1],
            "CF_ZONE_ID must be 32 hexadecimal characters, got \"Ab3x\"… (40 characters)"
        );
        assert_eq!(
            p[2],
            "CF_TOKEN_CONFIG_ID must be a UUID (8-4-4-4-12 hexadecimal), got \"Ab3x\"… (40 characters)"
        );
        for problem in &p {
            assert!(!problem.contains("Ab3xQ"), "{problem}");
            assert!(!problem.contains("XXXX"), "{problem}");
        }
        let t = "Ab3xQkT7mNpR2sVwYc4dF6gH8jL0zU5eW1oI9tC2";
        let json = format!(
            r#"[{{"name":"a","zone_id":"{t}","config_id":"{t}","sources":[{{"jwks_url":"{t}"}}]}}]"#
        );
        for problem in problems(&[("SYNC_TARGETS", &json), ("CF_API_TOKEN", "tok")]) {
            assert!(!problem.contains("Ab3xQ"), "{problem}");
        }
    }

    #[test]
    fn shown_values_are_whole_up_to_four_characters() {
        assert_eq!(shown("abc"), "\"abc\"");
        assert_eq!(shown("abcd"), "\"abcd\"");
        assert_eq!(shown("abcde"), "\"abcd\"… (5 characters)");
        assert_eq!(shown("é\n\"xy"), "\"é\\n\\\"x\"… (5 characters)");
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2".into())),
            "Secret([redacted])"
        );
    }

    #[test]
    fn settings_problems_read_cause_first() {
        let e = load(&[]).map(|_| ()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("4 problems in the settings: no source: set JWKS_URL"),
            "{e}"
        );
    }

    fn with_token(token: &str) -> Result<Config, ConfigError> {
        load(&[
            ("JWKS_URL", "https://idp.example/jwks"),
            ("CF_ZONE_ID", ZONE),
            ("CF_TOKEN_CONFIG_ID", CONFIG),
            ("CF_API_TOKEN", token),
        ])
    }

    const REENTER: &str = "re-enter the secret bare with `wrangler secret put CF_API_TOKEN`";

    /// Issue 10 point 2: each clean-up step of a pasted token is a warning; none prints it.
    #[test]
    fn a_dirty_api_token_is_cleaned_up_with_a_warning_per_step() {
        let tok = "Ab3-x_9zQkT7mNpR2sVwYc4dF6gH8jL0";
        let quotes = format!("CF_API_TOKEN: removed the quotes around the token; {REENTER}");
        let bearer =
            format!("CF_API_TOKEN: removed a leading \"Bearer \" (it belongs in the Authorization header, not in the secret); {REENTER}");
        let space = format!("CF_API_TOKEN: removed whitespace around the token; {REENTER}");
        let rows: Vec<(String, Vec<&String>)> = vec![
            (tok.to_owned(), vec![]),
            (format!("{tok}\n"), vec![&space]),
            (format!("\"{tok}\""), vec![&quotes]),
            (format!("'{tok}'"), vec![&quotes]),
            (format!("Bearer {tok}"), vec![&bearer]),
            (format!("bearer  {tok}"), vec![&bearer]),
            (format!("BEARER {tok}"), vec![&bearer]),
            (
                format!(" \"Bearer {tok}\"\r\n"),
                vec![&space, &quotes, &bearer],
            ),
        ];
        for (raw, want) in rows {
            let c = with_token(&raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(c.cf_api_token.expose(), tok, "{raw:?}");
            assert_eq!(c.warnings.iter().collect::<Vec<_>>(), want, "{raw:?}");
            assert!(c
                .warnings
                .iter()
                .all(|w| !w.contains(tok) && !w.contains(&tok[..4])));
        }
    }

    #[test]
    fn a_dirty_sync_auth_token_is_a_warning_never_a_problem() {
        let with_auth = |auth: &str| {
            load(&[
                ("JWKS_URL", "https://idp.example/jwks"),
                ("CF_ZONE_ID", ZONE),
                ("CF_TOKEN_CONFIG_ID", CONFIG),
                ("CF_API_TOKEN", "tok"),
                ("SYNC_AUTH_TOKEN", auth),
            ])
            .unwrap()
            .warnings
        };
        let reenter = "re-enter the secret bare with `wrangler secret put SYNC_AUTH_TOKEN`";
        assert!(with_auth("s3cret-auth-token").is_empty());
        assert_eq!(
            with_auth("\"Bearer s3cret-auth-token\""),
            vec![
                format!("SYNC_AUTH_TOKEN: removed the quotes around the token; {reenter}"),
                format!(
                    "SYNC_AUTH_TOKEN: removed a leading \"Bearer \" (it belongs in the Authorization header, not in the secret); {reenter}"
                ),
            ]
        );
        assert_eq!(
            with_auth("two words"),
            vec![format!(
                "SYNC_AUTH_TOKEN holds whitespace (U+0020) at character 4 of 9; a token has none: {reenter}"
            )]
        );
    }

    #[test]
    fn only_one_pair_of_quotes_is_stripped_and_bearer_is_a_word() {
        let c = with_token("\"\"tok\"\"").unwrap();
        assert_eq!(c.cf_api_token.expose(), "\"tok\"");
        let c = with_token("Bearertok").unwrap();
        assert_eq!(c.cf_api_token.expose(), "Bearertok");
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn a_token_with_whitespace_or_control_characters_inside_is_a_config_error() {
        let rows = [
            ("tok en", "whitespace (U+0020) at character 4 of 6"),
            ("\"tok\ten\"", "whitespace (U+0009) at character 4 of 6"),
            (
                "tok\u{7f}en",
                "a control character (U+007F) at character 4 of 6",
            ),
            ("tok\u{a0}en", "whitespace (U+00A0) at character 4 of 6"),
            (
                "Bearer Bearer tok",
                "whitespace (U+0020) at character 7 of 10",
            ),
        ];
        for (raw, what) in rows {
            let p = with_token(raw).map(|_| ()).unwrap_err().problems;
            assert_eq!(
                p,
                vec![format!(
                    "CF_API_TOKEN holds {what}; a token has none: {REENTER}"
                )],
                "{raw:?}"
            );
        }
        for raw in ["\"\"", "Bearer  ", "'Bearer '"] {
            let p = with_token(raw).map(|_| ()).unwrap_err().problems;
            assert_eq!(
                p,
                vec![format!(
                    "CF_API_TOKEN holds no token once quotes and \"Bearer \" are removed; {REENTER}"
                )],
                "{raw:?}"
            );
        }
    }

    #[test]
    fn a_request_allows_a_full_replacement_once_unless_the_setting_does_always() {
        let base = [
            ("JWKS_URL", "https://idp.example/jwks"),
            ("CF_ZONE_ID", ZONE),
            ("CF_TOKEN_CONFIG_ID", CONFIG),
            ("CF_API_TOKEN", "tok"),
        ];
        let mut c = load(&base).unwrap();
        c.allow_full_replacement_once();
        assert_eq!(c.full_replacement, FullReplacement::AllowedOnce);
        let mut pairs = base.to_vec();
        pairs.push(("ALLOW_FULL_REPLACEMENT", "true"));
        let mut c = load(&pairs).unwrap();
        c.allow_full_replacement_once();
        assert_eq!(c.full_replacement, FullReplacement::AllowedBySetting);
    }

    #[test]
    fn allow_full_replacement_is_a_flag() {
        let base = [
            ("JWKS_URL", "https://idp.example/jwks"),
            ("CF_ZONE_ID", ZONE),
            ("CF_TOKEN_CONFIG_ID", CONFIG),
            ("CF_API_TOKEN", "tok"),
        ];
        assert_eq!(
            load(&base).unwrap().full_replacement,
            FullReplacement::Refused
        );
        for (v, want) in [
            ("true", FullReplacement::AllowedBySetting),
            ("1", FullReplacement::AllowedBySetting),
            ("false", FullReplacement::Refused),
        ] {
            let mut pairs = base.to_vec();
            pairs.push(("ALLOW_FULL_REPLACEMENT", v));
            assert_eq!(load(&pairs).unwrap().full_replacement, want, "{v}");
        }
        let mut pairs = base.to_vec();
        pairs.push(("ALLOW_FULL_REPLACEMENT", "yes"));
        assert_eq!(
            problems(&pairs),
            vec!["ALLOW_FULL_REPLACEMENT must be true, false, 1 or 0, got \"yes\""]
        );
    }
}
