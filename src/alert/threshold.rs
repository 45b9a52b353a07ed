//! Threshold rules on raw signals, with a hold time and hysteresis.
//!
//! A rule watches one signal of one asset (or of every asset that has it). Per (rule, asset):
//! - **idle**: when the condition (`value > above` or `value < below`) starts to hold, note the
//!   event time it started;
//! - when it has held for `for_secs` of event time (every sample in between also satisfying
//!   it), emit **raised**; a sample that breaks the condition first resets the timer;
//! - **raised**: emit **cleared** once a value crosses the `clear` level (`value < clear` for
//!   `above`, `value > clear` for `below`); values between `clear` and the limit keep it raised.
//!
//! Samples older than the last one seen for a (rule, asset) are ignored by the rule (they would
//! rewrite a history already acted on), unless [`LateStreak::REBASE_AFTER`] arrive in a row:
//! then the signal's time went back (a clock corrected by NTP), and the rule follows it from
//! that sample on: a running hold timer restarts, a raised alert stays raised until its clear
//! level is crossed. The alert id is `gateway/asset/rule/<start ns>`, shared
//! by the raised and cleared events of one alert.

use crate::util::{FastMap, LateStreak};
use std::sync::Arc;

use crate::config::{Condition, RuleConfig};
use crate::record::{AlertEvent, Severity};

/// An alert lifecycle step produced by a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub rule: usize,
    pub event: AlertEvent,
    pub asset: Arc<str>,
    pub signal: Arc<str>,
    pub value: f64,
    pub limit: f64,
    pub ts_ns: i64,
    pub since_ns: i64,
    pub severity: Severity,
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    /// Event time at which the condition started to hold.
    since: Option<i64>,
    raised: bool,
    last_ts: i64,
    late: LateStreak,
}

#[derive(Debug)]
pub struct ThresholdRules {
    rules: Vec<RuleConfig>,
    state: FastMap<(usize, Arc<str>), State>,
    rebases: u64,
}

impl ThresholdRules {
    pub fn new(rules: Vec<RuleConfig>) -> ThresholdRules {
        ThresholdRules {
            rules,
            state: FastMap::default(),
            rebases: 0,
        }
    }

    pub fn rule(&self, i: usize) -> &RuleConfig {
        &self.rules[i]
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rule states restarted because their signal's time went back, since the last call.
    pub fn take_rebases(&mut self) -> u64 {
        std::mem::take(&mut self.rebases)
    }

    /// Feed one sample; transitions go to `out`.
    pub fn push(
        &mut self,
        asset: &Arc<str>,
        signal: &Arc<str>,
        ts: i64,
        v: f64,
        out: &mut Vec<Transition>,
    ) {
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.signal.as_str() != &**signal
                || rule.asset.as_deref().is_some_and(|a| a != &**asset)
            {
                continue;
            }
            let st = self.state.entry((i, asset.clone())).or_default();
            if ts < st.last_ts {
                if !st.late.late() {
                    continue;
                }
                self.rebases += 1;
                if !st.raised {
                    st.since = None;
                }
            } else {
                st.late.on_time();
            }
            st.last_ts = ts;
            let (holds, limit) = match rule.condition {
                Condition::Above(l) => (v > l, l),
                Condition::Below(l) => (v < l, l),
            };
            let mk = |event, limit, since| Transition {
                rule: i,
                event,
                asset: asset.clone(),
                signal: signal.clone(),
                value: v,
                limit,
                ts_ns: ts,
                since_ns: since,
                severity: rule.severity,
            };
            if st.raised {
                let cleared = match rule.condition {
                    Condition::Above(_) => v < rule.clear,
                    Condition::Below(_) => v > rule.clear,
                };
                if cleared {
                    out.push(mk(AlertEvent::Cleared, rule.clear, st.since.unwrap_or(ts)));
                    *st = State {
                        last_ts: ts,
                        ..State::default()
                    };
                }
                continue;
            }
            if !holds {
                st.since = None;
                continue;
            }
            let since = *st.since.get_or_insert(ts);
            if ts.saturating_sub(since) >= rule.hold.as_nanos() as i64 {
                st.raised = true;
                out.push(mk(AlertEvent::Raised, limit, since));
            }
        }
    }

    /// Every (rule, asset) state that holds something (a running hold timer, a raised alert,
    /// a time seen), for the processing checkpoint; sorted, so the same state gives the same
    /// bytes.
    pub fn snapshot(&self) -> Vec<RuleState> {
        let mut v: Vec<RuleState> = self
            .state
            .iter()
            .map(|((i, asset), st)| RuleState {
                rule: self.rules[*i].name.clone(),
                asset: asset.to_string(),
                since_ns: st.since,
                raised: st.raised,
                last_ts: st.last_ts,
                late: st.late,
            })
            .collect();
        v.sort_by(|x, y| (&x.rule, &x.asset).cmp(&(&y.rule, &y.asset)));
        v
    }

