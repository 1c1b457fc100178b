//! jwks-sync: a Cloudflare Worker that keeps API Shield token validation credentials equal to the
//! JSON Web Key Set (JWKS) an identity provider publishes.
//!
//! Data flow, per target: config → fetch → normalize → read live → diff → plan → write → verify →
//! report.
//!
//! # Layout
//! Functional core, thin shell: every module but [`shell`] is plain Rust that `cargo test` runs
//! natively; `shell` only wires the Workers runtime to it.
//! - [`config`]: vars and secrets → validated targets and options, every problem at once.
//! - [`jwks`]: bytes of a fetched document → the exact key set API Shield accepts, or an error.
//! - [`http`]: the I/O port ([`http::Client`]) and the retry policy every call shares.
//! - [`source`]: one source's fetch: headers, `https` redirects, OIDC discovery.
//! - [`cloudflare`]: token validation API routes, bodies, and answer mapping and verification.
//! - [`diff`]: live keys against desired keys.
//! - [`plan`]: the safety rules that can refuse a write (no overlap with live, no room).
//! - [`sync`]: the orchestrator; the only write comes after everything before it succeeded.
//! - [`report`]: the JSON result of a run and its log lines.
//! - [`auth`], [`routes`]: who may call, and which request is which.
//! - [`error`]: the stage vocabulary and the per-target error.
//! - [`catalogue`]: every error code with its stage and hint (the README's failure table).
//! - [`shell`]: the workers-rs `fetch`, `scheduled` and `start` handlers and the runtime client.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod auth;
pub mod catalogue;
pub mod cloudflare;
pub mod config;
pub mod diff;
pub mod error;
pub mod http;
pub mod jwks;
pub mod plan;
pub mod report;
pub mod routes;
pub mod shell;
pub mod source;
pub mod sync;
