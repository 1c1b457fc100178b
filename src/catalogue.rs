//! Every error code the Worker reports, with its stage and the hint an operator acts on: a run's
//! errors, invalid settings, failures of a target's Durable Object (stage `state`), and the
//! answers that refuse a request (no stage: no run was reached).
//!
//! One table, so the hint of every error comes from the same place, and the README's failure
//! table can be checked against it row by row (the test below fails on any difference and prints
//! the table to paste). The tests of [`crate::error`] prove that every code the Worker can report
//! is here with the same stage, and that every entry is reported. Codes are API: alerts match on
//! them, so an entry is never renamed in passing. Hints name the setting or action that fixes the
//! failure; they never hold a value from the run (the message does).

use crate::error::Stage;

/// One error code: where it happens and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The stable `SCREAMING_SNAKE` code, as reported in `error.code`.
    pub code: &'static str,
    /// The stage reported with it, in `error.stage`; `None` for an answer that refuses the
    /// request itself (a route, auth, a query or body, a rollback), which reaches no run.
    pub stage: Option<Stage>,
    /// What the operator should check or do, as reported in `error.hint`.
    pub hint: &'static str,
}

const fn e(code: &'static str, stage: Stage, hint: &'static str) -> Entry {
    Entry {
        code,
        stage: Some(stage),
        hint,
    }
}

/// An answer to a request that reaches no run.
const fn request(code: &'static str, hint: &'static str) -> Entry {
    Entry {
        code,
        stage: None,
        hint,
    }
}

