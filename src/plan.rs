//! The safety rules that can refuse a write once the live keys are known (stage `plan`).
//!
//! Pure: they take the diff and the counts, and return a refusal or a warning. Nothing is sent
//! when one refuses.
//! - **No overlap.** Real rotations overlap: an IdP publishes its next key while the current one
//!   is still published, so a sync always keeps at least one live key. A key set that keeps none
//!   of the keys of a non-empty live configuration is what a wrong tenant, a staging issuer or a
//!   slip in `SYNC_TARGETS` looks like, and pushing it would reject every token at the edge at
//!   once. It is refused unless allowed (issue 10, point 6). A live key is kept only when the
//!   write holds it with the same material (`unchanged` in the diff; keys the grace period
//!   retains are live keys, so they are kept too): the same `(kid, alg)` with other material
//!   (`changed`) replaces it, and every token it signed fails (a staging issuer that names its
//!   key like production's). A rollback is judged the same way: a restored set that keeps no live
//!   key is a full replacement too.
//! - **Room beside kept keys.** Symmetric keys kept in the configuration count toward `MAX_KEYS`;
//!   the IdP's keys get what is left, and a write with no room for any is refused, as is one with
//!   fewer slots left than the target merges sources (each source keeps at least one key, or its
//!   users are locked out). A restored set is put back whole or not at all, so it must fit beside
//!   them.

use std::fmt;

use crate::config::FullReplacement;
use crate::diff::Diff;

/// What the planned write proposes, as the messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proposed {
    /// The IdP's keys (a sync or preview).
    IdpKeys,
    /// A key set an earlier run wrote (`POST /rollback`).
    RestoredSet,
}

impl Proposed {
    /// The subject of a refusal: `the IdP's keys`, `the restored keys`.
    fn what(self) -> &'static str {
        match self {
            Proposed::IdpKeys => "the IdP's keys",
            Proposed::RestoredSet => "the restored keys",
        }
    }

    /// Whose keys replace the live ones, in a warning: `the IdP's`, `the restored keys`.
    fn whose(self) -> &'static str {
        match self {
            Proposed::IdpKeys => "the IdP's",
            Proposed::RestoredSet => "the restored keys",
        }
    }
}

/// Why the planned write is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanErrorKind {
    /// The desired keys keep none of the live ones, and that is not allowed.
    NoOverlap {
        /// Kids of the live asymmetric keys, all of which the write would remove or replace.
        live: Vec<String>,
        /// Kids of the keys the write would send.
        desired: Vec<String>,
        /// Kids among `live` that the write sends under the same `(kid, alg)` with other key
        /// material: replaced, not kept.
        changed: Vec<String>,
        /// Where those keys come from.
        proposed: Proposed,
    },
    /// Kept symmetric keys take every slot of `MAX_KEYS`.
    NoRoom {
        /// `MAX_KEYS`.
        max_keys: usize,
        /// Symmetric keys kept.
        kept: usize,
    },
    /// Kept symmetric keys leave fewer slots of `MAX_KEYS` than the target has sources, each of
    /// which keeps at least one key.
    NoRoomForSources {
        /// `MAX_KEYS`.
        max_keys: usize,
        /// Symmetric keys kept.
        kept: usize,
        /// The URLs of the target's sources, as configured.
        sources: Vec<String>,
    },
    /// A restored set does not fit beside the kept symmetric keys under `MAX_KEYS`.
    NoRoomToRestore {
        /// `MAX_KEYS`.
        max_keys: usize,
        /// Symmetric keys kept.
        kept: usize,
        /// Keys in the restored set.
        restored: usize,
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
            PlanErrorKind::NoRoom { .. }
            | PlanErrorKind::NoRoomForSources { .. }
            | PlanErrorKind::NoRoomToRestore { .. } => "KEY_LIMIT_REACHED",
        }
    }
}

