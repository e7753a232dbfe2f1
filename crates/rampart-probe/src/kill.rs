//! Active Protection at exec: the kill rules the kernel decides by itself (see `bpf/kill.h`).
//!
//! A [`KernelKillPlan`] lists kill slots (one per rule the kernel can decide exactly: executable basename in a
//! set, or an argument containing a literal), the protected executables and the cgroups where their system
//! instances run. [`Probe::set_kill_plan`] writes it to the maps; [`Probe::set_kill_slot_armed`] stops or
//! restarts one slot (the disarmer's job). [`TaskStarts`] tells user space which process holds a pid now, so
//! its own kills never hit a recycled one.

use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use libbpf_rs::{libbpf_sys, MapCore, MapFlags};

use crate::abi::{bytes_of, read_pod};
use crate::errors::ProbeError;
use crate::loader::Probe;
use crate::skel::types::{
    kill_config, kill_exe_key, kill_limit, kill_name_key, kill_pattern, kill_slot, task_start_query,
};

/// Kernel limits (`KILL_*` in bpf/kill.h).
pub const MAX_SLOTS: usize = kill_limit::KILL_SLOTS.0 as usize;
/// A name and its NUL fill the kernel's KILL_NAME_LEN bytes.
pub const MAX_NAME_LEN: usize = kill_limit::KILL_NAME_LEN.0 as usize - 1;
pub const MAX_PATTERNS: usize = kill_limit::KILL_PATTERNS.0 as usize;
pub const MAX_PATTERN_LEN: usize = kill_limit::KILL_PATTERN_LEN.0 as usize;
pub const MAX_PROTECTED_CGROUPS: usize = kill_limit::KILL_PROTECTED_CGROUPS.0 as usize;

/// One rule the kernel enforces: kill with `signal` when the executable's basename is in `names` or an
/// argument contains one of `arg_substrings`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KillSlotPlan {
    pub signal: u32,
    pub names: Vec<String>,
    /// Exact `argv[0]` values.
    pub argv0: Vec<String>,
    pub arg_substrings: Vec<String>,
    /// Loaded but not killing (the disarmer stopped the rule and its cool-down is not over).
    pub disarmed: bool,
}

/// An executable identified by inode and device (as `stat` reports them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExeId {
    pub inode: u64,
    pub dev: u64,
}

impl ExeId {
    pub fn of(path: &Path) -> std::io::Result<ExeId> {
        let meta = std::fs::metadata(path)?;
        Ok(ExeId {
            inode: meta.ino(),
            dev: meta.dev(),
        })
    }

    /// The device number as the kernel stores it in `super_block.s_dev` (MAJOR << 20 | MINOR).
    fn kernel_dev(&self) -> u32 {
        let major = libc::major(self.dev);
        let minor = libc::minor(self.dev);
        (major << 20) | minor
    }
}

/// Everything the kernel needs to kill at exec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelKillPlan {
    /// Slot `i` is reported back as `slot: i` in kill records.
    pub slots: Vec<KillSlotPlan>,
    pub protected: Vec<ExeId>,
    /// cgroup v2 ids where a protected executable's system instance runs (see `bpf/kill.h`).
    pub protected_cgroups: Vec<u64>,
}

