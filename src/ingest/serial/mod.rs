//! The serial source: RS-232/RS-485 devices and USB-serial adapters, newline-framed text.
//!
//! One task owns the port. It opens the device with the configured line settings, reads
//! chunks into a [`LineFramer`], parses each line ([`line::parse_line`]) and sends the samples
//! on (waiting when the pipeline is full: a serial line has no keep-alive to miss, and the
//! device's own buffer is the only place data could pile up). When the device vanishes (read
//! error or end of file, as when a USB adapter is unplugged) it is reopened with jittered
//! exponential backoff, 100 ms up to 10 s; each reopen is counted.

pub mod framer;
pub mod line;
#[cfg(target_os = "linux")]
pub mod termios;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::framer::LineFramer;
use self::line::{parse_line, LineFormatSpec};
use super::payload::SampleBuilder;
use super::time_guard::TimeGuard;
use super::{AssetIndex, Batch, Decoded};
use crate::channel::Sender;
use crate::config::{Parity, SerialConfig};
use crate::monitor::SourceMetrics;
use crate::record::now_ns;
use crate::util::Backoff;

pub struct SerialSource {
    pub config: SerialConfig,
    pub index: Arc<AssetIndex>,
    pub metrics: Arc<SourceMetrics>,
}

/// Why a serial device did not open (logged; the source retries).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Serial(tokio_serial::Error),
    /// The serial crate's open failed for a missing ioctl, and so did the classic termios open.
    #[error("{serial}; classic termios open also failed: {classic}")]
    ClassicAlsoFailed {
        serial: tokio_serial::Error,
        classic: std::io::Error,
    },
}

impl SerialSource {
    fn open(&self) -> tokio_serial::Result<tokio_serial::SerialStream> {
        use tokio_serial::SerialPortBuilderExt;
        let c = &self.config;
        let data_bits = match c.data_bits {
            5 => tokio_serial::DataBits::Five,
            6 => tokio_serial::DataBits::Six,
            7 => tokio_serial::DataBits::Seven,
            _ => tokio_serial::DataBits::Eight,
        };
        let parity = match c.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Odd => tokio_serial::Parity::Odd,
            Parity::Even => tokio_serial::Parity::Even,
        };
        let stop_bits = if c.stop_bits == 2 {
            tokio_serial::StopBits::Two
        } else {
            tokio_serial::StopBits::One
        };
        tokio_serial::new(&c.device, c.baud)
            .data_bits(data_bits)
            .parity(parity)
            .stop_bits(stop_bits)
            .flow_control(tokio_serial::FlowControl::None)
            .open_native_async()
    }

    /// Opens the device; where the system lacks the ioctls the serial crate configures ports
    /// with (qemu-user running an ARM build), falls back to the classic termios calls.
    fn open_port(&self) -> Result<tokio_serial::SerialStream, OpenError> {
        match self.open() {
            Ok(p) => Ok(p),
            #[cfg(target_os = "linux")]
            Err(e) if termios::is_unsupported_call(&e) => match termios::open_classic(&self.config)
            {
                Ok(p) => {
                    debug!(source = %self.config.name, "Serial device opened with classic termios (TCSETS2 unsupported here).");
                    Ok(p)
                }
                Err(classic) => Err(OpenError::ClassicAlsoFailed { serial: e, classic }),
            },
            Err(e) => Err(OpenError::Serial(e)),
        }
    }

    pub async fn run(self, out: Sender<Batch>, shutdown: CancellationToken) {
        let spec = LineFormatSpec {
            format: self.config.format,
            fields: self.config.fields.clone(),
            asset: self.config.asset.clone(),
        };
        let mut framer = LineFramer::new(self.config.max_frame_bytes);
        let mut guard = TimeGuard::new(self.config.timestamp.policy);
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        let mut buf = vec![0u8; 4096];
        let mut first = true;
        'reopen: loop {
            let mut port = match self.open_port() {
                Ok(p) => p,
                Err(e) => {
                    if backoff.attempts() == 0 {
                        warn!(source = %self.config.name, device = %self.config.device, error = %e, "Cannot open serial device; retrying.");
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff.next_delay()) => continue 'reopen,
                    }
                }
            };
            if !first {
                self.metrics.reconnected();
            }
            first = false;
            info!(source = %self.config.name, device = %self.config.device, baud = self.config.baud, "Serial device open.");
            self.metrics.set_connected(true);
            backoff.reset();
            framer.reset();
            loop {
                let n = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = port.read(&mut buf) => r,
                };
                let n = match n {
                    Ok(0) => {
                        warn!(source = %self.config.name, "Serial device closed; reopening.");
                        break;
                    }
                    Ok(n) => n,
                    Err(e) => {
                        warn!(source = %self.config.name, error = %e, "Serial read failed; reopening.");
                        break;
                    }
                };
                let mut batch = Batch::new();
                let arrival_ns = now_ns();
                let builder = SampleBuilder {
                    index: &self.index,
                    timestamp: &self.config.timestamp,
                    arrival_ns,
                };
                let metrics = &self.metrics;
                let guard = &mut guard;
                framer.push(&buf[..n], |frame| {
                    metrics.received(1);
                    let mut decoded = match frame {
                        Ok(text) => parse_line(&spec, &builder, text),
                        Err(r) => Decoded::reject(r),
                    };
                    guard.admit(&mut decoded, arrival_ns);
                    for r in decoded.rejects {
                        metrics.reject(r, 1);
                    }
                    batch.extend(decoded.samples);
                });
                if !batch.is_empty() {
                    self.metrics.accepted(batch.len() as u64);
                    debug!(source = %self.config.name, samples = batch.len(), "Serial batch.");
                    if out.send(batch).await.is_err() {
                        return;
                    }
                }
            }
            self.metrics.set_connected(false);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }
}
