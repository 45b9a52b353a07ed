//! A [`Status`] in Prometheus' text exposition format (version 0.0.4): the same counters as the
//! status topic, named `forewarn_*`, counters with `_total`, times in seconds.

use std::fmt::Write;

use crate::monitor::progress::Stage;
use crate::record::Status;

/// A counter family read from each of a status's parts: name, help, getter.
type Counter<T> = (&'static str, &'static str, fn(&T) -> u64);

/// The endpoint's own counters: requests answered, by status code.
pub type Answered = [(u16, u64)];

/// The text for `GET /metrics`.
pub fn render(s: &Status, answered: &Answered) -> String {
    let mut o = Out::default();
    o.family(
        "forewarn_info",
        "gauge",
        "The agent's gateway, site and version (always 1).",
    );
    o.sample(
        "forewarn_info",
        &[
            ("gateway", &s.gateway),
            ("site", &s.site),
            ("version", &s.version),
        ],
        1.0,
    );
    o.gauge(
        "forewarn_uptime_seconds",
        "Seconds since the agent started.",
        s.uptime_secs,
    );
    o.gauge(
        "forewarn_clock_ok",
        "1 while the gateway clock is plausible (not before this release's date).",
        bool01(s.clock_ok),
    );

    o.family(
        "forewarn_source_connected",
        "gauge",
        "1 while the source is connected.",
    );
    for (name, src) in &s.sources {
        o.sample(
            "forewarn_source_connected",
            &[("source", name)],
            bool01(src.connected),
        );
    }
    let per_source: [Counter<crate::record::SourceStatus>; 3] = [
        (
            "forewarn_source_received_total",
            "Messages or frames received.",
            |x| x.received,
        ),
        (
            "forewarn_source_samples_total",
            "Samples accepted into the pipeline.",
            |x| x.samples,
        ),
        (
            "forewarn_source_reconnects_total",
            "Reconnections after a lost connection.",
            |x| x.reconnects,
        ),
    ];
    for (name, help, get) in per_source {
        o.family(name, "counter", help);
        for (source, src) in &s.sources {
            o.sample(name, &[("source", source)], get(src) as f64);
        }
    }
    o.family(
        "forewarn_source_rejected_total",
        "counter",
        "Messages, frames or values refused, by reason.",
    );
    for (source, src) in &s.sources {
        for (reason, n) in &src.rejected {
            o.sample(
                "forewarn_source_rejected_total",
                &[("source", source), ("reason", reason)],
                *n as f64,
            );
        }
    }
    o.family(
        "forewarn_source_connect_failures_total",
        "counter",
        "Failed connection attempts, by reason.",
    );
    for (source, src) in &s.sources {
        for (reason, n) in &src.connect_failures {
            o.sample(
                "forewarn_source_connect_failures_total",
                &[("source", source), ("reason", reason)],
                *n as f64,
            );
        }
    }

    o.family(
        "forewarn_outbox_records",
        "gauge",
        "Records waiting in the outbox, by class.",
    );
    for (class, c) in &s.outbox {
        o.sample(
            "forewarn_outbox_records",
            &[("class", class)],
            c.depth as f64,
        );
    }
    o.family(
        "forewarn_outbox_bytes",
        "gauge",
        "Bytes waiting in the outbox, by class.",
    );
    for (class, c) in &s.outbox {
        o.sample("forewarn_outbox_bytes", &[("class", class)], c.bytes as f64);
    }
    o.family(
        "forewarn_outbox_oldest_age_seconds",
        "gauge",
        "Age of the oldest waiting record, by class (absent when none waits).",
    );
    for (class, c) in &s.outbox {
        if let Some(age) = c.oldest_age_secs {
            o.sample(
                "forewarn_outbox_oldest_age_seconds",
                &[("class", class)],
                age,
            );
        }
    }
    o.family(
        "forewarn_outbox_evicted_total",
        "counter",
        "Records evicted to stay within the budget, by class (kept across restarts).",
    );
    for (class, c) in &s.outbox {
        o.sample(
            "forewarn_outbox_evicted_total",
            &[("class", class)],
            c.evicted as f64,
        );
    }
    o.family(
        "forewarn_outbox_refused",
        "gauge",
        "1 while the class's Kafka topic refuses the agent.",
    );
    for class in s.outbox.keys() {
        o.sample(
            "forewarn_outbox_refused",
            &[("class", class)],
            bool01(s.outbox_refused.contains(class)),
        );
    }
    o.gauge(
        "forewarn_outbox_budget_bytes",
        "The outbox's budget.",
        s.outbox_budget_bytes as f64,
    );
    o.gauge(
        "forewarn_outbox_dead_letters",
        "Records Kafka will never take, held as dead letters.",
        s.outbox_dead_letters as f64,
    );
    for (name, help, v) in [
        (
            "forewarn_outbox_write_lost_total",
            "Records lost because the outbox could not store them.",
            s.outbox_write_lost,
        ),
        (
            "forewarn_outbox_quarantined_total",
            "Undecodable outbox entries set aside (kept across restarts).",
            s.outbox_quarantined,
        ),
        (
            "forewarn_outbox_recovered_total",
            "Opens that used the previous snapshot of a damaged outbox.",
            s.outbox_recovered,
        ),
        (
            "forewarn_outbox_set_aside_total",
            "Damaged outboxes set aside for a fresh one.",
            s.outbox_set_aside,
        ),
        (
            "forewarn_delivered_total",
            "Records Kafka acknowledged.",
            s.delivered,
        ),
        (
            "forewarn_delivery_errors_total",
            "Failed deliveries (the records stay in the outbox).",
            s.delivery_errors,
        ),
        (
            "forewarn_time_rebases_total",
            "Event-time states restarted because their signal's time went back.",
            s.time_rebases,
        ),
    ] {
        o.counter(name, help, v as f64);
    }
    if let Some(t) = s.last_delivery_ns {
        o.gauge(
            "forewarn_last_delivery_timestamp_seconds",
            "When Kafka last acknowledged a record (Unix time).",
            t as f64 / 1e9,
        );
    }
    o.family(
        "forewarn_pipeline_drops_total",
        "counter",
        "Samples dropped in the pipeline, by reason.",
    );
    for (reason, n) in &s.pipeline_drops {
        o.sample(
            "forewarn_pipeline_drops_total",
            &[("reason", reason)],
            *n as f64,
        );
    }
    o.family(
        "forewarn_kafka_client_errors_total",
        "counter",
        "The Kafka clients' errors, by cause.",
    );
    for (cause, n) in &s.kafka_client_errors {
        o.sample(
            "forewarn_kafka_client_errors_total",
            &[("cause", cause)],
            *n as f64,
        );
    }
    o.family(
        "forewarn_stalled",
        "gauge",
        "1 while the stage has work and makes no progress (the systemd watchdog is not pinged).",
    );
    for stage in Stage::ALL {
        let name = stage.name();
        o.sample(
            "forewarn_stalled",
            &[("stage", name)],
            bool01(s.stalled.iter().any(|x| x == name)),
        );
    }

    models(&mut o, s);
    detectors(&mut o, s);

    o.family(
        "forewarn_http_responses_total",
        "counter",
        "Answers of this endpoint, by status code.",
    );
    for (code, n) in answered {
        o.sample(
            "forewarn_http_responses_total",
            &[("code", &code.to_string())],
            *n as f64,
        );
    }
    o.0
}

