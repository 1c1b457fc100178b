//! One JWK (a `serde_json::Value`) → a [`PublicJwk`] API Shield accepts, or the [`DropReason`].
//!
//! Each array entry is decoded on its own so one odd key never fails the set (failure modes
//! B01–B05). The filter is a hand-written `match` over `&str` members rather than a serde enum
//! (style §1.3, §3: smaller wasm, and tolerant per key).

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::alg::{Alg, Crv};

/// Every JWK member that the IANA JOSE "JSON Web Key Parameters" registry
/// (<https://www.iana.org/assignments/jose/jose.xhtml#web-key-parameters>) classes as
/// *Private*, for every key type. Their presence refuses the whole run, whatever the `kty`
/// (see [`DropReason::PrivateMember`]); member names are global to the registry, so a name
/// registered as private for one key type is never a public member of another.
///
/// - `EC`: `d` (RFC 7518 §6.2.2.1, registered in §7.1.1);
/// - `RSA`: `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth` (RFC 7518 §6.3.2; the `r`, `d`, `t` members of
///   `oth` entries are covered by refusing a non-empty `oth`);
/// - `oct`: `k` (RFC 7518 §6.4.1);
/// - `OKP` (Ed25519, Ed448, X25519, X448): `d` (RFC 8037 §2, registered in §5);
/// - `AKP`, the "Algorithm Key Pair" type of the post-quantum algorithms (ML-DSA in
///   draft-ietf-cose-dilithium, SLH-DSA in draft-ietf-cose-sphincs-plus, ML-KEM in
///   draft-ietf-jose-pqc-kem): `priv`, registered as Private beside the Public `pub`.
pub const PRIVATE_MEMBERS: [&str; 9] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"];

/// Minimum RSA modulus size API Shield accepts, in bits (cloudflare-docs
/// `api-shield/security/jwt-validation/api.mdx`: "RSA keys must be at least 2048-bit").
pub const MIN_RSA_BITS: usize = 2048;

/// Longest attacker-controlled value (a `kty`, `alg`, `crv`, `use`, `kid`) echoed in a message,
/// in characters; longer values are cut and end in `…`.
const CLIP_CHARS: usize = 64;

/// The key material of a [`PublicJwk`], already decoded, checked and re-encoded canonically.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Material {
    /// RFC 7518 §6.3.1: `n` and `e` as unpadded base64url without leading zero octets.
    Rsa { n: String, e: String },
    /// RFC 7518 §6.2.1: `crv` and the two coordinates as unpadded base64url.
    Ec { crv: Crv, x: String, y: String },
}

/// A public signature-verification key in exactly the shape API Shield accepts.
///
/// Only the members Cloudflare uses are kept (`kty`, `kid`, `alg`, and `n`, `e` or `crv`, `x`,
/// `y`); `use`, `key_ops`, `x5c`, `x5t`, `issuer` and the rest are not sent (cloudflare-docs
/// api.mdx: "Cloudflare will remove any fields that are unnecessary"). `n` has no leading zero
/// octets (RFC 7518 §6.3.1.1).
///
/// # Format
/// ```text
/// {"kty":"RSA","kid":"k1","alg":"RS256","n":"<base64url>","e":"AQAB"}
/// {"kty":"EC","kid":"k2","alg":"ES256","crv":"P-256","x":"<base64url>","y":"<base64url>"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub(crate) kid: String,
    pub(crate) alg: Alg,
    pub(crate) alg_inferred: bool,
    pub(crate) material: Material,
}

impl PublicJwk {
    /// The key id (RFC 7517 §4.5), exactly as the identity provider published it.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// True when both are the same key: same `kid`, effective `alg` and key material. Whether
    /// `alg` was inferred does not count (Cloudflare stores and returns the effective alg).
    pub fn same_key(&self, other: &PublicJwk) -> bool {
        self.kid == other.kid && self.alg == other.alg && self.material == other.material
    }

