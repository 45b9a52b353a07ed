//! The time policy: which event times a source lets into the pipeline.
//!
//! One wrong timestamp must not stop a gateway: a sample stamped in the year 2262 would move
//! every event-time state (buckets, threshold rules, downsamplers, windows) far into the
//! future, after which every correct sample looks late. So each source checks the event time
//! of every sample it decoded, before it sends the batch on:
//!
//! - **Live sources** (MQTT, serial) compare with the gateway clock: a sample more than
//!   `max_future_secs` (default 300) ahead of it is rejected as `ts_future`; one more than
//!   `max_past_secs` (default 366 days; 0: no limit) behind it as `ts_past`. One comparison per
//!   sample, no state.
//! - **Replay sources** (recordings, backfill) are not related to the gateway clock: each asset's
//!   samples are checked against that asset's own stream time instead (the newest accepted event
//!   time). A sample more than `max_jump_secs` (default 86 400) away from it, forward or back, is
//!   rejected as `ts_jump`, unless it brings the [`JUMP_CONFIRM`]-th distinct event time in a
//!   row of such samples that lie within `max_jump_secs` of each other: then the stream really
//!   moved (a recording that starts again a month later), the asset's stream time is set to it
//!   and it is accepted. (Samples of one row or message share their time, so one bad row cannot
//!   confirm itself.) A single outlier therefore costs its own samples; a real jump costs the
//!   samples of the `JUMP_CONFIRM - 1` event times before it is believed.
//! - **A gateway clock that is obviously wrong** (before [`CLOCK_FLOOR_NS`], this release's
//!   date: a gateway that booted with a 1970 clock and has no NTP yet) cannot judge event times:
//!   live sources then check their samples per asset like replay sources, and the status says
//!   `clock_ok: false` ([`clock_ok`]) until the clock is set.
//!
//! Timestamps that cannot be read at all (negative, past what fits in i64 nanoseconds) were
//! already rejected by [`super::time`] as `bad_timestamp`. Every comparison here is saturating.
//! What passes is still not trusted blindly: every later stage keeps bounded work per sample
//! and recovers from jumps on its own (ARCHITECTURE.md, "Time policy").

use std::sync::Arc;

use super::{Decoded, Reject};
use crate::util::FastMap;

pub use crate::config::TimePolicy;
pub use crate::record::{clock_ok, CLOCK_FLOOR_NS};

/// Consecutive mutually consistent samples that confirm a jump of a replayed stream.
pub const JUMP_CONFIRM: u8 = 3;

/// One asset's stream time, for replay sources and for live sources under a wrong clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StreamClock {
    /// Newest accepted event time.
    newest: Option<i64>,
    /// The last rejected jump and how many in a row agree with it.
    suspect: Option<(i64, u8)>,
}

impl StreamClock {
    fn check(&mut self, ts: i64, max_jump: i64) -> Result<(), Reject> {
        let within = |a: i64, b: i64| a.abs_diff(b) <= max_jump.unsigned_abs();
        match self.newest {
            Some(n) if !within(ts, n) => {
                // Samples of one row or message share their time: only a new time counts.
                let agree = match self.suspect {
                    Some((last, k)) if ts == last => k,
                    Some((last, k)) if within(ts, last) => k.saturating_add(1),
                    _ => 1,
                };
                if agree >= JUMP_CONFIRM {
                    *self = StreamClock {
                        newest: Some(ts),
                        suspect: None,
                    };
                    Ok(())
                } else {
                    self.suspect = Some((ts, agree));
                    Err(Reject::TsJump)
                }
            }
            n => {
                self.newest = Some(n.map_or(ts, |n| n.max(ts)));
                self.suspect = None;
                Ok(())
            }
        }
    }
}

/// A source's time checks: owned by the source's task, applied to every decoded message.
#[derive(Debug)]
pub struct TimeGuard {
    policy: TimePolicy,
    /// Per asset (names from the provisioning file: bounded).
    streams: FastMap<Arc<str>, StreamClock>,
}

impl TimeGuard {
    pub fn new(policy: TimePolicy) -> TimeGuard {
        TimeGuard {
            policy,
            streams: FastMap::default(),
        }
    }

