//! The score a model's alert rules compare, from the model's output. The rules' lifecycle
//! (hysteresis, debounce, raised/updated/cleared) is [`crate::alert::window`], shared with the
//! detectors.

use super::manifest::OutputKind;
use crate::alert::window::WindowRule;

/// The score a rule compares: for classes the probability of the rule's class, or 1 − P(normal);
/// otherwise the first output value. `None` if the output is too short.
pub fn score(rule: &WindowRule, kind: &OutputKind, output: &[f32]) -> Option<f64> {
    let v = match (kind, rule.class) {
        (OutputKind::Classes { .. }, Some(c)) => *output.get(c)?,
        (OutputKind::Classes { normal, .. }, None) => 1.0 - *output.get(*normal)?,
        _ => *output.first()?,
    };
    Some(f64::from(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::window::Direction;
    use crate::record::Severity;

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

    #[test]
    fn scores_come_from_the_rules_class_or_from_not_normal() {
        let kind = OutputKind::Classes {
            labels: vec!["normal".into(), "ball".into(), "inner".into()],
            normal: 0,
        };
        let out = [0.7f32, 0.2, 0.1];
        let mut r = rule(Direction::Above, 0.5, 0.3, 1, 1);
        assert!((score(&r, &kind, &out).unwrap() - 0.3).abs() < 1e-6);
        r.class = Some(2);
        assert!((score(&r, &kind, &out).unwrap() - 0.1).abs() < 1e-6);
        r.class = Some(7);
        assert_eq!(score(&r, &kind, &out), None);
        assert_eq!(
            score(&r, &OutputKind::Regression { unit: None }, &[42.0]),
            Some(42.0)
        );
        assert_eq!(score(&r, &OutputKind::Anomaly, &[]), None);
    }
}
