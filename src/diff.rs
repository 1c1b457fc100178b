//! What a push would change: the live keys against the desired ones.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::cloudflare::{LiveKeys, SymmetricKey};
use crate::jwks::{canonical, PublicJwk};

/// The kids a push adds, removes, keeps and changes, each list in the order of its source
/// (desired keys for `added`, `unchanged` and `changed`; live keys for `removed`). Identity is
/// (`kid`, `alg`), as API Shield matches a token's header against both. Live symmetric keys are
/// never `removed`: they are kept (reported in the target's `kept`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Kids to be added.
    pub added: Vec<String>,
    /// Kids live now that the push removes.
    pub removed: Vec<String>,
    /// Kids live now with the same key material.
    pub unchanged: Vec<String>,
    /// Kids live now under the same (`kid`, `alg`) with different key material.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

/// Compares `live` with `desired`. Returns the diff and whether a push is needed: false only when
/// the canonical forms of the asymmetric keys are equal and every live key could be compared
/// (symmetric keys are kept as they are, so they never make a push needed).
///
/// Identities are looked up in ordered maps, so the cost grows as n log n with the key count
/// (`MAX_KEYS` may be up to 256), not n².
pub fn diff(live: &LiveKeys, desired: &[PublicJwk]) -> (Diff, bool) {
    let live_ids: BTreeSet<(&str, &str)> = live
        .ids
        .iter()
        .map(|(kid, alg)| (kid.as_str(), alg.as_str()))
        .collect();
    let live_keys: BTreeMap<(&str, &str), &PublicJwk> = live
        .keys
        .iter()
        .map(|k| ((k.kid(), k.alg().as_str()), k))
        .collect();
    let desired_ids: BTreeSet<(&str, &str)> = desired
        .iter()
        .map(|k| (k.kid(), k.alg().as_str()))
        .collect();
    let mut d = Diff::default();
    for k in desired {
        let id = (k.kid(), k.alg().as_str());
        let list = match live_keys.get(&id) {
            Some(live_key) if live_key.same_key(k) => &mut d.unchanged,
            _ if live_ids.contains(&id) => &mut d.changed,
            _ => &mut d.added,
        };
        list.push(k.kid().to_owned());
    }
    let symmetric: BTreeSet<(&str, &str)> = live
        .symmetric
        .iter()
        .map(|k| (k.kid.as_str(), k.alg.as_str()))
        .collect();
    for (kid, alg) in &live.ids {
        let id = (kid.as_str(), alg.as_str());
        if !desired_ids.contains(&id) && !symmetric.contains(&id) {
            d.removed.push(kid.clone());
        }
    }
    let comparable = live.keys.len() + live.symmetric.len() == live.ids.len();
    let needed = !(comparable && canonical(&live.keys) == canonical(desired));
    (d, needed)
}

