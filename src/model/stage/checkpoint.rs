//! The model thread's checkpoint: the alert states of every model and detector rule (debounce
//! history, the alert that is up), stored by the outbox writer under
//! [`crate::outbox::MODELS_STATE`] in the transaction of the alert records sent with it, so
//! that an alert raised before a crash is still up after the start and clears later under its
//! id, and one not committed was not raised either.
//!
//! With them, the model and detector windows in progress that span at least a second, the
//! longest first, up to [`crate::window::MAX_CHECKPOINT_VALUES`] values per runner
//! ([`crate::window::checkpoint_snapshots`]): a start goes on with the window where it was;
//! and the models' hourly summaries. Not in it: other windows (a start scores from the next
//! full window; the samples are in the telemetry) and a detector's learning steps. A detector's learned baseline is kept on its own
//! (`outbox::baselines`), so a start scores with it at once.
//!
//! When: with every group of alert records the thread sends, and otherwise at most once per
//! [`INTERVAL`] while samples come, and only when the state changed. The states of a model
//! whose package is not running (its start check not finished, or refused) wait in the runner
//! ([`crate::model::runner::ModelRunner::park`]) and stay in the checkpoint.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use tracing::{info, warn};

use crate::alert::window::RuleSnapshot;
use crate::channel;
use crate::codec::{self, CodecError};
use crate::config::Config;
use crate::detect::runner::DetectorSnapshot;
use crate::detect::DetectorRunner;
use crate::model::runner::{ModelMonitor, ModelRunner, ModelWindow};
use crate::outbox::Outbox;

/// The version of the layout; a checkpoint of another version is not taken.
pub const VERSION: u32 = 1;

/// The longest the thread goes without checkpointing a changed state while samples come.
pub const INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub models: Vec<RuleSnapshot>,
    pub detectors: Vec<DetectorSnapshot>,
    /// The models' windows in progress worth keeping ([`crate::window::checkpoint_snapshots`]).
    #[serde(default)]
    pub model_windows: Vec<ModelWindow>,
    /// The models' hourly summaries.
    #[serde(default)]
    pub model_monitors: Vec<ModelMonitor>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("model checkpoint does not decode: {0}")]
    Decode(#[from] CodecError),
    #[error("model checkpoint has version {0}; this agent reads version {VERSION}")]
    Version(u32),
}

impl State {
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::to_cbor(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<State, CheckpointError> {
        let s: State = codec::from_cbor(bytes)?;
        if s.version != VERSION {
            return Err(CheckpointError::Version(s.version));
        }
        Ok(s)
    }

    /// Drops the model states of a model or asset the provisioning file no longer binds;
    /// returns how many.
    pub fn keep_configured(&mut self, config: &Config) -> usize {
        let bound = |owner: &str, asset: &str| {
            config
                .models
                .iter()
                .any(|m| m.name == owner && m.assets.iter().any(|(a, _)| **a == *asset))
        };
        let before = self.models.len() + self.model_windows.len() + self.model_monitors.len();
        self.models.retain(|s| bound(&s.owner, &s.asset));
        self.model_windows.retain(|w| bound(&w.owner, &w.asset));
        self.model_monitors
            .retain(|m| config.models.iter().any(|c| c.name == m.model));
        before - self.models.len() - self.model_windows.len() - self.model_monitors.len()
    }
}

/// When the thread sends its state: [`Checkpointer::due`] after alert records or
/// [`INTERVAL`]; [`Checkpointer::changed`] lets only a state unlike the last one sent through.
#[derive(Debug)]
pub struct Checkpointer {
    sent: Vec<u8>,
    checked: Instant,
}

impl Checkpointer {
    /// `stored`: the checkpoint the start read (so an unchanged state is not written again).
    pub fn new(stored: Vec<u8>, now: Instant) -> Checkpointer {
        Checkpointer {
            sent: stored,
            checked: now,
        }
    }

    pub fn due(&self, alerts: bool, now: Instant) -> bool {
        alerts || now.duration_since(self.checked) >= INTERVAL
    }

