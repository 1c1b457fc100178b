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
    /// bearer auth. Everything is in the JSON body: a query string (`?dry_run=true`, copied from
    /// `POST /`) is refused (`refused` holds the 400 message), since ignoring it would write.
    Rollback {
        /// Why the request is refused before its body is read, if it is.
        refused: Option<String>,
    },
    /// `GET /` (preview, writes nothing) or `POST /` (sync; `?dry_run=true` previews instead).
    /// Authentication comes before anything else, so the query is only checked afterwards.
    Run {
        /// True for `POST`.
        post: bool,
        /// The `dry_run` parameter: `Ok(true)` for `true`/`1` or no value (`?dry_run`), `Ok(false)`
        /// when absent or `false`/`0`, else the message of a 400 answer.
        dry_run: Result<bool, String>,
        /// `POST /?allow_full_replacement=true`: this run may replace every live key (see
        /// [`crate::plan::check_overlap`]). Refused on `GET`, which never writes.
        allow_full_replacement: bool,
    },
    /// A known path with another method: 405 with this `Allow` value.
    MethodNotAllowed(&'static str),
    /// Any other path: 404.
    NotFound,
}

impl Route {
    /// For [`Route::Run`]: whether this request may write. Only a `POST` whose `dry_run` is absent
    /// or false does; a bad `dry_run` never writes.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Route::Run {
                post: true,
                dry_run: Ok(false),
                ..
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
        ("/rollback", "POST") => Route::Rollback {
            refused: query.filter(|q| !q.is_empty()).map(|_| {
                "POST /rollback takes no query parameters: put \"dry_run\": true (and \"allow_full_replacement\") in its JSON body".to_owned()
            }),
        },
        ("/rollback", _) => Route::MethodNotAllowed("POST"),
        ("/", "GET" | "POST") => {
            let post = method == "POST";
            match parse_query(query, post) {
                Ok((dry_run, allow_full_replacement)) => Route::Run {
                    post,
                    dry_run: Ok(dry_run),
                    allow_full_replacement,
                },
                Err(message) => Route::Run {
                    post,
                    dry_run: Err(message),
                    allow_full_replacement: false,
                },
            }
        }
        ("/", _) => Route::MethodNotAllowed("GET, POST"),
        _ => Route::NotFound,
    }
}

/// Reads `(dry_run, allow_full_replacement)` from a query string.
///
/// `dry_run`: `true`/`1`, `false`/`0`, or no value (`?dry_run`, true: a bare flag asks for a
/// preview, and a preview never writes); absent means false.
/// `allow_full_replacement` (`POST` only): `true`/`1` or `false`/`0`, written out: it lifts a
/// safety rule, so a bare name is not enough. A parameter given twice, with another value (an
/// empty one, `dry_run=`, included), on `GET` (for `allow_full_replacement`), or any other
/// parameter (`dryrun=true` is a typo, not a sync) refuses the query: a mistyped request must not
/// write.
fn parse_query(query: Option<&str>, post: bool) -> Result<(bool, bool), String> {
    let (mut dry_run, mut allow) = (None, None);
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        let slot = match k {
            "dry_run" => &mut dry_run,
            "allow_full_replacement" if post => &mut allow,
            "allow_full_replacement" => {
                return Err(
                    "allow_full_replacement is only accepted on POST /; GET / never writes"
                        .to_owned(),
                )
            }
            _ => {
                let name: String = k.chars().take(64).collect();
                return Err(format!(
                    "unknown query parameter {name:?}; the only ones are dry_run and allow_full_replacement (POST)"
                ));
            }
        };
        if slot.is_some() {
            return Err(format!("{k} is given more than once"));
        }
        *slot = Some(match (v, k) {
            (None, "dry_run") | (Some("true" | "1"), _) => true,
            (Some("false" | "0"), _) => false,
            (other, _) => {
                return Err(format!(
                    "{k} must be true, false, 1 or 0, got {:?}",
                    other.unwrap_or_default()
                ))
            }
        });
    }
    Ok((dry_run.unwrap_or(false), allow.unwrap_or(false)))
}

/// The body of `POST /rollback`.
///
/// # Format
/// ```text
/// {"target": "prod", "run": 41}                    restore the key set run 41 wrote
/// {"target": "prod", "run": 41, "dry_run": true}   show what that would change; write nothing
/// {"target": "prod", "run": 41, "allow_full_replacement": true}
///                                                  also when it shares no key with what is live
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRequest {
    /// The target's name.
    pub target: String,
    /// The run whose written key set to restore (an id from `GET /status`, `restorable_runs`).
    pub run: i64,
    /// True to preview. Default false.
    pub dry_run: bool,
    /// True to allow, for this restore, a set that shares no `(kid, alg)` with the live keys (the
    /// no-overlap rule of [`crate::plan::check_overlap`] judges a restore as it does a sync).
    /// Default false.
    pub allow_full_replacement: bool,
}

