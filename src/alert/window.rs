//! Alert rules on a score computed once per window (a model's output, a detector's anomaly
//! index): a score, hysteresis (raise past
//! `on`, clear past `off` on the other side) and debounce (raise when `k` of the last `n`
//! windows are past `on`).
//!
//! Lifecycle, per rule and asset:
//! - **raised**: when `k` of the last `n` scores are past `on` and the alert is not raised;
//! - **updated**: while raised, when the score is worse than the last reported score by at
//!   least a tenth of `|on − off|` (an escalation), so consumers see a worsening fault without
//!   a message per window;
//! - **cleared**: while raised, when the score is past `off` on the clearing side (one window
//!   suffices: hysteresis already keeps it from flapping). The debounce history restarts.
//!
//! A score that is not finite (a model producing NaN) is not counted either way.
//!
//! **Event time.** A rule's state holds no clock and does no arithmetic on time: the debounce
//! counts windows, not seconds, and the only time it keeps is `since_ns`, the end of the window
//! that raised the alert, which names it (the alert id). So a jump of the asset's event time
//! (a clock corrected either way, an outlier the windows dropped) neither raises, clears nor
//! delays anything: the windows after the jump count exactly as if the time had not jumped
//! (recovery within 0 windows), a raised alert clears on the first clearing window on the new
//! time base, and its cleared event keeps the raise's `since_ns` so consumers can match it. The
//! property tests below check that the lifecycle does not depend on the window times at all.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::record::Severity;

/// Which side of the threshold raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Above,
    Below,
}

/// One alert rule on a score computed once per window (a model's output, a detector's
/// anomaly index).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRule {
    pub name: String,
    pub severity: Severity,
    /// For a model with classes: the class whose probability is the score (`None`:
    /// 1 − P(normal)); `None` elsewhere.
    pub class: Option<usize>,
    pub direction: Direction,
    pub on: f64,
    pub off: f64,
    /// Raise when `k` of the last `n` windows are past `on`.
    pub k: usize,
    pub n: usize,
}

/// What one window did to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Raised,
    Updated,
    Cleared,
}

/// One rule's state for one asset.
#[derive(Debug)]
pub struct WindowRuleState {
    rule: WindowRule,
    history: VecDeque<bool>,
    raised: Option<Raised>,
}

/// An alert that is up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Raised {
    /// Window end (event time) of the window that raised it; part of the alert id.
    pub since_ns: i64,
    /// Score last reported (raised or updated).
    pub reported: f64,
}

/// What a [`WindowRuleState`] holds besides its rule (the debounce history, the raised alert),
/// for a checkpoint: a start takes it back with [`WindowRuleState::restore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowRuleSnapshot {
    /// Past `on` or not, oldest first.
    pub history: Vec<bool>,
    pub raised: Option<Raised>,
}

/// A [`WindowRuleSnapshot`] with what it belongs to: the model or detector (`owner`), the
/// asset and the rule's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSnapshot {
    pub owner: String,
    pub asset: String,
    pub rule: String,
    pub state: WindowRuleSnapshot,
}

impl WindowRuleSnapshot {
    /// Nothing to keep: no history, no alert up.
    pub fn is_empty(&self) -> bool {
        self.history.is_empty() && self.raised.is_none()
    }
}

impl WindowRuleState {
    pub fn new(rule: WindowRule) -> WindowRuleState {
        let n = rule.n;
        WindowRuleState {
            rule,
            history: VecDeque::with_capacity(n),
            raised: None,
        }
    }

    pub fn rule(&self) -> &WindowRule {
        &self.rule
    }

    pub fn raised(&self) -> Option<Raised> {
        self.raised
    }

    fn past_on(&self, s: f64) -> bool {
        match self.rule.direction {
            Direction::Above => s >= self.rule.on,
            Direction::Below => s <= self.rule.on,
        }
    }

    fn past_off(&self, s: f64) -> bool {
        match self.rule.direction {
            Direction::Above => s < self.rule.off,
            Direction::Below => s > self.rule.off,
        }
    }

    fn worse_by(&self, s: f64, than: f64) -> f64 {
        match self.rule.direction {
            Direction::Above => s - than,
            Direction::Below => than - s,
        }
    }

    /// The history and the raised alert, for a checkpoint.
    pub fn snapshot(&self) -> WindowRuleSnapshot {
        WindowRuleSnapshot {
            history: self.history.iter().copied().collect(),
            raised: self.raised,
        }
    }

