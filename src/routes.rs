//! Which request is which: the Worker's HTTP surface as a pure function of method, path and query.

use serde_json::Value;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz` (or `HEAD`): freshness of every target (see [`crate::freshness`]); no
    /// auth, no request outside Cloudflare.
    Health,
    /// `GET /status`: every target's history and state; bearer auth.
    Status,
    /// `POST /rollback`: restore a key set an earlier run wrote (see [`rollback_request`]);
    /// bearer auth.
    Rollback,
    /// `GET /` (preview, writes nothing) or `POST /` (sync; `?dry_run=true` previews instead).
    /// Authentication comes before anything else, so the query is only checked afterwards.
    Run {
        /// True for `POST`.
        post: bool,
        /// The `dry_run` parameter: `Ok(true)` for `true`/`1` or no value (`?dry_run`), `Ok(false)`
        /// when absent or `false`/`0`, else the message of a 400 answer.
        dry_run: Result<bool, String>,
    },
    /// A known path with another method: 405 with this `Allow` value.
    MethodNotAllowed(&'static str),
    /// Any other path: 404.
    NotFound,
}

impl Route {
    /// True for the routes that need `Authorization: Bearer <SYNC_AUTH_TOKEN>`.
    pub fn needs_auth(&self) -> bool {
        matches!(self, Route::Run { .. } | Route::Status | Route::Rollback)
    }

    /// For [`Route::Run`]: whether this request may write. Only a `POST` whose `dry_run` is absent
    /// or false does; a bad `dry_run` never writes.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Route::Run {
                post: true,
                dry_run: Ok(false)
            }
        )
    }
}

/// Routes a request. `query` is the part after `?`, without it.
pub fn route(method: &str, path: &str, query: Option<&str>) -> Route {
    match (path, method) {
        ("/healthz", "GET" | "HEAD") => Route::Health,
        ("/healthz", _) => Route::MethodNotAllowed("GET, HEAD"),
        ("/status", "GET") => Route::Status,
        ("/status", _) => Route::MethodNotAllowed("GET"),
        ("/rollback", "POST") => Route::Rollback,
        ("/rollback", _) => Route::MethodNotAllowed("POST"),
        ("/", "GET" | "POST") => Route::Run {
            post: method == "POST",
            dry_run: dry_run(query),
        },
        ("/", _) => Route::MethodNotAllowed("GET, POST"),
        _ => Route::NotFound,
    }
}

/// Reads `dry_run` from a query string: `true`/`1`, `false`/`0`, or no value (`?dry_run`, true: a
/// bare flag asks for a preview, and a preview never writes); absent means false. Given twice,
/// with another value (an empty one, `dry_run=`, included), or beside any other parameter
/// (`dryrun=true` is a typo, not a sync), the query is refused: a mistyped preview must not write.
fn dry_run(query: Option<&str>) -> Result<bool, String> {
    let mut value = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
        if k != "dry_run" {
            let name: String = k.chars().take(64).collect();
            return Err(format!(
                "unknown query parameter {name:?}; the only one is dry_run"
            ));
        }
        if value.is_some() {
            return Err("dry_run is given more than once".to_owned());
        }
        value = Some(match v {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(format!(
                    "dry_run must be true, false, 1 or 0, got {other:?}"
                ))
            }
        });
    }
    Ok(value.unwrap_or(false))
}

/// The body of `POST /rollback`.
///
/// # Format
/// ```text
/// {"target": "prod", "run": 41}                    restore the key set run 41 wrote
/// {"target": "prod", "run": 41, "dry_run": true}   show what that would change; write nothing
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRequest {
    /// The target's name.
    pub target: String,
    /// The run whose written key set to restore (an id from `GET /status`, `restorable_runs`).
    pub run: i64,
    /// True to preview. Default false.
    pub dry_run: bool,
}

