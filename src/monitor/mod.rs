//! Monitoring: counters every stage updates ([`metrics`]) and the status heartbeat built from
//! them ([`status`]), which travels to Kafka through the outbox like any other record.

pub mod metrics;
pub mod status;

pub use metrics::{Metrics, PipelineDrop, SourceMetrics};
pub use status::{build_status, FillEstimator};