impl KernelKillPlan {
    /// Checks the plan against the kernel's limits.
    pub fn validate(&self) -> Result<(), String> {
        if self.slots.len() > MAX_SLOTS {
            return Err(format!(
                "{} kill slots, the kernel holds {MAX_SLOTS}",
                self.slots.len()
            ));
        }
        if self.protected_cgroups.len() > MAX_PROTECTED_CGROUPS {
            return Err(format!(
                "{} protected cgroups, the kernel holds {MAX_PROTECTED_CGROUPS}",
                self.protected_cgroups.len()
            ));
        }
        let patterns: usize = self.slots.iter().map(|s| s.arg_substrings.len()).sum();
        if patterns > MAX_PATTERNS {
            return Err(format!(
                "{patterns} argument patterns, the kernel holds {MAX_PATTERNS}"
            ));
        }
        for slot in &self.slots {
            if let Some(n) = slot
                .names
                .iter()
                .find(|n| n.is_empty() || n.len() > MAX_NAME_LEN)
            {
                return Err(format!(
                    "executable name `{n}` must be 1..={MAX_NAME_LEN} bytes"
                ));
            }
            if let Some(p) = slot
                .arg_substrings
                .iter()
                .find(|p| p.is_empty() || p.len() > MAX_PATTERN_LEN)
            {
                return Err(format!(
                    "argument pattern `{p}` must be 1..={MAX_PATTERN_LEN} bytes"
                ));
            }
        }
        Ok(())
    }
}

/// Sets byte `b`'s bit in a 256-bit map (the kernel tests `map[b >> 6] & 1 << (b & 63)`).
fn set_bit(map: &mut [u64; 4], b: u8) {
    map[(b >> 6) as usize] |= 1u64 << (b & 63);
}

fn copy_str(dst: &mut [i8], s: &str) {
    for (d, b) in dst.iter_mut().zip(s.bytes()) {
        *d = b as i8;
    }
}

impl Probe {
    /// Replaces the kernel's kill plan. Kills stop first, then the tables are rewritten, then the armed slots
    /// are switched on, so no exec is judged against half a plan.
    pub fn set_kill_plan(&mut self, plan: &KernelKillPlan) -> Result<(), ProbeError> {
        plan.validate().map_err(ProbeError::Config)?;
        let maps = &self.skel().maps;
        let map_err = |map: &'static str| move |source| ProbeError::Map { map, source };
        let zero = 0u32.to_ne_bytes();
        maps.kill_config
            .update(&zero, bytes_of(&kill_config::default()), MapFlags::ANY)
            .map_err(map_err("kill_config"))?;

        for key in maps.kill_names.keys().collect::<Vec<_>>() {
            maps.kill_names
                .delete(&key)
                .map_err(map_err("kill_names"))?;
        }
        for key in maps.kill_argv0.keys().collect::<Vec<_>>() {
            maps.kill_argv0
                .delete(&key)
                .map_err(map_err("kill_argv0"))?;
        }
        for key in maps.kill_protected.keys().collect::<Vec<_>>() {
            maps.kill_protected
                .delete(&key)
                .map_err(map_err("kill_protected"))?;
        }

        let mut names: std::collections::BTreeMap<&str, u32> = Default::default();
        let mut argv0: std::collections::BTreeMap<&str, u32> = Default::default();
        let mut config = kill_config::default();
        let mut npatterns = 0u32;
        for (i, slot) in plan.slots.iter().enumerate() {
            let bit = 1u32 << i;
            let value = kill_slot {
                signal: slot.signal,
                armed: u32::from(!slot.disarmed),
            };
            maps.kill_slots
                .update(&(i as u32).to_ne_bytes(), bytes_of(&value), MapFlags::ANY)
                .map_err(map_err("kill_slots"))?;
            for name in &slot.names {
                *names.entry(name).or_default() |= bit;
            }
            for name in &slot.argv0 {
                *argv0.entry(name).or_default() |= bit;
            }
            for pattern in &slot.arg_substrings {
                let mut p = kill_pattern {
                    slots: bit,
                    len: pattern.len() as u32,
                    ..Default::default()
                };
                copy_str(&mut p.bytes, pattern);
                maps.kill_patterns
                    .update(&npatterns.to_ne_bytes(), bytes_of(&p), MapFlags::ANY)
                    .map_err(map_err("kill_patterns"))?;
                let bytes = pattern.as_bytes();
                set_bit(&mut config.first_bytes, bytes[0]);
                match bytes.get(1) {
                    Some(second) => set_bit(&mut config.second_bytes, *second),
                    None => config.second_bytes = [u64::MAX; 4],
                }
                npatterns += 1;
            }
            if !slot.disarmed {
                config.armed_slots |= bit;
            }
        }
        for (name, mask) in names {
            let mut key = kill_name_key::default();
            copy_str(&mut key.name, name);
            maps.kill_names
                .update(bytes_of(&key), &mask.to_ne_bytes(), MapFlags::ANY)
                .map_err(map_err("kill_names"))?;
        }
        config.argv0_names = u32::from(!argv0.is_empty());
        for (name, mask) in argv0 {
            let mut key = kill_name_key::default();
            copy_str(&mut key.name, name);
            maps.kill_argv0
                .update(bytes_of(&key), &mask.to_ne_bytes(), MapFlags::ANY)
                .map_err(map_err("kill_argv0"))?;
        }
        for exe in &plan.protected {
            let key = kill_exe_key {
                inode: exe.inode,
                dev: exe.kernel_dev(),
                ..Default::default()
            };
            maps.kill_protected
                .update(bytes_of(&key), &[1u8], MapFlags::ANY)
                .map_err(map_err("kill_protected"))?;
        }
        self.write_protected_cgroups(&plan.protected_cgroups)?;
        let maps = &self.skel().maps;
        config.npatterns = npatterns;
        maps.kill_config
            .update(&zero, bytes_of(&config), MapFlags::ANY)
            .map_err(map_err("kill_config"))?;
        self.kill_slots_armed = config.armed_slots;
        Ok(())
    }

