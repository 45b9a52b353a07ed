//! Monitoring: counters every stage updates ([`metrics`]) and the status heartbeat built from
//! them ([`status`]), which travels to Kafka through the outbox like any other record; and the
//! systemd notifications (readiness, watchdog, status line) of a service ([`systemd`]); the
//! stages' progress, which decides whether the watchdog is pinged ([`progress`]); the local
//! `/metrics` and `/health` endpoint ([`http`], off by default).

pub mod heartbeat;
pub mod http;
pub mod metrics;
pub mod progress;
pub mod status;
pub mod systemd;

pub use metrics::{Metrics, PipelineDrop, SourceMetrics};
pub use status::{build_status, FillEstimator, OutboxHealth};