/// True when `live` holds exactly `desired` and the `kept` symmetric keys, nothing else: how a
/// re-read tells that a write whose answer was lost was applied.
pub fn holds_exactly(live: &LiveKeys, desired: &[PublicJwk], kept: &[SymmetricKey]) -> bool {
    let (_, needed) = diff(live, desired);
    // Both lists are a handful of keys, with unique (kid, alg): equal lengths and inclusion
    // suffice, without building sets.
    !needed && live.symmetric.len() == kept.len() && kept.iter().all(|k| live.symmetric.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::{decode_key, Alg};
    use serde_json::json;

    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const X2: &str = "WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis";
    const Y2: &str = "y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE";

    fn key(kid: &str, x: &str, y: &str) -> PublicJwk {
        decode_key(
            &json!({"kty":"EC","kid":kid,"crv":"P-256","x":x,"y":y}),
            Alg::RS256,
        )
        .unwrap()
    }

    fn live(keys: Vec<PublicJwk>) -> LiveKeys {
        let ids = keys
            .iter()
            .map(|k| (k.kid().to_owned(), k.alg().as_str().to_owned()))
            .collect();
        LiveKeys {
            keys,
            symmetric: Vec::new(),
            ids,
        }
    }

    fn hmac(kid: &str) -> SymmetricKey {
        SymmetricKey {
            kid: kid.into(),
            alg: "HS256".into(),
        }
    }

    fn with_symmetric(mut l: LiveKeys, kid: &str) -> LiveKeys {
        l.ids.push((kid.into(), "HS256".into()));
        l.symmetric.push(hmac(kid));
        l
    }

    #[test]
    fn live_symmetric_keys_are_never_removed_nor_force_a_push() {
        let l = with_symmetric(live(vec![key("a", X, Y)]), "h");
        let (d, needed) = diff(&l, &[key("a", X, Y)]);
        assert!(!needed);
        assert_eq!(
            d,
            Diff {
                unchanged: vec!["a".into()],
                ..Diff::default()
            }
        );
        let (d, needed) = diff(&l, &[key("b", X2, Y2)]);
        assert!(needed);
        assert_eq!(
            (d.added, d.removed),
            (vec!["b".to_owned()], vec!["a".to_owned()])
        );
    }

    #[test]
    fn holds_exactly_the_desired_and_kept_keys() {
        let l = with_symmetric(live(vec![key("a", X, Y)]), "h");
        assert!(holds_exactly(&l, &[key("a", X, Y)], &[hmac("h")]));
        assert!(!holds_exactly(&l, &[key("a", X, Y)], &[]));
        assert!(!holds_exactly(&l, &[key("a", X2, Y2)], &[hmac("h")]));
        assert!(!holds_exactly(
            &l,
            &[key("a", X, Y), key("b", X2, Y2)],
            &[hmac("h")]
        ));
        let mut extra = live(vec![key("a", X, Y)]);
        extra.ids.push(("undecodable".into(), "RS256".into()));
        assert!(!holds_exactly(&extra, &[key("a", X, Y)], &[]));
    }

    #[test]
    fn same_set_in_another_order_needs_no_push() {
        let (d, needed) = diff(
            &live(vec![key("b", X2, Y2), key("a", X, Y)]),
            &[key("a", X, Y), key("b", X2, Y2)],
        );
        assert!(!needed);
        assert_eq!(
            d,
            Diff {
                unchanged: vec!["a".into(), "b".into()],
                ..Diff::default()
            }
        );
    }

    #[test]
    fn rotation_adds_and_removes() {
        let (d, needed) = diff(&live(vec![key("old", X, Y)]), &[key("new", X2, Y2)]);
        assert!(needed);
        assert_eq!(
            d,
            Diff {
                added: vec!["new".into()],
                removed: vec!["old".into()],
                ..Diff::default()
            }
        );
    }

    #[test]
    fn new_material_under_a_known_kid_is_a_change() {
        let (d, needed) = diff(&live(vec![key("a", X, Y)]), &[key("a", X2, Y2)]);
        assert!(needed);
        assert_eq!(
            d,
            Diff {
                changed: vec!["a".into()],
                ..Diff::default()
            }
        );
    }

    #[test]
    fn an_undecodable_live_key_forces_a_push() {
        let mut l = live(vec![key("a", X, Y)]);
        l.ids.push(("h".into(), "HS256".into()));
        let (d, needed) = diff(&l, &[key("a", X, Y)]);
        assert!(needed);
        assert_eq!(
            d,
            Diff {
                unchanged: vec!["a".into()],
                removed: vec!["h".into()],
                ..Diff::default()
            }
        );
    }

    #[test]
    fn an_inferred_alg_matches_the_same_key_stored_with_it() {
        let inferred = decode_key(
            &json!({"kty":"EC","kid":"a","crv":"P-256","x":X,"y":Y}),
            Alg::RS256,
        )
        .unwrap();
        let stored = decode_key(
            &json!({"kty":"EC","kid":"a","alg":"ES256","crv":"P-256","x":X,"y":Y}),
            Alg::RS256,
        )
        .unwrap();
        assert!(inferred.alg_inferred() && !stored.alg_inferred());
        let (d, needed) = diff(&live(vec![stored]), &[inferred]);
        assert!(!needed);
        assert_eq!(
            d,
            Diff {
                unchanged: vec!["a".into()],
                ..Diff::default()
            }
        );
    }

    #[test]
    fn empty_live_config() {
        let (d, needed) = diff(&live(vec![]), &[key("a", X, Y)]);
        assert!(needed);
        assert_eq!(d.added, vec!["a"]);
    }
}
