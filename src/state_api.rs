//! The requests the Worker sends to a target's Durable Object (`TargetState`), and the object's
//! name: one vocabulary for both sides, so they cannot drift apart.
//!
//! The object of a target is named `<zone_id>/<config_id>`: what it guards is the configuration,
//! so renaming the target in `SYNC_TARGETS` keeps its history, lock and grace-period record.
//!
//! # Routes (host `target-state`, never reachable from outside the Worker)
//! ```text
//! POST /run?trigger=cron|http[&allow_full_replacement=1]
//!                                   a sync through the object's one-run-at-a-time gate
//! POST /preview[?allow_full_replacement=1]
//!                                   a preview: no gate, nothing recorded
//! POST /rollback?run=N[&dry_run=1][&allow_full_replacement=1]
//!                                   restore run N's written key set (through the gate unless dry)
//! GET  /status                      the target's status and history
//! GET  /freshness                   {"age_s": …, "stale": …}
//! ```
//! `allow_full_replacement=1` lets this one run replace every live key (see
//! [`crate::plan::check_overlap`]); the object reads every other setting from its own env.
//! During a gradual deployment the Worker of one version can call an object of the next
//! (operations.md §3.3): keep these routes backward compatible for one release.

use crate::history::Trigger;

/// One request to a target's object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// A sync, recorded, one at a time.
    Run {
        /// `Cron` or `Http`.
        trigger: Trigger,
        /// `POST /?allow_full_replacement=true`: this run may replace every live key.
        allow_full_replacement: bool,
    },
    /// A preview (also every run while `DRY_RUN` is set).
    Preview {
        /// Preview the run as if a full replacement were allowed.
        allow_full_replacement: bool,
    },
    /// Restore the key set written by run `run`; `write` false previews it.
    Rollback {
        /// The run whose written key set to restore.
        run: i64,
        /// False for a preview of the restore.
        write: bool,
        /// `"allow_full_replacement": true` in the body: the restored set may replace every live
        /// key.
        allow_full_replacement: bool,
    },
    /// The target's status and history.
    Status,
    /// The target's freshness.
    Freshness,
}

/// The origin of every request to an object: any host works for a Durable Object's stub
/// (durable-objects.md §2.2); this one names what is called.
const BASE: &str = "https://target-state";

impl Call {
    /// Whether this call allows a full replacement once.
    pub fn allows_full_replacement(&self) -> bool {
        match self {
            Call::Run {
                allow_full_replacement,
                ..
            }
            | Call::Preview {
                allow_full_replacement,
            }
            | Call::Rollback {
                allow_full_replacement,
                ..
            } => *allow_full_replacement,
            Call::Status | Call::Freshness => false,
        }
    }

    /// The method and URL of the request.
    pub fn request(&self) -> (&'static str, String) {
        let (method, mut url) = match self {
            Call::Run { trigger, .. } => {
                ("POST", format!("{BASE}/run?trigger={}", trigger.as_str()))
            }
            Call::Preview { .. } => ("POST", format!("{BASE}/preview")),
            Call::Rollback {
                run, write: true, ..
            } => ("POST", format!("{BASE}/rollback?run={run}")),
            Call::Rollback {
                run, write: false, ..
            } => ("POST", format!("{BASE}/rollback?run={run}&dry_run=1")),
            Call::Status => ("GET", format!("{BASE}/status")),
            Call::Freshness => ("GET", format!("{BASE}/freshness")),
        };
        if self.allows_full_replacement() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("allow_full_replacement=1");
        }
        (method, url)
    }

    /// Reads a request the object received, from its method and URL as the runtime gives them;
    /// `None` for anything else. The URL is one [`Call::request`] made, so it is read as that:
    /// [`BASE`], a path, and an optional query (no general URL parsing on every call).
    pub fn from_request(method: &str, url: &str) -> Option<Call> {
        let rest = url.strip_prefix(BASE)?;
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        Call::parse(method, path, query)
    }

    /// Reads a request the object received from its path and query; `None` for anything else.
    pub fn parse(method: &str, path: &str, query: Option<&str>) -> Option<Call> {
        let params: Vec<(&str, &str)> = query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let allow_full_replacement = param("allow_full_replacement") == Some("1");
        match (method, path) {
            ("POST", "/run") => {
                let trigger = match param("trigger") {
                    Some("cron") => Trigger::Cron,
                    Some("http") => Trigger::Http,
                    _ => return None,
                };
                Some(Call::Run {
                    trigger,
                    allow_full_replacement,
                })
            }
            ("POST", "/preview") => Some(Call::Preview {
                allow_full_replacement,
            }),
            ("POST", "/rollback") => Some(Call::Rollback {
                run: param("run")?.parse().ok()?,
                write: param("dry_run").is_none(),
                allow_full_replacement,
            }),
            ("GET", "/status") => Some(Call::Status),
            ("GET", "/freshness") => Some(Call::Freshness),
            _ => None,
        }
    }
}