    /// The effective algorithm: the published `alg`, or the inferred one (see [`Self::alg_inferred`]).
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// `true` when the source key had no `alg`: RSA keys then get `Options::rsa_default_alg`,
    /// EC keys the algorithm of their curve (RFC 7518 §3.4).
    pub fn alg_inferred(&self) -> bool {
        self.alg_inferred
    }

    /// `"RSA"` or `"EC"` (RFC 7518 §6.1).
    pub fn kty(&self) -> &'static str {
        match self.material {
            Material::Rsa { .. } => "RSA",
            Material::Ec { .. } => "EC",
        }
    }

    /// The RSA modulus `n` (unpadded base64url, no leading zero octets); `None` for EC keys.
    pub fn n(&self) -> Option<&str> {
        match &self.material {
            Material::Rsa { n, .. } => Some(n),
            Material::Ec { .. } => None,
        }
    }

    /// The RSA exponent `e` (unpadded base64url); `None` for EC keys.
    pub fn e(&self) -> Option<&str> {
        match &self.material {
            Material::Rsa { e, .. } => Some(e),
            Material::Ec { .. } => None,
        }
    }

    /// The EC curve; `None` for RSA keys.
    pub fn crv(&self) -> Option<Crv> {
        match &self.material {
            Material::Ec { crv, .. } => Some(*crv),
            Material::Rsa { .. } => None,
        }
    }

    /// The EC `x` and `y` coordinates (unpadded base64url); `None` for RSA keys.
    pub fn xy(&self) -> Option<(&str, &str)> {
        match &self.material {
            Material::Ec { x, y, .. } => Some((x, y)),
            Material::Rsa { .. } => None,
        }
    }
}

impl Serialize for PublicJwk {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(if self.crv().is_some() { 6 } else { 5 }))?;
        m.serialize_entry("kty", self.kty())?;
        m.serialize_entry("kid", &self.kid)?;
        m.serialize_entry("alg", self.alg.as_str())?;
        match &self.material {
            Material::Rsa { n, e } => {
                m.serialize_entry("n", n)?;
                m.serialize_entry("e", e)?;
            }
            Material::Ec { crv, x, y } => {
                m.serialize_entry("crv", crv.as_str())?;
                m.serialize_entry("x", x)?;
                m.serialize_entry("y", y)?;
            }
        }
        m.end()
    }
}

