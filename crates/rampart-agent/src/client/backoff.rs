//! Exponential backoff with jitter: retries spread out so that agents coming back together after an outage
//! do not stampede the server.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based): `initial * 2^attempt` capped at `max`, then a
    /// uniformly random value in its upper half ("equal jitter": never zero, never above the cap).
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max);
        let half = base / 2;
        let nanos = half.as_nanos() as u64;
        half + Duration::from_nanos(if nanos == 0 { 0 } else { random % (nanos + 1) })
    }
}

/// The retry state of one loop talking to the server: the delay grows with each failure in a row and
/// starts over at the first success.
pub struct Retry {
    backoff: Backoff,
    failures: u32,
    jitter: Jitter,
}

impl Retry {
    pub fn new(backoff: Backoff) -> Retry {
        Retry {
            backoff,
            failures: 0,
            jitter: Jitter::new(),
        }
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure; the delay before the next attempt.
    pub fn failed(&mut self) -> Duration {
        let delay = self.backoff.delay(self.failures, self.jitter.next());
        self.failures = self.failures.saturating_add(1);
        delay
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
    }
}

/// A small xorshift generator for jitter (no need for cryptographic randomness).
pub struct Jitter(u64);

impl Jitter {
    pub fn new() -> Jitter {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ ((std::process::id() as u64) << 32);
        Jitter(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_bounds_and_caps() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        let mut j = Jitter::new();
        for attempt in 0..10 {
            let base = Duration::from_millis(100 * (1 << attempt)).min(Duration::from_secs(2));
            for _ in 0..50 {
                let d = b.delay(attempt, j.next());
                assert!(
                    d >= base / 2 && d <= base,
                    "attempt {attempt}: {d:?} outside {:?}..{base:?}",
                    base / 2
                );
            }
        }
        assert_eq!(b.delay(60, 0), Duration::from_secs(1));
    }

    #[test]
    fn retry_grows_while_failing_and_starts_over_after_a_success() {
        let mut r = Retry::new(Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(400),
        });
        let bounds = [(50, 100), (100, 200), (200, 400), (200, 400)];
        for (lo, hi) in bounds {
            let d = r.failed();
            assert!(
                d >= Duration::from_millis(lo) && d <= Duration::from_millis(hi),
                "{d:?} outside {lo}..{hi} ms"
            );
        }
        assert_eq!(r.failures(), 4);
        r.succeeded();
        assert_eq!(r.failures(), 0);
        assert!(r.failed() <= Duration::from_millis(100));
    }
}
