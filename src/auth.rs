//! Who may trigger a sync or see a preview: `Authorization: Bearer <SYNC_AUTH_TOKEN>`.

use subtle::ConstantTimeEq;

use crate::config::Secret;

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The bearer token matches.
    Allowed,
    /// No `Authorization: Bearer` credentials: answer 401 with `WWW-Authenticate: Bearer`.
    Missing,
    /// A bearer token that does not match: answer 401 with `WWW-Authenticate: Bearer
    /// error="invalid_token"` (RFC 6750 §3).
    Wrong,
    /// `SYNC_AUTH_TOKEN` is not set: the endpoints are disabled (503), never open (fail closed).
    Disabled,
}

/// Checks an `Authorization` header value against the configured token.
///
/// The scheme is matched case-insensitively (RFC 9110 §11.1); the token is compared in constant
/// time (`subtle`), so response timing does not reveal how much of a guess was right.
pub fn check(authorization: Option<&str>, expected: Option<&Secret>) -> Access {
    let Some(expected) = expected.filter(|s| !s.expose().is_empty()) else {
        return Access::Disabled;
    };
    let token = authorization.and_then(|h| {
        let (scheme, token) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    match token {
        None | Some("") => Access::Missing,
        Some(t) if bool::from(t.as_bytes().ct_eq(expected.expose().as_bytes())) => Access::Allowed,
        Some(_) => Access::Wrong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let s = Secret::new("s3cret".into());
        assert_eq!(check(Some("Bearer s3cret"), Some(&s)), Access::Allowed);
        assert_eq!(check(Some("bearer  s3cret "), Some(&s)), Access::Allowed);
        assert_eq!(check(Some("Bearer s3cre"), Some(&s)), Access::Wrong);
        assert_eq!(check(Some("Bearer s3cret2"), Some(&s)), Access::Wrong);
        assert_eq!(check(Some("Basic czNjcmV0"), Some(&s)), Access::Missing);
        assert_eq!(check(Some("Bearer"), Some(&s)), Access::Missing);
        assert_eq!(check(None, Some(&s)), Access::Missing);
        assert_eq!(check(Some("Bearer s3cret"), None), Access::Disabled);
        assert_eq!(
            check(Some("Bearer "), Some(&Secret::new(String::new()))),
            Access::Disabled
        );
    }
}
