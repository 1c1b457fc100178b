//! `make deploy`'s settings check: the Worker's own [`Config::from_lookup`], run natively against
//! the `[vars]` of the `wrangler.toml` being deployed and the names of the Worker's secrets, so a
//! deploy that every cron run would fail with `CONFIG_INVALID` is refused before it happens. Any
//! setting the Worker learns to check is checked here too.
//!
//! `scripts/deploy-check.mjs` reads the configuration with wrangler's own reader and lists the
//! secrets with `wrangler secret list` (names only: values never leave Cloudflare), then runs this.
//!
//! # Format
//! Standard input, one JSON object; `vars` as wrangler reads them (a TOML table or number is a
//! JSON value, as the Worker receives it):
//! ```text
//! {"vars": {"JWKS_URL": "https://…", "SYNC_TARGETS": [{…}]}, "secrets": ["CF_API_TOKEN"]}
//! ```
//! Standard output: the verdict, one line per problem or note. Exit status 0 when the settings
//! pass, 1 when they do not, 2 when the input is not that object.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

use std::io::Read;
use std::process::ExitCode;

use jwks_sync::config::{Config, Source};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The settings that are Worker secrets (README, "Settings"): never to be written in `[vars]`.
/// The heartbeat and webhook URLs are credentials too: whoever has one can post to the channel or
/// silence the check.
const SECRET_SETTINGS: [&str; 5] = [
    "CF_API_TOKEN",
    "SYNC_AUTH_TOKEN",
    "HEARTBEAT_URL",
    "HEARTBEAT_FAIL_URL",
    "ALERT_WEBHOOK_URL",
];

/// Stands for the value of a secret that exists: only its name is known.
const SECRET_PLACEHOLDER: &str = "(secret)";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default)]
    vars: Map<String, Value>,
    #[serde(default)]
    secrets: Vec<String>,
}

/// The verdict on one set of settings.
#[derive(Debug, PartialEq, Eq)]
struct Verdict {
    /// What the Worker would refuse, each naming the setting; empty when the settings pass.
    problems: Vec<String>,
    /// What passes but deserves a word (e.g. the HTTP trigger disabled).
    notes: Vec<String>,
    /// One line per target when the settings pass.
    targets: Vec<String>,
}

/// Checks `vars` (name → JSON value) and the names of existing `secrets` as the Worker would read
/// them: a string as it is, `null` as unset, any other value as its JSON text (what the Worker's
/// lookup does with a TOML table such as `[[vars.SYNC_TARGETS]]`), and a secret that exists as set.
/// A secret's value is unknown here, so a problem about the value of a setting that only a secret
/// holds is not reported (the Worker still checks it on every run).
fn check(vars: &Map<String, Value>, secrets: &[String]) -> Verdict {
    let var = |name: &str| match vars.get(name)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let secret = |name: &str| secrets.iter().any(|s| s == name);
    let from_secret = |name: &str| var(name).is_none() && secret(name);
    let lookup =
        |name: &str| var(name).or_else(|| secret(name).then(|| SECRET_PLACEHOLDER.to_owned()));

    let mut problems: Vec<String> = SECRET_SETTINGS
        .iter()
        .filter(|name| vars.contains_key(**name))
        .map(|name| {
            format!(
                "{name} is in [vars] of wrangler.toml, in plain text: delete it there and run `wrangler secret put {name}`"
            )
        })
        .collect();
    let mut targets = Vec::new();
    match Config::from_lookup(lookup) {
        Ok(config) => {
            targets = config
                .targets
                .iter()
                .map(|t| {
                    let sources: Vec<String> = t
                        .sources
                        .iter()
                        .map(|s| match s {
                            Source::JwksUrl(u) => format!("JWKS {u}"),
                            Source::Issuer(u) => format!("issuer {u}"),
                        })
                        .collect();
                    format!(
                        "target {}: zone {}, configuration {}, from {}",
                        t.name,
                        t.zone_id,
                        t.config_id,
                        sources.join(" + ")
                    )
                })
                .collect();
        }
        Err(e) => problems.extend(
            e.problems
                .into_iter()
                .filter(|p| !names_setting(p, &from_secret)),
        ),
    }
    let mut notes = Vec::new();
    if lookup("SYNC_AUTH_TOKEN").is_none() {
        notes.push(
            "SYNC_AUTH_TOKEN is not set: GET /, POST /, GET /status and POST /rollback will answer 503 (the cron still syncs); set it with `wrangler secret put SYNC_AUTH_TOKEN` to enable them"
                .to_owned(),
        );
    }
    if !problems.is_empty() {
        targets.clear();
    }
    Verdict {
        problems,
        notes,
        targets,
    }
}

/// True when `problem` is about the setting it starts with (`NAME must…`, `NAME[0].zone_id…`) and
/// `is` holds for that name.
fn names_setting(problem: &str, is: &impl Fn(&str) -> bool) -> bool {
    let name: String = problem
        .chars()
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
        .collect();
    !name.is_empty() && is(&name)
}

