//! Small helpers shared by several stages.

use std::time::Duration;

/// Hash maps and sets for the per-sample lookups (asset, signal → state). Their keys are names
/// from the provisioning file, never bytes from outside, so the unkeyed FxHash is safe, and it
/// costs a fraction of the standard SipHash on short keys (BENCHMARKS.md, hot spots).
pub type FastMap<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;
pub type FastSet<K> = std::collections::HashSet<K, rustc_hash::FxBuildHasher>;

/// Jittered exponential backoff: each delay is a random point in [d/2, d], d doubling from
/// `min` up to `max`. The jitter keeps a fleet of gateways from reconnecting in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempts: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            attempts: 0,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let exp = self.min.saturating_mul(1u32 << self.attempts.min(20));
        let d = exp.min(self.max);
        self.attempts = self.attempts.saturating_add(1);
        d.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        for _ in 0..10 {
            b.next_delay();
        }
        let late = b.next_delay();
        assert!(late >= Duration::from_secs(1) && late <= Duration::from_secs(2));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