    /// `state` if it differs from the last one sent (which it then is).
    pub fn changed(&mut self, state: Vec<u8>, now: Instant) -> Option<Vec<u8>> {
        self.checked = now;
        if state == self.sent {
            return None;
        }
        self.sent.clone_from(&state);
        Some(state)
    }
}

/// The model thread's last checkpoint in `outbox`, with the states of models and assets no
/// longer configured left out, and its bytes; empty when there is none or it cannot be used
/// (logged).
pub fn saved(config: &Config, outbox: Option<&Outbox>) -> (State, Vec<u8>) {
    let bytes = match outbox.map(|o| o.checkpoint(crate::outbox::MODELS_STATE)) {
        None | Some(Ok(None)) => return Default::default(),
        Some(Ok(Some(b))) => b,
        Some(Err(e)) => {
            warn!(error = %e, "The model checkpoint could not be read; alert states start empty.");
            return Default::default();
        }
    };
    match State::decode(&bytes) {
        Ok(mut s) => {
            let dropped = s.keep_configured(config);
            if dropped > 0 {
                info!(
                    dropped,
                    "Model alert states of models or assets no longer configured are dropped."
                );
            }
            (s, bytes)
        }
        Err(e) => {
            warn!(error = %e, "Model checkpoint not used; alert states start empty.");
            (Default::default(), bytes)
        }
    }
}

/// The alert states (of `models` and `detectors`) as a checkpoint, when one is due and the state changed since the last.
pub fn due(
    models: &ModelRunner,
    detectors: &DetectorRunner,
    ckpt: &mut Checkpointer,
    records: bool,
    now: Instant,
) -> Vec<channel::Checkpoint> {
    if !ckpt.due(records, now) {
        return Vec::new();
    }
    let state = State {
        version: VERSION,
        models: models.alert_snapshots(),
        detectors: detectors.alert_snapshots(),
        model_windows: models.window_snapshots(),
        model_monitors: models.monitor_snapshots(),
    };
    match state.encode() {
        Ok(bytes) => ckpt
            .changed(bytes, now)
            .map(|state| channel::Checkpoint {
                key: crate::outbox::MODELS_STATE,
                state,
                receipts: Default::default(),
            })
            .into_iter()
            .collect(),
        Err(e) => {
            warn!(error = %e, "The model alert states do not encode; no checkpoint.");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::window::{Raised, WindowRuleSnapshot};

    fn snap(owner: &str, asset: &str) -> RuleSnapshot {
        RuleSnapshot {
            owner: owner.into(),
            asset: asset.into(),
            rule: "r".into(),
            state: WindowRuleSnapshot {
                history: vec![true],
                raised: Some(Raised {
                    since_ns: 5,
                    reported: 0.9,
                }),
            },
        }
    }

    #[test]
    fn round_trip_and_other_versions_refused() {
        let s = State {
            version: VERSION,
            models: vec![snap("m", "a")],
            detectors: Vec::new(),
            ..Default::default()
        };
        let bytes = s.encode().unwrap();
        assert_eq!(State::decode(&bytes).unwrap(), s);
        let later = State {
            version: VERSION + 1,
            ..s
        };
        assert!(matches!(
            State::decode(&later.encode().unwrap()),
            Err(CheckpointError::Version(v)) if v == VERSION + 1
        ));
        assert!(matches!(
            State::decode(b"\xff\x00"),
            Err(CheckpointError::Decode(_))
        ));
    }

    #[test]
    fn only_configured_models_and_assets_are_kept() {
        let c = crate::config::parse_str(
            r#"
[gateway]
id = "gw"
site = "plant"
data_dir = "/tmp/unused"
[kafka]
bootstrap_servers = "127.0.0.1:9"
[[sources]]
type = "mqtt"
name = "m"
host = "127.0.0.1"
topics = ["plant/+"]
topic_pattern = "plant/{asset}"
[[assets]]
id = "pump-1"
signals = [{ name = "a" }]
[[models]]
package = "/nonexistent/m"
assets = ["pump-1"]
"#,
            "test",
            std::path::Path::new("/tmp"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let name = c.models[0].name.clone();
        let mut s = State {
            version: VERSION,
            models: vec![
                snap(&name, "pump-1"),
                snap(&name, "pump-2"),
                snap("x", "pump-1"),
            ],
            detectors: Vec::new(),
            model_windows: Vec::new(),
            model_monitors: Vec::new(),
        };
        assert_eq!(s.keep_configured(&c), 2);
        assert_eq!(s.models, vec![snap(&name, "pump-1")]);
    }

    #[test]
    fn sent_after_alerts_or_the_interval_and_only_when_changed() {
        let t0 = Instant::now();
        let mut c = Checkpointer::new(b"stored".to_vec(), t0);
        assert!(!c.due(false, t0 + Duration::from_millis(10)));
        assert!(c.due(true, t0 + Duration::from_millis(10)));
        assert!(c.due(false, t0 + INTERVAL));
        // The state the start read is not written again.
        assert_eq!(c.changed(b"stored".to_vec(), t0 + INTERVAL), None);
        assert!(!c.due(false, t0 + INTERVAL + Duration::from_millis(10)));
        assert_eq!(
            c.changed(b"new".to_vec(), t0 + INTERVAL * 2),
            Some(b"new".to_vec())
        );
        assert_eq!(c.changed(b"new".to_vec(), t0 + INTERVAL * 3), None);
    }
}
