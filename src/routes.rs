//! Which request is which: the Worker's HTTP surface as a pure function of method, path and query.

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`: liveness, no auth, no outbound request.
    Health,
    /// `GET /`: the full result as if synced, writing nothing.
    Preview,
    /// `POST /`: sync now; `?dry_run=true` previews instead.
    Sync {
        /// True for `?dry_run=true` (or `1`).
        dry_run: bool,
    },
    /// A query the Worker does not understand (a mistyped `dry_run` must not write).
    BadRequest(String),
    /// A known path with another method: 405 with this `Allow` value.
    MethodNotAllowed(&'static str),
    /// Any other path: 404.
    NotFound,
}

/// Routes a request. `query` is the part after `?`, without it.
pub fn route(method: &str, path: &str, query: Option<&str>) -> Route {
    match (path, method) {
        ("/healthz", "GET" | "HEAD") => Route::Health,
        ("/healthz", _) => Route::MethodNotAllowed("GET, HEAD"),
        ("/", "GET") => Route::Preview,
        ("/", "POST") => match dry_run(query) {
            Ok(dry_run) => Route::Sync { dry_run },
            Err(msg) => Route::BadRequest(msg),
        },
        ("/", _) => Route::MethodNotAllowed("GET, POST"),
        _ => Route::NotFound,
    }
}

/// Reads `dry_run` from a query string: `true`/`1` or `false`/`0`; absent means false. Other
/// parameters are ignored.
fn dry_run(query: Option<&str>) -> Result<bool, String> {
    let mut value = false;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
        if k == "dry_run" {
            value = match v {
                "true" | "1" => true,
                "false" | "0" => false,
                other => return Err(format!("dry_run must be true or false, got {other:?}")),
            };
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("GET", "/", None, Route::Preview),
            ("GET", "/", Some("dry_run=false"), Route::Preview),
            ("POST", "/", None, Route::Sync { dry_run: false }),
            (
                "POST",
                "/",
                Some("dry_run=true"),
                Route::Sync { dry_run: true },
            ),
            (
                "POST",
                "/",
                Some("x=1&dry_run=1"),
                Route::Sync { dry_run: true },
            ),
            ("POST", "/", Some("dry_run"), Route::Sync { dry_run: true }),
            (
                "POST",
                "/",
                Some("dry_run=0"),
                Route::Sync { dry_run: false },
            ),
            (
                "POST",
                "/",
                Some("dry_run=yes"),
                Route::BadRequest("dry_run must be true or false, got \"yes\"".into()),
            ),
            ("PUT", "/", None, Route::MethodNotAllowed("GET, POST")),
            ("DELETE", "/", None, Route::MethodNotAllowed("GET, POST")),
            ("GET", "/admin", None, Route::NotFound),
            ("GET", "//", None, Route::NotFound),
        ];
        for (m, p, q, want) in rows {
            assert_eq!(&route(m, p, *q), want, "{m} {p} {q:?}");
        }
    }
}
