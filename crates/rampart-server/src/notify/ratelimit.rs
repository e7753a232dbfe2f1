//! Per-channel rate limits: a token bucket per channel in each worker (a burst of a sixth of the per-minute
//! rate, refilled continuously). With several replicas each applies the limit on its own.

use std::collections::HashMap;
use std::time::{Duration, Instant};

struct Bucket {
    tokens: f64,
    per_minute: i64,
    at: Instant,
}

#[derive(Default)]
pub struct RateLimits {
    buckets: std::sync::Mutex<HashMap<i64, Bucket>>,
}

impl RateLimits {
    /// Takes a token for `channel`; if there is none, how long until there is.
    pub fn take(&self, channel: i64, per_minute: i64) -> Result<(), Duration> {
        let per_minute = per_minute.max(1);
        let burst = (per_minute as f64 / 6.0).max(1.0);
        let rate = per_minute as f64 / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry(channel).or_insert(Bucket {
            tokens: burst,
            per_minute,
            at: now,
        });
        if b.per_minute != per_minute {
            b.per_minute = per_minute;
            b.tokens = b.tokens.min(burst);
        }
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bursts_then_waits() {
        let r = super::RateLimits::default();
        for _ in 0..10 {
            assert!(r.take(1, 60).is_ok());
        }
        let wait = r.take(1, 60).unwrap_err();
        assert!(wait <= std::time::Duration::from_secs(1), "{wait:?}");
        assert!(r.take(2, 60).is_ok(), "channels are independent");
    }
}
