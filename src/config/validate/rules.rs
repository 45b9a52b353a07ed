//! `[[rules]]`: threshold rules on raw signals.

use super::*;

pub(super) fn rule(
    r: &RawRule,
    assets: &[AssetConfig],
    f: &str,
    p: &mut Problems,
) -> Option<RuleConfig> {
    let n = p.len();
    let asset = if r.asset == "*" {
        if !assets.iter().any(|a| a.signal(&r.signal).is_some()) {
            problem(
                p,
                format!("{f}.signal"),
                format!("no asset has signal `{}`", r.signal),
            );
        }
        None
    } else {
        match assets.iter().find(|a| *a.id == r.asset) {
            None => problem(
                p,
                format!("{f}.asset"),
                format!("no asset `{}` in [[assets]]", r.asset),
            ),
            Some(a) if a.signal(&r.signal).is_none() => problem(
                p,
                format!("{f}.signal"),
                format!("asset `{}` has no signal `{}`", r.asset, r.signal),
            ),
            Some(_) => {}
        }
        Some(r.asset.clone())
    };
    let condition = match (r.above, r.below) {
        (Some(a), None) if a.is_finite() => Condition::Above(a),
        (None, Some(b)) if b.is_finite() => Condition::Below(b),
        _ => {
            problem(
                p,
                format!("{f}.above"),
                "set exactly one of `above` or `below` (finite)",
            );
            Condition::Above(0.0)
        }
    };
    let clear = match (condition, r.clear) {
        (Condition::Above(l) | Condition::Below(l), None) => l,
        (Condition::Above(l), Some(c)) if c.is_finite() && c <= l => c,
        (Condition::Below(l), Some(c)) if c.is_finite() && c >= l => c,
        (_, Some(_)) => {
            problem(
                p,
                format!("{f}.clear"),
                "must be on the safe side of the limit (≤ above, ≥ below)",
            );
            0.0
        }
    };
    if !r.for_secs.is_finite() || !(0.0..=86_400.0).contains(&r.for_secs) {
        problem(p, format!("{f}.for_secs"), "must be between 0 and 86400");
    }
    let severity = severity(r.severity.as_deref(), &format!("{f}.severity"), p);
    (p.len() == n).then(|| RuleConfig {
        name: r.name.clone(),
        asset,
        signal: r.signal.clone(),
        condition,
        clear,
        hold: Duration::from_secs_f64(r.for_secs.clamp(0.0, 86_400.0)),
        severity,
    })
}
