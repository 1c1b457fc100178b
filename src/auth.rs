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
/// The scheme is matched case-insensitively (RFC 9110 §11.1). The token is compared in constant
/// time (`subtle`), over the configured token's length whatever the length of the guess, so
/// response timing reveals neither how much of a guess was right nor the token's length. The
/// configured token is trimmed like every setting; blank means unset.
pub fn check(authorization: Option<&str>, expected: Option<&Secret>) -> Access {
    let Some(expected) = expected
        .map(|s| s.expose().trim())
        .filter(|s| !s.is_empty())
    else {
        return Access::Disabled;
    };
    let token = authorization.and_then(|h| {
        let (scheme, token) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    match token {
        None | Some("") => Access::Missing,
        Some(t) => {
            let same_len = t.len() == expected.len();
            // A guess of another length is compared with the token itself, so the work is the same.
            let guess = if same_len { t } else { expected };
            if bool::from(guess.as_bytes().ct_eq(expected.as_bytes())) && same_len {
                Access::Allowed
            } else {
                Access::Wrong
            }
        }
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
        assert_eq!(
            check(Some("Bearer x"), Some(&Secret::new(" \n".into()))),
            Access::Disabled
        );
        // A secret saved with a trailing newline still matches.
        assert_eq!(
            check(Some("Bearer s3cret"), Some(&Secret::new("s3cret\n".into()))),
            Access::Allowed
        );
    }
}
