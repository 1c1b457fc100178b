//! The safety rules that can refuse a write once the live keys are known (stage `plan`).
//!
//! Pure: they take the diff and the counts, and return a refusal or a warning. Nothing is sent
//! when one refuses.
//! - **No overlap.** Real rotations overlap: an IdP publishes its next key while the current one
//!   is still published, so a sync always keeps at least one live key. A key set that shares no
//!   `(kid, alg)` with a non-empty live configuration is what a wrong tenant, a staging issuer or
//!   a slip in `SYNC_TARGETS` looks like, and pushing it would reject every token at the edge at
//!   once. It is refused unless allowed (issue 10, point 6).
//! - **Room beside kept keys.** Symmetric keys kept in the configuration count toward `MAX_KEYS`;
//!   the IdP's keys get what is left, and a write with no room for any is refused.

use std::fmt;

use crate::config::FullReplacement;
use crate::diff::Diff;

/// Why the planned write is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanErrorKind {
    /// The desired keys share no `(kid, alg)` with the live ones, and that is not allowed.
    NoOverlap {
        /// Kids of the live asymmetric keys, all of which the write would remove.
        live: Vec<String>,
        /// Kids of the keys the write would send.
        desired: Vec<String>,
    },
    /// Kept symmetric keys take every slot of `MAX_KEYS`.
    NoRoom {
        /// `MAX_KEYS`.
        max_keys: usize,
        /// Symmetric keys kept.
        kept: usize,
    },
}

/// A refusal of the planned write, naming the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// The configuration's URL.
    pub url: String,
    /// Which rule refused.
    pub kind: PlanErrorKind,
}

impl PlanError {
    /// `FULL_REPLACEMENT_REFUSED` or `KEY_LIMIT_REACHED`.
    pub fn code(&self) -> &'static str {
        match self.kind {
            PlanErrorKind::NoOverlap { .. } => "FULL_REPLACEMENT_REFUSED",
            PlanErrorKind::NoRoom { .. } => "KEY_LIMIT_REACHED",
        }
    }
}

/// `<cause>; <url>`.
impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PlanErrorKind::NoOverlap { live, desired } => write!(
                f,
                "the IdP's keys ({}) share no kid and alg with the live keys ({}); a write would replace every live key at once, so nothing was written",
                desired.join(", "),
                live.join(", ")
            )?,
            PlanErrorKind::NoRoom { max_keys, kept } => write!(
                f,
                "{kept} symmetric key(s) kept in the configuration take all {max_keys} slots of MAX_KEYS, leaving none for the IdP's keys; nothing was written"
            )?,
        }
        write!(f, "; {}", self.url)
    }
}

impl std::error::Error for PlanError {}

/// How many of `max_keys` slots are left for the IdP's keys beside `kept` symmetric keys.
///
/// # Errors
/// `KEY_LIMIT_REACHED` when none is left.
pub fn room_for_idp_keys(max_keys: usize, kept: usize, url: &str) -> Result<usize, PlanError> {
    match max_keys.checked_sub(kept) {
        Some(room) if room > 0 => Ok(room),
        _ => Err(PlanError {
            url: url.to_owned(),
            kind: PlanErrorKind::NoRoom { max_keys, kept },
        }),
    }
}

/// The no-overlap rule over a [`Diff`] (whose identities are `(kid, alg)`, and whose `removed`
/// never lists kept symmetric keys).
///
/// Returns `Ok(None)` when the write keeps a live key, replaces an empty configuration, or is no
/// write at all; `Ok(Some(warning))` when it replaces every live key and `allowance` allows it.
///
/// # Errors
/// `FULL_REPLACEMENT_REFUSED` when it replaces every live key and `allowance` is
/// [`FullReplacement::Refused`].
pub fn check_overlap(
    diff: &Diff,
    allowance: FullReplacement,
    url: &str,
) -> Result<Option<String>, PlanError> {
    let replaces_all =
        diff.unchanged.is_empty() && diff.changed.is_empty() && !diff.removed.is_empty();
    if !replaces_all {
        return Ok(None);
    }
    let by = match allowance {
        FullReplacement::Refused => {
            return Err(PlanError {
                url: url.to_owned(),
                kind: PlanErrorKind::NoOverlap {
                    live: diff.removed.clone(),
                    desired: diff.added.clone(),
                },
            })
        }
        FullReplacement::AllowedBySetting => "ALLOW_FULL_REPLACEMENT",
        FullReplacement::AllowedOnce => "?allow_full_replacement=true",
    };
    Ok(Some(format!(
        "full replacement allowed by {by}: every live key ({}) is replaced by the IdP's ({})",
        diff.removed.join(", "),
        diff.added.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(added: &[&str], removed: &[&str], unchanged: &[&str], changed: &[&str]) -> Diff {
        let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        Diff {
            added: v(added),
            removed: v(removed),
            unchanged: v(unchanged),
            changed: v(changed),
        }
    }

    #[test]
    fn a_write_sharing_no_key_with_live_is_refused() {
        let e = check_overlap(
            &diff(&["new"], &["old1", "old2"], &[], &[]),
            FullReplacement::Refused,
            "u",
        )
        .unwrap_err();
        assert_eq!(e.code(), "FULL_REPLACEMENT_REFUSED");
        assert_eq!(
            e.to_string(),
            "the IdP's keys (new) share no kid and alg with the live keys (old1, old2); a write would replace every live key at once, so nothing was written; u"
        );
    }

    #[test]
    fn it_can_be_allowed_always_or_once_with_a_warning() {
        let d = diff(&["new"], &["old"], &[], &[]);
        assert_eq!(
            check_overlap(&d, FullReplacement::AllowedBySetting, "u").unwrap(),
            Some("full replacement allowed by ALLOW_FULL_REPLACEMENT: every live key (old) is replaced by the IdP's (new)".into())
        );
        assert_eq!(
            check_overlap(&d, FullReplacement::AllowedOnce, "u").unwrap(),
            Some("full replacement allowed by ?allow_full_replacement=true: every live key (old) is replaced by the IdP's (new)".into())
        );
    }

    #[test]
    fn rotations_empty_configurations_and_no_ops_pass() {
        for d in [
            // Rotation step 1: the new key beside the old.
            diff(&["new"], &[], &["old"], &[]),
            // Rotation step 2: the retired key leaves, one stays.
            diff(&[], &["old"], &["new"], &[]),
            // New material under a live (kid, alg) still overlaps.
            diff(&[], &[], &[], &["k"]),
            // An empty configuration (or one holding only kept symmetric keys).
            diff(&["a", "b"], &[], &[], &[]),
            diff(&[], &[], &["a"], &[]),
        ] {
            assert_eq!(
                check_overlap(&d, FullReplacement::Refused, "u"),
                Ok(None),
                "{d:?}"
            );
        }
    }

    #[test]
    fn kept_keys_leave_the_rest_of_max_keys() {
        assert_eq!(room_for_idp_keys(16, 0, "u"), Ok(16));
        assert_eq!(room_for_idp_keys(4, 3, "u"), Ok(1));
        for (max, kept) in [(4, 4), (4, 6)] {
            let e = room_for_idp_keys(max, kept, "u").unwrap_err();
            assert_eq!(e.code(), "KEY_LIMIT_REACHED");
        }
        assert_eq!(
            room_for_idp_keys(2, 2, "u").unwrap_err().to_string(),
            "2 symmetric key(s) kept in the configuration take all 2 slots of MAX_KEYS, leaving none for the IdP's keys; nothing was written; u"
        );
    }
}
