//! jwks-sync: a Cloudflare Worker that keeps API Shield token validation credentials equal to the
//! JSON Web Key Set (JWKS) an identity provider publishes.
//!
//! Data flow, per target: config → fetch → normalize → read live → grace period → diff → plan →
//! write → verify (or re-read) → report → record. Each target's runs go through its Durable
//! Object, one at a time.
//!
//! # Layout
//! Functional core, thin shell: every module but [`shell`] is plain Rust that `cargo test` runs
//! natively; `shell` only wires the Workers runtime (and the Durable Object's storage) to it.
//! - [`config`]: vars and secrets → validated targets and options, every problem at once;
//!   [`ops`]: the settings for freshness, the grace period, the heartbeat and alerts.
//! - [`jwks`]: bytes of a fetched document → the exact key set API Shield accepts, or an error.
//! - [`http`]: the I/O port ([`http::Client`]) and the retry policy every call shares.
//! - [`source`]: one source's fetch: headers, `https` redirects, OIDC discovery.
//! - [`cloudflare`]: token validation API routes, bodies, and answer mapping and verification.
//! - [`diff`]: live keys against desired keys.
//! - [`grace`]: which retired live keys stay for `RETAIN_REMOVED_KEYS_FOR`, and what to record.
//! - [`plan`]: the safety rules that can refuse a write (no overlap with live, no room).
//! - [`sync`]: one target's run or restore; the only write (`PUT`, or `PATCH` to keep symmetric
//!   keys) comes after everything before it succeeded.
//! - [`report`]: a target's JSON result and its log line; [`answers`]: the Worker's answer over
//!   all targets.
//! - [`history`]: what a run records and the status derived from the records;
//!   [`rollback`]: which recorded key set a rollback may put back.
//! - [`gate`]: a target's runs one at a time: who runs next, and who shares that run.
//! - [`alert`]: alert transitions and the webhook body; [`notify`]: sending it and the heartbeat.
//! - [`freshness`]: the `GET /healthz` verdict.
//! - [`state_api`]: the requests the Worker sends to a target's Durable Object, and its name.
//! - [`duration`], [`timestamp`], [`cron`]: setting durations, RFC 3339 instants, the cron's
//!   longest gap (computed at build time by `build.rs`).
//! - [`auth`], [`routes`]: who may call, and which request is which.
//! - [`error`]: the stage vocabulary and the per-target error.
//! - [`catalogue`]: every error code the Worker reports, with its stage and hint (the README's
//!   failure table).
//! - [`shell`]: the workers-rs `fetch`, `scheduled` and `start` handlers, the runtime client, the
//!   `TargetState` Durable Object (the gate's channels, its SQLite storage), and `io.js` (one
//!   call into JavaScript per exchange).
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod alert;
pub mod answers;
pub mod auth;
pub mod catalogue;
pub mod cloudflare;
pub mod config;
pub mod cron;
pub mod diff;
pub mod duration;
pub mod error;
pub mod freshness;
pub mod gate;
pub mod grace;
pub mod history;
pub mod http;
pub mod jwks;
pub mod notify;
pub mod ops;
pub mod plan;
pub mod report;
pub mod rollback;
pub mod routes;
pub mod shell;
pub mod source;
pub mod state_api;
pub mod sync;
pub mod timestamp;