/// Why one key was left out. Per-key drops are expected outcomes, not errors (style §2.2),
/// except [`DropReason::PrivateMember`] and [`DropReason::Symmetric`], which
/// [`super::extract`] turns into a whole-run refusal.
///
/// [`DropReason::code`] is a stable machine code; `Display` is a human, lowercase sentence in which
/// values from the document are quoted, escaped and cut to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The entry is not a JSON object (`found` is e.g. `"string"`). Skipped, not fatal (B05).
    NotAnObject {
        /// JSON type found: `null`, `boolean`, `number`, `string` or `array`.
        found: &'static str,
    },
    /// A member this module reads is missing or has the wrong JSON type (e.g. `kty` missing, `use`
    /// a number, RSA key without `n`). RFC 7517 §4, RFC 7518 §6.
    MalformedMember {
        /// Member name, e.g. `"kty"`.
        member: &'static str,
        /// What is wrong, e.g. `"missing"`, `"not a string"`.
        problem: &'static str,
    },
    /// `kty` is neither `RSA` nor `EC` (e.g. `OKP` Ed25519/Ed448/X25519, `AKP`). RFC 7517 §5:
    /// keys whose `kty` is not understood are ignored (B02, B03).
    UnsupportedKty {
        /// The `kty` value (clipped).
        kty: String,
    },
    /// `alg` is not one API Shield supports (e.g. `RSA-OAEP`, `ES512`, or the pre-RFC `"EC"`).
    UnsupportedAlg {
        /// The `alg` value (clipped).
        alg: String,
    },
    /// `alg` is supported but does not fit the key: an RSA alg on an EC key, an EC alg on an RSA
    /// key, or ES256/ES384 on the other curve (RFC 7518 §3.4).
    AlgMismatch {
        /// The algorithm that does not fit.
        alg: Alg,
        /// `"RSA"` or `"EC"`.
        kty: &'static str,
        /// The key's curve for EC keys.
        crv: Option<Crv>,
    },
    /// EC curve other than P-256/P-384 (e.g. P-521, which ES512 needs; API Shield has no ES512).
    UnsupportedCrv {
        /// The `crv` value (clipped).
        crv: String,
    },
    /// `use` is present and not `sig` (RFC 7517 §4.2), e.g. Keycloak's `enc` key (B01).
    NotSig {
        /// The `use` value (clipped).
        use_: String,
    },
    /// `key_ops` is present and does not contain `verify` (RFC 7517 §4.3).
    NoVerifyOp,
    /// No `kid`, `null` or empty. API Shield requires one and tokens must carry the same, so none
    /// is invented (B07).
    MissingKid,
    /// RSA modulus shorter than [`MIN_RSA_BITS`], counted after leading zero octets.
    RsaTooSmall {
        /// Modulus length in bits.
        bits: usize,
    },
    /// `n`, `e`, `x` or `y` is not strict unpadded base64url (RFC 7515 §2, RFC 7518 §6; B25):
    /// `+`, `/`, `=` padding, whitespace and non-canonical trailing bits are all refused.
    BadBase64Url {
        /// Member name.
        member: &'static str,
    },
    /// EC coordinate of the wrong length for its curve (RFC 7518 §6.2.1.2/§6.2.1.3: 32 octets for
    /// P-256, 48 for P-384).
    BadEcCoordinate {
        /// `"x"` or `"y"`.
        member: &'static str,
        /// Decoded length in octets.
        len: usize,
        /// The key's curve.
        crv: Crv,
    },
    /// Same (`kid`, `alg`) and same key material as an earlier kept key (B08).
    Duplicate {
        /// Index, in its own source array, of the key that was kept.
        kept_index: usize,
    },
    /// Usable, but over `Options::max_keys`; ranked out (see [`super::select`]).
    OverLimit {
        /// The limit that applied.
        max_keys: usize,
    },
    /// A private-key member ([`PRIVATE_MEMBERS`]: `d`, `p`, `q`, `dp`, `dq`, `qi`, non-empty
    /// `oth`, `k`, `priv`) is present, on a key of any type. RFC 7517 §9.1: a public endpoint
    /// must not serve these.
    /// [`super::extract`] refuses the run; only [`super::decode_key`] returns it as a drop.
    PrivateMember {
        /// The member name (never its value).
        member: &'static str,
    },
    /// A symmetric `kty:"oct"` key (RFC 7518 §6.4): its `k` is a shared secret.
    /// [`super::extract`] refuses the run; only [`super::decode_key`] returns it as a drop.
    Symmetric,
}