/// Every code, in the order of the stages of a run, then the failures of the target's Durable
/// Object, then the refusals of a request (the README's failure table has this order).
pub const CATALOGUE: &[Entry] = &[
    e(
        "CONFIG_INVALID",
        Stage::Config,
        "Fix every setting listed in `error.problems` (`[vars]` in wrangler.toml, `wrangler secret put` for secrets, `.dev.vars` locally). Nothing was fetched or written.",
    ),
    e(
        "JWKS_BAD_OPTIONS",
        Stage::Config,
        "A key option is invalid (JWKS_KEYS_POINTER, MAX_KEYS or RSA_DEFAULT_ALG): fix the setting the message names.",
    ),
    e(
        "JWKS_TIMEOUT",
        Stage::Fetch,
        "The IdP did not answer within FETCH_TIMEOUT_MS on any attempt: check the IdP's status, and raise FETCH_TIMEOUT_MS (up to 20000) if it is only slow.",
    ),
    e(
        "JWKS_UNREACHABLE",
        Stage::Fetch,
        "No connection to the IdP: check the host in JWKS_URL or OIDC_ISSUER (public DNS), that it serves HTTPS with a publicly trusted certificate, and that no firewall or IP allow-list drops Cloudflare's addresses.",
    ),
    e(
        "JWKS_DNS_ERROR",
        Stage::Fetch,
        "Cloudflare could not resolve the IdP's host (HTTP 530, error 1016): check the host name in JWKS_URL or OIDC_ISSUER and its public DNS records.",
    ),
    e(
        "JWKS_TLS_ERROR",
        Stage::Fetch,
        "Cloudflare could not complete TLS with the IdP (HTTP 525 or 526): its certificate must be valid, unexpired, issued for the host in JWKS_URL or OIDC_ISSUER, and served with its chain.",
    ),
    e(
        "JWKS_FORBIDDEN",
        Stage::Fetch,
        "The IdP refused the request (401 or 403). A JWKS is public: check that JWKS_URL is the IdP's public `jwks_uri` (not an admin API), and whether a WAF, bot protection or IP allow-list in front of the IdP blocks Cloudflare Workers (User-Agent `jwks-sync/…`).",
    ),
    e(
        "JWKS_NOT_FOUND",
        Stage::Fetch,
        "Nothing at that URL (404 or 410): check the tenant, realm and path in JWKS_URL (copy `jwks_uri` from the discovery document), or that OIDC_ISSUER is the exact issuer (`<issuer>/.well-known/openid-configuration` must exist).",
    ),
    e(
        "JWKS_RATE_LIMITED",
        Stage::Fetch,
        "The IdP rate-limited the Worker (429; its `retry-after` is in the message): the next cron tick retries; if it repeats, run the cron less often or ask the IdP to allow the Worker.",
    ),
    e(
        "JWKS_UNAVAILABLE",
        Stage::Fetch,
        "The IdP answered 5xx on every attempt: it is down or overloaded. The next cron tick retries; check the IdP's status page if it lasts.",
    ),
    e(
        "JWKS_HTTP_STATUS",
        Stage::Fetch,
        "The IdP answered a status the Worker does not expect (in the message): open JWKS_URL (or the issuer's discovery document) yourself and compare with the IdP's documentation.",
    ),
    e(
        "JWKS_REDIRECT",
        Stage::Fetch,
        "The IdP redirected where the Worker does not follow (not https, no Location, or more than 3 redirects): set JWKS_URL or OIDC_ISSUER to the final https URL.",
    ),
    e(
        "JWKS_TOO_LARGE",
        Stage::Fetch,
        "The answer is over 1 MiB, larger than any JWKS: check that JWKS_URL (or the discovery document's `jwks_uri`) points at the IdP's JWKS.",
    ),
    e(
        "JWKS_EMPTY_BODY",
        Stage::Parse,
        "The IdP answered with an empty body: check that JWKS_URL is the IdP's `jwks_uri`.",
    ),
    e(
        "JWKS_HTML",
        Stage::Parse,
        "The URL serves an HTML page (login, error or landing page), not a JWKS: set JWKS_URL to the IdP's `jwks_uri` from its discovery document, or set OIDC_ISSUER instead.",
    ),
    e(
        "JWKS_NOT_JSON",
        Stage::Parse,
        "The body is not JSON: check that JWKS_URL is the IdP's `jwks_uri`, and whether a proxy or WAF in front of the IdP rewrites the answer.",
    ),
    e(
        "JWKS_NOT_OBJECT",
        Stage::Parse,
        "The body is JSON but not an object, so not a JWKS: set JWKS_URL to the IdP's `jwks_uri`.",
    ),
    e(
        "JWKS_NO_KEY_ARRAY",
        Stage::Parse,
        "No key array where JWKS_KEYS_POINTER (default `/keys`) points: set JWKS_URL to a JWKS, or point JWKS_KEYS_POINTER at the array the IdP wraps (the message lists the members found).",
    ),
    e(
        "JWKS_PEM_MAP",
        Stage::Parse,
        "The URL serves PEM certificates keyed by kid (Google or Firebase x509 endpoints), not a JWKS: use the provider's JWKS URL, e.g. `https://www.googleapis.com/oauth2/v3/certs`.",
    ),
    e(
        "JWKS_KEYCLOAK_REALM",
        Stage::Parse,
        "The URL is a Keycloak realm document: set JWKS_URL to `<realm>/protocol/openid-connect/certs`, or OIDC_ISSUER to the realm URL.",
    ),
    e(
        "JWKS_CF_ENVELOPE",
        Stage::Parse,
        "The URL is a Cloudflare API answer, not an IdP's JWKS: point JWKS_URL or OIDC_ISSUER at the identity provider.",
    ),
    e(
        "JWKS_DISCOVERY_DOCUMENT",
        Stage::Parse,
        "JWKS_URL serves a discovery document whose `jwks_uri` is not a JWKS either: set JWKS_URL to the JWKS itself, or OIDC_ISSUER to the issuer.",
    ),
    e(
        "DISCOVERY_INVALID",
        Stage::Parse,
        "The discovery document is not usable (not JSON, or no `jwks_uri`): check that OIDC_ISSUER is the exact issuer, or set JWKS_URL to the JWKS instead.",
    ),
    e(
        "JWKS_TOO_MANY_ENTRIES",
        Stage::Parse,
        "The key array has over 1000 entries, more than any IdP publishes: check that JWKS_URL points at the IdP's JWKS.",
    ),
    e(
        "JWKS_PRIVATE_KEY",
        Stage::Normalize,
        "The IdP publishes private key material (the message names the kid and member, never the value): treat it as an incident, rotate those keys at the IdP now and fix what publishes them.",
    ),
    e(
        "JWKS_SYMMETRIC_KEY",
        Stage::Normalize,
        "The IdP publishes a shared secret (`kty` `oct`): treat it as leaked and rotate it at the IdP. Symmetric keys are never synced from a JWKS (those added in Cloudflare are kept).",
    ),
    e(
        "JWKS_AMBIGUOUS_KID",
        Stage::Normalize,
        "Two different keys share one kid and alg (named in the message), so a token cannot be matched to one: fix the IdP's key set, or drop one source of the merged target.",
    ),
    e(
        "JWKS_NO_USABLE_KEYS",
        Stage::Normalize,
        "Every key was left out (`dropped` gives each reason): the IdP must publish keys with a `kid` for RS256-512, PS256-512, ES256 or ES384; in a merged target, every source must.",
    ),
    e(
        "FULL_REPLACEMENT_REFUSED",
        Stage::Plan,
        "The IdP's keys (or a restored set) keep none of the live ones: they share no kid and alg with them, or a shared kid and alg comes with other key material (the same kid with other key material counts as replacing the live key, not keeping it), which is what a wrong tenant, issuer or SYNC_TARGETS entry looks like: check JWKS_URL or OIDC_ISSUER. If intended (first sync onto placeholder keys, an IdP switch, undoing one), allow it once with `POST /?allow_full_replacement=true` (or `\"allow_full_replacement\": true` in the `POST /rollback` body), or always with ALLOW_FULL_REPLACEMENT=true.",
    ),
    e(
        "KEY_LIMIT_REACHED",
        Stage::Plan,
        "The symmetric keys kept in the configuration take every MAX_KEYS slot, leaving none for the IdP's keys, or fewer than the sources merged into the target (each source keeps at least one key), or too few for a restored set (which is put back whole): raise MAX_KEYS if the account allows more, or move the symmetric keys to a separate configuration.",
    ),
    e(
        "CF_AUTH_MALFORMED",
        Stage::Cloudflare,
        "Cloudflare could not read the Authorization header (6003/6111): re-enter the API token bare, without quotes, `Bearer` or line breaks (`wrangler secret put CF_API_TOKEN`). A Global API Key does not work here.",
    ),
    e(
        "CF_TOKEN_INVALID",
        Stage::Cloudflare,
        "The API token is invalid, expired or revoked, or its IP filter excludes the Worker (9109): create a new token without an IP filter (a Worker calls from Cloudflare's addresses) and store it with `wrangler secret put CF_API_TOKEN`.",
    ),
    e(
        "CF_PERMISSION_DENIED",
        Stage::Cloudflare,
        "Cloudflare refused the API token on this zone (10000): give it Zone > API Gateway > Edit on the zone that holds the configuration (`documentation_url` lists the roles), and check that CF_API_TOKEN holds that token (re-enter it with `wrangler secret put CF_API_TOKEN`; Cloudflare answers 10000 to some wrong tokens too). A new token can take a minute to work.",
    ),
    e(
        "CF_NOT_ENTITLED",
        Stage::Cloudflare,
        "The account is not entitled to API Shield JWT validation (10403), an Enterprise add-on: no token or setting fixes this; ask your Cloudflare account team.",
    ),
    e(
        "CF_NOT_FOUND",
        Stage::Cloudflare,
        "No such zone or token validation configuration (404, 7003/7000): check CF_ZONE_ID and CF_TOKEN_CONFIG_ID (`zone_id`, `config_id` in SYNC_TARGETS). A configuration recreated by Terraform has a new id. A 404 that is not an API answer (the message says so) means CF_API_BASE is wrong: unset it, or end it in `/client/v4`.",
    ),
    e(
        "CF_RATE_LIMITED",
        Stage::Cloudflare,
        "Cloudflare's API rate limit (429/971: 1200 requests per 5 minutes per token) was hit: wait for the `retry-after` in the message, and look for another job using the same token.",
    ),
    e(
        "CF_UNAVAILABLE",
        Stage::Cloudflare,
        "Cloudflare's API answered 5xx, or a page that is not an API answer, on every attempt: transient, nothing was written, and the next cron tick retries. If it lasts, check CF_API_BASE and Cloudflare's status page.",
    ),
    e(
        "CF_API_UNREACHABLE",
        Stage::Cloudflare,
        "No answer from Cloudflare's API (timeout or connection error) while reading: nothing was written, and the next cron tick retries. If it lasts, check CF_API_BASE and FETCH_TIMEOUT_MS.",
    ),
    e(
        "CF_API_INVALID",
        Stage::Cloudflare,
        "Cloudflare answered 2xx with a body that is not the expected API answer: check that CF_API_BASE is `https://api.cloudflare.com/client/v4` (or unset).",
    ),
    e(
        "CF_TOO_MANY_KEYS",
        Stage::Cloudflare,
        "Cloudflare refused more keys than the configuration may hold: set MAX_KEYS to the account's limit (16 by default, 4 on older accounts), counting the symmetric keys kept.",
    ),
    e(
        "CF_PATCH_REFUSED",
        Stage::Cloudflare,
        "Cloudflare refused PATCH on the credentials, which keeps the configuration's symmetric (HS256/384/512) keys; nothing was written. Keep symmetric keys in a separate configuration, so this one holds only the IdP's keys.",
    ),
    e(
        "CF_API_STATUS",
        Stage::Cloudflare,
        "Cloudflare refused the request; its codes and `source.pointer` are in `cloudflare_errors`: fix what they name. A refused write changes nothing.",
    ),
    e(
        "CF_VERIFY_MISMATCH",
        Stage::Cloudflare,
        "Cloudflare accepted the write but dropped the keys named (an algorithm or size it does not take), or shows other key material for them than was sent: check those keys at the IdP; the next run writes the same set again.",
    ),
    e(
        "CF_WRITE_UNCONFIRMED",
        Stage::Cloudflare,
        "The write got no definite answer, and a re-read shows other keys live (`live_kids`) or could not be made: the next run reads what is live and writes again. If it repeats, check Cloudflare's status page.",
    ),
    e(
        "STATE_TIMEOUT",
        Stage::State,
        "The target's Durable Object did not answer in time (180 s for a run, 10 s for a status read), so whether the run happened is unknown: `GET /status` shows the target's last run, and the next cron tick runs again. If it repeats, look for the object's errors in the Worker's logs.",
    ),
    e(
        "STATE_UNAVAILABLE",
        Stage::State,
        "The target's Durable Object could not be reached or did not answer a report (the message has the reason): check that wrangler.toml binds TARGET_STATE with its `new_sqlite_classes` migration, and redeploy. Nothing was run for this target.",
    ),
    e(
        "STATE_STORAGE",
        Stage::State,
        "The target's Durable Object could not read or write its SQLite storage (the message has the runtime's reason): usually transient, so retry or wait for the next cron tick; if it lasts, check the account's Durable Objects usage and limits.",
    ),
    e(
        "RUN_ABANDONED",
        Stage::State,
        "The target's Durable Object dropped this request while it waited for its run: the object's one-run-at-a-time gate lost the request's place (a fault of the Worker, not of the settings). Send the request again; `GET /status` shows whether a run happened. A reset of the object (a deploy, for example) is not reported with this code but as STATE_UNAVAILABLE or STATE_TIMEOUT, and the run it cut short is recorded as `interrupted`.",
    ),
    e(
        "TARGET_NOT_CONFIGURED",
        Stage::State,
        "The Durable Object's zone and configuration IDs are in no target of the settings, which happens while a deploy that changed SYNC_TARGETS (or CF_ZONE_ID, CF_TOKEN_CONFIG_ID) rolls out: retry once the deploy has finished.",
    ),
    request(
        "UNAUTHORIZED",
        "HTTP 401: send `Authorization: Bearer <token>` with the value of the SYNC_AUTH_TOKEN secret; `/`, `/status` and `/rollback` need it, `/healthz` does not.",
    ),
    request(
        "AUTH_DISABLED",
        "HTTP 503: SYNC_AUTH_TOKEN is not set, so the authenticated endpoints are off; set it with `wrangler secret put SYNC_AUTH_TOKEN` (the cron runs without it).",
    ),
    request(
        "BAD_REQUEST",
        "HTTP 400: the query or body is not one the Worker accepts (the message says which part); `POST /` takes only `dry_run` and `allow_full_replacement`, `POST /rollback` a JSON body `{\"target\", \"run\"}` with optional `dry_run` and `allow_full_replacement`. Nothing was run.",
    ),
    request(
        "RUN_NOT_RESTORABLE",
        "HTTP 404, 409 or 500 on `POST /rollback`: that run has no kept key set (only the last 5 verified writes are kept; `GET /status` lists them as `restorable_runs`), its set holds more keys than MAX_KEYS allows now, or it cannot be read. Pick a listed run; nothing was written.",
    ),
    request(
        "NOT_FOUND",
        "HTTP 404: no such route (the Worker answers `/`, `/status`, `/rollback` and `/healthz`), or the `target` of `POST /rollback` is not a configured target's name (the message lists them).",
    ),
    request(
        "METHOD_NOT_ALLOWED",
        "HTTP 405: the path exists but not with this method; the `allow` header lists those it takes (`GET /` previews and `POST /` syncs; `GET /status`, `POST /rollback`, `GET /healthz`).",
    ),
];

