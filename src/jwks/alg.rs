//! The closed vocabulary of algorithms and curves that API Shield accepts.
//!
//! Matched by hand on `&str` (no regex, no serde enum derive) to keep the wasm small (style §3).

use serde::{Serialize, Serializer};

/// A JWS algorithm (RFC 7518 §3.1) that Cloudflare API Shield JWT validation supports.
///
/// Source: cloudflare-docs `api-shield/security/jwt-validation/api.mdx`: RS256/384/512 and
/// PS256/384/512 for `kty:"RSA"`, ES256 (`P-256`) and ES384 (`P-384`) for `kty:"EC"`.
/// ES512, EdDSA and the HMAC algorithms are deliberately absent (see [`super::DropReason`]).
///
/// Serializes as its registered name, e.g. `"RS256"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(clippy::upper_case_acronyms)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 using SHA-256 (RFC 7518 §3.3).
    RS256,
    /// RSASSA-PKCS1-v1_5 using SHA-384 (RFC 7518 §3.3).
    RS384,
    /// RSASSA-PKCS1-v1_5 using SHA-512 (RFC 7518 §3.3).
    RS512,
    /// RSASSA-PSS using SHA-256 and MGF1 with SHA-256 (RFC 7518 §3.5).
    PS256,
    /// RSASSA-PSS using SHA-384 and MGF1 with SHA-384 (RFC 7518 §3.5).
    PS384,
    /// RSASSA-PSS using SHA-512 and MGF1 with SHA-512 (RFC 7518 §3.5).
    PS512,
    /// ECDSA using P-256 and SHA-256 (RFC 7518 §3.4).
    ES256,
    /// ECDSA using P-384 and SHA-384 (RFC 7518 §3.4).
    ES384,
}

impl Alg {
    /// Every supported algorithm, in a fixed order.
    pub const ALL: [Alg; 8] = [
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
    ];

    /// The registered name (RFC 7518 §3.1), e.g. `"PS384"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
        }
    }

    /// Parses a registered name exactly (case-sensitive, as RFC 7518 §3.1 names are).
    /// Returns `None` for anything API Shield does not support, including `ES512`, `EdDSA`, `HS256`.
    pub fn parse(s: &str) -> Option<Alg> {
        Some(match s {
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            _ => return None,
        })
    }

    /// `true` for the RSA family (RS*, PS*), which needs `kty:"RSA"`.
    pub fn is_rsa(self) -> bool {
        !matches!(self, Alg::ES256 | Alg::ES384)
    }

    /// The curve an ECDSA algorithm requires (RFC 7518 §3.4); `None` for RSA algorithms.
    pub fn curve(self) -> Option<Crv> {
        match self {
            Alg::ES256 => Some(Crv::P256),
            Alg::ES384 => Some(Crv::P384),
            _ => None,
        }
    }
}

impl std::str::FromStr for Alg {
    type Err = UnknownAlg;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Alg::parse(s).ok_or(UnknownAlg)
    }
}

/// Error of `"…".parse::<Alg>()`: the name is not one API Shield supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownAlg;

impl std::fmt::Display for UnknownAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unsupported \"alg\" (algorithm); expected one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384")
    }
}

impl std::error::Error for UnknownAlg {}

impl std::fmt::Display for Alg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Alg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An elliptic curve (RFC 7518 §6.2.1.1) that API Shield supports. P-521 is not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Crv {
    /// NIST P-256; coordinates are 32 octets (RFC 7518 §6.2.1.2/§6.2.1.3).
    P256,
    /// NIST P-384; coordinates are 48 octets (RFC 7518 §6.2.1.2/§6.2.1.3).
    P384,
}

impl Crv {
    /// The registered name, `"P-256"` or `"P-384"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Crv::P256 => "P-256",
            Crv::P384 => "P-384",
        }
    }

    /// Parses a registered curve name exactly; `None` for P-521, Ed25519, secp256k1 and the rest.
    pub fn parse(s: &str) -> Option<Crv> {
        match s {
            "P-256" => Some(Crv::P256),
            "P-384" => Some(Crv::P384),
            _ => None,
        }
    }

    /// Length in octets of each of `x` and `y` (RFC 7518 §6.2.1.2: "the full size of a
    /// coordinate for the curve").
    pub fn coordinate_len(self) -> usize {
        match self {
            Crv::P256 => 32,
            Crv::P384 => 48,
        }
    }

    /// The ECDSA algorithm used with this curve (RFC 7518 §3.4), used to infer a missing `alg`.
    pub fn alg(self) -> Alg {
        match self {
            Crv::P256 => Alg::ES256,
            Crv::P384 => Alg::ES384,
        }
    }
}

impl std::fmt::Display for Crv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_name() {
        for a in Alg::ALL {
            assert_eq!(Alg::parse(a.as_str()), Some(a));
            assert_eq!(a.as_str().parse::<Alg>(), Ok(a));
            assert_eq!(a.to_string(), a.as_str());
        }
        assert_eq!(serde_json::to_string(&Alg::PS384).unwrap(), "\"PS384\"");
    }

    #[test]
    fn rejects_unsupported_and_wrong_case() {
        for s in [
            "ES512", "EdDSA", "HS256", "rs256", "RSA-OAEP", "EC", "RSA", "",
        ] {
            assert_eq!(Alg::parse(s), None, "{s}");
        }
        assert_eq!("none".parse::<Alg>(), Err(UnknownAlg));
    }

    #[test]
    fn curves() {
        assert_eq!(Crv::parse("P-256"), Some(Crv::P256));
        assert_eq!(Crv::parse("P-521"), None);
        assert_eq!(Crv::P384.coordinate_len(), 48);
        assert_eq!(Crv::P256.alg(), Alg::ES256);
        assert_eq!(Alg::ES384.curve(), Some(Crv::P384));
        assert_eq!(Alg::RS256.curve(), None);
        assert!(Alg::PS512.is_rsa());
        assert!(!Alg::ES256.is_rsa());
    }
}