impl DropReason {
    /// Stable `SCREAMING_SNAKE` code, e.g. `"NOT_SIG"`. Codes are API: alerts and tests match on them.
    pub fn code(&self) -> &'static str {
        match self {
            DropReason::NotAnObject { .. } => "NOT_AN_OBJECT",
            DropReason::MalformedMember { .. } => "MALFORMED_MEMBER",
            DropReason::UnsupportedKty { .. } => "UNSUPPORTED_KTY",
            DropReason::UnsupportedAlg { .. } => "UNSUPPORTED_ALG",
            DropReason::AlgMismatch { .. } => "ALG_MISMATCH",
            DropReason::UnsupportedCrv { .. } => "UNSUPPORTED_CRV",
            DropReason::NotSig { .. } => "NOT_SIG",
            DropReason::NoVerifyOp => "NO_VERIFY_OP",
            DropReason::MissingKid => "MISSING_KID",
            DropReason::RsaTooSmall { .. } => "RSA_TOO_SMALL",
            DropReason::BadBase64Url { .. } => "BAD_BASE64URL",
            DropReason::BadEcCoordinate { .. } => "BAD_EC_COORDINATE",
            DropReason::Duplicate { .. } => "DUPLICATE",
            DropReason::OverLimit { .. } => "OVER_LIMIT",
            DropReason::PrivateMember { .. } => "PRIVATE_MEMBER",
            DropReason::Symmetric => "SYMMETRIC",
        }
    }

    /// `true` for the reasons that refuse a whole run in [`super::extract`].
    pub fn is_secret(&self) -> bool {
        matches!(
            self,
            DropReason::PrivateMember { .. } | DropReason::Symmetric
        )
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::NotAnObject { found } => {
                write!(f, "entry is a JSON {found}, not an object")
            }
            DropReason::MalformedMember { member, problem } => {
                write!(f, "\"{member}\" is {problem}")
            }
            DropReason::UnsupportedKty { kty } => {
                write!(
                    f,
                    "unsupported \"kty\" (key type) \"{kty}\"; api shield takes RSA and EC"
                )
            }
            DropReason::UnsupportedAlg { alg } => {
                write!(f, "unsupported \"alg\" (algorithm) \"{alg}\"")
            }
            DropReason::AlgMismatch { alg, kty, crv } => match crv {
                Some(c) => write!(f, "\"alg\" \"{alg}\" does not match \"crv\" \"{c}\""),
                None => write!(f, "\"alg\" \"{alg}\" does not match \"kty\" \"{kty}\""),
            },
            DropReason::UnsupportedCrv { crv } => {
                write!(
                    f,
                    "unsupported \"crv\" (curve) \"{crv}\"; api shield takes P-256 and P-384"
                )
            }
            DropReason::NotSig { use_ } => {
                write!(f, "\"use\" (public key use) is \"{use_}\", not \"sig\"")
            }
            DropReason::NoVerifyOp => {
                f.write_str("\"key_ops\" (key operations) does not include \"verify\"")
            }
            DropReason::MissingKid => {
                f.write_str("no \"kid\" (key id); api shield needs one and none is invented")
            }
            DropReason::RsaTooSmall { bits } => {
                write!(
                    f,
                    "rsa modulus is {bits} bits; api shield needs at least {MIN_RSA_BITS}"
                )
            }
            DropReason::BadBase64Url { member } => {
                write!(f, "\"{member}\" is not strict unpadded base64url")
            }
            DropReason::BadEcCoordinate { member, len, crv } => write!(
                f,
                "\"{member}\" is {len} octets; {crv} needs {}",
                crv.coordinate_len()
            ),
            DropReason::Duplicate { kept_index } => {
                write!(f, "same kid, alg and key material as entry {kept_index}")
            }
            DropReason::OverLimit { max_keys } => write!(f, "over the limit of {max_keys} keys"),
            DropReason::PrivateMember { member } => {
                write!(f, "private key member \"{member}\" present")
            }
            DropReason::Symmetric => {
                f.write_str("symmetric key (\"kty\" \"oct\"): a shared secret, never published")
            }
        }
    }
}

/// One key that was left out, and why.
///
/// # Format
/// ```text
/// {"index":0,"kid":"abc","code":"NOT_SIG","reason":"\"use\" (public key use) is \"enc\", not \"sig\""}
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Position of the entry in its source key array, from 0.
    pub index: usize,
    /// The entry's `kid` when it is a string (clipped to 64 characters), else `None`.
    pub kid: Option<String>,
    /// Why it was left out.
    pub reason: DropReason,
}

impl Serialize for Dropped {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("index", &self.index)?;
        m.serialize_entry("kid", &self.kid)?;
        m.serialize_entry("code", self.reason.code())?;
        m.serialize_entry("reason", &self.reason.to_string())?;
        m.end()
    }
}

/// A key that passed the per-key filter, with what the over-limit ranking needs.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) jwk: PublicJwk,
    /// Position in the source array.
    pub(crate) index: usize,
    /// First `x5c` entry (the leaf, RFC 7517 §4.7), still standard base64; decoded only when ranking.
    pub(crate) x5c_leaf: Option<String>,
}

