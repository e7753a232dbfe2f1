//! Converts the kernel's boot-based timestamps into wall-clock time.

/// Offset between `CLOCK_REALTIME` and `CLOCK_BOOTTIME`, measured once: kernel records carry boot-time
/// nanoseconds (monotonic across suspend), events carry nanoseconds since the epoch.
#[derive(Debug, Clone, Copy)]
pub struct BootClock {
    realtime_minus_boot_ns: i128,
}

impl BootClock {
    pub fn now() -> Self {
        let boot = read_clock(libc::CLOCK_BOOTTIME);
        let real = read_clock(libc::CLOCK_REALTIME);
        BootClock {
            realtime_minus_boot_ns: real as i128 - boot as i128,
        }
    }

    /// Epoch nanoseconds for a boot-based timestamp (0 stays 0: "unknown").
    pub fn to_epoch_ns(&self, boot_ns: u64) -> u64 {
        if boot_ns == 0 {
            return 0;
        }
        (boot_ns as i128 + self.realtime_minus_boot_ns).max(0) as u64
    }

    /// Current boot-based time in nanoseconds.
    pub fn boot_now_ns() -> u64 {
        read_clock(libc::CLOCK_BOOTTIME)
    }
}

/// Wall-clock time in nanoseconds since the epoch.
pub fn epoch_now_ns() -> i64 {
    read_clock(libc::CLOCK_REALTIME) as i64
}

fn read_clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes it.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Kernel clock ticks per second, for /proc's `starttime` (jiffies since boot).
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_now_maps_close_to_wall_clock() {
        let clock = BootClock::now();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let mapped = clock.to_epoch_ns(BootClock::boot_now_ns());
        assert!(
            mapped.abs_diff(wall) < 1_000_000_000,
            "mapped {mapped} vs wall {wall}"
        );
        assert_eq!(clock.to_epoch_ns(0), 0);
    }
}