    /// Check one sample's event time against `now_ns` (the gateway clock).
    pub fn check(&mut self, asset: &Arc<str>, ts: i64, now_ns: i64) -> Result<(), Reject> {
        let p = &self.policy;
        if p.live && clock_ok(now_ns) {
            if ts.saturating_sub(now_ns) > p.max_future_ns {
                return Err(Reject::TsFuture);
            }
            if p.max_past_ns
                .is_some_and(|max| now_ns.saturating_sub(ts) > max)
            {
                return Err(Reject::TsPast);
            }
            return Ok(());
        }
        let max_jump = p.max_jump_ns;
        match self.streams.get_mut(asset) {
            Some(s) => s.check(ts, max_jump),
            None => {
                let mut s = StreamClock::default();
                let r = s.check(ts, max_jump);
                self.streams.insert(asset.clone(), s);
                r
            }
        }
    }

    /// Move the samples of `d` whose event time the policy refuses into its rejects.
    pub fn admit(&mut self, d: &mut Decoded, now_ns: i64) {
        let mut rejects = std::mem::take(&mut d.rejects);
        d.samples
            .retain(|s| match self.check(&s.asset, s.ts_ns, now_ns) {
                Ok(()) => true,
                Err(r) => {
                    rejects.push(r);
                    false
                }
            });
        d.rejects = rejects;
    }
}

#[cfg(test)]
mod tests {
    const SEC: i64 = 1_000_000_000;
    use super::*;
    use crate::record::Sample;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000 * SEC; // 2027-01-15, after the floor
    const JAN_1970: i64 = 3_600 * SEC;

    fn a() -> Arc<str> {
        Arc::from("pump-1")
    }

    #[test]
    fn live_sources_refuse_samples_far_from_the_gateway_clock() {
        let mut g = TimeGuard::new(TimePolicy::defaults(true));
        assert_eq!(g.check(&a(), NOW, NOW), Ok(()));
        assert_eq!(g.check(&a(), NOW + 300 * SEC, NOW), Ok(()));
        assert_eq!(g.check(&a(), NOW + 301 * SEC, NOW), Err(Reject::TsFuture));
        // Year 2100, and the i64 limit (year 2262). (One digit too many on today's epoch
        // seconds is year 2530, past i64 nanoseconds: `bad_timestamp` before it gets here.)
        assert_eq!(
            g.check(&a(), 4_102_444_800 * SEC, NOW),
            Err(Reject::TsFuture)
        );
        assert_eq!(g.check(&a(), i64::MAX, NOW), Err(Reject::TsFuture));
        assert_eq!(g.check(&a(), NOW - 365 * 86_400 * SEC, NOW), Ok(()));
        assert_eq!(g.check(&a(), JAN_1970, NOW), Err(Reject::TsPast));
        assert_eq!(g.check(&a(), 0, NOW), Err(Reject::TsPast));
        // Still accepted after the outliers: the check has no state.
        assert_eq!(g.check(&a(), NOW + SEC, NOW), Ok(()));
    }

    #[test]
    fn max_past_zero_means_no_limit() {
        let mut g = TimeGuard::new(TimePolicy::from_secs(true, 10, 0, 60));
        assert_eq!(g.check(&a(), 0, NOW), Ok(()));
        assert_eq!(g.check(&a(), NOW + 11 * SEC, NOW), Err(Reject::TsFuture));
    }

    #[test]
    fn a_single_outlier_in_a_replay_costs_one_sample() {
        let mut g = TimeGuard::new(TimePolicy::defaults(false));
        let t0 = 1_767_600_000 * SEC;
        assert_eq!(g.check(&a(), t0, 0), Ok(()));
        assert_eq!(g.check(&a(), 9_223_372_036 * SEC, 0), Err(Reject::TsJump));
        assert_eq!(g.check(&a(), t0 + SEC, 0), Ok(()));
        assert_eq!(g.check(&a(), t0 + 2 * SEC, 0), Ok(()));
        // Out of order within the bound is the later stages' business, not a jump.
        assert_eq!(g.check(&a(), t0 - 3_600 * SEC, 0), Ok(()));
    }

