//! The replay source: a CSV recording (or a user's CSV log, for backfill) played into the
//! pipeline.
//!
//! Format: a header row naming the columns, then one row per line and instant. Fields may be
//! quoted (`"pump, east"`, `""` for a quote inside: [`super::csv_fields`]); a row whose quotes
//! do not close is `malformed` (a header whose quotes do not close splits at every comma). `ts`
//! (or the configured timestamp field) holds the event time; an optional `asset` column names
//! the asset per row, otherwise the source's `asset` applies; every other column is a signal. Empty cells are
//! skipped (not every signal is sampled at every instant). Rows are paced at `rows_per_sec`, or
//! sent as fast as the pipeline takes them (waiting, never dropping) when that is 0. The source
//! ends at end of file.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::csv_fields;
use super::payload::{parse_number, SampleBuilder};
use super::time_guard::TimeGuard;
use super::{time, AssetIndex, Batch, Decoded, Reject};
use crate::channel::Sender;
use crate::config::ReplayConfig;
use crate::monitor::SourceMetrics;
use crate::record::now_ns;

pub struct ReplaySource {
    pub config: ReplayConfig,
    pub index: Arc<AssetIndex>,
    pub metrics: Arc<SourceMetrics>,
}

/// Column roles, from the header row.
struct Header {
    ts: Option<usize>,
    asset: Option<usize>,
    names: Vec<String>,
}

impl Header {
    /// A header whose quotes do not close splits at every comma.
    fn parse(line: &str, ts_field: &str) -> Header {
        let line = line.trim();
        let names: Vec<String> = match csv_fields::split(line) {
            Ok(names) => names.into_iter().map(Cow::into_owned).collect(),
            Err(_) => line.split(',').map(|c| c.trim().to_string()).collect(),
        };
        Header {
            ts: names.iter().position(|n| n == ts_field),
            asset: names.iter().position(|n| n == "asset"),
            names,
        }
    }
}

/// One data row → samples.
fn parse_row(
    header: &Header,
    default_asset: Option<&str>,
    b: &SampleBuilder<'_>,
    line: &str,
) -> Decoded {
    let mut out = Decoded::default();
    let Ok(cols) = csv_fields::split(line) else {
        return Decoded::reject(Reject::Malformed);
    };
    if cols.len() != header.names.len() {
        return Decoded::reject(Reject::Malformed);
    }
    let ts = match header.ts {
        Some(i) => match time::from_text(&cols[i], b.timestamp.unit) {
            Ok(t) => t,
            Err(r) => return Decoded::reject(r),
        },
        None => b.arrival_ns,
    };
    let asset = match (header.asset, default_asset) {
        (Some(i), _) => &*cols[i],
        (None, Some(a)) => a,
        (None, None) => return Decoded::reject(Reject::UnknownAsset),
    };
    for (i, (name, text)) in header.names.iter().zip(&cols).enumerate() {
        if Some(i) == header.ts || Some(i) == header.asset || text.is_empty() {
            continue;
        }
        match parse_number(text) {
            Ok(v) => b.push(asset, name, v, ts, &mut out),
            Err(r) => out.rejects.push(r),
        }
    }
    out
}

