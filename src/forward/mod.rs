//! Forwarding: outbox → Kafka.
//!
//! One task owns the producer ([`KafkaForwarder`]). It reads the outbox in sequence order,
//! alerts before status before telemetry, keeps a bounded number of records in flight, and
//! deletes a record from the outbox only when Kafka acknowledged it.

pub mod client;
pub mod delivery;
pub mod gate;
pub mod kafka;
pub mod lanes;
pub mod topics;

#[cfg(test)]
mod tests;

pub use client::{check_properties, producer_config};
pub use kafka::{DeliveryError, KafkaForwarder, HEADER_GATEWAY, HEADER_SCHEMA, HEADER_SEQ};
pub use topics::{ensure_topics, ensure_topics_with};
