//! The `pipeline` group: decode → windows → features, and the agent's whole path for vibration.

use super::*;

/// Decode → sample window → features, for one vibration asset.
pub(crate) struct VibPipeline {
    decoder: MqttDecoder,
    messages: Vec<Vec<u8>>,
    next: usize,
    period_ns: i64,
    shift_ns: i64,
    windower: Windower,
    extractor: FeatureExtractor,
    features: Vec<f32>,
    windows: u64,
}

impl VibPipeline {
    fn new(config: &Config, bearing: &Manifest) -> VibPipeline {
        let (messages, period_ns) = vib_messages();
        let ex = extractor(bearing);
        VibPipeline {
            decoder: mqtt_decoder(config, "plant"),
            messages,
            next: 0,
            period_ns,
            shift_ns: 0,
            windower: Windower::new(bearing.window, bearing.signals.len()).expect("window"),
            features: vec![0.0; ex.len()],
            extractor: ex,
            windows: 0,
        }
    }

    /// One message; returns its sample count.
    fn message(&mut self) -> u64 {
        let d = self
            .decoder
            .decode(VIB_TOPIC, &self.messages[self.next], now_ns());
        let (windower, extractor, features, windows) = (
            &mut self.windower,
            &mut self.extractor,
            &mut self.features,
            &mut self.windows,
        );
        for s in &d.samples {
            windower.push(0, s.ts_ns + self.shift_ns, s.value, |w| {
                extractor
                    .extract(&[w.signals[0].as_slice()], features)
                    .expect("bearing-fault features");
                *windows += 1;
            });
        }
        black_box(&self.features);
        self.next += 1;
        if self.next == self.messages.len() {
            self.next = 0;
            self.shift_ns += self.period_ns;
        }
        d.samples.len() as u64
    }
}

/// Decode → processor (buckets, threshold rules) → model runner, as the processing task and
/// the model thread do it (`process::stage`, `model::stage`).
pub(crate) struct AgentPath {
    decoder: MqttDecoder,
    messages: Vec<Vec<u8>>,
    next: usize,
    period_ns: i64,
    shift_ns: i64,
    processor: Processor,
    runner: ModelRunner,
    wanted: WantedSignals,
    records: Vec<Record>,
}

impl AgentPath {
    fn new(config: &Config, bearing: Arc<LoadedModel>) -> AgentPath {
        let (messages, period_ns) = vib_messages();
        let mc = config.models.first().expect("a [[models]] entry");
        let bindings: Vec<Binding> = mc
            .bindings
            .iter()
            .map(|(asset, signals)| Binding {
                asset: asset.clone(),
                signals: signals.clone(),
                meta: config
                    .assets
                    .iter()
                    .find(|a| &a.id == asset)
                    .map(|a| a.meta.clone())
                    .unwrap_or_default(),
            })
            .collect();
        let runner = ModelRunner::new(
            &config.gateway.id,
            &config.gateway.site,
            vec![(bearing, bindings)],
        )
        .expect("model runner");
        AgentPath {
            decoder: mqtt_decoder(config, "plant"),
            messages,
            next: 0,
            period_ns,
            shift_ns: 0,
            processor: Processor::new(config),
            runner,
            wanted: wanted_signals(config),
            records: Vec::new(),
        }
    }

    fn message(&mut self) -> u64 {
        let mut batch = self
            .decoder
            .decode(VIB_TOPIC, &self.messages[self.next], now_ns())
            .samples;
        for s in &mut batch {
            s.ts_ns += self.shift_ns;
        }
        let now = now_ns();
        for s in &batch {
            self.processor.push(s, now, &mut self.records);
        }
        let for_models: Vec<Sample> = batch
            .iter()
            .filter(|s| self.wanted.contains(&s.asset, &s.signal))
            .cloned()
            .collect();
        for s in &for_models {
            self.runner.push(s, &mut self.records);
        }
        black_box(&self.records);
        self.records.clear();
        self.next += 1;
        if self.next == self.messages.len() {
            self.next = 0;
            self.shift_ns += self.period_ns;
        }
        batch.len() as u64
    }
}

pub(crate) fn bench_pipeline(c: &mut Criterion, config: &Config, bearing: &Arc<LoadedModel>) {
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(VIB_MESSAGE as u64));

    let mut p = VibPipeline::new(config, &bearing.manifest);
    assert_eq!(p.message(), VIB_MESSAGE as u64, "vibration message");
    let mut fast = Rate::default();
    g.bench_function("decode_window_features", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let mut samples = 0;
            for _ in 0..iters {
                samples += p.message();
            }
            let t = start.elapsed();
            fast.samples += samples;
            fast.elapsed += t;
            t
        })
    });

    let mut a = AgentPath::new(config, bearing.clone());
    let mut full = Rate::default();
    g.bench_function("agent_path", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let mut samples = 0;
            for _ in 0..iters {
                samples += a.message();
            }
            let t = start.elapsed();
            full.samples += samples;
            full.elapsed += t;
            t
        })
    });
    g.finish();

    // In test mode one iteration ran (unoptimised under `cargo test`): a figure, no verdict.
    let test = test_mode();
    let note = if test {
        " (test mode: a single iteration, not a measurement)"
    } else {
        ""
    };
    if fast.samples > 0 {
        let rate = fast.per_sec();
        let verdict = match (test, rate >= PIPELINE_TARGET) {
            (true, _) => String::new(),
            (false, met) => format!(
                "; target >= {} samples/s per core: {}",
                thousands(PIPELINE_TARGET),
                if met { "met" } else { "NOT met" }
            ),
        };
        println!(
            "pipeline decode + windows + features: {} samples/s per core ({:.0} ns/sample; {} samples, {} windows of 2048){note}{verdict}",
            thousands(rate),
            1e9 / rate,
            thousands(fast.samples as f64),
            thousands(p.windows as f64),
        );
    }
    if full.samples > 0 {
        let rate = full.per_sec();
        println!(
            "pipeline agent path (decode + buckets + thresholds + windows + features + tract + model rules): {} samples/s per core ({:.0} ns/sample){note}",
            thousands(rate),
            1e9 / rate,
        );
    }
}