impl ReplaySource {
    pub async fn run(self, out: Sender<Batch>, shutdown: CancellationToken) {
        let c = &self.config;
        let file = match tokio::fs::File::open(&c.path).await {
            Ok(f) => f,
            Err(e) => {
                warn!(source = %c.name, path = %c.path.display(), error = %e, "Cannot open replay file.");
                return;
            }
        };
        self.metrics.set_connected(true);
        let mut reader = tokio::io::BufReader::new(file);
        let ts_field = c.timestamp.field.as_deref().unwrap_or("ts");
        let pace = (c.rows_per_sec > 0.0).then(|| Duration::from_secs_f64(1.0 / c.rows_per_sec));
        let mut header: Option<Header> = None;
        let mut raw = Vec::new();
        let mut rows = 0u64;
        let mut batch = Batch::new();
        let mut guard = TimeGuard::new(c.timestamp.policy);
        loop {
            raw.clear();
            let n = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = reader.read_until(b'\n', &mut raw) => r,
            };
            match n {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    warn!(source = %c.name, error = %e, "Replay read failed.");
                    break;
                }
            }
            let Ok(line) = std::str::from_utf8(&raw) else {
                self.metrics.received(1);
                self.metrics.reject(Reject::BadUtf8, 1);
                continue;
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some(h) = &header else {
                header = Some(Header::parse(line, ts_field));
                continue;
            };
            self.metrics.received(1);
            rows += 1;
            let now = now_ns();
            let builder = SampleBuilder {
                index: &self.index,
                timestamp: &c.timestamp,
                arrival_ns: now,
            };
            let mut decoded = parse_row(h, c.asset.as_deref(), &builder, line);
            guard.admit(&mut decoded, now);
            for r in decoded.rejects {
                self.metrics.reject(r, 1);
            }
            batch.extend(decoded.samples);
            if (pace.is_some() || batch.len() >= 512) && !self.send(&out, &mut batch).await {
                return;
            }
            if let Some(p) = pace {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(p) => {}
                }
            }
        }
        self.send(&out, &mut batch).await;
        self.metrics.set_connected(false);
        info!(source = %c.name, rows, "Replay finished.");
    }

    async fn send(&self, out: &Sender<Batch>, batch: &mut Batch) -> bool {
        if batch.is_empty() {
            return true;
        }
        let b = std::mem::take(batch);
        self.metrics.accepted(b.len() as u64);
        out.send(b).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AssetConfig, SignalConfig, TimeUnit, TimestampConfig};

    fn index() -> AssetIndex {
        AssetIndex::new(&[AssetConfig {
            id: Arc::from("e1"),
            meta: Default::default(),
            signals: vec![
                SignalConfig {
                    name: Arc::from("a"),
                    unit: None,
                    interval: None,
                    compression: None,
                },
                SignalConfig {
                    name: Arc::from("b"),
                    unit: None,
                    interval: None,
                    compression: None,
                },
            ],
        }])
    }

    fn timestamp() -> TimestampConfig {
        TimestampConfig {
            field: Some("ts".into()),
            unit: TimeUnit::Auto,
            policy: crate::ingest::time_guard::TimePolicy::defaults(false),
        }
    }

    #[test]
    fn rows_use_the_asset_column_and_skip_empty_cells() {
        let (idx, ts) = (index(), timestamp());
        let b = SampleBuilder {
            index: &idx,
            timestamp: &ts,
            arrival_ns: 0,
        };
        let h = Header::parse("ts,asset,a,b", "ts");
        let d = parse_row(&h, None, &b, "2026-01-05T06:01:00Z,e1,1.5,");
        assert_eq!(d.samples.len(), 1);
        assert_eq!(d.samples[0].value, 1.5);
        assert_eq!(
            parse_row(&h, None, &b, "x,e1,1,2").rejects,
            vec![Reject::BadTimestamp]
        );
        assert_eq!(
            parse_row(&h, None, &b, "1,e1,1").rejects,
            vec![Reject::Malformed]
        );
        assert_eq!(
            parse_row(&h, None, &b, "1,e9,1,2").rejects,
            vec![Reject::UnknownAsset, Reject::UnknownAsset]
        );
    }

    #[test]
    fn quoted_header_names_and_fields_are_read_as_users_logs_write_them() {
        let (idx, ts) = (index(), timestamp());
        let b = SampleBuilder {
            index: &idx,
            timestamp: &ts,
            arrival_ns: 0,
        };
        // A quoted header name, a quoted field with a comma (a column no signal is named
        // after), quotes escaped by doubling.
        let h = Header::parse(r#""ts","asset","a","note, free text",b"#, "ts");
        assert_eq!(h.names, ["ts", "asset", "a", "note, free text", "b"]);
        assert_eq!((h.ts, h.asset), (Some(0), Some(1)));
        let d = parse_row(
            &h,
            None,
            &b,
            r#""2026-01-05T06:01:00Z","e1","1.5","pump ""east"", bay 2",2"#,
        );
        let got: Vec<_> = d.samples.iter().map(|s| (&*s.signal, s.value)).collect();
        assert_eq!(got, [("a", 1.5), ("b", 2.0)]);
        assert_eq!(d.rejects, [Reject::NotNumeric]);
        // The comma inside quotes does not make a column.
        assert_eq!(
            parse_row(&h, None, &b, r#"1,e1,1,"x,y,z",2"#).samples.len(),
            2
        );
    }

    #[test]
    fn a_row_whose_quote_does_not_close_is_malformed() {
        let (idx, ts) = (index(), timestamp());
        let b = SampleBuilder {
            index: &idx,
            timestamp: &ts,
            arrival_ns: 0,
        };
        let h = Header::parse("ts,asset,a,b", "ts");
        for bad in [r#"1,e1,"1.5,2"#, r#"1,e1,"1.5"x,2"#] {
            assert_eq!(
                parse_row(&h, None, &b, bad).rejects,
                [Reject::Malformed],
                "{bad}"
            );
        }
        // A header with an open quote splits at every comma, as before quotes were read.
        let h = Header::parse(r#"ts,asset,"a,b"#, "ts");
        assert_eq!(h.names, ["ts", "asset", "\"a", "b"]);
    }
}
