//! forewarn: a predictive-maintenance agent for factory gateways.
//!
//! Modules in data-flow order:
//! - [`config`]: the provisioning file, raw TOML → validated [`config::Config`];
//! - [`ingest`]: MQTT, serial and replay sources → [`record::Sample`]s;
//! - [`process`]: samples → telemetry buckets ([`downsample`]) and alerts ([`alert`]);
//! - [`window`]: event-time windows of several signals, fixed shapes for models (pure);
//! - [`features`]: windows of samples → ordered feature vectors for models (pure, allocation-free);
//! - [`outbox`]: the durable LMDB store-and-forward buffer;
//! - [`forward`]: outbox → Kafka;
//! - [`monitor`]: counters and the status heartbeat;
//! - [`app`]: wires the stages together and owns shutdown; [`demo`] runs it on a recording;
//!   [`channel`]: the bounded channels between stages (in batches and in samples or records).
//!
//! [`record`] holds the shapes that travel, [`codec`] their encodings.

pub mod alert;
pub mod app;
pub mod channel;
pub mod cli;
pub mod codec;
pub mod command;
pub mod config;
pub mod demo;
pub mod detect;
pub mod downsample;
pub mod features;
pub mod fleet;
pub mod forward;
pub mod http;
pub mod ingest;
pub mod model;
pub mod monitor;
pub mod outbox;
pub mod process;
pub mod record;
pub mod util;
pub mod window;
