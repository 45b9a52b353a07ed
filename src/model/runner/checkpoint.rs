//! What the model runner keeps across a start or a reload (the model thread's checkpoint,
//! `model::stage::checkpoint`): alert states, windows in progress and hourly summaries, each
//! taken out ("snapshots") and put back ("park"). What belongs to a model that does not run
//! yet (its start check not finished, or refused) waits in the runner, at most
//! [`MAX_PARKED`] of each kind, and stays in the checkpoint meanwhile.

use super::ModelRunner;
use crate::alert::window::RuleSnapshot;
use crate::model::monitor::MonitorSnapshot;
use crate::window::{checkpoint_snapshots, WindowSnapshot, Windower};

/// A model's hourly summaries (all its assets), for the model thread's checkpoint.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelMonitor {
    pub model: String,
    pub monitor: MonitorSnapshot,
}

/// A model's window in progress on one asset, for the model thread's checkpoint.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelWindow {
    pub owner: String,
    pub asset: String,
    pub window: WindowSnapshot,
}

/// At most this many alert states (and as many windows, and summaries) wait for their model
/// in [`ModelRunner`].
pub const MAX_PARKED: usize = 4096;

/// Puts `item` among the `waiting` in place of the one `same` as it; dropped (false) when
/// [`MAX_PARKED`] already wait.
fn wait<T>(waiting: &mut Vec<T>, item: T, same: impl Fn(&T, &T) -> bool) -> bool {
    waiting.retain(|w| !same(w, &item));
    if waiting.len() >= MAX_PARKED {
        return false;
    }
    waiting.push(item);
    true
}

impl ModelRunner {
    /// After a reload: keep the alert states (raised alerts, debounce history) of rules that
    /// exist in both runners for the same model name, asset and rule name, so a reload neither
    /// orphans a raised alert nor raises it twice; those of rules this runner lacks wait for
    /// them ([`ModelRunner::park`]). Windows restart.
    pub fn carry_alerts_from(&mut self, old: &ModelRunner) {
        self.park(old.alert_snapshots());
        self.park_windows(old.parked_windows.clone());
        self.park_monitors(old.parked_monitors.clone());
    }

    /// The hourly summaries of the models that ran a window, and of those that wait, by name:
    /// for the model thread's checkpoint.
    pub fn monitor_snapshots(&self) -> Vec<ModelMonitor> {
        let mut v: Vec<ModelMonitor> = self
            .stats
            .iter()
            .filter(|(name, _)| {
                self.instances
                    .iter()
                    .any(|i| i.model.manifest.name == **name)
            })
            .filter_map(|(name, st)| {
                Some(ModelMonitor {
                    model: name.clone(),
                    monitor: st.monitor.snapshot()?,
                })
            })
            .chain(self.parked_monitors.iter().cloned())
            .collect();
        v.sort_by(|a, b| a.model.cmp(&b.model));
        v
    }

    /// Takes hourly summaries back: each goes to its model if it runs here with the same
    /// features and outputs, else waits for it (up to [`MAX_PARKED`]). Returns how many were
    /// taken.
    pub fn park_monitors(&mut self, monitors: Vec<ModelMonitor>) -> usize {
        let mut taken = 0;
        for m in monitors {
            let running = self
                .instances
                .iter()
                .any(|i| i.model.manifest.name == m.model);
            match self.stats.get_mut(&m.model) {
                Some(st) if running => {
                    if st.monitor.restore(m.monitor) {
                        taken += 1;
                    } else {
                        tracing::warn!(model = %m.model,
                            "The checkpoint's hourly summaries are of other features; they start empty.");
                    }
                }
                _ => {
                    wait(&mut self.parked_monitors, m, |a, b| a.model == b.model);
                }
            }
        }
        taken
    }

