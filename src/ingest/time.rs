//! Event time from outside values: epoch numbers in s/ms/µs/ns, or RFC 3339 text.
//!
//! `auto` picks the unit of an epoch number by magnitude: below 1e11 seconds (until year 5138),
//! below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds. Times before 1970 or
//! beyond what fits in i64 nanoseconds (year 2262) are rejected as `bad_timestamp`.

use serde_json::Value;

use super::Reject;
use crate::config::TimeUnit;

/// Convert an epoch number to nanoseconds.
pub fn from_number(x: f64, unit: TimeUnit) -> Result<i64, Reject> {
    if !x.is_finite() || x < 0.0 {
        return Err(Reject::BadTimestamp);
    }
    let scale = match unit {
        TimeUnit::Seconds => 1e9,
        TimeUnit::Millis => 1e6,
        TimeUnit::Micros => 1e3,
        TimeUnit::Nanos => 1.0,
        TimeUnit::Rfc3339 => return Err(Reject::BadTimestamp),
        TimeUnit::Auto if x < 1e11 => 1e9,
        TimeUnit::Auto if x < 1e14 => 1e6,
        TimeUnit::Auto if x < 1e17 => 1e3,
        TimeUnit::Auto => 1.0,
    };
    let ns = x * scale;
    if ns >= i64::MAX as f64 {
        return Err(Reject::BadTimestamp);
    }
    Ok(ns as i64)
}

/// Integers keep full precision (nanosecond epochs do not fit an f64 exactly).
fn from_integer(x: i64, unit: TimeUnit) -> Result<i64, Reject> {
    if x < 0 {
        return Err(Reject::BadTimestamp);
    }
    let mul: i64 = match unit {
        TimeUnit::Seconds => 1_000_000_000,
        TimeUnit::Millis => 1_000_000,
        TimeUnit::Micros => 1_000,
        TimeUnit::Nanos => 1,
        TimeUnit::Rfc3339 => return Err(Reject::BadTimestamp),
        TimeUnit::Auto if x < 100_000_000_000 => 1_000_000_000,
        TimeUnit::Auto if x < 100_000_000_000_000 => 1_000_000,
        TimeUnit::Auto if x < 100_000_000_000_000_000 => 1_000,
        TimeUnit::Auto => 1,
    };
    x.checked_mul(mul).ok_or(Reject::BadTimestamp)
}

/// Parse text: RFC 3339, or (with `auto` or a numeric unit) an epoch number written as text.
pub fn from_text(s: &str, unit: TimeUnit) -> Result<i64, Reject> {
    let s = s.trim();
    if matches!(unit, TimeUnit::Auto | TimeUnit::Rfc3339) {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
            return t
                .timestamp_nanos_opt()
                .filter(|n| *n >= 0)
                .ok_or(Reject::BadTimestamp);
        }
        if unit == TimeUnit::Rfc3339 {
            return Err(Reject::BadTimestamp);
        }
    }
    if let Ok(i) = s.parse::<i64>() {
        return from_integer(i, unit);
    }
    match s.parse::<f64>() {
        Ok(x) => from_number(x, unit),
        Err(_) => Err(Reject::BadTimestamp),
    }
}

/// Event time from a JSON (or CBOR-decoded) value.
pub fn from_value(v: &Value, unit: TimeUnit) -> Result<i64, Reject> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => from_integer(i, unit),
            None => from_number(n.as_f64().ok_or(Reject::BadTimestamp)?, unit),
        },
        Value::String(s) => from_text(s, unit),
        _ => Err(Reject::BadTimestamp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_767_600_000_000_000_000; // 2026-01-05T08:00:00Z

    #[test]
    fn auto_unit_reads_every_epoch_resolution() {
        assert_eq!(from_text("1767600000", TimeUnit::Auto), Ok(T));
        assert_eq!(from_text("1767600000000", TimeUnit::Auto), Ok(T));
        assert_eq!(from_text("1767600000000000", TimeUnit::Auto), Ok(T));
        assert_eq!(from_text("1767600000000000000", TimeUnit::Auto), Ok(T));
        assert_eq!(
            from_text("1767600000.5", TimeUnit::Auto),
            Ok(T + 500_000_000)
        );
    }

    #[test]
    fn rfc3339_with_offsets_is_read() {
        assert_eq!(from_text("2026-01-05T08:00:00Z", TimeUnit::Auto), Ok(T));
        assert_eq!(
            from_text("2026-01-05T09:00:00+01:00", TimeUnit::Rfc3339),
            Ok(T)
        );
    }

    #[test]
    fn garbage_and_out_of_range_times_are_rejected() {
        assert_eq!(
            from_text("yesterday", TimeUnit::Auto),
            Err(Reject::BadTimestamp)
        );
        assert_eq!(
            from_text("-5", TimeUnit::Seconds),
            Err(Reject::BadTimestamp)
        );
        assert_eq!(
            from_text("1e300", TimeUnit::Seconds),
            Err(Reject::BadTimestamp)
        );
        assert_eq!(
            from_text("9223372036854775807", TimeUnit::Seconds),
            Err(Reject::BadTimestamp)
        );
        assert_eq!(
            from_value(&Value::Bool(true), TimeUnit::Auto),
            Err(Reject::BadTimestamp)
        );
    }
}
