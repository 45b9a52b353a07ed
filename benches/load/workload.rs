//! The load generator: N MQTT publishers (QoS 1) on one tokio runtime, flat out or paced to a
//! target rate, plus a probe publisher whose samples flip a threshold rule (latency).
//!
//! The workload is the one `benches/peers/README.md` describes: 10 assets × 5 signals, one
//! sample per message (`bench/{asset}/{signal}`) or 20 objects of 5 signals per message
//! (`bench/{asset}`), `ts` the publisher's wall clock in µs, strictly increasing per asset.
//! Each asset belongs to one publisher, so its samples reach the broker in order.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};

pub const ASSETS: usize = 10;
pub const SIGNALS: [&str; 5] = ["temp", "vib", "pressure", "current", "speed"];
/// Objects per batched message (× 5 signals = 100 samples).
pub const BATCH_OBJECTS: usize = 20;
/// Probes per second, when the run has them.
const PROBE_HZ: u64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Single,
    Batched,
}

impl Shape {
    pub fn samples_per_message(self) -> usize {
        match self {
            Shape::Single => 1,
            Shape::Batched => BATCH_OBJECTS * SIGNALS.len(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Shape::Single => "single",
            Shape::Batched => "batched",
        }
    }
}

/// One run's traffic.
#[derive(Debug, Clone)]
pub struct Load {
    pub shape: Shape,
    pub messages: usize,
    /// Messages per second over all publishers; `None` = flat out.
    pub rate: Option<f64>,
    pub publishers: usize,
    pub probes: bool,
}

/// What was published, as the broker acknowledged it.
#[derive(Debug, Clone)]
pub struct Published {
    pub messages: usize,
    pub samples: u64,
    pub probes: u64,
    pub secs: f64,
}

pub use super::observe::now_us;

/// A vibration-like value: a 162 Hz tone on a 30 Hz shaft tone (values in CWRU's scale).
fn value(signal: usize, k: u64) -> f64 {
    let t = k as f64 / 12_000.0;
    match signal {
        0 => 40.0 + (k % 50) as f64 * 0.1,
        1 => {
            0.07 * (std::f64::consts::TAU * 162.0 * t).sin()
                + 0.03 * (std::f64::consts::TAU * 30.0 * t).sin()
        }
        2 => 5.0 + (k % 13) as f64 * 0.01,
        3 => 12.0 + (k % 7) as f64 * 0.1,
        _ => 1480.0 + (k % 11) as f64,
    }
}

fn options(id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_max_packet_size(1 << 20, 1 << 20)
        .set_inflight(100)
        .set_keep_alive(Duration::from_secs(30));
    o
}

/// Polls a publisher's event loop until `stop` is set and every publish was acknowledged.
async fn pump(mut el: EventLoop, acked: Arc<AtomicU64>) {
    loop {
        match el.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Incoming(Packet::Disconnect)) | Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                return
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("load: publisher connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Publishes `load` on the broker at `port` and returns once the broker acknowledged all of it.
pub fn publish(port: u16, load: &Load) -> Published {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("publisher runtime");
    rt.block_on(publish_async(port, load.clone()))
}

async fn publish_async(port: u16, load: Load) -> Published {
    let publishers = load.publishers.clamp(1, ASSETS);
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));

    // The probe: one sample a tenth of a second, 0 and 100 in turn.
    let probe = if load.probes {
        let (client, el) = AsyncClient::new(options("bench-probe", port), 16);
        let acked = Arc::new(AtomicU64::new(0));
        let pumping = tokio::spawn(pump(el, acked.clone()));
        let done = done.clone();
        let sender = tokio::spawn(async move {
            let mut sent = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / PROBE_HZ));
            while !done.load(Ordering::Relaxed) {
                tick.tick().await;
                let v = if sent.is_multiple_of(2) { 100 } else { 0 };
                let payload = format!("{{\"ts\":{},\"value\":{v}}}", now_us());
                if client
                    .publish("bench/probe/lat", QoS::AtLeastOnce, false, payload)
                    .await
                    .is_err()
                {
                    break;
                }
                sent += 1;
            }
            // The last probe goes out after the broker acknowledged every load message: its
            // alert marks the moment the consumer had processed the whole load.
            let v = if sent.is_multiple_of(2) { 100 } else { 0 };
            let payload = format!("{{\"ts\":{},\"value\":{v}}}", now_us());
            if client
                .publish("bench/probe/lat", QoS::AtLeastOnce, false, payload)
                .await
                .is_ok()
            {
                sent += 1;
            }
            (client, sent)
        });
        Some((sender, pumping, acked))
    } else {
        None
    };

    let mut tasks = Vec::new();
    for p in 0..publishers {
        let count = load.messages / publishers + usize::from(p < load.messages % publishers);
        let rate = load.rate.map(|r| r / publishers as f64);
        let shape = load.shape;
        let (client, el) = AsyncClient::new(options(&format!("bench-pub-{p}"), port), 1000);
        let acked = Arc::new(AtomicU64::new(0));
        let pumping = tokio::spawn(pump(el, acked.clone()));
        tasks.push(tokio::spawn(async move {
            let assets: Vec<usize> = (p..ASSETS).step_by(publishers).collect();
            let mut last_ts = [0u64; ASSETS];
            let mut k = [0u64; ASSETS];
            let t0 = tokio::time::Instant::now();
            for m in 0..count {
                if let Some(r) = rate {
                    let due = t0 + Duration::from_secs_f64(m as f64 / r);
                    if due > tokio::time::Instant::now() {
                        tokio::time::sleep_until(due).await;
                    }
                }
                let (topic, payload) = match shape {
                    Shape::Single => {
                        let a = assets[(m / SIGNALS.len()) % assets.len()];
                        let s = m % SIGNALS.len();
                        let ts = now_us().max(last_ts[a] + 1);
                        last_ts[a] = ts;
                        k[a] += 1;
                        (
                            format!("bench/asset-{a}/{}", SIGNALS[s]),
                            format!("{{\"ts\":{ts},\"value\":{:.4}}}", value(s, k[a])),
                        )
                    }
                    Shape::Batched => {
                        let a = assets[m % assets.len()];
                        let base = now_us().max(last_ts[a] + 1);
                        last_ts[a] = base + BATCH_OBJECTS as u64 - 1;
                        let mut out = String::with_capacity(BATCH_OBJECTS * 110);
                        out.push('[');
                        for i in 0..BATCH_OBJECTS {
                            k[a] += 1;
                            if i > 0 {
                                out.push(',');
                            }
                            out.push_str(&format!("{{\"ts\":{}", base + i as u64));
                            for (s, name) in SIGNALS.iter().enumerate() {
                                out.push_str(&format!(",\"{name}\":{:.4}", value(s, k[a])));
                            }
                            out.push('}');
                        }
                        out.push(']');
                        (format!("bench/asset-{a}"), out)
                    }
                };
                client
                    .publish(topic, QoS::AtLeastOnce, false, payload)
                    .await
                    .expect("queue a publish");
            }
            // Wait for the broker to acknowledge everything, then hang up.
            while acked.load(Ordering::Relaxed) < count as u64 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = client.disconnect().await;
            let _ = tokio::time::timeout(Duration::from_secs(2), pumping).await;
        }));
    }
    for t in tasks {
        t.await.expect("publisher task");
    }
    let secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let mut probes = 0;
    if let Some((sender, pumping, acked)) = probe {
        let (client, sent) = sender.await.expect("probe task");
        let end = Instant::now() + Duration::from_secs(5);
        while acked.load(Ordering::Relaxed) < sent && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        probes = acked.load(Ordering::Relaxed);
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), pumping).await;
    }
    Published {
        messages: load.messages,
        samples: (load.messages * load.shape.samples_per_message()) as u64,
        probes,
        secs,
    }
}

/// CSV lines for the serial source (`ts,temp,vib,pressure,current,speed`), `lines` of them;
/// `last_ts` keeps time rising from one call to the next.
pub fn serial_lines(lines: usize, first: usize, last_ts: &mut u64) -> String {
    let mut out = String::with_capacity(lines * 64);
    let mut ts = now_us().max(*last_ts + 1);
    for i in first..first + lines {
        ts += 1;
        *last_ts = ts;
        out.push_str(&format!("{ts}"));
        for s in 0..SIGNALS.len() {
            out.push_str(&format!(",{:.4}", value(s, i as u64)));
        }
        out.push('\n');
    }
    out
}

/// The serial run's last line: its speed crosses the `end-marker` rule.
pub fn serial_end_line(last_ts: &mut u64) -> String {
    *last_ts += 1;
    format!("{},40.0,0.0,5.0,12.0,2000000.0\n", *last_ts)
}