/// Reads the body of `POST /rollback`. Strict, like the query of `POST /`: an unknown member
/// (a typo of `dry_run`) is refused rather than taken as a write.
///
/// # Errors
/// The message of a 400 answer.
pub fn rollback_request(body: &str) -> Result<RollbackRequest, String> {
    let refuse = |why: &str| {
        format!(
            r#"the body must be JSON {{"target": "<name>", "run": <run id>}} (optionally "dry_run": true); {why}"#
        )
    };
    let v: Value = serde_json::from_str(body).map_err(|e| refuse(&e.to_string()))?;
    let fields = v.as_object().ok_or_else(|| refuse("it is not an object"))?;
    if let Some(unknown) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "target" | "run" | "dry_run"))
    {
        let name: String = unknown.chars().take(64).collect();
        return Err(refuse(&format!("unknown member {name:?}")));
    }
    let target = v.get("target").and_then(Value::as_str);
    let run = v.get("run").and_then(Value::as_i64);
    let dry_run = match v.get("dry_run") {
        None => Some(false),
        Some(d) => d.as_bool(),
    };
    match (target, run, dry_run) {
        (Some(target), Some(run), Some(dry_run)) => Ok(RollbackRequest {
            target: target.to_owned(),
            run,
            dry_run,
        }),
        (None, _, _) => Err(refuse("\"target\" is missing or not a string")),
        (_, None, _) => Err(refuse("\"run\" is missing or not a whole number")),
        (_, _, None) => Err(refuse("\"dry_run\" is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(post: bool, dry_run: Result<bool, &str>) -> Route {
        Route::Run {
            post,
            dry_run: dry_run.map_err(str::to_owned),
        }
    }

    #[test]
    fn table() {
        let rows: &[(&str, &str, Option<&str>, Route)] = &[
            ("GET", "/healthz", None, Route::Health),
            ("HEAD", "/healthz", None, Route::Health),
            (
                "POST",
                "/healthz",
                None,
                Route::MethodNotAllowed("GET, HEAD"),
            ),
            ("GET", "/", None, run(false, Ok(false))),
            (
                "GET",
                "/",
                Some("dry_run=maybe"),
                run(
                    false,
                    Err("dry_run must be true, false, 1 or 0, got \"maybe\""),
                ),
            ),
            ("POST", "/", None, run(true, Ok(false))),
            ("POST", "/", Some("dry_run=true"), run(true, Ok(true))),
            (
                "POST",
                "/",
                Some("x=1&dry_run=1"),
                run(
                    true,
                    Err("unknown query parameter \"x\"; the only one is dry_run"),
                ),
            ),
            (
                "POST",
                "/",
                Some("dryrun=true"),
                run(
                    true,
                    Err("unknown query parameter \"dryrun\"; the only one is dry_run"),
                ),
            ),
            ("POST", "/", Some("dry_run"), run(true, Ok(true))),
            ("GET", "/", Some("dry_run"), run(false, Ok(true))),
            (
                "POST",
                "/",
                Some("dry_run="),
                run(true, Err("dry_run must be true, false, 1 or 0, got \"\"")),
            ),
            ("POST", "/", Some("dry_run=0"), run(true, Ok(false))),
            (
                "POST",
                "/",
                Some("dry_run=yes"),
                run(
                    true,
                    Err("dry_run must be true, false, 1 or 0, got \"yes\""),
                ),
            ),
            (
                "POST",
                "/",
                Some("dry_run=true&dry_run=false"),
                run(true, Err("dry_run is given more than once")),
            ),
            ("PUT", "/", None, Route::MethodNotAllowed("GET, POST")),
            ("DELETE", "/", None, Route::MethodNotAllowed("GET, POST")),
            ("GET", "/status", None, Route::Status),
            ("POST", "/status", None, Route::MethodNotAllowed("GET")),
            ("POST", "/rollback", None, Route::Rollback),
            ("GET", "/rollback", None, Route::MethodNotAllowed("POST")),
            ("GET", "/admin", None, Route::NotFound),
            ("GET", "//", None, Route::NotFound),
            ("GET", "/healthz/", None, Route::NotFound),
        ];
        for (m, p, q, want) in rows {
            assert_eq!(&route(m, p, *q), want, "{m} {p} {q:?}");
        }
    }

    #[test]
    fn which_routes_need_auth() {
        assert!(route("GET", "/", None).needs_auth());
        assert!(route("POST", "/", None).needs_auth());
        assert!(route("GET", "/status", None).needs_auth());
        assert!(route("POST", "/rollback", None).needs_auth());
        assert!(!route("GET", "/healthz", None).needs_auth());
        assert!(!route("GET", "/nope", None).needs_auth());
    }

    #[test]
    fn rollback_bodies() {
        assert_eq!(
            rollback_request(r#"{"target":"prod","run":41}"#),
            Ok(RollbackRequest {
                target: "prod".into(),
                run: 41,
                dry_run: false
            })
        );
        assert_eq!(
            rollback_request(r#"{"target":"prod","run":41,"dry_run":true}"#).map(|r| r.dry_run),
            Ok(true)
        );
        let prefix = r#"the body must be JSON {"target": "<name>", "run": <run id>} (optionally "dry_run": true); "#;
        for (bad, why) in [
            ("[]", "it is not an object"),
            ("{}", r#""target" is missing or not a string"#),
            (
                r#"{"target":"prod"}"#,
                r#""run" is missing or not a whole number"#,
            ),
            (
                r#"{"target":"prod","run":"41"}"#,
                r#""run" is missing or not a whole number"#,
            ),
            (
                r#"{"target":"prod","run":41,"dry_run":"yes"}"#,
                r#""dry_run" is not true or false"#,
            ),
            (
                r#"{"target":"prod","run":41,"dryrun":true}"#,
                r#"unknown member "dryrun""#,
            ),
        ] {
            assert_eq!(
                rollback_request(bad),
                Err(format!("{prefix}{why}")),
                "{bad}"
            );
        }
        assert!(rollback_request("not json")
            .unwrap_err()
            .starts_with(prefix));
    }

    #[test]
    fn only_a_plain_post_writes() {
        assert!(route("POST", "/", None).writes());
        assert!(route("POST", "/", Some("dry_run=false")).writes());
        for q in [
            Some("dry_run"),
            Some("dry_run="),
            Some("dry_run=true"),
            Some("dry_run=maybe"),
            Some("dry_run=false&dry_run=true"),
            Some("DRY_RUN=1"),
        ] {
            assert!(!route("POST", "/", q).writes(), "{q:?}");
        }
        assert!(!route("GET", "/", None).writes());
    }
}