fn models(o: &mut Out, s: &Status) {
    o.family("forewarn_model_running", "gauge", "1 while the model runs.");
    for (m, st) in &s.models {
        o.sample(
            "forewarn_model_running",
            &[("model", m), ("version", &st.version)],
            bool01(st.running),
        );
    }
    let counters: [Counter<crate::record::ModelStatus>; 3] = [
        ("forewarn_model_windows_total", "Windows closed.", |m| {
            m.windows
        }),
        ("forewarn_model_inferences_total", "Inferences run.", |m| {
            m.inferences
        }),
        (
            "forewarn_model_errors_total",
            "Inferences that failed.",
            |m| m.errors,
        ),
    ];
    for (name, help, get) in counters {
        o.family(name, "counter", help);
        for (m, st) in &s.models {
            o.sample(name, &[("model", m)], get(st) as f64);
        }
    }
    o.family(
        "forewarn_model_latency_seconds",
        "gauge",
        "Inference latency quantiles since start.",
    );
    for (m, st) in &s.models {
        for (q, v) in [("0.5", st.latency_p50_us), ("0.99", st.latency_p99_us)] {
            if let Some(us) = v {
                o.sample(
                    "forewarn_model_latency_seconds",
                    &[("model", m), ("quantile", q)],
                    us / 1e6,
                );
            }
        }
    }
    o.family(
        "forewarn_model_drift_score",
        "gauge",
        "Input drift against the training data.",
    );
    for (m, st) in &s.models {
        if let Some(d) = st.drift_score {
            o.sample("forewarn_model_drift_score", &[("model", m)], d);
        }
    }
}

fn detectors(o: &mut Out, s: &Status) {
    o.family(
        "forewarn_detector_assets",
        "gauge",
        "Assets of the detector, by state.",
    );
    for (d, st) in &s.detectors {
        for (state, n) in [
            ("learning", st.learning),
            ("learned", st.learned),
            ("relearning", st.relearning),
            ("failed", st.failed),
        ] {
            o.sample(
                "forewarn_detector_assets",
                &[("detector", d), ("state", state)],
                n as f64,
            );
        }
    }
    o.family("forewarn_detector_steps_total", "counter", "Steps scored.");
    for (d, st) in &s.detectors {
        o.sample(
            "forewarn_detector_steps_total",
            &[("detector", d)],
            st.steps as f64,
        );
    }
    o.family(
        "forewarn_detector_skipped_steps_total",
        "counter",
        "Steps skipped (gaps).",
    );
    for (d, st) in &s.detectors {
        o.sample(
            "forewarn_detector_skipped_steps_total",
            &[("detector", d)],
            st.skipped_steps as f64,
        );
    }
}

fn bool01(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

#[derive(Default)]
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    fn counter(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, "counter", help);
        self.sample(name, &[], value);
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
