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
//!
//! Lines are framed by [`LineFramer`] with a bound of [`MAX_LINE_BYTES`]: a longer line (a file
//! that is not CSV, or a row without its newline) is skipped to its end and counted as
//! `oversize`, so memory stays bounded whatever the file holds.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::csv_fields;
use super::payload::{parse_number, SampleBuilder};
use super::serial::framer::LineFramer;
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

/// The longest line (header or row) a replay file may hold, newline excluded.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Bytes read from the file at a time.
const READ_BYTES: usize = 64 * 1024;

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
        let mut file = match tokio::fs::File::open(&c.path).await {
            Ok(f) => f,
            Err(e) => {
                warn!(source = %c.name, path = %c.path.display(), error = %e, "Cannot open replay file.");
                return;
            }
        };
        self.metrics.set_connected(true);
        let ts_field = c.timestamp.field.as_deref().unwrap_or("ts");
        let pace = (c.rows_per_sec > 0.0).then(|| Duration::from_secs_f64(1.0 / c.rows_per_sec));
        let mut header: Option<Header> = None;
        let mut framer = LineFramer::new(MAX_LINE_BYTES);
        let mut chunk = vec![0u8; READ_BYTES];
        let mut lines: Vec<Result<String, Reject>> = Vec::new();
        let mut rows = 0u64;
        let mut batch = Batch::new();
        let mut guard = TimeGuard::new(c.timestamp.policy);
        let mut at_end = false;
        'read: while !at_end {
            let n = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = file.read(&mut chunk) => r,
            };
            match n {
                // The last line may lack its newline: one more makes it a frame.
                Ok(0) => {
                    at_end = true;
                    framer.push(b"\n", |l| lines.push(l.map(str::to_string)));
                }
                Ok(n) => framer.push(&chunk[..n], |l| lines.push(l.map(str::to_string))),
                Err(e) => {
                    warn!(source = %c.name, error = %e, "Replay read failed.");
                    break;
                }
            }
            for line in lines.drain(..) {
                let line = match line {
                    Ok(line) => line,
                    Err(r) => {
                        self.metrics.received(1);
                        self.metrics.reject(r, 1);
                        continue;
                    }
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
                        _ = shutdown.cancelled() => break 'read,
                        _ = tokio::time::sleep(p) => {}
                    }
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

    /// A line past [`MAX_LINE_BYTES`] (here 3 MiB of digits with no newline for 2 MiB of it) is
    /// one `oversize` reject; the rows around it, and a last row without its newline, are read.
    #[tokio::test]
    async fn an_oversize_line_is_counted_and_the_rows_after_it_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        let mut text = String::from("ts,asset,a,b\n1767600000,e1,1,2\n");
        text.push_str(&"7".repeat(3 * MAX_LINE_BYTES));
        text.push_str("\n1767600001,e1,3,4\n\u{FF}\n1767600002,e1,5,6");
        let mut bytes = text.into_bytes();
        // Not UTF-8: the `ÿ` above, as one Latin-1 byte.
        let bad = bytes.windows(2).position(|w| w == [0xC3, 0xBF]).unwrap();
        bytes.splice(bad..bad + 2, [0xFF]);
        std::fs::write(&path, &bytes).unwrap();
        let metrics = Arc::new(SourceMetrics::new("r"));
        let source = ReplaySource {
            config: ReplayConfig {
                name: "r".into(),
                path,
                asset: None,
                timestamp: timestamp(),
                rows_per_sec: 0.0,
            },
            index: Arc::new(index()),
            metrics: metrics.clone(),
        };
        let (tx, mut rx) = crate::channel::channel::<Batch>(16, 1 << 20);
        source.run(tx, CancellationToken::new()).await;
        let mut values = Vec::new();
        while let Some(b) = rx.recv().await {
            values.extend(b.iter().map(|s| s.value));
        }
        assert_eq!(values, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(metrics.rejected(Reject::Oversize), 1);
        assert_eq!(metrics.rejected(Reject::BadUtf8), 1);
        assert_eq!(metrics.snapshot().received, 5);
    }
}