/// The entry of `code`, if it is one.
pub fn entry(code: &str) -> Option<&'static Entry> {
    CATALOGUE.iter().find(|e| e.code == code)
}

/// The hint of `code`; empty for a code outside the catalogue (the tests prove none is emitted).
pub fn hint(code: &str) -> &'static str {
    entry(code).map_or("", |e| e.hint)
}

/// The README's failure table, generated from [`CATALOGUE`]: `| code | stage | what to do |`,
/// with `—` in the stage column of a request's refusal.
pub fn markdown_table() -> String {
    let mut out = String::from("| code | stage | what to do |\n|---|---|---|\n");
    for e in CATALOGUE {
        let stage = e.stage.map_or("—".to_owned(), |s| format!("`{s}`"));
        out.push_str(&format!("| `{}` | {stage} | {} |\n", e.code, e.hint));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn codes_are_unique_screaming_snake_and_hints_fit_a_table() {
        let mut seen = BTreeSet::new();
        for e in CATALOGUE {
            assert!(seen.insert(e.code), "{} twice", e.code);
            assert!(
                e.code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                e.code
            );
            assert!(
                !e.hint.contains('|') && !e.hint.contains('\n'),
                "{}",
                e.code
            );
            assert!(e.hint.ends_with('.'), "{}: a hint is a sentence", e.code);
        }
    }

    #[test]
    fn unknown_codes_have_no_hint() {
        assert_eq!(hint("NOPE"), "");
        assert_eq!(
            entry("CF_NOT_FOUND").map(|e| e.stage),
            Some(Some(Stage::Cloudflare))
        );
        assert_eq!(entry("NOT_FOUND").map(|e| e.stage), Some(None));
    }

    /// The README's failure table, between its markers, equals [`markdown_table`] row by row.
    #[test]
    fn readme_failure_table_matches_the_catalogue() {
        let readme = include_str!("../README.md");
        let start = "<!-- failure-table: generated from src/catalogue.rs -->\n";
        let end = "<!-- /failure-table -->";
        let from = readme
            .find(start)
            .expect("README has the failure table start marker");
        let rest = &readme[from + start.len()..];
        let table = &rest[..rest.find(end).expect("README has the end marker")];
        let want = markdown_table();
        for (i, (got, want)) in table.lines().zip(want.lines()).enumerate() {
            assert_eq!(
                got,
                want,
                "README failure table row {i} differs; the table should be:\n{}",
                markdown_table()
            );
        }
        assert_eq!(
            table.lines().count(),
            want.lines().count(),
            "README failure table has another number of rows; it should be:\n{}",
            markdown_table()
        );
    }
}
