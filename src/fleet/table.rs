//! `forewarn-fleet status`: the fleet as a text table, one gateway per line (pure).

use super::state::{FleetView, State};

/// "12 s", "3 min", "1.5 h", "2.0 d".
pub fn span(secs: f64) -> String {
    let s = secs.max(0.0);
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86_400.0)
    }
}

fn bytes(b: u64) -> String {
    if b < 1024 {
        format!("{b} B")
    } else if b < 1024 * 1024 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
    }
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Online => "online",
        State::Late => "late",
        State::Offline => "offline",
        State::Stopped => "stopped",
        State::Unknown => "unknown",
    }
}

/// The table, with a header line and a totals line.
pub fn render(view: &FleetView<'_>) -> String {
    let mut rows = vec![[
        "GATEWAY",
        "SITE",
        "STATE",
        "LAST HEARTBEAT",
        "VERSION",
        "CONFIG",
        "OUTBOX",
        "FULL IN",
        "OPEN ALERTS",
        "SOURCES",
        "STALLED",
    ]
    .map(String::from)];
    for g in &view.gateways {
        let h = g.heartbeat;
        rows.push([
            g.id.to_string(),
            g.site.to_string(),
            state_name(g.state).to_string(),
            g.age_secs
                .map(|a| format!("{} ago", span(a)))
                .unwrap_or_else(|| "never".into()),
            h.map(|h| h.version.clone()).unwrap_or_else(|| "-".into()),
            h.map(|h| h.config_revision.clone())
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "-".into()),
            h.map(|h| {
                let fill = if h.outbox_budget_bytes > 0 {
                    100.0 * h.outbox_bytes as f64 / h.outbox_budget_bytes as f64
                } else {
                    0.0
                };
                format!(
                    "{} rec, {} ({fill:.1}%)",
                    h.outbox_records,
                    bytes(h.outbox_bytes)
                )
            })
            .unwrap_or_else(|| "-".into()),
            match h.and_then(|h| h.outbox_full_in_secs) {
                Some(s) if s <= 0.0 => "evicting".into(),
                Some(s) => span(s),
                None => "-".into(),
            },
            match (g.open_alerts, g.worst_open) {
                (0, _) => "0".into(),
                (n, Some(w)) => format!("{n} ({})", format!("{w:?}").to_lowercase()),
                (n, None) => n.to_string(),
            },
            h.map(|h| format!("{}/{}", h.sources_connected, h.sources))
                .unwrap_or_else(|| "-".into()),
            h.map(|h| h.stalled.join(","))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let mut widths = [0usize; 11];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let totals: Vec<String> = view
        .states
        .iter()
        .map(|(s, n)| format!("{n} {}", state_name(*s)))
        .collect();
    out.push_str(&format!(
        "{} gateways: {}\n",
        view.gateways.len(),
        if totals.is_empty() {
            "none seen".to_string()
        } else {
            totals.join(", ")
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::state::{Fleet, Limits};
    use crate::record::Status;

    #[test]
    fn one_line_per_gateway_with_its_state_and_the_totals() {
        let t0 = 1_796_000_000_000_000_000i64;
        let status: Status = serde_json::from_value(serde_json::json!({
            "schema": "forewarn.status.v1", "gateway": "gw-north", "site": "plant-7",
            "version": "0.1.0", "ts_ns": t0, "uptime_secs": 1.0, "sources": {},
            "outbox": {"telemetry": {"depth": 3, "bytes": 2048, "evicted": 0}},
            "outbox_budget_bytes": 8192, "pipeline_drops": {}, "delivered": 1,
            "delivery_errors": 0, "heartbeat_secs": 10, "config_revision": "8d99ecf8e117209e",
            "outbox_full_in_secs": 5400.0
        }))
        .expect("status");
        let mut f = Fleet::new(Limits::default(), 3.0);
        f.status(&status, true, t0);
        let mut south = status.clone();
        south.gateway = "gw-south".into();
        f.status(&south, true, t0 - 60 * 1_000_000_000);
        let text = render(&f.view(t0 + 2_000_000_000, 0));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("GATEWAY   SITE     STATE"), "{text}");
        assert!(
            lines[1].starts_with("gw-north  plant-7  online   2 s ago"),
            "{text}"
        );
        assert!(lines[1].contains("8d99ecf8e117209e"), "{text}");
        assert!(lines[1].contains("3 rec, 2.0 KiB (25.0%)  1.5 h"), "{text}");
        assert!(
            lines[2].starts_with("gw-south  plant-7  offline  62 s ago"),
            "{text}"
        );
        assert_eq!(lines[3], "2 gateways: 1 online, 1 offline");
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(12.4), "12 s");
        assert_eq!(span(600.0), "10 min");
        assert_eq!(span(7200.0), "2.0 h");
        assert_eq!(span(259_200.0), "3.0 d");
    }
}
