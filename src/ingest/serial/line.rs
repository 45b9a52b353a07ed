//! One text line from a serial device → samples, in the configured format.
//!
//! - `csv`: comma-separated values, one per configured field; `ts` is the event time, `_`
//!   skips a column: `1767600000123,41.2,0.31` with `fields = ["ts", "temp", "vib"]`. Fields
//!   may be quoted, as in the replay source ([`crate::ingest::csv_fields`]).
//! - `json`: one JSON object per line, read like an MQTT object payload.
//! - `kv`: `key=value` pairs separated by spaces, commas or semicolons:
//!   `ts=1767600000 temp=41.2 vib=0.31` (`asset=...` overrides the source's asset).
//!
//! Empty lines are ignored. A line with the wrong number of CSV columns, a CSV quote that does
//! not close, or a `kv` token without `=` is `malformed`; a value that is not a number is
//! rejected alone.

use serde_json::Value;

use crate::config::LineFormat;
use crate::ingest::payload::{parse_number, SampleBuilder};
use crate::ingest::{csv_fields, time, Decoded, Reject};

/// How lines of one source are read.
#[derive(Debug, Clone)]
pub struct LineFormatSpec {
    pub format: LineFormat,
    pub fields: Vec<String>,
    pub asset: String,
}

pub fn parse_line(spec: &LineFormatSpec, b: &SampleBuilder<'_>, line: &str) -> Decoded {
    let mut out = Decoded::default();
    let line = line.trim();
    if line.is_empty() {
        return out;
    }
    match spec.format {
        LineFormat::Csv => csv(spec, b, line, &mut out),
        LineFormat::Json => match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(map)) => b.object(&spec.asset, None, &map, &mut out),
            _ => out.rejects.push(Reject::Malformed),
        },
        LineFormat::KeyValue => kv(spec, b, line, &mut out),
    }
    out
}

fn ts_of(b: &SampleBuilder<'_>, text: &str) -> Result<i64, Reject> {
    time::from_text(text, b.timestamp.unit)
}

fn csv(spec: &LineFormatSpec, b: &SampleBuilder<'_>, line: &str, out: &mut Decoded) {
    let Ok(cols) = csv_fields::split(line) else {
        return out.rejects.push(Reject::Malformed);
    };
    if cols.len() != spec.fields.len() {
        return out.rejects.push(Reject::Malformed);
    }
    let ts_field = b.timestamp.field.as_deref().unwrap_or("ts");
    let mut ts = b.arrival_ns;
    if let Some(i) = spec.fields.iter().position(|f| f == ts_field) {
        match ts_of(b, &cols[i]) {
            Ok(t) => ts = t,
            Err(r) => return out.rejects.push(r),
        }
    }
    for (field, text) in spec.fields.iter().zip(&cols) {
        if field == ts_field || field == "_" {
            continue;
        }
        match parse_number(text) {
            Ok(v) => b.push(&spec.asset, field, v, ts, out),
            Err(r) => out.rejects.push(r),
        }
    }
}

fn kv(spec: &LineFormatSpec, b: &SampleBuilder<'_>, line: &str, out: &mut Decoded) {
    let ts_field = b.timestamp.field.as_deref().unwrap_or("ts");
    let mut pairs = Vec::new();
    for token in line.split([' ', ',', ';', '\t']).filter(|t| !t.is_empty()) {
        match token.split_once('=') {
            Some((k, v)) if !k.is_empty() => pairs.push((k, v)),
            _ => return out.rejects.push(Reject::Malformed),
        }
    }
    let mut ts = b.arrival_ns;
    let mut asset = spec.asset.as_str();
    for (k, v) in &pairs {
        if *k == ts_field {
            match ts_of(b, v) {
                Ok(t) => ts = t,
                Err(r) => return out.rejects.push(r),
            }
        } else if *k == "asset" {
            asset = v;
        }
    }
    for (k, v) in pairs {
        if k == ts_field || k == "asset" {
            continue;
        }
        match parse_number(v) {
            Ok(x) => b.push(asset, k, x, ts, out),
            Err(r) => out.rejects.push(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AssetConfig, SignalConfig, TimeUnit, TimestampConfig};
    use crate::ingest::AssetIndex;
    use std::sync::Arc;

    fn index() -> AssetIndex {
        AssetIndex::new(&[AssetConfig {
            id: Arc::from("pump-1"),
            meta: Default::default(),
            signals: ["temp", "vib"]
                .iter()
                .map(|s| SignalConfig {
                    name: Arc::from(*s),
                    unit: None,
                    interval: None,
                    compression: None,
                })
                .collect(),
        }])
    }

    fn run(format: LineFormat, fields: &[&str], line: &str) -> Decoded {
        let idx = index();
        let ts = TimestampConfig {
            field: Some("ts".into()),
            unit: TimeUnit::Auto,
            policy: crate::ingest::time_guard::TimePolicy::defaults(true),
        };
        let b = SampleBuilder {
            index: &idx,
            timestamp: &ts,
            arrival_ns: 5,
        };
        let spec = LineFormatSpec {
            format,
            fields: fields.iter().map(|s| s.to_string()).collect(),
            asset: "pump-1".into(),
        };
        parse_line(&spec, &b, line)
    }

    #[test]
    fn csv_line_maps_columns_to_signals() {
        let d = run(
            LineFormat::Csv,
            &["ts", "temp", "_", "vib"],
            "1767600000, 41.5, xx, 0.5",
        );
        assert_eq!(d.samples.len(), 2);
        assert_eq!(d.samples[0].ts_ns, 1_767_600_000_000_000_000);
        assert_eq!(
            (d.samples[1].signal.as_ref(), d.samples[1].value),
            ("vib", 0.5)
        );
    }

    #[test]
    fn csv_with_wrong_column_count_or_bad_values_is_rejected() {
        assert_eq!(
            run(LineFormat::Csv, &["ts", "temp"], "1,2,3").rejects,
            vec![Reject::Malformed]
        );
        let d = run(LineFormat::Csv, &["temp", "vib"], "NaN,abc");
        assert!(d.samples.is_empty());
        assert_eq!(d.rejects, vec![Reject::NonFinite, Reject::NotNumeric]);
    }

    #[test]
    fn csv_lines_may_quote_fields() {
        let d = run(
            LineFormat::Csv,
            &["ts", "temp", "_", "vib"],
            r#""1767600000","41.5","bay 2, ""east""",0.5"#,
        );
        let got: Vec<_> = d.samples.iter().map(|s| (&*s.signal, s.value)).collect();
        assert_eq!(got, [("temp", 41.5), ("vib", 0.5)]);
        assert!(d.rejects.is_empty());
        let d = run(
            LineFormat::Csv,
            &["ts", "temp", "vib"],
            r#"1767600000,"41.5,0.5"#,
        );
        assert_eq!(d.rejects, [Reject::Malformed]);
    }

    #[test]
    fn kv_and_json_lines_are_read() {
        let d = run(LineFormat::KeyValue, &[], "ts=1767600000;temp=41.5 vib=0.5");
        assert_eq!(d.samples.len(), 2);
        let d = run(LineFormat::Json, &[], r#"{"temp": 40, "vib": 1}"#);
        assert_eq!(d.samples.len(), 2);
        assert_eq!(d.samples[0].ts_ns, 5);
        assert_eq!(
            run(LineFormat::KeyValue, &[], "temp 41").rejects,
            vec![Reject::Malformed]
        );
        assert_eq!(
            run(LineFormat::Json, &[], "[1,2]").rejects,
            vec![Reject::Malformed]
        );
    }
}
