//! The detectors' alert states in the model thread's checkpoint (`model::stage::checkpoint`):
//! what a start takes back so that an alert that was up before a crash stays up and clears
//! later under its id.
//!
//! A state goes back to the detector, asset and rule of the same names, with the scorer's own
//! state (a PCA scorer's EWMAs and adapted centre; a kNN scorer's windows), so the index
//! after the start goes on as if there had been no stop: the same fault keeps the alert up.
//! It was judged against one baseline (its generation): if the asset now scores with another
//! one, or learns afresh (a `forewarn baseline` request while the agent was stopped, a stored
//! baseline that no longer fits), an alert that was up is cleared at once (`cleared_by`), as a
//! reset or an import does.

use serde::{Deserialize, Serialize};

use super::{score, DetectorRunner, Phase};
use crate::alert::window::RuleSnapshot;
use crate::detect::learned::ScorerRuntime;
use crate::record::Record;
use crate::window::{checkpoint_snapshots, WindowSnapshot, Windower};

/// One detector's alert state on one asset, with the baseline it was judged against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorSnapshot {
    pub alert: RuleSnapshot,
    /// The generation of the baseline in use when it was taken (0: none yet).
    pub generation: u64,
    /// Event time of the asset's last step then (start, end): the time of a `cleared` event
    /// sent before any new step.
    pub last_step: (i64, i64),
    /// The scorer's state beyond its baseline, while it scored.
    #[serde(default)]
    pub scorer: Option<ScorerRuntime>,
    /// The step in progress (its window's samples), if worth keeping
    /// ([`checkpoint_snapshots`]).
    #[serde(default)]
    pub window: Option<WindowSnapshot>,
}

/// What a start took back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// States taken back by their detector, asset and rule.
    pub taken: usize,
    /// Alerts that were up and are up again.
    pub raised: usize,
    /// Alerts that were up and were cleared: the asset's baseline changed meanwhile.
    pub cleared: usize,
    /// Scorer states taken back.
    pub scorers: usize,
    /// Steps in progress taken back.
    pub windows: usize,
    /// States of a detector, asset or rule no longer configured.
    pub dropped: usize,
}

impl DetectorRunner {
    /// Every state worth keeping (a scorer that scores, some alert history, an alert up), in
    /// a stable order.
    pub fn alert_snapshots(&self) -> Vec<DetectorSnapshot> {
        let windowers: Vec<&Windower> = self.instances.iter().map(|i| &i.windower).collect();
        self.instances
            .iter()
            .zip(checkpoint_snapshots(&windowers))
            .map(|(i, window)| DetectorSnapshot {
                alert: RuleSnapshot {
                    owner: i.config.name.clone(),
                    asset: i.asset.to_string(),
                    rule: i.alert.rule().name.clone(),
                    state: i.alert.snapshot(),
                },
                generation: i.generation,
                last_step: i.last_step,
                scorer: match &i.phase {
                    Phase::Scoring { scorer, .. } => Some(scorer.runtime()),
                    _ => None,
                },
                window,
            })
            .filter(|s| !s.alert.state.is_empty() || s.scorer.is_some() || s.window.is_some())
            .collect()
    }

    /// Takes back the states of a checkpoint; `cleared` events of alerts whose baseline
    /// changed go to `out`.
    pub fn restore_alerts(
        &mut self,
        snaps: Vec<DetectorSnapshot>,
        out: &mut Vec<Record>,
    ) -> Restored {
        let (gateway, site) = (self.gateway.as_str(), self.site.as_str());
        let mut r = Restored::default();
        for snap in snaps {
            let a = &snap.alert;
            let Some(inst) = self.instances.iter_mut().find(|i| {
                i.config.name == a.owner && *i.asset == *a.asset && i.alert.rule().name == a.rule
            }) else {
                r.dropped += 1;
                continue;
            };
            r.taken += 1;
            if let Some(w) = snap.window {
                match inst.windower.restore(w) {
                    Ok(()) => r.windows += 1,
                    Err(e) => {
                        tracing::warn!(detector = %inst.config.name, asset = %inst.asset, error = %e,
                        "The checkpoint's step in progress is not taken back; the step starts empty.")
                    }
                }
            }
            let up = snap.alert.state.raised.is_some();
            inst.alert.restore(snap.alert.state);
            if inst.last_step == (0, 0) {
                inst.last_step = snap.last_step;
            }
            let same =
                snap.generation == inst.generation && matches!(inst.phase, Phase::Scoring { .. });
            if same {
                r.raised += usize::from(up && inst.alert.raised().is_some());
                if let (Phase::Scoring { scorer, .. }, Some(s)) = (&mut inst.phase, snap.scorer) {
                    if scorer.restore_runtime(s) {
                        r.scorers += 1;
                    } else {
                        tracing::warn!(detector = %inst.config.name, asset = %inst.asset,
                            "The checkpoint's scorer state does not fit the baseline; scoring starts from it.");
                    }
                }
            } else if let Some(rec) =
                score::cleared_by(gateway, site, inst, "baseline changed while stopped")
            {
                tracing::info!(detector = %inst.config.name, asset = %inst.asset,
                    "An alert that was up before the stop is cleared: the asset's baseline changed.");
                out.push(rec);
                r.cleared += 1;
            }
        }
        r
    }
}
