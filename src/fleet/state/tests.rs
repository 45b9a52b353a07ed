use super::*;

const T0: i64 = 1_796_000_000_000_000_000;

fn status(gateway: &str, ts_ns: i64, heartbeat_secs: u64) -> Status {
    serde_json::from_value(serde_json::json!({
        "schema": "forewarn.status.v1", "gateway": gateway, "site": "plant-7", "version": "0.1.0",
        "ts_ns": ts_ns, "uptime_secs": 12.5, "sources": {}, "outbox": {
            "alert": {"depth": 2, "bytes": 300, "evicted": 0},
            "telemetry": {"depth": 5, "bytes": 700, "evicted": 0}
        },
        "outbox_budget_bytes": 10_000, "pipeline_drops": {}, "delivered": 40,
        "delivery_errors": 0, "heartbeat_secs": heartbeat_secs, "config_revision": "abcd"
    }))
    .expect("status")
}

fn alert(gateway: &str, id: &str, event: &str, ts_ns: i64, value: f64) -> Alert {
    serde_json::from_value(serde_json::json!({
        "schema": "forewarn.alert.v1", "id": id, "event": event, "gateway": gateway,
        "site": "plant-7", "asset": "pump-1", "rule": "temp-high", "severity": "critical",
        "signal": "temp", "value": value, "limit": 80.0, "ts_ns": ts_ns, "since_ns": ts_ns,
        "meta": {}
    }))
    .expect("alert")
}

fn telemetry(gateway: &str, signal: &str, end_ns: i64, mean: f64) -> Telemetry {
    serde_json::from_value(serde_json::json!({
        "schema": "forewarn.telemetry.v1", "gateway": gateway, "site": "plant-7",
        "asset": "pump-1", "signal": signal, "unit": "degC", "start_ns": end_ns - NS,
        "end_ns": end_ns, "count": 3, "min": mean - 1.0, "max": mean + 1.0, "mean": mean,
        "last": mean, "meta": {}
    }))
    .expect("telemetry")
}

fn state_of(f: &Fleet, id: &str, now: i64) -> State {
    f.detail(id, now).expect("gateway").summary.state
}

#[test]
fn a_gateway_goes_late_then_offline_as_heartbeats_stop() {
    let mut f = Fleet::new(Limits::default(), 3.0);
    f.status(&status("gw-a", T0, 10), true, T0);
    assert_eq!(state_of(&f, "gw-a", T0 + 5 * NS), State::Online);
    // 1.5 intervals + 2 s = 17 s; 3 intervals + 2 s = 32 s.
    assert_eq!(state_of(&f, "gw-a", T0 + 17 * NS), State::Online);
    assert_eq!(state_of(&f, "gw-a", T0 + 18 * NS), State::Late);
    assert_eq!(state_of(&f, "gw-a", T0 + 32 * NS), State::Late);
    assert_eq!(state_of(&f, "gw-a", T0 + 33 * NS), State::Offline);
    // A heartbeat brings it back; the view counts the states.
    f.status(&status("gw-a", T0 + 40 * NS, 10), true, T0 + 40 * NS);
    let v = f.view(T0 + 41 * NS, 10);
    assert_eq!(v.states.get(&State::Online), Some(&1));
    let h = v.gateways[0].heartbeat.expect("heartbeat");
    assert_eq!((h.outbox_records, h.outbox_bytes), (7, 1000));
    assert_eq!(h.config_revision, "abcd");
}

#[test]
fn the_last_heartbeat_of_a_stopping_agent_shows_it_stopped() {
    let mut f = Fleet::new(Limits::default(), 3.0);
    let mut s = status("gw-a", T0, 10);
    s.stopping = true;
    f.status(&s, true, T0);
    assert_eq!(state_of(&f, "gw-a", T0 + NS), State::Stopped);
    assert_eq!(state_of(&f, "gw-a", T0 + 3600 * NS), State::Stopped);
}

#[test]
fn backlog_heartbeats_are_timed_by_their_own_time_and_live_ones_by_arrival() {
    let mut f = Fleet::new(Limits::default(), 3.0);
    // Read at start, an hour old: offline at once, not online.
    f.status(&status("gw-a", T0 - 3600 * NS, 10), false, T0);
    assert_eq!(state_of(&f, "gw-a", T0), State::Offline);
    // A live heartbeat from a gateway whose clock is 5 minutes behind: online, skew shown.
    f.status(&status("gw-a", T0 - 300 * NS, 10), true, T0);
    let d = f.detail("gw-a", T0).expect("gateway");
    assert_eq!(d.summary.state, State::Online);
    assert_eq!(d.summary.clock_skew_secs, Some(-300.0));
    // A backlog record dated in the future counts as now, not later.
    f.status(&status("gw-b", T0 + 3600 * NS, 10), false, T0);
    assert_eq!(
        f.detail("gw-b", T0).expect("gw-b").summary.age_secs,
        Some(0.0)
    );
    // An older heartbeat read after a newer one is ignored.
    f.status(&status("gw-b", T0 - 60 * NS, 10), false, T0);
    assert_eq!(
        f.detail("gw-b", T0).expect("gw-b").summary.age_secs,
        Some(0.0)
    );
}

