//! Embeds the Worker's cron schedule: `[triggers] crons` of `wrangler.toml`, and the longest gap
//! between two of its firings (`src/cron.rs`), as `$OUT_DIR/schedule.rs`.
//!
//! The Worker cannot read its own triggers at run time; `STALE_AFTER` defaults to three times
//! this gap (`src/ops.rs`). `wrangler deploy` runs the build (`[build] command`), so the embedded
//! schedule is the one deployed with it.

use std::path::Path;
use std::{env, fs};

#[allow(dead_code)]
#[path = "src/timestamp.rs"]
mod timestamp;

#[allow(dead_code)]
#[path = "src/cron.rs"]
mod cron;

fn main() {
    println!("cargo:rerun-if-changed=wrangler.toml");
    println!("cargo:rerun-if-changed=src/cron.rs");
    let crons = fs::read_to_string("wrangler.toml")
        .map(|text| crons_of(&text))
        .unwrap_or_default();
    let gap_s = cron::longest_gap_s(&crons);
    let source = format!(
        "/// `[triggers] crons` of `wrangler.toml` when the Worker was built.\n\
         pub const CRONS: &[&str] = &{crons:?};\n\
         /// The longest gap between two firings of [`CRONS`], in seconds; `None` when there is no\n\
         /// cron or an expression cannot be read (see `crate::cron`).\n\
         pub const LONGEST_GAP_S: Option<u64> = {gap_s:?};\n"
    );
    let out = env::var_os("OUT_DIR").map(|d| Path::new(&d).join("schedule.rs"));
    if let Some(out) = out {
        if let Err(e) = fs::write(&out, source) {
            panic!("cannot write {}: {e}", out.display());
        }
    }
}

/// The strings of `[triggers] crons`; empty when the file is not TOML or has none.
fn crons_of(text: &str) -> Vec<String> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    table
        .get("triggers")
        .and_then(|t| t.get("crons"))
        .and_then(|c| c.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