    /// Replaces the cgroups where protected executables' system instances run (their ids change when a service
    /// restarts).
    pub fn set_protected_cgroups(&mut self, ids: &[u64]) -> Result<(), ProbeError> {
        if ids.len() > MAX_PROTECTED_CGROUPS {
            return Err(ProbeError::Config(format!(
                "{} protected cgroups, the kernel holds {MAX_PROTECTED_CGROUPS}",
                ids.len()
            )));
        }
        self.write_protected_cgroups(ids)
    }

    fn write_protected_cgroups(&self, ids: &[u64]) -> Result<(), ProbeError> {
        let map_err = |source| ProbeError::Map {
            map: "kill_protected_cgroups",
            source,
        };
        let map = &self.skel().maps.kill_protected_cgroups;
        // new ones first, then the stale ones out: a cgroup in both lists is never missing in between
        for id in ids {
            map.update(&id.to_ne_bytes(), &[1u8], MapFlags::ANY)
                .map_err(map_err)?;
        }
        for key in map.keys().collect::<Vec<_>>() {
            let stale = key
                .as_slice()
                .try_into()
                .map(u64::from_ne_bytes)
                .is_ok_and(|id| !ids.contains(&id));
            if stale {
                map.delete(&key).map_err(map_err)?;
            }
        }
        Ok(())
    }

    /// Stops (or, after a disarm, restarts) the kernel's kills for `slot`; the rest of the plan stays.
    pub fn set_kill_slot_armed(&mut self, slot: u32, armed: bool) -> Result<(), ProbeError> {
        if slot as usize >= MAX_SLOTS {
            return Err(ProbeError::Config(format!("kill slot {slot} out of range")));
        }
        let map_err = |map: &'static str| move |source| ProbeError::Map { map, source };
        let armed_slots = if armed {
            self.kill_slots_armed | 1u32 << slot
        } else {
            self.kill_slots_armed & !(1u32 << slot)
        };
        let maps = &self.skel().maps;
        let key = slot.to_ne_bytes();
        let current = maps
            .kill_slots
            .lookup(&key, MapFlags::ANY)
            .map_err(map_err("kill_slots"))?
            .unwrap_or_default();
        let mut value: kill_slot = read_pod(&current).unwrap_or_default();
        if armed && value.signal == 0 {
            return Err(ProbeError::Config(format!(
                "kill slot {slot} is not in the plan"
            )));
        }
        value.armed = u32::from(armed);
        maps.kill_slots
            .update(&key, bytes_of(&value), MapFlags::ANY)
            .map_err(map_err("kill_slots"))?;
        let zero = 0u32.to_ne_bytes();
        let current = maps
            .kill_config
            .lookup(&zero, MapFlags::ANY)
            .map_err(map_err("kill_config"))?
            .unwrap_or_default();
        let mut config: kill_config = read_pod(&current).unwrap_or_default();
        config.armed_slots = armed_slots;
        maps.kill_config
            .update(&zero, bytes_of(&config), MapFlags::ANY)
            .map_err(map_err("kill_config"))?;
        self.kill_slots_armed = armed_slots;
        Ok(())
    }