    /// The windows in progress worth keeping ([`checkpoint_snapshots`]), of the models that
    /// run and of those that wait, in a stable order: for the model thread's checkpoint.
    pub fn window_snapshots(&self) -> Vec<ModelWindow> {
        let windowers: Vec<&Windower> = self.instances.iter().map(|i| &i.windower).collect();
        let mut v: Vec<ModelWindow> = self
            .instances
            .iter()
            .zip(checkpoint_snapshots(&windowers))
            .filter_map(|(i, window)| {
                Some(ModelWindow {
                    owner: i.model.manifest.name.clone(),
                    asset: i.binding.asset.to_string(),
                    window: window?,
                })
            })
            .chain(self.parked_windows.iter().cloned())
            .collect();
        v.sort_by(|a, b| (&a.owner, &a.asset).cmp(&(&b.owner, &b.asset)));
        v
    }

    /// Takes windows in progress back (from a checkpoint): each goes to its model and asset
    /// if that runs here and its window is configured the same, else it waits for it (up to
    /// [`MAX_PARKED`]). Returns how many were taken.
    pub fn park_windows(&mut self, windows: Vec<ModelWindow>) -> usize {
        let mut taken = 0;
        for w in windows {
            let inst = self
                .instances
                .iter_mut()
                .find(|i| i.model.manifest.name == w.owner && *i.binding.asset == *w.asset);
            match inst {
                Some(i) => match i.windower.restore(w.window) {
                    Ok(()) => taken += 1,
                    Err(e) => tracing::warn!(model = %w.owner, asset = %w.asset, error = %e,
                        "The checkpoint's window in progress is not taken back; it starts empty."),
                },
                None => {
                    wait(&mut self.parked_windows, w, |a, b| {
                        (&a.owner, &a.asset) == (&b.owner, &b.asset)
                    });
                }
            }
        }
        taken
    }

    /// Every alert state worth keeping (some history or an alert up), of the rules that run
    /// and of those that wait, in a stable order: for the model thread's checkpoint.
    pub fn alert_snapshots(&self) -> Vec<RuleSnapshot> {
        let mut v: Vec<RuleSnapshot> = self
            .instances
            .iter()
            .flat_map(|i| {
                i.alerts.iter().map(|a| RuleSnapshot {
                    owner: i.model.manifest.name.clone(),
                    asset: i.binding.asset.to_string(),
                    rule: a.rule().name.clone(),
                    state: a.snapshot(),
                })
            })
            .filter(|s| !s.state.is_empty())
            .chain(self.parked.iter().cloned())
            .collect();
        v.sort_by(|a, b| (&a.owner, &a.asset, &a.rule).cmp(&(&b.owner, &b.asset, &b.rule)));
        v
    }

    /// Takes alert states back (from a checkpoint, or from the runner this one replaces): each
    /// goes to its model, asset and rule if that runs here, else it waits for it, up to
    /// [`MAX_PARKED`] (beyond: dropped). Returns how many were taken by running rules.
    pub fn park(&mut self, snaps: Vec<RuleSnapshot>) -> usize {
        let mut taken = 0;
        for snap in snaps {
            let state = self
                .instances
                .iter_mut()
                .filter(|i| i.model.manifest.name == snap.owner && *i.binding.asset == *snap.asset)
                .flat_map(|i| i.alerts.iter_mut())
                .find(|a| a.rule().name == snap.rule);
            match state {
                Some(st) => {
                    st.restore(snap.state);
                    taken += 1;
                }
                None if snap.state.is_empty() => {}
                None => {
                    let key = (snap.owner.clone(), snap.asset.clone(), snap.rule.clone());
                    if !wait(&mut self.parked, snap, |a, b| {
                        (&a.owner, &a.asset, &a.rule) == (&b.owner, &b.asset, &b.rule)
                    }) {
                        tracing::warn!(model = %key.0, asset = %key.1, rule = %key.2,
                            "Too many alert states wait for their model; this one is dropped.");
                    }
                }
            }
        }
        taken
    }
}