/// The name of the object that guards configuration `config_id` of zone `zone_id`.
pub fn object_name(zone_id: &str, config_id: &str) -> String {
    format!("{zone_id}/{config_id}")
}

/// The zone and configuration IDs of an object name made by [`object_name`].
pub fn parse_object_name(name: &str) -> Option<(&str, &str)> {
    name.split_once('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_reads_back_as_itself() {
        let calls = [
            Call::Run {
                trigger: Trigger::Cron,
                allow_full_replacement: false,
            },
            Call::Run {
                trigger: Trigger::Http,
                allow_full_replacement: false,
            },
            Call::Run {
                trigger: Trigger::Http,
                allow_full_replacement: true,
            },
            Call::Preview {
                allow_full_replacement: false,
            },
            Call::Preview {
                allow_full_replacement: true,
            },
            Call::Rollback {
                run: 41,
                write: true,
                allow_full_replacement: false,
            },
            Call::Rollback {
                run: 7,
                write: false,
                allow_full_replacement: false,
            },
            Call::Rollback {
                run: 41,
                write: true,
                allow_full_replacement: true,
            },
            Call::Status,
            Call::Freshness,
        ];
        for call in calls {
            let (method, url) = call.request();
            assert_eq!(Call::from_request(method, &url), Some(call), "{url}");
            let parsed = url::Url::parse(&url).unwrap();
            assert_eq!(parsed.host_str(), Some("target-state"));
            assert_eq!(
                Call::parse(method, parsed.path(), parsed.query()),
                Some(call),
                "{url}"
            );
        }
        assert_eq!(
            Call::from_request("GET", "https://elsewhere.example/status"),
            None
        );
        assert_eq!(Call::from_request("GET", "https://target-state"), None);
    }

    #[test]
    fn the_allowance_is_a_query_parameter() {
        let call = Call::Rollback {
            run: 7,
            write: false,
            allow_full_replacement: true,
        };
        assert_eq!(
            call.request().1,
            "https://target-state/rollback?run=7&dry_run=1&allow_full_replacement=1"
        );
        let call = Call::Preview {
            allow_full_replacement: true,
        };
        assert_eq!(
            call.request().1,
            "https://target-state/preview?allow_full_replacement=1"
        );
        // Only `1` allows: an older Worker never sends the parameter.
        assert_eq!(
            Call::parse(
                "POST",
                "/run",
                Some("trigger=cron&allow_full_replacement=true")
            ),
            Some(Call::Run {
                trigger: Trigger::Cron,
                allow_full_replacement: false
            })
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for (m, p, q) in [
            ("GET", "/run", Some("trigger=cron")),
            ("POST", "/run", None),
            ("POST", "/run", Some("trigger=rollback")),
            ("POST", "/rollback", None),
            ("POST", "/rollback", Some("run=x")),
            ("POST", "/status", None),
            ("GET", "/", None),
        ] {
            assert_eq!(Call::parse(m, p, q), None, "{m} {p} {q:?}");
        }
    }

    #[test]
    fn names() {
        let name = object_name(
            "023e105f4ecef8ad9ca31a8372d0c353",
            "4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7",
        );
        assert_eq!(
            name,
            "023e105f4ecef8ad9ca31a8372d0c353/4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7"
        );
        assert_eq!(
            parse_object_name(&name),
            Some((
                "023e105f4ecef8ad9ca31a8372d0c353",
                "4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7"
            ))
        );
        assert_eq!(parse_object_name("no-slash"), None);
    }
}
