//! Serial devices: a byte stream → newline frames (`LineFramer`) → samples (`parse_line`), in
//! every line format a serial source supports (csv, json, kv).
//!
//! Input layout: byte 0 picks the frame limit (that of the csv, json or kv source); bytes 1-2
//! seed the chunk sizes the stream arrives in; the rest is the stream. The frames must not
//! depend on how the stream was chunked, and each frame is parsed as all three formats.

#![no_main]

use std::sync::OnceLock;

use forewarn::config::{LineFormat, SerialConfig, SourceConfig, TimestampConfig};
use forewarn::ingest::payload::SampleBuilder;
use forewarn::ingest::serial::framer::LineFramer;
use forewarn::ingest::serial::line::{parse_line, LineFormatSpec};
use forewarn::ingest::{AssetIndex, Decoded, Reject};
use forewarn_fuzz::{check_decoded, fuzz_config, Rng, ARRIVAL_NS};
use libfuzzer_sys::fuzz_target;

struct Source {
    spec: LineFormatSpec,
    timestamp: TimestampConfig,
    max_frame_bytes: usize,
}

struct Setup {
    index: AssetIndex,
    sources: Vec<Source>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let config = fuzz_config();
        let index = AssetIndex::new(&config.assets);
        // Built as `SerialSource::run` builds its spec, from the validated section.
        let sources: Vec<Source> = config
            .sources
            .iter()
            .filter_map(|s| match s {
                SourceConfig::Serial(c) => Some(source(c)),
                _ => None,
            })
            .collect();
        let formats: Vec<LineFormat> = sources.iter().map(|s| s.spec.format).collect();
        assert_eq!(
            formats,
            [LineFormat::Csv, LineFormat::Json, LineFormat::KeyValue],
            "the fuzz config has one serial source per line format"
        );
        Setup { index, sources }
    })
}

fn source(c: &SerialConfig) -> Source {
    Source {
        spec: LineFormatSpec {
            format: c.format,
            fields: c.fields.clone(),
            asset: c.asset.clone(),
        },
        timestamp: c.timestamp.clone(),
        max_frame_bytes: c.max_frame_bytes,
    }
}

type Frame = Result<String, Reject>;

fn frames(max: usize, chunks: &mut dyn Iterator<Item = &[u8]>) -> Vec<Frame> {
    let mut framer = LineFramer::new(max);
    let mut out = Vec::new();
    for chunk in chunks {
        framer.push(chunk, |f| out.push(f.map(str::to_string)));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let setup = setup();
    let max = setup.sources[usize::from(data[0]) % setup.sources.len()].max_frame_bytes;
    let mut rng = Rng::new(u64::from(u16::from_le_bytes([data[1], data[2]])));
    let stream = &data[3..];

    // As the serial task sees it: reads of whatever size the driver hands over.
    let mut rest = stream;
    let chunked = frames(
        max,
        &mut std::iter::from_fn(|| {
            if rest.is_empty() {
                return None;
            }
            let n = 1 + rng.below(2 * max + 2).min(rest.len() - 1);
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            Some(chunk)
        }),
    );
    let whole = frames(max, &mut std::iter::once(stream));
    assert_eq!(chunked, whole, "serial: frames depend on the chunking");

    let newlines = stream.iter().filter(|&&b| b == b'\n').count();
    let complete = chunked
        .iter()
        .filter(|f| !matches!(f, Err(Reject::Oversize)))
        .count();
    assert!(
        complete <= newlines,
        "serial: {complete} frames from {newlines} newlines"
    );

    for frame in &chunked {
        let line = match frame {
            Ok(line) => line,
            Err(Reject::Oversize | Reject::BadUtf8) => continue,
            Err(r) => panic!("serial: the framer reported {r:?}"),
        };
        assert!(
            line.len() <= max && !line.contains('\n'),
            "serial: frame of {} bytes (max {max}) or with a newline",
            line.len()
        );
        for source in &setup.sources {
            let builder = SampleBuilder {
                index: &setup.index,
                timestamp: &source.timestamp,
                arrival_ns: ARRIVAL_NS,
            };
            let d = parse_line(&source.spec, &builder, line);
            check_line(&d, source, &setup.index, line);
        }
    }
});

fn check_line(d: &Decoded, source: &Source, index: &AssetIndex, line: &str) {
    check_decoded(d, index, line.len(), "serial line");
    for r in &d.rejects {
        assert!(
            !matches!(
                r,
                Reject::Oversize | Reject::BadUtf8 | Reject::UnknownTopic | Reject::Overload
            ),
            "serial line: reported {r:?}, which belongs to the framer or to MQTT"
        );
    }
    if line.trim().is_empty() {
        assert_eq!(
            *d,
            Decoded::default(),
            "serial line: empty lines are ignored"
        );
    }
    if source.spec.format == LineFormat::Csv {
        // One result per value column, or one reject for the whole line.
        let ts = source.timestamp.field.as_deref().unwrap_or("ts");
        let columns = source
            .spec
            .fields
            .iter()
            .filter(|f| *f != "_" && *f != ts)
            .count()
            .max(1);
        assert!(
            d.samples.len() + d.rejects.len() <= columns,
            "serial csv: {} results from {columns} value columns",
            d.samples.len() + d.rejects.len()
        );
    }
}