    /// A handle that asks the kernel which process holds a pid (see [`TaskStarts`]).
    pub fn task_starts(&self) -> Result<TaskStarts, ProbeError> {
        let prog = self
            .skel()
            .progs
            .task_start
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| ProbeError::Config(format!("duplicating the task_start program: {e}")))?;
        Ok(TaskStarts { prog })
    }
}

/// The process holding a pid, as the kernel knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskStart {
    /// Thread-group id of the task with that pid (differs from the pid for a thread).
    pub tgid: u32,
    /// `task->start_boottime`, nanoseconds since boot: the same clock and value as exec and fork records carry.
    pub start_boot_ns: u64,
}

/// Runs the `task_start` program (`bpf/kill.h`): the exact start time of the task that holds a pid. /proc's
/// `starttime` has clock-tick resolution (10 ms), too coarse to tell a pid recycled within one tick.
#[derive(Debug)]
pub struct TaskStarts {
    prog: OwnedFd,
}

impl TaskStarts {
    /// `Ok(None)` when no task has `pid`; an error when the kernel cannot answer (no `bpf_task_from_pid`).
    pub fn of(&self, pid: u32) -> std::io::Result<Option<TaskStart>> {
        let mut query = task_start_query {
            pid,
            ..Default::default()
        };
        // SAFETY: the options struct is plain data, zero is its valid "unset" value.
        let mut opts: libbpf_sys::bpf_test_run_opts = unsafe { std::mem::zeroed() };
        opts.sz = size_of::<libbpf_sys::bpf_test_run_opts>() as _;
        // A syscall program reads its context from ctx_in and the kernel copies it back there after the run.
        opts.ctx_in = (&mut query as *mut task_start_query).cast();
        opts.ctx_size_in = size_of::<task_start_query>() as u32;
        // SAFETY: the fd is a loaded program's; ctx_in points at `query`, alive and exclusively borrowed for
        // the call, of the size given.
        let rc = unsafe { libbpf_sys::bpf_prog_test_run_opts(self.prog.as_raw_fd(), &mut opts) };
        if rc < 0 {
            return Err(std::io::Error::from_raw_os_error(-rc));
        }
        if opts.retval != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "the kernel has no bpf_task_from_pid",
            ));
        }
        Ok((query.tgid != 0).then_some(TaskStart {
            tgid: query.tgid,
            start_boot_ns: query.start_boottime_ns,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_limits() {
        let ok = KernelKillPlan {
            slots: vec![KillSlotPlan {
                signal: 9,
                names: vec!["xmrig".into()],
                argv0: vec!["/usr/bin/xmrig".into()],
                arg_substrings: vec!["stratum+tcp://".into()],
                disarmed: false,
            }],
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        let long_name = KernelKillPlan {
            slots: vec![KillSlotPlan {
                signal: 9,
                names: vec!["x".repeat(64)],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(long_name.validate().is_err());
        let too_many = KernelKillPlan {
            slots: vec![KillSlotPlan {
                signal: 9,
                arg_substrings: vec!["a".into(); 17],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(too_many
            .validate()
            .unwrap_err()
            .contains("17 argument patterns"));
    }

    #[test]
    fn kernel_device_encoding() {
        let id = ExeId {
            inode: 1,
            dev: libc::makedev(8, 1),
        };
        assert_eq!(id.kernel_dev(), (8 << 20) | 1);
    }
}
