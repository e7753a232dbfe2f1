//! Signals a process only if it is still the one the event was about.
//!
//! Between an event and the kill, the process may exit and its pid go to another (pids wrap quickly: 32768 by
//! default, and a privileged process can pick one with `clone3(set_tid)` or `ns_last_pid`). So a kill opens a
//! pidfd first (from then on it names one process), then asks who holds the pid: if its start time is not the
//! event's, the pid was recycled and nothing is sent. If the start time matches after the pidfd was opened, the
//! event's process held the pid all along, so the pidfd is its own.
//!
//! The kernel's start time (`task->start_boottime`) comes exact from the probe's `task_start` program; /proc's
//! `starttime` (clock ticks) is the fallback, and the only precision a process first seen in /proc has.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use rampart_probe::kill::TaskStarts;

/// When a process started, as far as it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartTime {
    /// Nanoseconds since boot.
    pub boot_ns: u64,
    /// Known to clock-tick precision only (read from /proc).
    pub in_ticks: bool,
}

/// What became of one signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signalled {
    Sent,
    /// No process holds the pid any more.
    Gone,
    /// Another process holds the pid now: not signalled.
    Recycled,
}

pub struct PidIdentity {
    /// The kernel's exact answer; `None` when the probe could not provide it (tests, older kernels).
    starts: Option<TaskStarts>,
    tick_ns: u64,
}

impl PidIdentity {
    pub fn new(starts: Option<TaskStarts>) -> Self {
        PidIdentity {
            starts,
            tick_ns: 1_000_000_000 / crate::clock::clock_ticks_per_sec().max(1),
        }
    }

    /// The start time of the process holding `pid` now (`None`: no process has it).
    pub fn start_of(&self, pid: u32) -> std::io::Result<Option<StartTime>> {
        if let Some(starts) = &self.starts {
            match starts.of(pid) {
                // a thread with that id is not the process (pidfd_open refuses it too)
                Ok(found) => {
                    return Ok(found.filter(|t| t.tgid == pid).map(|t| StartTime {
                        boot_ns: t.start_boot_ns,
                        in_ticks: false,
                    }))
                }
                Err(e) => tracing::debug!("task_start query failed, reading /proc: {e}"),
            }
        }
        Ok(proc_start_ticks(pid).map(|ticks| StartTime {
            boot_ns: ticks * self.tick_ns,
            in_ticks: true,
        }))
    }

    /// Whether `actual` is the process that started at `expected`.
    fn same(&self, expected: StartTime, actual: StartTime) -> bool {
        if expected.in_ticks || actual.in_ticks {
            expected.boot_ns / self.tick_ns == actual.boot_ns / self.tick_ns
        } else {
            expected.boot_ns == actual.boot_ns
        }
    }

    /// Sends `signal` to `pid` if the process holding it started at `expected`.
    pub fn signal(&self, pid: u32, expected: StartTime, signal: i32) -> std::io::Result<Signalled> {
        let pidfd = match pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(Signalled::Gone),
            Err(e) => return Err(e),
        };
        match self.start_of(pid)? {
            None => return Ok(Signalled::Gone),
            Some(actual) if !self.same(expected, actual) => return Ok(Signalled::Recycled),
            Some(_) => {}
        }
        match pidfd_send_signal(&pidfd, signal) {
            Ok(()) => Ok(Signalled::Sent),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(Signalled::Gone),
            Err(e) => Err(e),
        }
    }
}

fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: a plain syscall; a non-negative result is a new descriptor we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn pidfd_send_signal(pidfd: &OwnedFd, signal: i32) -> std::io::Result<()> {
    // SAFETY: a plain syscall on a descriptor we own, no siginfo.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `starttime` (field 22 of /proc/PID/stat), in clock ticks since boot.
fn proc_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // fields after the comm start at field 3
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    #[test]
    fn a_process_is_signalled_only_when_its_start_time_matches() {
        let identity = PidIdentity::new(None);
        let mut child = Command::new("/bin/sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        let start = identity.start_of(pid).unwrap().expect("running");
        assert!(start.in_ticks, "no probe: /proc's precision");
        let other = StartTime {
            boot_ns: start.boot_ns + 5 * identity.tick_ns,
            in_ticks: false,
        };
        assert_eq!(
            identity.signal(pid, other, libc::SIGKILL).unwrap(),
            Signalled::Recycled
        );
        assert!(child.try_wait().unwrap().is_none(), "not signalled");
        assert_eq!(
            identity.signal(pid, start, libc::SIGKILL).unwrap(),
            Signalled::Sent
        );
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
        // reaped: gone, or already another process's (then not the same): never sent (signal 0 tests only)
        assert_ne!(identity.signal(pid, start, 0).unwrap(), Signalled::Sent);
    }
}