    /// Takes back a state from [`ThresholdRules::snapshot`] if a rule of that name still
    /// applies to the asset (`asset` gives the configured name); false otherwise. A raised
    /// alert restored this way clears later under its id.
    pub fn restore(&mut self, st: RuleState, asset: Option<Arc<str>>) -> bool {
        let Some(asset) = asset else { return false };
        let Some(i) = self
            .rules
            .iter()
            .position(|r| r.name == st.rule && r.asset.as_deref().is_none_or(|a| a == &*asset))
        else {
            return false;
        };
        self.state.insert(
            (i, asset),
            State {
                since: st.since_ns,
                raised: st.raised,
                last_ts: st.last_ts,
                late: st.late,
            },
        );
        true
    }
}

/// One (rule, asset) state as the processing checkpoint keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuleState {
    pub rule: String,
    pub asset: String,
    pub since_ns: Option<i64>,
    pub raised: bool,
    pub last_ts: i64,
    pub late: LateStreak,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_raised_alert_restored_from_a_snapshot_clears_under_its_id() {
        let mut r = rules(0);
        let (a, s) = (Arc::<str>::from("p"), Arc::<str>::from("t"));
        let mut out = Vec::new();
        r.push(&a, &s, 100, 99.0, &mut out);
        assert_eq!(out[0].event, AlertEvent::Raised);
        let since = out[0].since_ns;
        let snap = r.snapshot();
        let mut back = rules(0);
        assert!(back.restore(snap[0].clone(), Some(a.clone())));
        assert_eq!(back.snapshot(), snap);
        out.clear();
        back.push(&a, &s, 200, 1.0, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            (out[0].event, out[0].since_ns),
            (AlertEvent::Cleared, since)
        );
        // A rule that is gone, or an asset that is, takes nothing.
        let mut renamed = rules(0);
        let mut st = snap[0].clone();
        st.rule = "other".into();
        assert!(!renamed.restore(st, Some(a.clone())));
        assert!(!renamed.restore(snap[0].clone(), None));
        assert!(renamed.snapshot().is_empty());
    }

    #[test]
    fn a_rule_follows_a_signal_whose_time_went_back() {
        let mut r = rules(0);
        let (a, s) = (Arc::<str>::from("p"), Arc::<str>::from("t"));
        let mut out = Vec::new();
        // One sample from the future, then the right time: ignored until the rebase count.
        r.push(&a, &s, 1_000_000, 5.0, &mut out);
        let k = LateStreak::REBASE_AFTER as i64;
        for i in 0..k - 1 {
            r.push(&a, &s, 10 + i, 99.0, &mut out);
        }
        assert!(out.is_empty());
        r.push(&a, &s, 10 + k, 99.0, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].event, AlertEvent::Raised);
        assert_eq!(r.take_rebases(), 1);
        // Raised stays raised across a rebase and clears under its id.
        let since = out[0].since_ns;
        out.clear();
        for i in 0..k {
            r.push(&a, &s, i, 99.0, &mut out);
        }
        assert!(out.is_empty());
        r.push(&a, &s, 20, 1.0, &mut out);
        assert_eq!(out[0].event, AlertEvent::Cleared);
        assert_eq!(out[0].since_ns, since);
    }

    fn rules(hold_s: u64) -> ThresholdRules {
        ThresholdRules::new(vec![RuleConfig {
            name: "hot".into(),
            asset: None,
            signal: "t".into(),
            condition: Condition::Above(10.0),
            clear: 8.0,
            hold: Duration::from_secs(hold_s),
            severity: Severity::Warning,
        }])
    }

    fn feed(r: &mut ThresholdRules, points: &[(i64, f64)]) -> Vec<(AlertEvent, i64)> {
        let (a, s) = (Arc::from("a"), Arc::from("t"));
        let mut out = Vec::new();
        for (t, v) in points {
            r.push(&a, &s, t * 1_000_000_000, *v, &mut out);
        }
        out.iter()
            .map(|t| (t.event, t.ts_ns / 1_000_000_000))
            .collect()
    }

    #[test]
    fn raises_after_the_hold_time_and_clears_below_the_clear_level() {
        let mut r = rules(10);
        let ev = feed(
            &mut r,
            &[
                (0, 11.0),
                (5, 12.0),
                (10, 11.0),
                (11, 9.0),
                (12, 7.9),
                (13, 11.0),
            ],
        );
        assert_eq!(
            ev,
            vec![(AlertEvent::Raised, 10), (AlertEvent::Cleared, 12)]
        );
    }

    #[test]
    fn a_dip_below_the_limit_restarts_the_hold_timer() {
        let mut r = rules(10);
        let ev = feed(
            &mut r,
            &[(0, 11.0), (5, 9.0), (9, 11.0), (15, 11.0), (19, 11.0)],
        );
        assert_eq!(ev, vec![(AlertEvent::Raised, 19)]);
    }

    #[test]
    fn zero_hold_raises_on_the_first_sample_and_old_samples_are_ignored() {
        let mut r = rules(0);
        let ev = feed(&mut r, &[(5, 11.0), (4, 1.0), (6, 1.0)]);
        assert_eq!(ev, vec![(AlertEvent::Raised, 5), (AlertEvent::Cleared, 6)]);
    }
}