    /// Takes back a [`WindowRuleState::snapshot`] (of a rule of the same name; `k` and `n` may
    /// have changed since: the newest `n` windows of the history are kept). A raised alert
    /// with a score that is not finite is not taken (a damaged checkpoint; `observe` never
    /// reports one).
    pub fn restore(&mut self, snap: WindowRuleSnapshot) {
        let skip = snap.history.len().saturating_sub(self.rule.n);
        self.history = snap.history.into_iter().skip(skip).collect();
        self.raised = snap.raised.filter(|r| r.reported.is_finite());
    }

    /// Forget the history and the raised alert (what it was judged against is gone); the
    /// alert that was up, if any.
    pub fn clear(&mut self) -> Option<Raised> {
        self.history.clear();
        self.raised.take()
    }

    /// Feed the score of the window ending at `end_ns`.
    pub fn observe(&mut self, score: f64, end_ns: i64) -> Option<Lifecycle> {
        if !score.is_finite() {
            return None;
        }
        match self.raised {
            None => {
                if self.history.len() == self.rule.n {
                    self.history.pop_front();
                }
                self.history.push_back(self.past_on(score));
                let hits = self.history.iter().filter(|&&h| h).count();
                if hits >= self.rule.k {
                    self.raised = Some(Raised {
                        since_ns: end_ns,
                        reported: score,
                    });
                    return Some(Lifecycle::Raised);
                }
                None
            }
            Some(r) => {
                if self.past_off(score) {
                    self.raised = None;
                    self.history.clear();
                    return Some(Lifecycle::Cleared);
                }
                let step = (self.rule.on - self.rule.off).abs() / 10.0;
                if self.worse_by(score, r.reported) >= step.max(f64::EPSILON) {
                    self.raised = Some(Raised {
                        reported: score,
                        ..r
                    });
                    return Some(Lifecycle::Updated);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(direction: Direction, on: f64, off: f64, k: usize, n: usize) -> WindowRule {
        WindowRule {
            name: "r".into(),
            severity: Severity::Warning,
            class: None,
            direction,
            on,
            off,
            k,
            n,
        }
    }

    fn run(state: &mut WindowRuleState, scores: &[f64]) -> Vec<(usize, Lifecycle)> {
        scores
            .iter()
            .enumerate()
            .filter_map(|(i, &s)| state.observe(s, i as i64).map(|l| (i, l)))
            .collect()
    }

    #[test]
    fn debounce_raises_on_k_of_n_and_hysteresis_clears_below_off() {
        let mut s = WindowRuleState::new(rule(Direction::Above, 0.8, 0.5, 3, 5));
        let got = run(
            &mut s,
            &[0.9, 0.1, 0.9, 0.2, 0.1, 0.9, 0.85, 0.9, 0.7, 0.6, 0.4, 0.9],
        );
        // hits at 0, 2 → 2 of 5; window 5: history [0.1 0.9 0.2 0.1 0.9] → 2; 6: [.9 .2 .1 .9 .85]
        // → 3 → raised at 6 (0.85); 0.9 is worse by 0.05 ≥ 0.03 → updated; 0.7 and 0.6 stay
        // (above off); 0.4 clears; the next 0.9 alone does not raise again.
        assert_eq!(
            got,
            vec![
                (6, Lifecycle::Raised),
                (7, Lifecycle::Updated),
                (10, Lifecycle::Cleared)
            ]
        );
        assert_eq!(s.raised(), None);
    }

    #[test]
    fn escalation_is_reported_as_updated_without_a_flood() {
        let mut s = WindowRuleState::new(rule(Direction::Above, 0.5, 0.3, 1, 1));
        // step = 0.02
        let got = run(&mut s, &[0.6, 0.61, 0.615, 0.63, 0.62, 0.66, 0.2]);
        assert_eq!(
            got,
            vec![
                (0, Lifecycle::Raised),
                (3, Lifecycle::Updated),
                (5, Lifecycle::Updated),
                (6, Lifecycle::Cleared)
            ]
        );
    }

    #[test]
    fn below_rules_for_remaining_useful_life() {
        let mut s = WindowRuleState::new(rule(Direction::Below, 30.0, 40.0, 2, 3));
        let got = run(&mut s, &[80.0, 29.0, 50.0, 28.0, 35.0, 20.0, 41.0]);
        assert_eq!(
            got,
            vec![
                (3, Lifecycle::Raised),
                (5, Lifecycle::Updated),
                (6, Lifecycle::Cleared)
            ]
        );
    }

    #[test]
    fn non_finite_scores_are_ignored() {
        let mut s = WindowRuleState::new(rule(Direction::Above, 0.5, 0.3, 1, 1));
        assert_eq!(run(&mut s, &[f64::NAN, f64::INFINITY]), vec![]);
    }

    #[test]
    fn a_raised_alert_clears_after_a_clock_jump_and_keeps_its_id() {
        let mut s = WindowRuleState::new(rule(Direction::Below, 30.0, 45.0, 3, 5));
        let t = 1_767_600_000_000_000_000i64;
        let mut events = Vec::new();
        for (i, &sc) in [20.0, 20.0, 20.0].iter().enumerate() {
            events.push(s.observe(sc, t + i as i64));
        }
        assert_eq!(events[2], Some(Lifecycle::Raised));
        // The clock jumps back to 1970, then forward to 2262: the alert stays up and clears
        // on the first clearing window, whatever its time.
        assert_eq!(s.observe(25.0, 5), None);
        assert_eq!(s.observe(25.0, i64::MAX), None);
        assert_eq!(s.raised().map(|r| r.since_ns), Some(t + 2));
        assert_eq!(s.observe(50.0, i64::MIN), Some(Lifecycle::Cleared));
        // And raises again after k of n windows on any time base.
        let again: Vec<_> = [10.0, 10.0, 10.0]
            .iter()
            .map(|&sc| s.observe(sc, -1))
            .collect();
        assert_eq!(again, vec![None, None, Some(Lifecycle::Raised)]);
    }

    #[test]
    fn a_restored_state_goes_on_as_the_one_it_was_taken_from() {
        let r = rule(Direction::Above, 0.8, 0.5, 2, 3);
        let scores = [0.9, 0.1, 0.95, 0.97, 0.7, 0.9, 0.3, 0.85, 0.9];
        for cut in 0..scores.len() {
            let mut a = WindowRuleState::new(r.clone());
            let before: Vec<_> = (0..cut).map(|i| a.observe(scores[i], i as i64)).collect();
            let snap = a.snapshot();
            // Through the checkpoint's encoding, as a start reads it.
            let bytes = crate::codec::to_cbor(&snap).unwrap();
            let mut b = WindowRuleState::new(r.clone());
            b.restore(crate::codec::from_cbor(&bytes).unwrap());
            assert_eq!(b.raised(), a.raised(), "cut {cut} (before: {before:?})");
            for (i, &s) in scores.iter().enumerate().skip(cut) {
                assert_eq!(
                    b.observe(s, i as i64),
                    a.observe(s, i as i64),
                    "cut {cut}, window {i}"
                );
                assert_eq!(b.raised(), a.raised());
            }
        }
    }

    #[test]
    fn a_restored_raised_alert_clears_under_its_id_and_history_keeps_the_newest_n() {
        let mut s = WindowRuleState::new(rule(Direction::Above, 0.8, 0.5, 2, 2));
        s.restore(WindowRuleSnapshot {
            history: vec![true, true, false, true],
            raised: None,
        });
        // Newest two: [false, true]; one more hit raises.
        assert_eq!(s.observe(0.9, 7), Some(Lifecycle::Raised));
        let mut up = WindowRuleState::new(rule(Direction::Above, 0.8, 0.5, 2, 2));
        up.restore(s.snapshot());
        assert_eq!(up.raised().map(|r| r.since_ns), Some(7));
        assert_eq!(up.observe(0.4, 9), Some(Lifecycle::Cleared));
        // A raised alert with a score that is not finite is refused.
        let mut bad = WindowRuleState::new(rule(Direction::Above, 0.8, 0.5, 2, 2));
        bad.restore(WindowRuleSnapshot {
            history: vec![],
            raised: Some(Raised {
                since_ns: 1,
                reported: f64::NAN,
            }),
        });
        assert_eq!(bad.raised(), None);
    }

    proptest::proptest! {
        /// The lifecycle depends on the scores only, never on the window times; `since_ns` is
        /// the end of the window that raised.
        #[test]
        fn the_lifecycle_ignores_event_time(
            scores in proptest::collection::vec(
                proptest::prop_oneof![0.0f64..1.0, proptest::strategy::Just(f64::NAN)],
                1..80,
            ),
            times in proptest::collection::vec(proptest::prelude::any::<i64>(), 80),
            k in 1usize..4,
            extra in 0usize..3,
            above in proptest::prelude::any::<bool>(),
        ) {
            let dir = if above { Direction::Above } else { Direction::Below };
            let (on, off) = if above { (0.7, 0.4) } else { (0.3, 0.6) };
            let r = rule(dir, on, off, k, k + extra);
            let mut wild = WindowRuleState::new(r.clone());
            let mut tame = WindowRuleState::new(r);
            for (i, &sc) in scores.iter().enumerate() {
                let a = wild.observe(sc, times[i]);
                let b = tame.observe(sc, i as i64);
                proptest::prop_assert_eq!(a, b);
                if a == Some(Lifecycle::Raised) {
                    proptest::prop_assert_eq!(wild.raised().map(|x| x.since_ns), Some(times[i]));
                }
                proptest::prop_assert_eq!(wild.raised().is_some(), tame.raised().is_some());
            }
        }
    }
}
