//! Who may trigger a sync or see a preview: `Authorization: Bearer <SYNC_AUTH_TOKEN>`.

use subtle::ConstantTimeEq;

use crate::config::{normalize_token, Secret};

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
/// configured token is cleaned up like `CF_API_TOKEN` ([`normalize_token`]: surrounding
/// whitespace, one pair of quotes and a leading `Bearer ` removed; the settings' warnings say so);
/// blank means unset.
pub fn check(authorization: Option<&str>, expected: Option<&Secret>) -> Access {
    let Some(raw) = expected
        .map(|s| s.expose().trim())
        .filter(|s| !s.is_empty())
    else {
        return Access::Disabled;
    };
    // Stored as `"…"` or `Bearer …`, the token is still the part a client sends (the settings'
    // warnings say to re-enter it bare); one that cannot be cleaned up is compared as it is.
    let cleaned = normalize_token("SYNC_AUTH_TOKEN", raw).ok();
    let expected = cleaned.as_ref().map_or(raw, |(token, _)| token.as_str());
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

    #[test]
    fn a_secret_stored_with_quotes_or_bearer_is_the_bare_token() {
        for stored in [
            "\"s3cret\"",
            "'s3cret'",
            "Bearer s3cret",
            "\"bearer s3cret\"\n",
        ] {
            let s = Secret::new(stored.into());
            assert_eq!(
                check(Some("Bearer s3cret"), Some(&s)),
                Access::Allowed,
                "{stored}"
            );
            assert_eq!(
                check(Some("Bearer \"s3cret\""), Some(&s)),
                Access::Wrong,
                "{stored}"
            );
        }
        // One that cannot be cleaned up (a space inside) is compared as stored.
        let odd = Secret::new("two words".into());
        assert_eq!(check(Some("Bearer two words"), Some(&odd)), Access::Allowed);
    }
}