    #[test]
    fn the_samples_of_one_bad_row_cannot_confirm_its_jump() {
        let mut g = TimeGuard::new(TimePolicy::defaults(false));
        let t0 = 1_767_600_100 * SEC;
        g.check(&a(), t0, 0).unwrap();
        for _ in 0..14 {
            assert_eq!(g.check(&a(), 9_223_372_036 * SEC, 0), Err(Reject::TsJump));
        }
        assert_eq!(g.check(&a(), t0 + 2 * SEC, 0), Ok(()));
    }

    #[test]
    fn a_real_jump_is_believed_after_three_agreeing_samples_forward_or_back() {
        let mut g = TimeGuard::new(TimePolicy::defaults(false));
        let t0 = 1_767_600_000 * SEC;
        let later = t0 + 40 * 86_400 * SEC;
        g.check(&a(), t0, 0).unwrap();
        assert_eq!(g.check(&a(), later, 0), Err(Reject::TsJump));
        assert_eq!(g.check(&a(), later + SEC, 0), Err(Reject::TsJump));
        assert_eq!(g.check(&a(), later + 2 * SEC, 0), Ok(()));
        assert_eq!(g.check(&a(), later + 3 * SEC, 0), Ok(()));
        // And back again.
        assert_eq!(g.check(&a(), t0, 0), Err(Reject::TsJump));
        assert_eq!(g.check(&a(), t0 + SEC, 0), Err(Reject::TsJump));
        assert_eq!(g.check(&a(), t0 + 2 * SEC, 0), Ok(()));
        // Assets have their own streams.
        let b: Arc<str> = Arc::from("pump-2");
        assert_eq!(g.check(&b, later, 0), Ok(()));
    }

    #[test]
    fn a_wrong_gateway_clock_falls_back_to_the_stream_check() {
        assert!(!clock_ok(JAN_1970));
        assert!(clock_ok(NOW));
        let mut g = TimeGuard::new(TimePolicy::defaults(true));
        // The gateway thinks it is 1970; the sensor's correct times are not "future".
        assert_eq!(g.check(&a(), NOW, JAN_1970), Ok(()));
        assert_eq!(g.check(&a(), NOW + SEC, JAN_1970), Ok(()));
        assert_eq!(
            g.check(&a(), 4_102_444_800 * SEC, JAN_1970),
            Err(Reject::TsJump)
        );
    }

    #[test]
    fn admit_moves_refused_samples_to_the_rejects() {
        let mut g = TimeGuard::new(TimePolicy::defaults(true));
        let s = |ts| Sample {
            asset: a(),
            signal: Arc::from("temp"),
            ts_ns: ts,
            value: 1.0,
        };
        let mut d = Decoded {
            samples: vec![s(NOW), s(i64::MAX), s(NOW + SEC)],
            rejects: vec![Reject::NotNumeric],
        };
        g.admit(&mut d, NOW);
        assert_eq!(d.samples.len(), 2);
        assert_eq!(d.rejects, vec![Reject::NotNumeric, Reject::TsFuture]);
    }

    proptest! {
        /// Whatever the timestamps, a replayed stream never stays refusing: at most
        /// JUMP_CONFIRM - 1 samples in a row of a consistent new time base are refused.
        #[test]
        fn a_stream_follows_any_jump_within_the_confirmation_count(
            start in any::<i64>(), jump in any::<i64>(), n in 1usize..20
        ) {
            let mut g = TimeGuard::new(TimePolicy::defaults(false));
            let _ = g.check(&a(), start, 0);
            // Distinct times: keep the new base where `i` seconds can be added to it.
            let base = start.saturating_add(jump).min(i64::MAX - 100 * SEC);
            let mut refused_in_a_row = 0;
            for i in 0..n as i64 {
                match g.check(&a(), base.saturating_add(i * SEC), 0) {
                    Ok(()) => refused_in_a_row = 0,
                    Err(r) => {
                        prop_assert_eq!(r, Reject::TsJump);
                        refused_in_a_row += 1;
                    }
                }
                prop_assert!(refused_in_a_row < JUMP_CONFIRM as usize);
            }
        }
    }
}
