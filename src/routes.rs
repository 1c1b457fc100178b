//! Which request is which: the Worker's HTTP surface as a pure function of method, path and query.

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz` (or `HEAD`): liveness, no auth, no outbound request.
    Health,
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
            ("GET", "/admin", None, Route::NotFound),
            ("GET", "//", None, Route::NotFound),
            ("GET", "/healthz/", None, Route::NotFound),
        ];
        for (m, p, q, want) in rows {
            assert_eq!(&route(m, p, *q), want, "{m} {p} {q:?}");
        }
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
