//! The single-flight gate of a target's Durable Object, as plain data: which caller runs next, and
//! which callers share its run. The object (`shell/target_state.rs`) keeps only the channels and
//! the awaiting; every choice is made here.
//!
//! # Rules (durable-objects.md §5.3)
//! 1. One run at a time per target.
//! 2. A caller that arrives while a run is in progress waits for a run that starts after the
//!    current one ends, so no answer rests on IdP data fetched before its request.
//! 3. Syncs waiting together share one run when they carry the same `allow_full_replacement`: a
//!    batch is the first waiter and the syncs queued right behind it with the same allowance (a
//!    caller that did not allow a full replacement never shares a run that does).
//! 4. A rollback never shares a run, with a sync or with another rollback.
//! 5. Each caller is answered as soon as its own run has ended. The caller that ran a batch hands
//!    the next batch to that batch's first waiter, which runs it, and returns its own answer at
//!    once; it never runs a batch queued after its own. (A leader that ran every batch until the
//!    queue was empty kept its caller waiting for runs that arrived later: with runs as long as
//!    the cron's period, the queue never emptied and the caller timed out.)

use std::collections::VecDeque;

use crate::history::Trigger;

/// What a caller waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// A recorded sync.
    Sync {
        /// What started it.
        trigger: Trigger,
        /// The request's `allow_full_replacement`.
        allow_full_replacement: bool,
    },
    /// A restore of the key set run `run` wrote.
    Restore {
        /// The run whose key set is restored.
        run: i64,
        /// The request's `allow_full_replacement`.
        allow_full_replacement: bool,
    },
}

impl Job {
    /// Whether this job lets its run replace every live key once.
    pub fn allows_full_replacement(self) -> bool {
        match self {
            Job::Sync {
                allow_full_replacement,
                ..
            }
            | Job::Restore {
                allow_full_replacement,
                ..
            } => allow_full_replacement,
        }
    }

    /// Whether a caller waiting for `other` may be answered by this job's run: both syncs with
    /// the same allowance (rules 3 and 4).
    fn shares_with(self, other: Job) -> bool {
        matches!(
            (self, other),
            (Job::Sync { allow_full_replacement: a, .. }, Job::Sync { allow_full_replacement: b, .. }) if a == b
        )
    }
}

/// One run's worth of callers: the job to run, and the waiters its answer goes to, in arrival
/// order. `W` is how a waiter is reached (in the object, a channel).
#[derive(Debug)]
pub struct Batch<W> {
    /// The job of the batch's first caller; the others' jobs share its run.
    pub job: Job,
    /// The callers to answer with the run's result (the one running it is not among them).
    pub waiters: VecDeque<W>,
}

/// The gate: whether a run is in progress, and who waits.
#[derive(Debug)]
pub struct Gate<W> {
    running: bool,
    queue: VecDeque<(Job, W)>,
}

impl<W> Default for Gate<W> {
    fn default() -> Self {
        Gate {
            running: false,
            queue: VecDeque::new(),
        }
    }
}

impl<W> Gate<W> {
    /// A caller arrives for `job`. With no run in progress it runs at once: the answer is its
    /// batch, with no one else to answer (`waiter` is not needed and is dropped). Otherwise the
    /// caller is queued, reachable through `waiter`, and `None` is answered: it waits until it is
    /// answered or handed a batch to run (see [`Gate::hand_over`]).
    pub fn join(&mut self, job: Job, waiter: W) -> Option<Batch<W>> {
        if self.running {
            self.queue.push_back((job, waiter));
            None
        } else {
            self.running = true;
            Some(Batch {
                job,
                waiters: VecDeque::new(),
            })
        }
    }

    /// Ends the run in progress. The next batch (the first waiter, and the syncs queued right
    /// behind it that share its run) goes to its first waiter through `lead`, which runs it.
    /// `lead` gives the batch back when that waiter is gone (its caller gave up); the batch's next
    /// waiter then leads it, and once none is left, the batch after. When nobody waits, the gate
    /// is idle and the next caller runs at once.
    ///
    /// Call it once the run's own callers are answered; it never waits, so whoever ran the run
    /// answers its caller right after.
    pub fn hand_over(&mut self, mut lead: impl FnMut(W, Batch<W>) -> Option<Batch<W>>) {
        while let Some(mut batch) = self.next_batch() {
            while let Some(first) = batch.waiters.pop_front() {
                match lead(first, batch) {
                    None => return,
                    Some(back) => batch = back,
                }
            }
        }
        self.running = false;
    }