/// The verdict as text, and the exit status.
fn render(verdict: &Verdict) -> (String, u8) {
    let mut out = String::new();
    let status = if verdict.problems.is_empty() {
        out.push_str("settings: pass the Worker's own check\n");
        for t in &verdict.targets {
            out.push_str(&format!("  {t}\n"));
        }
        0
    } else {
        let n = verdict.problems.len();
        out.push_str(&format!(
            "settings: {n} problem{}; the Worker would fail every run with CONFIG_INVALID:\n",
            if n == 1 { "" } else { "s" }
        ));
        for p in &verdict.problems {
            out.push_str(&format!("  - {p}\n"));
        }
        1
    };
    for note in &verdict.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    (out, status)
}

fn main() -> ExitCode {
    let mut text = String::new();
    let input = std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_str::<Input>(&text).map_err(|e| e.to_string()));
    match input {
        Ok(input) => {
            let (out, status) = render(&check(&input.vars, &input.secrets));
            print!("{out}");
            ExitCode::from(status)
        }
        Err(e) => {
            eprintln!(
                "check-settings: the input is not {{\"vars\": {{…}}, \"secrets\": [names]}}: {e}"
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
    const CONFIG: &str = "4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7";

    fn verdict(vars: Value, secrets: &[&str]) -> Verdict {
        let Value::Object(vars) = vars else {
            panic!("vars must be an object")
        };
        let secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        check(&vars, &secrets)
    }

    /// The `[vars]` wrangler.toml ships with: only the optional settings.
    fn shipped() -> Value {
        json!({"MAX_KEYS": "16", "RSA_DEFAULT_ALG": "RS256", "JWKS_KEYS_POINTER": "/keys", "DRY_RUN": "false", "FETCH_TIMEOUT_MS": "8000"})
    }

    const AUTH_NOTE: &str = "SYNC_AUTH_TOKEN is not set: GET /, POST /, GET /status and POST /rollback will answer 503 (the cron still syncs); set it with `wrangler secret put SYNC_AUTH_TOKEN` to enable them";

    #[test]
    fn the_shipped_wrangler_toml_with_no_secrets_lists_everything_missing() {
        assert_eq!(
            verdict(shipped(), &[]),
            Verdict {
                problems: vec![
                    "no source: set JWKS_URL or OIDC_ISSUER (or SYNC_TARGETS for several targets)"
                        .to_owned(),
                    "CF_ZONE_ID is not set".to_owned(),
                    "CF_TOKEN_CONFIG_ID is not set".to_owned(),
                    "CF_API_TOKEN is not set; add it with `wrangler secret put CF_API_TOKEN`"
                        .to_owned(),
                ],
                notes: vec![AUTH_NOTE.to_owned()],
                targets: vec![],
            }
        );
    }

    #[test]
    fn filled_in_vars_and_existing_secrets_pass() {
        let mut vars = shipped();
        vars["OIDC_ISSUER"] = json!("https://login.example.com/tenant/v2.0");
        vars["CF_ZONE_ID"] = json!(ZONE);
        vars["CF_TOKEN_CONFIG_ID"] = json!(CONFIG);
        assert_eq!(
            verdict(vars, &["CF_API_TOKEN", "SYNC_AUTH_TOKEN"]),
            Verdict {
                problems: vec![],
                notes: vec![],
                targets: vec![format!("target default: zone {ZONE}, configuration {CONFIG}, from issuer https://login.example.com/tenant/v2.0")],
            }
        );
    }

    #[test]
    fn sync_targets_as_a_toml_array_of_tables_and_numbers_as_toml_numbers() {
        let vars = json!({
            "MAX_KEYS": 16,
            "SYNC_TARGETS": [
                {"name": "prod", "zone_id": ZONE, "config_id": CONFIG,
                 "sources": [{"jwks_url": "https://a.example.com/jwks"}, {"issuer": "https://b.example.com"}]},
            ],
        });
        let v = verdict(vars, &["CF_API_TOKEN", "SYNC_AUTH_TOKEN"]);
        assert_eq!(v.problems, Vec::<String>::new());
        assert_eq!(
            v.targets,
            vec![format!("target prod: zone {ZONE}, configuration {CONFIG}, from JWKS https://a.example.com/jwks + issuer https://b.example.com")]
        );
    }

    #[test]
    fn the_workers_value_rules_apply_to_vars() {
        let vars = json!({
            "JWKS_URL": "http://idp.example.com/jwks", "CF_ZONE_ID": "zone", "CF_TOKEN_CONFIG_ID": CONFIG,
            "MAX_KEYS": 0, "DRY_RUN": true, "SYNC_TARGETS": null,
        });
        assert_eq!(
            verdict(vars, &["CF_API_TOKEN"]).problems,
            vec![
                "JWKS_URL must be an https URL (http only for a loopback host), got \"http\"… (27 characters)",
                "CF_ZONE_ID must be 32 hexadecimal characters, got \"zone\"",
                "MAX_KEYS must be a whole number from 1 to 256, got \"0\"",
            ]
        );
    }

    #[test]
    fn a_secret_counts_as_set_and_its_unknown_value_is_not_judged() {
        // JWKS_URL kept as a secret: set, and its value (unknown here) is not reported as bad.
        let vars = json!({"CF_ZONE_ID": ZONE, "CF_TOKEN_CONFIG_ID": CONFIG});
        let v = verdict(vars, &["CF_API_TOKEN", "SYNC_AUTH_TOKEN", "JWKS_URL"]);
        assert_eq!(v.problems, Vec::<String>::new());
        // Other settings' problems are still reported beside it.
        let vars = json!({"CF_ZONE_ID": "nope", "CF_TOKEN_CONFIG_ID": CONFIG});
        assert_eq!(
            verdict(vars, &["CF_API_TOKEN", "JWKS_URL"]).problems,
            vec!["CF_ZONE_ID must be 32 hexadecimal characters, got \"nope\""]
        );
    }

    #[test]
    fn a_token_written_in_vars_is_refused() {
        let vars = json!({"JWKS_URL": "https://idp.example.com/jwks", "CF_ZONE_ID": ZONE, "CF_TOKEN_CONFIG_ID": CONFIG,
                          "CF_API_TOKEN": "abc", "SYNC_AUTH_TOKEN": "def"});
        assert_eq!(
            verdict(vars, &[]).problems,
            vec![
                "CF_API_TOKEN is in [vars] of wrangler.toml, in plain text: delete it there and run `wrangler secret put CF_API_TOKEN`",
                "SYNC_AUTH_TOKEN is in [vars] of wrangler.toml, in plain text: delete it there and run `wrangler secret put SYNC_AUTH_TOKEN`",
            ]
        );
    }

    #[test]
    fn monitoring_secrets_pass_unseen_and_a_webhook_url_in_vars_is_refused() {
        let mut vars = shipped();
        vars["JWKS_URL"] = json!("https://idp.example.com/jwks");
        vars["CF_ZONE_ID"] = json!(ZONE);
        vars["CF_TOKEN_CONFIG_ID"] = json!(CONFIG);
        vars["STALE_AFTER"] = json!("20m");
        vars["RETAIN_REMOVED_KEYS_FOR"] = json!("2h");
        let secrets = [
            "CF_API_TOKEN",
            "SYNC_AUTH_TOKEN",
            "HEARTBEAT_URL",
            "HEARTBEAT_FAIL_URL",
            "ALERT_WEBHOOK_URL",
        ];
        assert_eq!(
            verdict(vars.clone(), &secrets).problems,
            Vec::<String>::new()
        );
        // A fail URL without a success URL is a problem whatever the secret's value.
        assert_eq!(
            verdict(vars.clone(), &["CF_API_TOKEN", "HEARTBEAT_FAIL_URL"]).problems,
            vec!["HEARTBEAT_URL is not set, but HEARTBEAT_FAIL_URL is; set both, or HEARTBEAT_URL alone"]
        );
        vars["ALERT_WEBHOOK_URL"] = json!("https://hooks.slack.com/services/T0/B0/x");
        vars["STALE_AFTER"] = json!("20");
        assert_eq!(
            verdict(vars, &["CF_API_TOKEN"]).problems,
            vec![
                "ALERT_WEBHOOK_URL is in [vars] of wrangler.toml, in plain text: delete it there and run `wrangler secret put ALERT_WEBHOOK_URL`",
                "STALE_AFTER must be a duration above zero, such as 90s, 15m, 2h or 1d (units s, m, h, d; at most 365d), got \"20\"",
            ]
        );
    }

    #[test]
    fn both_forms_set_is_reported_even_when_one_is_a_secret() {
        let vars = json!({"SYNC_TARGETS": "[]", "CF_ZONE_ID": ZONE});
        assert_eq!(
            verdict(vars, &["CF_API_TOKEN", "SYNC_AUTH_TOKEN", "JWKS_URL"]).problems,
            vec![
                "SYNC_TARGETS is set, and so is JWKS_URL, CF_ZONE_ID; use one form or the other",
                "SYNC_TARGETS is an empty array",
            ]
        );
    }

    #[test]
    fn rendered_verdicts() {
        let (text, status) = render(&verdict(shipped(), &["SYNC_AUTH_TOKEN"]));
        assert_eq!(status, 1);
        assert_eq!(
            text,
            "settings: 4 problems; the Worker would fail every run with CONFIG_INVALID:\n\
             \x20 - no source: set JWKS_URL or OIDC_ISSUER (or SYNC_TARGETS for several targets)\n\
             \x20 - CF_ZONE_ID is not set\n\
             \x20 - CF_TOKEN_CONFIG_ID is not set\n\
             \x20 - CF_API_TOKEN is not set; add it with `wrangler secret put CF_API_TOKEN`\n"
        );
        let vars = json!({"JWKS_URL": "https://idp.example.com/jwks", "CF_ZONE_ID": ZONE, "CF_TOKEN_CONFIG_ID": CONFIG});
        let (text, status) = render(&verdict(vars, &["CF_API_TOKEN"]));
        assert_eq!(status, 0);
        assert_eq!(
            text,
            format!(
                "settings: pass the Worker's own check\n  target default: zone {ZONE}, configuration {CONFIG}, from JWKS https://idp.example.com/jwks\nnote: {AUTH_NOTE}\n"
            )
        );
    }
}
