//! What the bench watches: a process's CPU time and resident memory (`/proc`), and what reached
//! Kafka (a consumer that reads the telemetry and alert topics from the beginning, sums the
//! bucket counts by arrival time and times each probe alert).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// Wall clock, µs since the epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A `/proc/<pid>/status` field in KiB (0 if unreadable).
pub fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with(key))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// utime + stime of a process, in seconds (clock ticks of 10 ms).
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

/// Peak resident set (VmHWM), in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    status_kb(pid, "VmHWM:") as f64 / 1024.0
}

/// Samples a process's resident memory every 100 ms until stopped.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<(f64, u64)>>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut v = Vec::new();
            while !s.load(Ordering::Relaxed) {
                v.push((t0.elapsed().as_secs_f64(), status_kb(pid, "VmRSS:")));
                std::thread::sleep(Duration::from_millis(100));
            }
            v
        });
        RssSampler {
            stop,
            thread: Some(thread),
        }
    }

    /// The samples: (seconds since start, RSS in KiB).
    pub fn finish(mut self) -> Vec<(f64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

/// The median RSS (MiB) of the second half of a run: memory once it settled.
pub fn steady_rss_mib(samples: &[(f64, u64)]) -> f64 {
    let mut tail: Vec<u64> = samples[samples.len() / 2..].iter().map(|s| s.1).collect();
    tail.sort_unstable();
    tail.get(tail.len() / 2).copied().unwrap_or(0) as f64 / 1024.0
}

/// Counted units (samples in buckets, or messages) and when the last one arrived.
#[derive(Default)]
pub struct Arrivals {
    pub total: u64,
    /// Wall clock (ns since the epoch) of the latest arrival.
    pub last_ns: f64,
}

impl Arrivals {
    pub fn add(&mut self, n: u64) {
        self.total += n;
        self.last_ns = now_us() as f64 * 1e3;
    }
}

#[derive(Default)]
pub struct Seen {
    /// Samples accounted for by telemetry buckets.
    pub samples: Arrivals,
    pub records: u64,
    pub probe_alerts: u64,
    pub model_alerts: u64,
    /// Probe sample → alert received: (the probe's `ts` in ns, latency in ms).
    pub latencies: Vec<(f64, f64)>,
    /// The marker alert of the newest event time (the last probe, or the serial run's end
    /// marker): (its `ts` in ns, wall clock in ns when it was received). The consumer had
    /// processed everything published before it by then.
    pub marker: Option<(f64, f64)>,
    pub undecodable: u64,
    /// Baseline records on the status topic (detectors that learned).
    pub baselines: u64,
}

/// A Kafka consumer thread reading the telemetry and alert topics from the beginning (and the
/// status topic, for baseline records only).
pub struct KafkaObserver {
    pub seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KafkaObserver {
    pub fn start(bootstrap: &str, topics: &[&str], partitions: i32) -> KafkaObserver {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "bench-observer")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "20")
            .create()
            .expect("observer consumer");
        let mut tpl = TopicPartitionList::new();
        for t in topics {
            for p in 0..partitions {
                tpl.add_partition_offset(t, p, Offset::Beginning)
                    .expect("partition");
            }
        }
        consumer.assign(&tpl).expect("assign");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) else {
                    continue;
                };
                let now_ns = now_us() as f64 * 1e3;
                let json: serde_json::Value =
                    serde_json::from_slice(m.payload().unwrap_or_default())
                        .unwrap_or(serde_json::Value::Null);
                let mut seen = s.lock().expect("observer state");
                if m.topic().ends_with("status") {
                    // Not counted as records out: only what the detectors learned.
                    if json["schema"] == "forewarn.baseline.v1" {
                        seen.baselines += 1;
                    }
                    continue;
                }
                seen.records += 1;
                if json.is_null() {
                    seen.undecodable += 1;
                    continue;
                }
                if m.topic().ends_with("telemetry") {
                    let n = json["count"].as_u64().unwrap_or(0);
                    seen.samples.add(n);
                } else if json["rule"] == "lat-high" || json["rule"] == "end-marker" {
                    if let Some(ts) = json["ts_ns"].as_f64() {
                        if json["rule"] == "lat-high" {
                            seen.probe_alerts += 1;
                            seen.latencies.push((ts, (now_ns - ts) / 1e6));
                        }
                        if seen.marker.is_none_or(|(t, _)| ts > t) {
                            seen.marker = Some((ts, now_ns));
                        }
                    }
                } else {
                    seen.model_alerts += 1;
                }
            }
        });
        KafkaObserver {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits until `expected` samples were accounted for, or `timeout`, or (a consumer that
    /// lost data) until the end marker came back and nothing new arrived for 15 s: the
    /// consumer's buckets close 2-3 s after their last sample, so nothing more is coming.
    /// Returns the count.
    pub fn wait_samples(&self, expected: u64, timeout: Duration) -> u64 {
        let end = Instant::now() + timeout;
        let (mut last, mut since) = (0, Instant::now());
        loop {
            let (n, marker) = self
                .seen
                .lock()
                .map(|s| (s.samples.total, s.marker.is_some()))
                .unwrap_or((0, false));
            if n != last {
                (last, since) = (n, Instant::now());
            }
            let stalled = marker && since.elapsed() > Duration::from_secs(15);
            if n >= expected || Instant::now() > end || stalled {
                return n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        Arc::try_unwrap(self.seen)
            .ok()
            .and_then(|m| m.into_inner().ok())
            .unwrap_or_default()
    }
}

/// The q-quantile (0..1) of unsorted values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v.get(i).copied()
}