#[test]
fn without_a_stated_interval_the_gap_between_heartbeats_is_used() {
    let mut f = Fleet::new(Limits::default(), 3.0);
    f.status(&status("gw-a", T0, 0), true, T0);
    f.status(&status("gw-a", T0 + 4 * NS, 0), true, T0 + 4 * NS);
    // 4 s interval: online up to 8 s, offline past 14 s.
    assert_eq!(state_of(&f, "gw-a", T0 + 12 * NS), State::Online);
    assert_eq!(state_of(&f, "gw-a", T0 + 13 * NS), State::Late);
    assert_eq!(state_of(&f, "gw-a", T0 + 19 * NS), State::Offline);
}

#[test]
fn alerts_open_and_clear_and_the_timeline_keeps_the_newest() {
    let limits = Limits {
        timeline: 3,
        ..Limits::default()
    };
    let mut f = Fleet::new(limits, 3.0);
    f.alert(&alert("gw-a", "a1", "raised", T0, 85.0), T0);
    f.alert(&alert("gw-a", "a2", "raised", T0 + NS, 90.0), T0);
    f.alert(&alert("gw-a", "a1", "cleared", T0 + 2 * NS, 70.0), T0);
    f.alert(&alert("gw-a", "a3", "raised", T0 + 3 * NS, 95.0), T0);
    let d = f.detail("gw-a", T0).expect("gateway");
    let open: Vec<_> = d.open_alerts.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(open, ["a3", "a2"]);
    assert_eq!(d.summary.worst_open, Some(Severity::Critical));
    assert_eq!(d.summary.state, State::Unknown);
    // The scores behind the alerts, per rule, in time order.
    let scores = &d.assets["pump-1"].scores["temp-high"].points;
    let values: Vec<f64> = scores.iter().map(|(_, v)| v[0]).collect();
    assert_eq!(values, [85.0, 90.0, 70.0, 95.0]);
    let v = f.view(T0, 10);
    let timeline: Vec<_> = v
        .timeline
        .iter()
        .map(|e| (e.id.as_str(), e.event))
        .collect();
    assert_eq!(
        timeline,
        [
            ("a3", AlertEvent::Raised),
            ("a1", AlertEvent::Cleared),
            ("a2", AlertEvent::Raised)
        ]
    );
}

#[test]
fn charts_are_in_time_order_and_bounded() {
    let limits = Limits {
        points: 4,
        signals: 2,
        ..Limits::default()
    };
    let mut f = Fleet::new(limits, 3.0);
    for i in [1, 2, 5, 4, 3, 6] {
        f.telemetry(&telemetry("gw-a", "temp", T0 + i * NS, i as f64), T0);
    }
    f.telemetry(&telemetry("gw-a", "flow", T0, 1.0), T0);
    f.telemetry(&telemetry("gw-a", "pressure", T0, 1.0), T0);
    let d = f.detail("gw-a", T0).expect("gateway");
    let temp = &d.assets["pump-1"].telemetry["temp"];
    let means: Vec<f64> = temp.points.iter().map(|(_, v)| v[0]).collect();
    assert_eq!(means, [3.0, 4.0, 5.0, 6.0]);
    assert_eq!(temp.points[0].0, (T0 + 3 * NS) / MS);
    assert_eq!(temp.points[0].1, [3.0, 2.0, 4.0]);
    assert_eq!(temp.unit.as_deref(), Some("degC"));
    assert_eq!(d.assets["pump-1"].telemetry.len(), 2);
    assert_eq!(f.counts.over_limit.get("signals"), Some(&1));
    assert_eq!(f.counts.records, 8);
}