/// `<cause>; <url>`.
impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PlanErrorKind::NoOverlap {
                live,
                desired,
                changed,
                proposed,
            } => write!(
                f,
                "{} ({}) {}; a write would replace every live key at once, so nothing was written",
                proposed.what(),
                desired.join(", "),
                keep_none(live, changed)
            )?,
            PlanErrorKind::NoRoom { max_keys, kept } => write!(
                f,
                "{kept} symmetric key(s) kept in the configuration take all {max_keys} slots of MAX_KEYS, leaving none for the IdP's keys; nothing was written"
            )?,
            PlanErrorKind::NoRoomForSources {
                max_keys,
                kept,
                sources,
            } => write!(
                f,
                "{kept} symmetric key(s) kept in the configuration leave {} of the {max_keys} slots of MAX_KEYS, fewer than the {} sources merged into this target ({}), each of which keeps at least one key; nothing was written",
                max_keys.saturating_sub(*kept),
                sources.len(),
                sources.join(", ")
            )?,
            PlanErrorKind::NoRoomToRestore {
                max_keys,
                kept,
                restored,
            } => write!(
                f,
                "the restored set's {restored} key(s) and the {kept} symmetric key(s) kept in the configuration exceed MAX_KEYS ({max_keys}); nothing was written"
            )?,
        }
        write!(f, "; {}", self.url)
    }
}

impl std::error::Error for PlanError {}

/// How many of `max_keys` slots are left for the IdP's keys beside `kept` symmetric keys, for a
/// target that merges the keys of `sources` (their URLs, for the message).
///
/// # Errors
/// `KEY_LIMIT_REACHED` when none is left, or fewer than `sources`: each source keeps at least one
/// key (see [`crate::jwks::select`]), so that no source of a merge loses every key.
pub fn room_for_idp_keys(
    max_keys: usize,
    kept: usize,
    sources: &[&str],
    url: &str,
) -> Result<usize, PlanError> {
    let room = max_keys.saturating_sub(kept);
    let kind = if room == 0 {
        PlanErrorKind::NoRoom { max_keys, kept }
    } else if room < sources.len() {
        PlanErrorKind::NoRoomForSources {
            max_keys,
            kept,
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
        }
    } else {
        return Ok(room);
    };
    Err(PlanError {
        url: url.to_owned(),
        kind,
    })
}

/// Whether a restored set of `restored` keys fits beside `kept` symmetric keys under `max_keys`.
///
/// # Errors
/// `KEY_LIMIT_REACHED` when it does not: a restore puts a set back whole, never in part.
pub fn room_for_restore(
    max_keys: usize,
    kept: usize,
    restored: usize,
    url: &str,
) -> Result<(), PlanError> {
    if kept.saturating_add(restored) <= max_keys {
        return Ok(());
    }
    Err(PlanError {
        url: url.to_owned(),
        kind: PlanErrorKind::NoRoomToRestore {
            max_keys,
            kept,
            restored,
        },
    })
}

/// The no-overlap rule over a [`Diff`] (whose identities are `(kid, alg)`, and whose `removed`
/// never lists kept symmetric keys).
///
/// Returns `Ok(None)` when the write keeps a live key with its material (`unchanged`), replaces
/// an empty configuration, or is no write at all; `Ok(Some(warning))` when it replaces every live
/// key and `allowance` allows it. A `changed` key (same `(kid, alg)`, other material) is replaced,
/// not kept: tokens signed with the live material fail once it is written.
///
/// # Errors
/// `FULL_REPLACEMENT_REFUSED` when it replaces every live key and `allowance` is
/// [`FullReplacement::Refused`].
pub fn check_overlap(
    diff: &Diff,
    allowance: FullReplacement,
    proposed: Proposed,
    url: &str,
) -> Result<Option<String>, PlanError> {
    if !replaces_all(diff) {
        return Ok(None);
    }
    let by = match allowance {
        FullReplacement::Refused => {
            return Err(PlanError {
                url: url.to_owned(),
                kind: PlanErrorKind::NoOverlap {
                    live: replaced(diff),
                    desired: desired(diff),
                    changed: diff.changed.clone(),
                    proposed,
                },
            })
        }
        FullReplacement::AllowedBySetting => "ALLOW_FULL_REPLACEMENT",
        FullReplacement::AllowedOnce => match proposed {
            Proposed::IdpKeys => "?allow_full_replacement=true",
            Proposed::RestoredSet => "\"allow_full_replacement\": true",
        },
    };
    Ok(Some(format!(
        "full replacement allowed by {by}: every live key ({}) is replaced by {} ({})",
        replaced(diff).join(", "),
        proposed.whose(),
        desired(diff).join(", ")
    )))
}

/// True when the write behind `diff` keeps none of the live asymmetric keys: some are live, and
/// none is sent with the same material. Every live asymmetric key is `removed`, `changed` or
/// `unchanged`.
fn replaces_all(diff: &Diff) -> bool {
    diff.unchanged.is_empty() && !(diff.removed.is_empty() && diff.changed.is_empty())
}

/// The kids of the live keys a write that [`replaces_all`] takes away: those it replaces with
/// other material, then those it removes.
fn replaced(diff: &Diff) -> Vec<String> {
    diff.changed.iter().chain(&diff.removed).cloned().collect()
}

