//! Normalization of a fetched JWKS (owned by the JWKS work; see issue 3).