/// Reads the body of `POST /rollback`. Strict, like the query of `POST /`: an unknown member
/// (a typo of `dry_run`) is refused rather than taken as a write.
///
/// # Errors
/// The message of a 400 answer.
pub fn rollback_request(body: &str) -> Result<RollbackRequest, String> {
    let refuse = |why: &str| {
        format!(
            r#"the body must be JSON {{"target": "<name>", "run": <run id>}} (optionally "dry_run": true, "allow_full_replacement": true); {why}"#
        )
    };
    let v: Value = serde_json::from_str(body).map_err(|e| refuse(&e.to_string()))?;
    let fields = v.as_object().ok_or_else(|| refuse("it is not an object"))?;
    if let Some(unknown) = fields.keys().find(|k| {
        !matches!(
            k.as_str(),
            "target" | "run" | "dry_run" | "allow_full_replacement"
        )
    }) {
        let name: String = unknown.chars().take(64).collect();
        return Err(refuse(&format!("unknown member {name:?}")));
    }
    let target = v.get("target").and_then(Value::as_str);
    let run = v.get("run").and_then(Value::as_i64);
    let flag = |name: &str| match v.get(name) {
        None => Ok(false),
        Some(d) => d
            .as_bool()
            .ok_or_else(|| refuse(&format!("{name:?} is not true or false"))),
    };
    let (dry_run, allow_full_replacement) = (flag("dry_run")?, flag("allow_full_replacement")?);
    match (target, run) {
        (Some(_), Some(run)) if run < 1 => Err(refuse(
            "\"run\" must be a run id from GET /status (a whole number from 1)",
        )),
        (Some(target), Some(run)) => Ok(RollbackRequest {
            target: target.to_owned(),
            run,
            dry_run,
            allow_full_replacement,
        }),
        (None, _) => Err(refuse("\"target\" is missing or not a string")),
        (_, None) => Err(refuse("\"run\" is missing or not a whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(post: bool, dry_run: Result<bool, &str>) -> Route {
        Route::Run {
            post,
            dry_run: dry_run.map_err(str::to_owned),
            allow_full_replacement: false,
        }
    }

    fn allowing(post: bool, dry_run: bool) -> Route {
        Route::Run {
            post,
            dry_run: Ok(dry_run),
            allow_full_replacement: true,
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
                    Err("unknown query parameter \"x\"; the only ones are dry_run and allow_full_replacement (POST)"),
                ),
            ),
            (
                "POST",
                "/",
                Some("dryrun=true"),
                run(
                    true,
                    Err("unknown query parameter \"dryrun\"; the only ones are dry_run and allow_full_replacement (POST)"),
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
            (
                "POST",
                "/",
                Some("allow_full_replacement=true"),
                allowing(true, false),
            ),
            (
                "POST",
                "/",
                Some("dry_run=1&allow_full_replacement=1"),
                allowing(true, true),
            ),
            (
                "POST",
                "/",
                Some("allow_full_replacement=false"),
                run(true, Ok(false)),
            ),
            (
                "POST",
                "/",
                Some("allow_full_replacement"),
                run(
                    true,
                    Err("allow_full_replacement must be true, false, 1 or 0, got \"\""),
                ),
            ),
            (
                "POST",
                "/",
                Some("allow_full_replacement=yes"),
                run(
                    true,
                    Err("allow_full_replacement must be true, false, 1 or 0, got \"yes\""),
                ),
            ),
            (
                "POST",
                "/",
                Some("allow_full_replacement=1&allow_full_replacement=1"),
                run(true, Err("allow_full_replacement is given more than once")),
            ),
            (
                "GET",
                "/",
                Some("allow_full_replacement=true"),
                run(
                    false,
                    Err("allow_full_replacement is only accepted on POST /; GET / never writes"),
                ),
            ),
            ("PUT", "/", None, Route::MethodNotAllowed("GET, POST")),
            ("DELETE", "/", None, Route::MethodNotAllowed("GET, POST")),
            ("GET", "/status", None, Route::Status),
            ("POST", "/status", None, Route::MethodNotAllowed("GET")),
            ("POST", "/rollback", None, Route::Rollback { refused: None }),
            (
                "POST",
                "/rollback",
                Some("dry_run=true"),
                Route::Rollback {
                    refused: Some("POST /rollback takes no query parameters: put \"dry_run\": true (and \"allow_full_replacement\") in its JSON body".into()),
                },
            ),
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
    fn rollback_bodies() {
        assert_eq!(
            rollback_request(r#"{"target":"prod","run":41}"#),
            Ok(RollbackRequest {
                target: "prod".into(),
                run: 41,
                dry_run: false,
                allow_full_replacement: false,
            })
        );
        assert_eq!(
            rollback_request(r#"{"target":"prod","run":41,"dry_run":true}"#).map(|r| r.dry_run),
            Ok(true)
        );
        assert_eq!(
            rollback_request(r#"{"target":"prod","run":41,"allow_full_replacement":true}"#)
                .map(|r| (r.dry_run, r.allow_full_replacement)),
            Ok((false, true))
        );
        let prefix = r#"the body must be JSON {"target": "<name>", "run": <run id>} (optionally "dry_run": true, "allow_full_replacement": true); "#;
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
                r#"{"target":"prod","run":41,"allow_full_replacement":1}"#,
                r#""allow_full_replacement" is not true or false"#,
            ),
            (
                r#"{"target":"prod","run":41,"dryrun":true}"#,
                r#"unknown member "dryrun""#,
            ),
            (
                r#"{"target":"prod","run":0}"#,
                r#""run" must be a run id from GET /status (a whole number from 1)"#,
            ),
            (
                r#"{"target":"prod","run":-1}"#,
                r#""run" must be a run id from GET /status (a whole number from 1)"#,
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
        assert!(route("POST", "/", Some("allow_full_replacement=true")).writes());
        for q in [
            Some("dry_run"),
            Some("dry_run="),
            Some("dry_run=true"),
            Some("dry_run=maybe"),
            Some("dry_run=false&dry_run=true"),
            Some("DRY_RUN=1"),
            Some("allow_full_replacement=maybe"),
            Some("allow_full_replacement=true&dry_run=true"),
        ] {
            assert!(!route("POST", "/", q).writes(), "{q:?}");
        }
        assert!(!route("GET", "/", None).writes());
    }
}
