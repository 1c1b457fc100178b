//! Set-level rules over the candidates of one or more documents: de-duplication by (`kid`, `alg`),
//! the ambiguity refusal, the key limit, the empty-result error, and the canonical form.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use super::alg::Alg;
use super::cert;
use super::document::{check_options, Extracted};
use super::error::{ErrorKind, JwksError};
use super::key::{clip, Candidate, DropReason, Dropped, Material, PublicJwk};
use super::Options;

/// How many dropped keys the `JWKS_NO_USABLE_KEYS` message lists; [`JwksError::dropped`] has all.
const LIST_DROPPED: usize = 32;

/// The result of normalization: the keys to push, and every key left out with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    /// Keys to send, at most `Options::max_keys`, in source order (sources in the order given).
    pub keys: Vec<PublicJwk>,
    /// Every entry left out, ordered by source, then index in its source array.
    pub dropped: Vec<Dropped>,
}

impl KeySet {
    /// The order-independent form of [`KeySet::keys`] (see [`super::canonical`]).
    pub fn canonical(&self) -> Canonical {
        canonical(&self.keys)
    }
}

/// An order-independent form of a key set, to compare what the sync wants with what is live.
///
/// Two sets are equal iff they hold the same set of (`kid`, `alg`, key material). Whether `alg`
/// was inferred does not matter (Cloudflare stores the effective alg), neither do order and repeats.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Canonical(Vec<(String, Alg, Material)>);

impl Canonical {
    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The (`kid`, `alg`) identities, sorted.
    pub fn ids(&self) -> impl Iterator<Item = (&str, Alg)> {
        self.0.iter().map(|(k, a, _)| (k.as_str(), *a))
    }
}

/// See [`super::canonical`]; a `pub` item of a private module, re-exported through it.
pub fn canonical(keys: &[PublicJwk]) -> Canonical {
    let mut v: Vec<(String, Alg, Material)> = keys
        .iter()
        .map(|k| (k.kid.clone(), k.alg, k.material.clone()))
        .collect();
    v.sort();
    v.dedup();
    Canonical(v)
}

/// Where a key sorts when ranking over the limit (rule 8 of issue 3).
///
/// Order: keys with a current leaf certificate (newest `notBefore` first), then keys without
/// usable certificate dates (no `x5c`, or one that does not parse: "unknown" is not evidence of
/// expiry, but a dated current certificate is evidence of currency), then keys whose leaf
/// certificate has expired (`notAfter` < now). Ties keep source order (the sort is stable).
fn rank(c: &Candidate, now_unix_s: i64) -> (u8, Reverse<i64>) {
    match c.x5c_leaf.as_deref().and_then(cert::validity) {
        Some(v) if v.not_after_s < now_unix_s => (2, Reverse(0)),
        Some(v) => (0, Reverse(v.not_before_s)),
        None => (1, Reverse(0)),
    }
}

