//! The end of a learning phase: the baseline learned, its record sent, the scorer made.

use crate::config::DetectorConfig;
use crate::record::{BaselineTrigger, Record};

use super::super::learned::{AnyScorer, Learned};
use super::super::persist::{self, Provenance};
use super::{Learning, Stats, Step};

/// The gateway and asset a step belongs to.
pub(super) struct Here<'a> {
    pub(super) gateway: &'a str,
    pub(super) site: &'a str,
    pub(super) asset: &'a str,
}

impl Learning {
    /// Take a step; true when the phase has all it needs.
    ///
    /// With a learning span, only the steps within it are kept: earlier ones are passed over
    /// (nothing is scored before a baseline exists), and the first step that ends at or after
    /// the span's end completes the phase. A phase that starts after the span is over (a
    /// `baseline reset` or `relearn` later on) learns the next `learn_steps` steps instead.
    pub(super) fn add(&mut self, x: &[f64], step: &Step<'_>, config: &DetectorConfig) -> bool {
        if let Some((from, until)) = config.learn_span.filter(|_| !self.span_missed) {
            if step.start_ns < from {
                return false;
            }
            if step.start_ns >= until {
                if !self.rows.is_empty() {
                    return true;
                }
                self.span_missed = true;
            } else {
                self.keep(x, step);
                return step.end_ns >= until || self.rows.len() >= config.learn_steps;
            }
        }
        self.keep(x, step);
        self.rows.len() >= config.learn_steps
    }

    fn keep(&mut self, x: &[f64], step: &Step<'_>) {
        self.from_ns.get_or_insert(step.start_ns);
        self.to_ns = step.end_ns;
        self.rows.push(x.to_vec());
    }
}

/// Learn from the phase's steps; the baseline's record goes to `out`, the scorer and the
/// event time of its last step are returned. On failure the reason is in `last_error`.
pub(super) fn learn(
    config: &DetectorConfig,
    l: &mut Learning,
    here: &Here<'_>,
    generation: &mut u64,
    out: &mut Vec<Record>,
    stats: &mut Stats,
) -> Option<(Box<AnyScorer>, i64)> {
    let rows = std::mem::take(&mut l.rows);
    let end_ns = l.to_ns;
    match Learned::learn(config, &rows) {
        Ok(b) => {
            *generation += 1;
            let (components, explained) = match &b {
                Learned::Pca(p) => (p.model.components(), p.model.explained),
                Learned::Knn(_) => (0, 0.0),
            };
            tracing::info!(
                detector = %config.name,
                asset = %here.asset,
                steps = b.steps(),
                components,
                explained,
                generation = *generation,
                "Baseline learned."
            );
            let record = persist::to_record(
                config,
                &b,
                &Provenance {
                    gateway: here.gateway,
                    site: here.site,
                    asset: here.asset,
                    generation: *generation,
                    trigger: l.trigger.unwrap_or(BaselineTrigger::Learned),
                    learned_from_ns: l.from_ns.unwrap_or(end_ns),
                    learned_to_ns: end_ns,
                },
            );
            out.push(Record::Baseline(Box::new(record)));
            Some((
                Box::new(AnyScorer::new(b, config.adapt_half_life_steps)),
                end_ns,
            ))
        }
        Err(e) => {
            tracing::warn!(detector = %config.name, asset = %here.asset, error = %e, "Learning failed.");
            stats.last_error = Some(e.to_string());
            None
        }
    }
}
