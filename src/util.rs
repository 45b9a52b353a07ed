//! Small helpers shared by several stages.

use std::time::Duration;

/// Hash maps and sets for the per-sample lookups (asset, signal → state). Their keys are names
/// from the provisioning file, never bytes from outside, so the unkeyed FxHash is safe, and it
/// costs a fraction of the standard SipHash on short keys (BENCHMARKS.md, hot spots).
pub type FastMap<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;
pub type FastSet<K> = std::collections::HashSet<K, rustc_hash::FxBuildHasher>;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The bytes of hex text (either case); `None` if it is not an even number of hex digits.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let t = text.as_bytes();
    if !t.len().is_multiple_of(2) {
        return None;
    }
    t.chunks(2)
        .map(|p| {
            let digit = |c: u8| (c as char).to_digit(16);
            Some((digit(p[0])? * 16 + digit(p[1])?) as u8)
        })
        .collect()
}

/// A map key of two shared names (asset, signal) that can be looked up by two borrowed names,
/// so that a per-sample lookup clones no `Arc` (an atomic increment and decrement each):
/// `map.get(&("pump-1", "temp") as &dyn NamePair)`.
pub trait NamePair {
    fn names(&self) -> (&str, &str);
}

impl NamePair for (std::sync::Arc<str>, std::sync::Arc<str>) {
    fn names(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl NamePair for (&str, &str) {
    fn names(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn NamePair + 'a> for (std::sync::Arc<str>, std::sync::Arc<str>) {
    fn borrow(&self) -> &(dyn NamePair + 'a) {
        self
    }
}

/// Hashes as the tuple of `Arc<str>` does (each `str` in turn), as `Borrow` requires.
impl std::hash::Hash for dyn NamePair + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (a, b) = self.names();
        a.hash(state);
        b.hash(state);
    }
}

impl PartialEq for dyn NamePair + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.names() == other.names()
    }
}

impl Eq for dyn NamePair + '_ {}

/// Consecutive late samples of one signal after which an event-time state follows them.
///
/// Event-time states (telemetry buckets, threshold rules, deadband and swinging door) refuse a
/// sample older than the newest they saw: it would rewrite history already reported. But when a
/// signal's time really went back (a clock corrected by NTP, a sample from up to
/// `max_future_secs` ahead followed by correct ones, a replayed stream that jumped back), every
/// later sample would be refused until the time caught up again. So after
/// [`LateStreak::REBASE_AFTER`] late samples in a row, with no sample on time in between, the
/// state closes what it holds (reported as usual) and restarts at the late sample's time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LateStreak(u8);

impl LateStreak {
    /// Late samples in a row that make a state restart at their time (the last one is taken).
    pub const REBASE_AFTER: u8 = 5;

    /// One more late sample: true when the state should restart at its time.
    pub fn late(&mut self) -> bool {
        self.0 = self.0.saturating_add(1);
        if self.0 >= Self::REBASE_AFTER {
            self.0 = 0;
            return true;
        }
        false
    }

    /// A sample on time ends the streak.
    pub fn on_time(&mut self) {
        self.0 = 0;
    }
}

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

/// The longest name [`check_name`] accepts: Kafka's limit for a topic name.
pub const MAX_NAME_LEN: usize = 249;

/// Why a name is not an identifier ([`check_name`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is empty")]
    Empty,
    #[error("has {found:?} at character {at}: use letters, digits, '.', '_' or '-'")]
    Char { found: char, at: usize },
    #[error("is {len} characters long (at most {MAX_NAME_LEN})")]
    TooLong { len: usize },
    #[error("cannot be only dots")]
    Dots,
}

/// The one rule for identifiers (gateway and asset ids, signal and source names, Kafka topics,
/// model and model-alert names): 1 to [`MAX_NAME_LEN`] (249) ASCII letters, digits, `.`, `_`
/// or `-`, and not `.` or `..`.
///
/// That is Kafka's own rule for topic names, and it makes every name safe wherever names go:
/// a Kafka topic or message key, an alert id (`gateway/asset/model/rule/since`, where `/`
/// separates the parts), an MQTT topic level (no `/`, `+` or `#`), the status JSON, a file
/// name (no `/`, not `.` or `..`, under the usual 255-byte limit).
pub fn check_name(s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some((i, c)) = s
        .chars()
        .enumerate()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(NameError::Char {
            found: c,
            at: i + 1,
        });
    }
    // ASCII only from here: bytes are characters.
    if s.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong { len: s.len() });
    }
    if s == "." || s == ".." {
        return Err(NameError::Dots);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_round_trips_and_refuses_what_is_not_hex() {
        assert_eq!(super::hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(super::unhex("00ABff"), Some(vec![0x00, 0xab, 0xff]));
        assert_eq!(super::unhex(""), Some(vec![]));
        assert_eq!(super::unhex("abc"), None);
        assert_eq!(super::unhex("zz"), None);
        assert_eq!(super::unhex("é0"), None);
    }

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

    #[test]
    fn name_pairs_find_shared_keys_by_reference() {
        use std::sync::Arc;
        let mut m: FastMap<(Arc<str>, Arc<str>), u32> = FastMap::default();
        m.insert((Arc::from("pump-1"), Arc::from("temp")), 1);
        m.insert((Arc::from("pump-1"), Arc::from("vib")), 2);
        m.insert((Arc::from("pump-10"), Arc::from("emp")), 3);
        let get = |a: &str, s: &str| m.get(&(a, s) as &dyn NamePair).copied();
        assert_eq!(get("pump-1", "temp"), Some(1));
        assert_eq!(get("pump-1", "vib"), Some(2));
        // The names are kept apart: "pump-1"+"0temp" is not "pump-10"+"emp".
        assert_eq!(get("pump-10", "emp"), Some(3));
        assert_eq!(get("pump-1", "0emp"), None);
        assert_eq!(get("pump-2", "temp"), None);
    }

    #[test]
    fn names_follow_one_rule() {
        for ok in [
            "pump-1",
            "a",
            "bearing_fault.v2",
            "A-Z.0_9",
            "...",
            ".hidden",
            "x".repeat(249).as_str(),
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok:?}");
        }
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(
            check_name("bad name!"),
            Err(NameError::Char { found: ' ', at: 4 })
        );
        assert_eq!(
            check_name("a/b"),
            Err(NameError::Char { found: '/', at: 2 })
        );
        for level in ["+", "#"] {
            assert!(matches!(check_name(level), Err(NameError::Char { .. })));
        }
        assert_eq!(
            check_name("pümpe"),
            Err(NameError::Char { found: 'ü', at: 2 })
        );
        assert_eq!(
            check_name(&"x".repeat(250)),
            Err(NameError::TooLong { len: 250 })
        );
        assert_eq!(check_name("."), Err(NameError::Dots));
        assert_eq!(check_name(".."), Err(NameError::Dots));
        assert_eq!(
            NameError::Char { found: ' ', at: 4 }.to_string(),
            "has ' ' at character 4: use letters, digits, '.', '_' or '-'"
        );
    }
}