/// Escapes and cuts a document value for a message: control and non-ASCII characters are
/// escaped (`\u{…}`), quotes and backslashes too, and at most [`CLIP_CHARS`] characters are kept.
pub(crate) fn clip(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == CLIP_CHARS {
            out.push('…');
            break;
        }
        if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// JSON type name of a value, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The `kid` of an entry for a [`Dropped`] record: a string `kid`, clipped.
pub(crate) fn kid_of(v: &Value) -> Option<String> {
    v.get("kid").and_then(Value::as_str).map(clip)
}

/// Optional string member: `Ok(None)` when absent, `Err` when present but not a string.
/// `null` counts as absent (several IdPs emit `"kid": null`, B07).
fn opt_str<'a>(
    m: &'a Map<String, Value>,
    member: &'static str,
) -> Result<Option<&'a str>, DropReason> {
    match m.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(DropReason::MalformedMember {
            member,
            problem: "not a string",
        }),
    }
}

fn req_str<'a>(m: &'a Map<String, Value>, member: &'static str) -> Result<&'a str, DropReason> {
    opt_str(m, member)?.ok_or(DropReason::MalformedMember {
        member,
        problem: "missing",
    })
}

/// Strict unpadded base64url (RFC 7515 §2) via `base64ct`, which refuses padding, whitespace,
/// `+`/`/` and non-zero trailing bits.
fn b64url(m: &Map<String, Value>, member: &'static str) -> Result<Vec<u8>, DropReason> {
    Base64UrlUnpadded::decode_vec(req_str(m, member)?)
        .map_err(|_| DropReason::BadBase64Url { member })
}

/// Strips leading zero octets: a Base64urlUInt has none (RFC 7518 §2, §6.3.1.1), but real
/// servers send them (B25).
fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b.get(first..).unwrap_or_default()
}

