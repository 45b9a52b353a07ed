//! Scoring one step: the anomaly index, the alert rule, and the contributions an alert names.

use crate::alert::window::{Lifecycle, WindowRuleState};
use crate::config::DetectorConfig;
use crate::record::{Alert, AlertEvent, Contribution, DetectorAlertInfo, Record, ALERT_SCHEMA};

use super::super::baseline::Scorer;
use super::{Step, CONTRIBUTIONS};

pub(super) fn score(
    gateway: &str,
    site: &str,
    step: &Step<'_>,
    scorer: &mut Scorer,
    learned_ns: i64,
    alert: &mut WindowRuleState,
    out: &mut Vec<Record>,
) {
    let sc = scorer.score(step.x);
    let before = alert.raised();
    let Some(life) = alert.observe(sc.index, step.end_ns) else {
        return;
    };
    let rule = alert.rule();
    let since = before
        .or(alert.raised())
        .map_or(step.end_ns, |r| r.since_ns);
    let (event, limit) = match life {
        Lifecycle::Raised => (AlertEvent::Raised, rule.on),
        Lifecycle::Updated => (AlertEvent::Updated, rule.on),
        Lifecycle::Cleared => (AlertEvent::Cleared, rule.off),
    };
    let c = step.config;
    out.push(Record::Alert(Alert {
        schema: ALERT_SCHEMA.into(),
        id: format!("{gateway}/{}/{}/{}/{since}", step.asset, c.name, rule.name),
        event,
        gateway: gateway.to_string(),
        site: site.to_string(),
        asset: step.asset.to_string(),
        rule: rule.name.clone(),
        severity: rule.severity,
        signal: "anomaly_index".into(),
        value: sc.index,
        limit,
        ts_ns: step.end_ns,
        since_ns: since,
        meta: step.meta.clone(),
        model: None,
        detector: Some(DetectorAlertInfo {
            name: c.name.clone(),
            baseline_ns: learned_ns,
            step_start_ns: step.start_ns,
            step_end_ns: step.end_ns,
            contributions: contributions(c, scorer, step.x),
        }),
    }));
}

/// The signals with the largest share of the last scored vector's index, largest first.
fn contributions(c: &DetectorConfig, scorer: &Scorer, x: &[f64]) -> Vec<Contribution> {
    let shares = scorer.shares();
    let model = &scorer.baseline().model;
    let mut all: Vec<Contribution> = c
        .signals
        .iter()
        .zip(x)
        .enumerate()
        .map(|(j, (name, &value))| Contribution {
            signal: name.to_string(),
            value,
            z: (value - model.mean[j]) / model.sd[j],
            share: shares.get(j).copied().unwrap_or(0.0),
        })
        .collect();
    all.sort_by(|a, b| b.share.total_cmp(&a.share));
    all.truncate(CONTRIBUTIONS);
    all
}
