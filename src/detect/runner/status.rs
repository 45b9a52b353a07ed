//! What the detectors report in the status heartbeat: per detector, its assets by phase, the
//! steps it scored or skipped, its window drops and its last error.

use std::collections::BTreeMap;

use crate::record::DetectorStatus;

use super::{DetectorRunner, Phase};

impl DetectorRunner {
    /// Status per detector.
    pub fn status(&self) -> BTreeMap<String, DetectorStatus> {
        let mut out: BTreeMap<String, DetectorStatus> = BTreeMap::new();
        for inst in &self.instances {
            let s = out.entry(inst.config.name.clone()).or_default();
            s.assets += 1;
            match &inst.phase {
                Phase::Learning(l) => {
                    s.learning += 1;
                    s.learning_steps = s.learning_steps.max(l.rows.len());
                }
                Phase::Scoring { relearn, .. } => {
                    s.learned += 1;
                    if let Some(l) = relearn {
                        s.relearning += 1;
                        s.learning_steps = s.learning_steps.max(l.rows.len());
                    }
                }
                Phase::Failed => s.failed += 1,
            }
            s.generation = s.generation.max(inst.generation);
            s.learn_steps = inst.config.learn_steps;
            let w = inst.windower.counters();
            for (k, n) in w.drops() {
                *s.window_drops.entry(k.to_string()).or_default() += n;
            }
        }
        for (name, st) in &self.stats {
            let s = out.entry(name.clone()).or_default();
            s.steps = st.steps;
            s.skipped_steps = st.skipped_steps;
            s.last_error = st.last_error.clone();
        }
        out
    }
}
