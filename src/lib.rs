//! jwks-sync: a Cloudflare Worker that keeps API Shield token validation credentials equal to the
//! JSON Web Key Set (JWKS) an identity provider publishes.
//!
//! # Layout
//! Functional core, thin shell: every module but `shell` is plain Rust that `cargo test` runs natively.
//! - [`error`]: the stage vocabulary of errors and reports.
//! - [`jwks`]: bytes of a fetched document → the exact key set API Shield accepts, or a specific error.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod error;
pub mod jwks;