/// Bit length of a big-endian unsigned integer without leading zero octets.
fn bit_len(b: &[u8]) -> usize {
    match b.first() {
        Some(&top) => (b.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    }
}

/// Checks for secret material: `kty:"oct"` (RFC 7518 §6.4) or any private member.
/// `"oth": []` (an empty list, sent by OpenAM, B25) carries no secret and is ignored.
fn check_secret(m: &Map<String, Value>) -> Result<(), DropReason> {
    if m.get("kty").and_then(Value::as_str) == Some("oct") {
        return Err(DropReason::Symmetric);
    }
    for member in PRIVATE_MEMBERS {
        match m.get(member) {
            None => {}
            Some(Value::Array(a)) if member == "oth" && a.is_empty() => {}
            Some(_) => return Err(DropReason::PrivateMember { member }),
        }
    }
    Ok(())
}

/// Decodes one entry. The order of checks fixes which reason a key with several defects gets:
/// object → secret material → `kty` → `use` → `key_ops` → `kid` → `crv`/`alg` → `n`/`e`, `x`/`y`.
pub(crate) fn decode(
    v: &Value,
    index: usize,
    rsa_default_alg: Alg,
) -> Result<Candidate, DropReason> {
    let Value::Object(m) = v else {
        return Err(DropReason::NotAnObject {
            found: type_name(v),
        });
    };
    check_secret(m)?;
    let kty = req_str(m, "kty")?;
    let is_rsa = match kty {
        "RSA" => true,
        "EC" => false,
        other => return Err(DropReason::UnsupportedKty { kty: clip(other) }),
    };
    // RFC 7517 §4.2: "sig" (signature) or "enc" (encryption); absent means unspecified (B06).
    if let Some(u) = opt_str(m, "use")? {
        if u != "sig" {
            return Err(DropReason::NotSig { use_: clip(u) });
        }
    }
    // RFC 7517 §4.3: an array of strings; the key verifies signatures only if it lists "verify".
    match m.get("key_ops") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ops)) => {
            let mut verify = false;
            for op in ops {
                match op.as_str() {
                    Some(s) => verify |= s == "verify",
                    None => {
                        return Err(DropReason::MalformedMember {
                            member: "key_ops",
                            problem: "not an array of strings",
                        })
                    }
                }
            }
            if !verify {
                return Err(DropReason::NoVerifyOp);
            }
        }
        Some(_) => {
            return Err(DropReason::MalformedMember {
                member: "key_ops",
                problem: "not an array of strings",
            })
        }
    }
    let kid = match opt_str(m, "kid")? {
        Some(k) if !k.is_empty() => k,
        _ => return Err(DropReason::MissingKid),
    };
    let alg = opt_str(m, "alg")?;
    let (alg, alg_inferred, material) = if is_rsa {
        let (alg, inferred) = match alg {
            None => (rsa_default_alg, true),
            Some(s) => (
                Alg::parse(s).ok_or_else(|| DropReason::UnsupportedAlg { alg: clip(s) })?,
                false,
            ),
        };
        if !alg.is_rsa() {
            return Err(DropReason::AlgMismatch {
                alg,
                kty: "RSA",
                crv: None,
            });
        }
        let n_raw = b64url(m, "n")?;
        let e_raw = b64url(m, "e")?;
        let (n, e) = (strip_zeros(&n_raw), strip_zeros(&e_raw));
        if n.is_empty() {
            return Err(DropReason::MalformedMember {
                member: "n",
                problem: "zero",
            });
        }
        if e.is_empty() {
            return Err(DropReason::MalformedMember {
                member: "e",
                problem: "zero",
            });
        }
        let bits = bit_len(n);
        if bits < MIN_RSA_BITS {
            return Err(DropReason::RsaTooSmall { bits });
        }
        let material = Material::Rsa {
            n: Base64UrlUnpadded::encode_string(n),
            e: Base64UrlUnpadded::encode_string(e),
        };
        (alg, inferred, material)
    } else {
        let crv_s = req_str(m, "crv")?;
        let crv =
            Crv::parse(crv_s).ok_or_else(|| DropReason::UnsupportedCrv { crv: clip(crv_s) })?;
        let (alg, inferred) = match alg {
            None => (crv.alg(), true),
            Some(s) => (
                Alg::parse(s).ok_or_else(|| DropReason::UnsupportedAlg { alg: clip(s) })?,
                false,
            ),
        };
        if alg.curve() != Some(crv) {
            return Err(DropReason::AlgMismatch {
                alg,
                kty: "EC",
                crv: Some(crv),
            });
        }
        let coord = |member: &'static str| -> Result<String, DropReason> {
            let b = b64url(m, member)?;
            if b.len() != crv.coordinate_len() {
                return Err(DropReason::BadEcCoordinate {
                    member,
                    len: b.len(),
                    crv,
                });
            }
            Ok(Base64UrlUnpadded::encode_string(&b))
        };
        let x = coord("x")?;
        let y = coord("y")?;
        (alg, inferred, Material::Ec { crv, x, y })
    };
    // RFC 7517 §4.7: x5c is an array of standard base64 DER certificates, the leaf first. It is
    // only used for ranking over the limit, so a malformed x5c is ignored rather than fatal.
    let x5c_leaf = match m.get("x5c") {
        Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    Ok(Candidate {
        jwk: PublicJwk {
            kid: kid.to_owned(),
            alg,
            alg_inferred,
            material,
        },
        index,
        x5c_leaf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_escapes_and_cuts() {
        assert_eq!(clip("abc"), "abc");
        assert_eq!(clip("a\"b\\c\n"), "a\\\"b\\\\c\\n");
        assert_eq!(clip("é"), "\\u{e9}");
        let long = "x".repeat(100);
        assert_eq!(clip(&long), format!("{}…", "x".repeat(64)));
    }

    #[test]
    fn bit_len_counts_after_zeros() {
        assert_eq!(bit_len(strip_zeros(&[0, 0, 1])), 1);
        assert_eq!(bit_len(strip_zeros(&[0x80, 0])), 16);
        assert_eq!(bit_len(strip_zeros(&[0, 0x7f, 0])), 15);
        assert_eq!(bit_len(strip_zeros(&[0, 0])), 0);
    }
}
