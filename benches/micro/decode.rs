//! The `decode` group: the agent's decoders as the sources call them.

use super::*;

pub(crate) fn bench_decode(c: &mut Criterion, config: &Config) {
    let mut g = c.benchmark_group("decode");

    // One sample per message, signal in the topic, µs timestamp.
    let single = mqtt_decoder(config, "plant-signals");
    let payload = br#"{"ts":1767600000123456,"value":41.25}"#;
    assert_eq!(
        single
            .decode("bench/asset-3/temp", payload, 0)
            .samples
            .len(),
        1
    );
    g.throughput(Throughput::Elements(1));
    g.bench_function("json_single", |b| {
        b.iter(|| {
            single.decode(
                black_box("bench/asset-3/temp"),
                black_box(payload),
                now_ns(),
            )
        })
    });

    // The load bench's message, as JSON and as CBOR.
    let plant = mqtt_decoder(config, "plant");
    let mut noise = Noise(7);
    let docs: Vec<(String, Value)> = (0..ASSETS).map(|m| load_message(m, &mut noise)).collect();
    let json: Vec<(String, Vec<u8>)> = docs
        .iter()
        .map(|(t, d)| (t.clone(), serde_json::to_vec(d).expect("JSON")))
        .collect();
    let cbor: Vec<(String, Vec<u8>)> = docs
        .iter()
        .map(|(t, d)| (t.clone(), to_cbor(d).expect("CBOR")))
        .collect();
    let per_message = (BATCH * SIGNALS.len()) as u64;
    for (name, messages) in [("json_batch", &json), ("cbor_batch", &cbor)] {
        for (topic, payload) in messages {
            let d = plant.decode(topic, payload, 0);
            assert_eq!(
                (d.samples.len(), d.rejects.len()),
                (per_message as usize, 0),
                "{name}"
            );
        }
        g.throughput(Throughput::Elements(per_message));
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                let (topic, payload) = &messages[i % messages.len()];
                i += 1;
                plant.decode(topic, black_box(payload), now_ns())
            })
        });
    }

    // RS-485 CSV lines, as the serial source reads them.
    let serial = config
        .sources
        .iter()
        .find_map(|s| match s {
            SourceConfig::Serial(s) => Some(s.clone()),
            _ => None,
        })
        .expect("serial source");
    let index = AssetIndex::new(&config.assets);
    let spec = LineFormatSpec {
        format: serial.format,
        fields: serial.fields.clone(),
        asset: serial.asset.clone(),
    };
    let mut noise = Noise(11);
    let line = |i: usize, noise: &mut Noise| {
        let ts = T0_US + i as i64 * 100_000;
        let v: Vec<String> = (0..SIGNALS.len())
            .map(|k| format!("{:.4}", reading(k, 0, ts, noise)))
            .collect();
        format!("{ts},{}\r\n", v.join(","))
    };
    let one = line(0, &mut noise);
    let builder = SampleBuilder {
        index: &index,
        timestamp: &serial.timestamp,
        arrival_ns: 0,
    };
    assert_eq!(
        parse_line(&spec, &builder, one.trim_end()).samples.len(),
        SIGNALS.len()
    );
    g.throughput(Throughput::Elements(SIGNALS.len() as u64));
    g.bench_function("serial_csv_line", |b| {
        b.iter(|| {
            let builder = SampleBuilder {
                index: &index,
                timestamp: &serial.timestamp,
                arrival_ns: now_ns(),
            };
            parse_line(&spec, &builder, black_box(one.trim_end()))
        })
    });

    let mut chunk = String::new();
    let mut lines = 0;
    loop {
        let l = line(lines, &mut noise);
        if chunk.len() + l.len() > 64 * 1024 {
            break;
        }
        chunk.push_str(&l);
        lines += 1;
    }
    let chunk = chunk.into_bytes();
    let mut framer = LineFramer::new(serial.max_frame_bytes);
    let read_chunk = |framer: &mut LineFramer| {
        let mut batch = Vec::new();
        let mut rejected = 0;
        for read in chunk.chunks(4096) {
            let builder = SampleBuilder {
                index: &index,
                timestamp: &serial.timestamp,
                arrival_ns: now_ns(),
            };
            framer.push(read, |frame| {
                let decoded = match frame {
                    Ok(text) => parse_line(&spec, &builder, text),
                    Err(r) => Decoded::reject(r),
                };
                rejected += decoded.rejects.len();
                batch.extend(decoded.samples);
            });
        }
        (batch, rejected)
    };
    let (batch, rejected) = read_chunk(&mut framer);
    assert_eq!(
        (batch.len(), rejected),
        (lines * SIGNALS.len(), 0),
        "serial chunk"
    );
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("serial_csv_64KiB", |b| b.iter(|| read_chunk(&mut framer)));
    g.finish();
}
