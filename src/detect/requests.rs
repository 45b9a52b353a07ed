//! The detectors' side of the stored baselines: what the runner starts from, and the requests
//! of `forewarn baseline` it follows while running.
//!
//! [`Baselines::open`] reads the stored baselines for [`DetectorRunner::new`] and, after it,
//! applies the relearn requests made while the agent was not running (a relearn asked for
//! after the stored baseline was made). [`Baselines::poll`], called by the model thread
//! between batches, reads the request counter at most every [`POLL`]; when it moved, the new
//! requests go to [`DetectorRunner::apply`]. Reading fails only with LMDB itself failing:
//! then the detectors run on (learning again if nothing could be read), with a warning.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::outbox::baselines::Action;
use crate::outbox::Outbox;
use crate::record::{BaselineRecord, Record};

use super::DetectorRunner;

/// How often the running agent looks for new requests.
pub const POLL: Duration = Duration::from_secs(2);

pub struct Baselines {
    outbox: Arc<Outbox>,
    /// The request counter already followed.
    seen: u64,
    polled: Instant,
}

impl Baselines {
    /// The stored baselines, and the source of later requests.
    pub fn open(outbox: Arc<Outbox>) -> (Vec<BaselineRecord>, Baselines) {
        let stored = outbox.stored_baselines().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "Stored baselines could not be read; detectors learn again.");
            Vec::new()
        });
        let b = Baselines {
            outbox,
            seen: 0,
            polled: Instant::now(),
        };
        (stored, b)
    }

    /// Follow the requests the stored baselines do not show yet: a relearn asked for after
    /// the stored baseline was made (while the agent was not running), and a reset after which
    /// a baseline was still stored (one the agent learned just before it saw the reset, whose
    /// record the writer stored after `forewarn baseline reset` deleted the old one). An
    /// import shows in the stored baselines.
    pub fn start(&mut self, runner: &mut DetectorRunner, out: &mut Vec<Record>) {
        match self.outbox.baseline_requests(0) {
            Ok((n, requests)) => {
                self.seen = n;
                for (r, stored) in requests {
                    let older = |b: &BaselineRecord| b.created_ns < r.at_ns;
                    let follow = match r.action {
                        Action::Relearn => stored.as_ref().is_none_or(older),
                        Action::Reset => stored.as_ref().is_some_and(older),
                        Action::Import => false,
                    };
                    if follow {
                        runner.apply(&r.detector, &r.asset, r.action, None, out);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "Baseline requests could not be read."),
        }
    }

    /// Follow the requests made since the last look (at most every [`POLL`]).
    pub fn poll(&mut self, runner: &mut DetectorRunner, out: &mut Vec<Record>) {
        if self.polled.elapsed() < POLL {
            return;
        }
        self.polled = Instant::now();
        match self.outbox.baseline_requests(self.seen) {
            Ok((n, requests)) => {
                self.seen = n;
                for (r, stored) in requests {
                    tracing::info!(detector = %r.detector, asset = %r.asset, action = ?r.action,
                        "Baseline request.");
                    runner.apply(&r.detector, &r.asset, r.action, stored.as_ref(), out);
                }
            }
            Err(e) => tracing::warn!(error = %e, "Baseline requests could not be read."),
        }
    }
}