#[test]
fn past_the_gateway_limit_the_least_recently_heard_is_forgotten() {
    let limits = Limits {
        gateways: 2,
        assets: 1,
        open_alerts: 2,
        ..Limits::default()
    };
    let mut f = Fleet::new(limits, 3.0);
    f.status(&status("gw-a", T0, 10), true, T0);
    f.status(&status("gw-b", T0, 10), true, T0 + NS);
    f.status(&status("gw-a", T0, 10), true, T0 + 2 * NS);
    f.status(&status("gw-c", T0, 10), true, T0 + 3 * NS);
    let v = f.view(T0 + 3 * NS, 10);
    let ids: Vec<_> = v.gateways.iter().map(|g| g.id).collect();
    assert_eq!(ids, ["gw-a", "gw-c"]);
    assert_eq!(f.counts.over_limit.get("gateways"), Some(&1));
    // One asset per gateway: a second asset's telemetry is turned away and counted.
    f.telemetry(&telemetry("gw-a", "temp", T0, 1.0), T0);
    let mut t = telemetry("gw-a", "temp", T0, 1.0);
    t.asset = "pump-2".into();
    f.telemetry(&t, T0);
    assert_eq!(f.counts.over_limit.get("assets"), Some(&1));
    // Two open alerts at most: the oldest goes.
    for (i, id) in ["a1", "a2", "a3"].iter().enumerate() {
        f.alert(&alert("gw-a", id, "raised", T0 + i as i64 * NS, 90.0), T0);
    }
    let d = f.detail("gw-a", T0).expect("gateway");
    let open: Vec<_> = d.open_alerts.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(open, ["a3", "a2"]);
    assert_eq!(f.counts.over_limit.get("open_alerts"), Some(&1));
}

#[test]
fn rejections_are_counted_by_reason_with_the_last_one_kept() {
    let mut f = Fleet::new(Limits::default(), 3.0);
    f.reject("undecodable", "forewarn.status[0]@4: expected value".into());
    f.reject("undecodable", "forewarn.status[0]@5: EOF".into());
    f.reject(
        "unknown_schema",
        "forewarn.status[1]@0: forewarn.status.v9".into(),
    );
    assert_eq!(f.counts.rejected["undecodable"], 2);
    assert_eq!(f.counts.rejected["unknown_schema"], 1);
    assert_eq!(
        f.counts.last_rejection.as_deref(),
        Some("forewarn.status[1]@0: forewarn.status.v9")
    );
    let json = serde_json::to_value(f.view(T0, 10)).expect("view as JSON");
    assert_eq!(json["counts"]["rejected"]["undecodable"], 2);
}

#[test]
fn charts_and_open_alerts_have_fleet_wide_budgets_that_a_forgotten_gateway_frees() {
    let limits = Limits {
        gateways: 2,
        series: 3,
        open_alerts: 3,
        ..Limits::default()
    };
    let mut f = Fleet::new(limits, 3.0);
    for (gw, signal) in [("gw-a", "temp"), ("gw-a", "flow"), ("gw-b", "temp")] {
        f.telemetry(&telemetry(gw, signal, T0, 1.0), T0);
    }
    // A fourth chart anywhere is over the budget, and counted.
    f.telemetry(&telemetry("gw-b", "flow", T0, 1.0), T0);
    f.alert(&alert("gw-b", "b1", "raised", T0, 90.0), T0);
    assert_eq!(f.counts.over_limit.get("series"), Some(&2));
    assert!(f.detail("gw-b", T0).expect("gw-b").assets["pump-1"]
        .scores
        .is_empty());
    // Open alerts: gw-b has one; two on gw-a fill the budget; a third on gw-a drops gw-a's
    // oldest; one on gw-c (forgetting gw-a, the least recently heard) frees gw-a's.
    f.alert(&alert("gw-a", "a1", "raised", T0, 90.0), T0 + NS);
    f.alert(&alert("gw-a", "a2", "raised", T0 + NS, 90.0), T0 + NS);
    f.alert(&alert("gw-a", "a3", "raised", T0 + 2 * NS, 90.0), T0 + NS);
    let open: Vec<_> = f
        .detail("gw-a", T0)
        .expect("gw-a")
        .open_alerts
        .iter()
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(open, ["a3", "a2"]);
    assert_eq!(f.counts.over_limit.get("open_alerts"), Some(&1));
    f.status(&status("gw-b", T0, 10), true, T0 + 2 * NS);
    f.telemetry(&telemetry("gw-c", "temp", T0, 1.0), T0 + 3 * NS);
    assert!(f.detail("gw-a", T0).is_none());
    assert_eq!(f.counts.over_limit.get("gateways"), Some(&1));
    // gw-a's two charts and two open alerts are free again.
    assert_eq!(
        f.detail("gw-c", T0).expect("gw-c").assets["pump-1"]
            .telemetry
            .len(),
        1
    );
    f.alert(&alert("gw-c", "c1", "raised", T0, 90.0), T0 + 3 * NS);
    f.alert(&alert("gw-c", "c2", "raised", T0, 90.0), T0 + 3 * NS);
    assert_eq!(f.counts.over_limit.get("open_alerts"), Some(&1));
    assert_eq!((f.series, f.open), (3, 3));
}