    /// The next batch, taken off the queue; every waiter of it, the one to run it first.
    fn next_batch(&mut self) -> Option<Batch<W>> {
        let (job, first) = self.queue.pop_front()?;
        let mut waiters = VecDeque::from([first]);
        while matches!(self.queue.front(), Some((j, _)) if job.shares_with(*j)) {
            waiters.extend(self.queue.pop_front().map(|(_, w)| w));
        }
        Some(Batch { job, waiters })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRON: Job = Job::Sync {
        trigger: Trigger::Cron,
        allow_full_replacement: false,
    };
    const HTTP: Job = Job::Sync {
        trigger: Trigger::Http,
        allow_full_replacement: false,
    };
    const ALLOWING: Job = Job::Sync {
        trigger: Trigger::Http,
        allow_full_replacement: true,
    };
    const RESTORE: Job = Job::Restore {
        run: 9,
        allow_full_replacement: false,
    };

    /// Ends the run in progress; returns whom the next batch went to, with its job and the
    /// waiters it answers. `gone` are waiters whose callers gave up.
    fn hand_over(
        gate: &mut Gate<&'static str>,
        gone: &[&str],
    ) -> Option<(&'static str, Job, Vec<&'static str>)> {
        let mut to = None;
        gate.hand_over(|w, batch| {
            if gone.contains(&w) {
                return Some(batch);
            }
            to = Some((w, batch.job, batch.waiters.into_iter().collect()));
            None
        });
        to
    }

    #[test]
    fn the_first_caller_runs_at_once_and_the_next_waits() {
        let mut gate = Gate::default();
        let batch = gate.join(HTTP, "a").unwrap();
        assert_eq!((batch.job, batch.waiters.len()), (HTTP, 0));
        assert!(gate.join(CRON, "b").is_none());
        assert!(gate.join(HTTP, "c").is_none());
    }

    /// Rules 2, 3 and 5: callers that arrived during run 1 share run 2, which the first of them
    /// runs; the one that ran run 1 runs nothing more.
    #[test]
    fn waiting_syncs_share_the_next_run_which_the_first_of_them_runs() {
        let mut gate = Gate::default();
        gate.join(HTTP, "a").unwrap();
        for w in ["b", "c", "d"] {
            assert!(gate.join(HTTP, w).is_none());
        }
        assert_eq!(hand_over(&mut gate, &[]), Some(("b", HTTP, vec!["c", "d"])));
        // A caller arriving during run 2 is not answered by it: it gets run 3, after run 2.
        assert!(gate.join(CRON, "e").is_none());
        assert_eq!(hand_over(&mut gate, &[]), Some(("e", CRON, vec![])));
        assert_eq!(hand_over(&mut gate, &[]), None);
        // Idle again: the next caller runs at once.
        assert!(gate.join(HTTP, "f").is_some());
    }

    #[test]
    fn a_cron_and_a_post_waiting_together_share_a_run_led_by_the_first() {
        let mut gate = Gate::default();
        gate.join(HTTP, "a").unwrap();
        gate.join(CRON, "b");
        gate.join(HTTP, "c");
        assert_eq!(hand_over(&mut gate, &[]), Some(("b", CRON, vec!["c"])));
    }

    /// Rule 3: only syncs queued right behind the first, with its allowance, share its run.
    #[test]
    fn a_different_allowance_never_shares_a_run() {
        let mut gate = Gate::default();
        gate.join(HTTP, "a").unwrap();
        gate.join(HTTP, "b");
        gate.join(ALLOWING, "c");
        gate.join(ALLOWING, "d");
        gate.join(HTTP, "e");
        assert_eq!(hand_over(&mut gate, &[]), Some(("b", HTTP, vec![])));
        assert_eq!(hand_over(&mut gate, &[]), Some(("c", ALLOWING, vec!["d"])));
        assert_eq!(hand_over(&mut gate, &[]), Some(("e", HTTP, vec![])));
        assert_eq!(hand_over(&mut gate, &[]), None);
    }

    /// Rule 4: a restore runs alone, and syncs do not jump over it.
    #[test]
    fn a_restore_never_shares_a_run() {
        let mut gate = Gate::default();
        gate.join(HTTP, "a").unwrap();
        gate.join(RESTORE, "b");
        gate.join(RESTORE, "c");
        gate.join(HTTP, "d");
        gate.join(HTTP, "e");
        assert_eq!(hand_over(&mut gate, &[]), Some(("b", RESTORE, vec![])));
        assert_eq!(hand_over(&mut gate, &[]), Some(("c", RESTORE, vec![])));
        assert_eq!(hand_over(&mut gate, &[]), Some(("d", HTTP, vec!["e"])));
        // A sync queued first is not joined by a restore behind it.
        gate.join(HTTP, "f");
        gate.join(RESTORE, "g");
        assert_eq!(hand_over(&mut gate, &[]), Some(("f", HTTP, vec![])));
        assert_eq!(hand_over(&mut gate, &[]), Some(("g", RESTORE, vec![])));
    }

    /// A waiter whose caller gave up cannot run the batch: the next waiter of the batch runs it,
    /// and when the whole batch is gone, the batch after; when everyone is gone, the gate is idle.
    #[test]
    fn a_gone_waiter_passes_the_lead_on() {
        let mut gate = Gate::default();
        gate.join(HTTP, "a").unwrap();
        gate.join(HTTP, "b");
        gate.join(HTTP, "c");
        gate.join(HTTP, "d");
        assert_eq!(hand_over(&mut gate, &["b"]), Some(("c", HTTP, vec!["d"])));

        gate.join(HTTP, "e");
        gate.join(RESTORE, "f");
        gate.join(HTTP, "g");
        assert_eq!(hand_over(&mut gate, &["e"]), Some(("f", RESTORE, vec![])));
        assert_eq!(hand_over(&mut gate, &["g"]), None);
        assert!(
            gate.join(CRON, "h").is_some(),
            "idle after the last batch was gone"
        );
    }

    #[test]
    fn the_allowance_of_a_job() {
        assert!(!HTTP.allows_full_replacement());
        assert!(ALLOWING.allows_full_replacement());
        assert!(!RESTORE.allows_full_replacement());
        let allowed = Job::Restore {
            run: 1,
            allow_full_replacement: true,
        };
        assert!(allowed.allows_full_replacement());
    }
}