/// See [`super::select`].
pub(crate) fn select(sources: &[Extracted], opts: &Options) -> Result<KeySet, JwksError> {
    let all_urls = sources
        .iter()
        .map(|s| s.url.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    check_options(opts, &all_urls)?;
    if sources.len() > opts.max_keys {
        // Each source keeps at least one key (see `over_limit`): no room for that.
        let detail = format!(
            "max_keys {} is less than the {} sources merged, and each source keeps at least one key",
            opts.max_keys,
            sources.len()
        );
        return Err(JwksError::new(ErrorKind::BadOptions, &all_urls, detail));
    }
    // (source number, dropped) so the final list can be ordered by source, then index.
    let mut dropped: Vec<(usize, Dropped)> = Vec::new();
    // Kept candidates with their source number, in source order.
    // Candidates are borrowed: only the keys kept are copied, into the result.
    let mut kept: Vec<(usize, &Candidate)> = Vec::new();
    // (index in `kept`, source number) of each key a later source published again: it is that
    // source's key too.
    let mut republished: Vec<(usize, usize)> = Vec::new();
    let mut by_id: BTreeMap<(&str, Alg), usize> = BTreeMap::new();
    for (src, ex) in sources.iter().enumerate() {
        // Every source must contribute: in a merge, the others' keys alone would remove the
        // silent IdP's keys from what is live and lock its users out.
        if ex.candidates.is_empty() {
            return Err(no_usable_keys(&ex.url, ex.dropped.clone()));
        }
        dropped.extend(ex.dropped.iter().map(|d| (src, d.clone())));
        for c in &ex.candidates {
            // Identity is (kid, alg), not kid alone (B09): the same kid may carry several algs.
            let id = (c.jwk.kid.as_str(), c.jwk.alg);
            match by_id.get(&id).and_then(|&i| Some((i, kept.get(i)?))) {
                None => {
                    by_id.insert(id, kept.len());
                    kept.push((src, c));
                }
                Some((i, (_, first))) if first.jwk.material == c.jwk.material => {
                    // B08: the same key served twice collapses to one.
                    let reason = DropReason::Duplicate {
                        kept_index: first.index,
                    };
                    dropped.push((src, left_out(c, reason)));
                    republished.push((i, src));
                }
                Some((_, (first_src, first))) => {
                    // B08: same (kid, alg), different material: a guess could pick the wrong key.
                    let first_url = sources
                        .get(*first_src)
                        .map_or(ex.url.as_str(), |s| s.url.as_str());
                    let kid = clip(&c.jwk.kid);
                    let alg = c.jwk.alg;
                    let detail = if first_url == ex.url {
                        format!(
                            "kid \"{kid}\" alg {alg} appears at entries {} and {} with different key material",
                            first.index, c.index
                        )
                    } else {
                        format!(
                            "kid \"{kid}\" alg {alg} is entry {} here and entry {} of {} with different key material",
                            c.index,
                            first.index,
                            clip(first_url)
                        )
                    };
                    return Err(JwksError::new(ErrorKind::AmbiguousKid, &ex.url, detail)
                        .with_kid(Some(kid)));
                }
            }
        }
    }

    if kept.len() > opts.max_keys {
        let chosen = over_limit(&kept, &republished, sources.len(), opts);
        let mut rest = Vec::with_capacity(opts.max_keys);
        for ((src, c), keep) in kept.into_iter().zip(chosen) {
            if keep {
                rest.push((src, c));
            } else {
                let reason = DropReason::OverLimit {
                    max_keys: opts.max_keys,
                };
                dropped.push((src, left_out(c, reason)));
            }
        }
        kept = rest;
    }

    dropped.sort_by_key(|(src, d)| (*src, d.index));
    let dropped: Vec<Dropped> = dropped.into_iter().map(|(_, d)| d).collect();
    if kept.is_empty() {
        return Err(no_usable_keys(&all_urls, dropped));
    }
    Ok(KeySet {
        keys: kept.into_iter().map(|(_, c)| c.jwk.clone()).collect(),
        dropped,
    })
}

/// Which of `kept` (with their source numbers, of `sources` sources) stay under
/// `opts.max_keys`, which must be at least `sources`: first each source's best-ranked key (a key
/// a later source published again, listed in `republished`, is that source's key too), so no
/// source of a merge loses every key (its users would be locked out), then the remaining slots
/// by [`rank`].
fn over_limit(
    kept: &[(usize, &Candidate)],
    republished: &[(usize, usize)],
    sources: usize,
    opts: &Options,
) -> Vec<bool> {
    // Certificates are decoded only here, only when over the limit.
    let mut order: Vec<(usize, (u8, Reverse<i64>))> = kept
        .iter()
        .enumerate()
        .map(|(i, (_, c))| (i, rank(c, opts.now_unix_s)))
        .collect();
    order.sort_by_key(|&(_, r)| r);
    let mut chosen = vec![false; kept.len()];
    let mut covered = vec![false; sources];
    let mut left = opts.max_keys;
    for &(i, _) in &order {
        let own = kept.get(i).map(|(src, _)| *src);
        let also = republished.iter().filter(|(k, _)| *k == i).map(|(_, s)| *s);
        let publishers: Vec<usize> = own.into_iter().chain(also).collect();
        if publishers.iter().all(|&s| covered.get(s) != Some(&false)) {
            continue;
        }
        for s in publishers {
            if let Some(c) = covered.get_mut(s) {
                *c = true;
            }
        }
        if let Some(slot) = chosen.get_mut(i) {
            *slot = true;
            left = left.saturating_sub(1);
        }
    }
    for &(i, _) in &order {
        if left == 0 {
            break;
        }
        if let Some(slot) = chosen.get_mut(i).filter(|slot| !**slot) {
            *slot = true;
            left -= 1;
        }
    }
    chosen
}

/// The record of a usable key left out of the set.
fn left_out(c: &Candidate, reason: DropReason) -> Dropped {
    Dropped {
        index: c.index,
        kid: Some(clip(&c.jwk.kid)),
        reason,
    }
}

/// `JWKS_NO_USABLE_KEYS`, listing every dropped key (the first [`LIST_DROPPED`] in the message).
fn no_usable_keys(url: &str, dropped: Vec<Dropped>) -> JwksError {
    let detail = if dropped.is_empty() {
        "the key array is empty".to_owned()
    } else {
        let mut parts: Vec<String> = dropped
            .iter()
            .take(LIST_DROPPED)
            .map(|d| {
                let kid = match &d.kid {
                    Some(k) => format!(" kid \"{k}\""),
                    None => String::new(),
                };
                format!("entry {}{kid} {} ({})", d.index, d.reason.code(), d.reason)
            })
            .collect();
        if dropped.len() > LIST_DROPPED {
            parts.push(format!("and {} more", dropped.len() - LIST_DROPPED));
        }
        format!("{} dropped: {}", dropped.len(), parts.join(", "))
    };
    JwksError::new(ErrorKind::NoUsableKeys, url, detail).with_dropped(dropped)
}
