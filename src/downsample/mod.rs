//! Downsampling: raw samples → telemetry records small enough for a cellular uplink.
//!
//! Three downsamplers, all per signal and pure: fixed interval buckets ([`buckets`], wired
//! into the pipeline), deadband ([`deadband`], sample-and-hold within a band, with a maximum
//! silence) and swinging-door trending ([`swinging_door`], linear interpolation within ±E).

pub mod buckets;
pub mod deadband;
pub mod swinging_door;

pub use buckets::{Bucket, IntervalBuckets, PushOutcome, SlotState};
pub use deadband::{Admission, Band, Counters, Deadband, InvalidParameter, Point};
pub use swinging_door::SwingingDoor;
