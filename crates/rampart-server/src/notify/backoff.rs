//! Exponential backoff with jitter: attempt n waits between half and all of `initial * 2^(n-1)` (capped),
//! so that retries of many rows against one receiver spread out instead of arriving together.

use std::time::Duration;

pub fn delay(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let full = initial.saturating_mul(1u32 << exp).min(max);
    let half = full / 2;
    let jitter_ns = half.as_nanos() as u64;
    half + Duration::from_nanos(if jitter_ns == 0 {
        0
    } else {
        rand::random::<u64>() % (jitter_ns + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_up_to_the_cap() {
        let (i, m) = (Duration::from_secs(2), Duration::from_secs(60));
        for _ in 0..100 {
            let d1 = delay(1, i, m);
            assert!(
                d1 >= Duration::from_secs(1) && d1 <= Duration::from_secs(2),
                "{d1:?}"
            );
            let d3 = delay(3, i, m);
            assert!(
                d3 >= Duration::from_secs(4) && d3 <= Duration::from_secs(8),
                "{d3:?}"
            );
            let d20 = delay(20, i, m);
            assert!(d20 >= Duration::from_secs(30) && d20 <= m, "{d20:?}");
        }
    }
}