/// The kids a write that [`replaces_all`] sends: those with new material, then the new ones.
fn desired(diff: &Diff) -> Vec<String> {
    diff.changed.iter().chain(&diff.added).cloned().collect()
}

/// Why the keys sent keep none of the `live` ones: `share no kid and alg with the live keys (a)`,
/// or, when some are `changed`, `keep none of the live keys (a, b): a comes with the same kid and
/// alg but other key material, which replaces the live key`.
fn keep_none(live: &[String], changed: &[String]) -> String {
    let live = live.join(", ");
    match changed {
        [] => format!("share no kid and alg with the live keys ({live})"),
        [one] => format!("keep none of the live keys ({live}): {one} comes with the same kid and alg but other key material, which replaces the live key"),
        many => format!("keep none of the live keys ({live}): {} come with the same kid and alg but other key material, which replaces the live keys", many.join(", ")),
    }
}

/// The warning for a sync whose only overlap with live is the keys the grace period retains:
/// `idp_diff` compares the IdP's own keys with the live ones. Such a write passes the no-overlap
/// rule (nothing live is removed now: an IdP that rotates without overlap is what the grace
/// period is for), but if the source is wrong every live key goes when the period ends, so it
/// says so. `None` when the IdP's keys share a `(kid, alg)` with live.
pub fn retained_only_overlap(idp_diff: &Diff) -> Option<String> {
    replaces_all(idp_diff).then(|| {
        format!(
            "the IdP's keys ({}) {}; only the grace period (RETAIN_REMOVED_KEYS_FOR) keeps those live, and they go when it ends: if this is not a rotation, check JWKS_URL or OIDC_ISSUER",
            desired(idp_diff).join(", "),
            keep_none(&replaced(idp_diff), &idp_diff.changed)
        )
    })
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
            Proposed::IdpKeys,
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
            check_overlap(&d, FullReplacement::AllowedBySetting, Proposed::IdpKeys, "u").unwrap(),
            Some("full replacement allowed by ALLOW_FULL_REPLACEMENT: every live key (old) is replaced by the IdP's (new)".into())
        );
        assert_eq!(
            check_overlap(&d, FullReplacement::AllowedOnce, Proposed::IdpKeys, "u").unwrap(),
            Some("full replacement allowed by ?allow_full_replacement=true: every live key (old) is replaced by the IdP's (new)".into())
        );
    }

    /// A rollback is judged like a sync, and its messages say the keys are the restored ones.
    #[test]
    fn a_restored_set_sharing_no_key_with_live_is_refused_unless_allowed() {
        let d = diff(&["a"], &["b"], &[], &[]);
        let e =
            check_overlap(&d, FullReplacement::Refused, Proposed::RestoredSet, "u").unwrap_err();
        assert_eq!(e.code(), "FULL_REPLACEMENT_REFUSED");
        assert_eq!(
            e.to_string(),
            "the restored keys (a) share no kid and alg with the live keys (b); a write would replace every live key at once, so nothing was written; u"
        );
        assert_eq!(
            check_overlap(&d, FullReplacement::AllowedOnce, Proposed::RestoredSet, "u").unwrap(),
            Some("full replacement allowed by \"allow_full_replacement\": true: every live key (b) is replaced by the restored keys (a)".into())
        );
    }

    #[test]
    fn a_restored_set_is_put_back_whole_or_not_at_all() {
        assert_eq!(room_for_restore(4, 1, 3, "u"), Ok(()));
        assert_eq!(room_for_restore(4, 0, 4, "u"), Ok(()));
        let e = room_for_restore(4, 2, 3, "u").unwrap_err();
        assert_eq!(e.code(), "KEY_LIMIT_REACHED");
        assert_eq!(
            e.to_string(),
            "the restored set's 3 key(s) and the 2 symmetric key(s) kept in the configuration exceed MAX_KEYS (4); nothing was written; u"
        );
    }

    #[test]
    fn rotations_empty_configurations_and_no_ops_pass() {
        for d in [
            // Rotation step 1: the new key beside the old.
            diff(&["new"], &[], &["old"], &[]),
            // Rotation step 2: the retired key leaves, one stays.
            diff(&[], &["old"], &["new"], &[]),
            // New material under one live (kid, alg), another live key kept as it is.
            diff(&[], &[], &["a"], &["k"]),
            // An empty configuration (or one holding only kept symmetric keys).
            diff(&["a", "b"], &[], &[], &[]),
            diff(&[], &[], &["a"], &[]),
        ] {
            assert_eq!(
                check_overlap(&d, FullReplacement::Refused, Proposed::IdpKeys, "u"),
                Ok(None),
                "{d:?}"
            );
        }
    }

    /// H1: the same `(kid, alg)` with other material replaces the live key, so a write whose
    /// only "overlap" is such a key keeps nothing live (a staging issuer naming its key like
    /// production's), and is refused like one sharing no kid.
    #[test]
    fn a_changed_key_is_a_replacement_not_an_overlap() {
        let only_changed = diff(&[], &[], &[], &["signing-key"]);
        let e = check_overlap(
            &only_changed,
            FullReplacement::Refused,
            Proposed::IdpKeys,
            "u",
        )
        .unwrap_err();
        assert_eq!(e.code(), "FULL_REPLACEMENT_REFUSED");
        assert_eq!(
            e.to_string(),
            "the IdP's keys (signing-key) keep none of the live keys (signing-key): signing-key comes with the same kid and alg but other key material, which replaces the live key; a write would replace every live key at once, so nothing was written; u"
        );
        let e = check_overlap(
            &diff(&["new"], &["old"], &[], &["k1", "k2"]),
            FullReplacement::Refused,
            Proposed::RestoredSet,
            "u",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the restored keys (k1, k2, new) keep none of the live keys (k1, k2, old): k1, k2 come with the same kid and alg but other key material, which replaces the live keys; a write would replace every live key at once, so nothing was written; u"
        );
        assert_eq!(
            check_overlap(&only_changed, FullReplacement::AllowedBySetting, Proposed::IdpKeys, "u").unwrap(),
            Some("full replacement allowed by ALLOW_FULL_REPLACEMENT: every live key (signing-key) is replaced by the IdP's (signing-key)".into())
        );
        assert_eq!(
            retained_only_overlap(&only_changed),
            Some("the IdP's keys (signing-key) keep none of the live keys (signing-key): signing-key comes with the same kid and alg but other key material, which replaces the live key; only the grace period (RETAIN_REMOVED_KEYS_FOR) keeps those live, and they go when it ends: if this is not a rotation, check JWKS_URL or OIDC_ISSUER".into())
        );
    }

    #[test]
    fn an_overlap_made_only_of_retained_keys_is_a_warning() {
        assert_eq!(
            retained_only_overlap(&diff(&["new"], &["old"], &[], &[])),
            Some("the IdP's keys (new) share no kid and alg with the live keys (old); only the grace period (RETAIN_REMOVED_KEYS_FOR) keeps those live, and they go when it ends: if this is not a rotation, check JWKS_URL or OIDC_ISSUER".into())
        );
        assert_eq!(
            retained_only_overlap(&diff(&["new"], &[], &["old"], &[])),
            None
        );
        assert_eq!(retained_only_overlap(&diff(&["new"], &[], &[], &[])), None);
    }

    #[test]
    fn kept_keys_leave_the_rest_of_max_keys() {
        assert_eq!(room_for_idp_keys(16, 0, &["a"], "u"), Ok(16));
        assert_eq!(room_for_idp_keys(4, 3, &["a"], "u"), Ok(1));
        for (max, kept) in [(4, 4), (4, 6)] {
            let e = room_for_idp_keys(max, kept, &["a"], "u").unwrap_err();
            assert_eq!(e.code(), "KEY_LIMIT_REACHED");
        }
        assert_eq!(
            room_for_idp_keys(2, 2, &["a"], "u").unwrap_err().to_string(),
            "2 symmetric key(s) kept in the configuration take all 2 slots of MAX_KEYS, leaving none for the IdP's keys; nothing was written; u"
        );
    }

    /// H2: a merged target needs a slot per source beside the kept keys.
    #[test]
    fn kept_keys_must_leave_a_slot_per_source() {
        let two = ["https://old.example/jwks", "https://new.example/jwks"];
        assert_eq!(room_for_idp_keys(4, 2, &two, "u"), Ok(2));
        let e = room_for_idp_keys(4, 3, &two, "u").unwrap_err();
        assert_eq!(e.code(), "KEY_LIMIT_REACHED");
        assert_eq!(
            e.to_string(),
            "3 symmetric key(s) kept in the configuration leave 1 of the 4 slots of MAX_KEYS, fewer than the 2 sources merged into this target (https://old.example/jwks, https://new.example/jwks), each of which keeps at least one key; nothing was written; u"
        );
    }
}
