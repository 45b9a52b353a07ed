//! Downsampling: raw samples → telemetry records small enough for a cellular uplink.
//!
//! The first downsampler is fixed interval buckets ([`buckets`]); deadband and swinging door
//! come later.

pub mod buckets;

pub use buckets::{Bucket, IntervalBuckets, PushOutcome};
