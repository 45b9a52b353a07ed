//! Scoring one step: the anomaly index, the alert rule, and the contributions an alert names.

use crate::alert::window::{Lifecycle, WindowRuleState};
use crate::record::{Alert, AlertEvent, DetectorAlertInfo, Record, ALERT_SCHEMA};

use super::super::learned::AnyScorer;
use super::{Step, CONTRIBUTIONS};

pub(super) fn score(
    gateway: &str,
    site: &str,
    step: &Step<'_>,
    scorer: &mut AnyScorer,
    learned_ns: i64,
    alert: &mut WindowRuleState,
    out: &mut Vec<Record>,
) {
    let index = scorer.score(step.x);
    let before = alert.raised();
    let Some(life) = alert.observe(index, step.end_ns) else {
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
        value: index,
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
            contributions: scorer.contributions(&c.inputs, step.x, CONTRIBUTIONS),
            cleared_by: None,
        }),
    }));
}

/// The `cleared` event of an alert whose baseline went away (`why`: reset, import) while it
/// was up, at the event time of the asset's last step.
pub(super) fn cleared_by(
    gateway: &str,
    site: &str,
    inst: &mut super::Instance,
    why: &str,
) -> Option<Record> {
    let up = inst.alert.clear()?;
    let rule = inst.alert.rule();
    let c = &inst.config;
    let (start_ns, end_ns) = inst.last_step;
    Some(Record::Alert(Alert {
        schema: ALERT_SCHEMA.into(),
        id: format!(
            "{gateway}/{}/{}/{}/{}",
            inst.asset, c.name, rule.name, up.since_ns
        ),
        event: AlertEvent::Cleared,
        gateway: gateway.to_string(),
        site: site.to_string(),
        asset: inst.asset.to_string(),
        rule: rule.name.clone(),
        severity: rule.severity,
        signal: "anomaly_index".into(),
        value: up.reported,
        limit: rule.off,
        ts_ns: end_ns,
        since_ns: up.since_ns,
        meta: inst.meta.clone(),
        model: None,
        detector: Some(DetectorAlertInfo {
            name: c.name.clone(),
            baseline_ns: inst.learned_ns().unwrap_or(0),
            step_start_ns: start_ns,
            step_end_ns: end_ns,
            contributions: Vec::new(),
            cleared_by: Some(why.to_string()),
        }),
    }))
}
