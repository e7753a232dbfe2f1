//! Loading and attaching the activity programs: only those of wanted event types whose hook exists on
//! this kernel; the syscall tracepoints need tracefs (see `tracefs.rs`), the DNS programs attach to the
//! cgroup v2 root.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use libbpf_rs::skel::{OpenSkel, Skel};
use libbpf_rs::Link;
use rampart_model::EventType;

use super::config::{program_event_type, ActivityConfig};
use crate::errors::ProbeError;
use crate::skel::{OpenSensorSkel, SensorSkel};
use crate::tracefs::syscall_tracepoint_exists;

/// The attached activity programs (detached on drop), and what this kernel could not offer.
#[derive(Default)]
pub(crate) struct ActivityLinks {
    /// Attached programs by name.
    links: BTreeMap<String, Link>,
    /// The cgroup v2 root the DNS programs attach to, opened once.
    cgroup: Option<File>,
    /// Syscalls whose tracepoint does not exist here (e.g. the module syscalls without CONFIG_MODULES).
    pub(crate) missing_syscalls: Vec<String>,
}

/// Before load: sets the in-kernel filters and turns off the programs this kernel cannot attach. Every
/// other activity program is loaded (verified once), so that a rule set that needs a new event type later
/// only attaches it ([`ActivityLinks::sync`]). Returns the syscalls without a tracepoint.
pub(crate) fn prepare(
    open: &mut OpenSensorSkel<'_>,
    config: &ActivityConfig,
    tracing: Option<&Path>,
) -> Result<Vec<String>, ProbeError> {
    let rodata = open.maps.rodata_data.as_deref_mut().ok_or_else(|| {
        ProbeError::Config("the BPF object has no .rodata (build problem)".into())
    })?;
    rodata.act_bpf_cmd_mask = config.bpf_cmd_mask();
    rodata.act_mmap_prot_mask = config.mmap_prot_mask;
    rodata.act_mprotect_prot_mask = config.mprotect_prot_mask;
    rodata.act_sock_family_mask = config.family_mask();
    rodata.act_dns_port = config.dns_port as u32;

    let mut missing = Vec::new();
    for mut prog in open.open_object_mut().progs_mut() {
        let name = prog.name().to_string_lossy().into_owned();
        let Some((_, syscall)) = program_event_type(&name) else {
            continue;
        };
        let exists = syscall.is_none_or(|s| {
            let found = tracing.is_some_and(|dir| syscall_tracepoint_exists(dir, s));
            if !found && !missing.iter().any(|m| m == s) {
                missing.push(s.to_string());
            }
            found
        });
        if !exists {
            prog.set_autoload(false);
        }
    }
    Ok(missing)
}

impl ActivityLinks {
    /// Every attached link, for the caller to drop (the programs count as detached from now on).
    pub(crate) fn take_links(&mut self) -> Vec<Link> {
        std::mem::take(&mut self.links).into_values().collect()
    }

    pub(crate) fn new(missing_syscalls: Vec<String>) -> ActivityLinks {
        ActivityLinks {
            missing_syscalls,
            ..Default::default()
        }
    }

    /// Attaches the loaded programs of the event types `config` wants and detaches the others: a type
    /// left out costs nothing at run time (its syscalls are not hooked).
    pub(crate) fn sync(
        &mut self,
        skel: &SensorSkel<'_>,
        config: &ActivityConfig,
    ) -> Result<(), ProbeError> {
        for prog in skel.object().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            let Some((event_type, _)) = program_event_type(&name) else {
                continue;
            };
            let want = prog.autoload() && config.wants(event_type);
            if !want {
                self.links.remove(&name);
                continue;
            }
            if self.links.contains_key(&name) {
                continue;
            }
            let err = |source| ProbeError::Attach {
                program: name.clone(),
                source,
            };
            let link = if event_type != EventType::Dns {
                let (link, log) = crate::liblog::with_captured_log(|| prog.attach());
                if link.is_err() {
                    tracing::error!("attaching {name}: {}", crate::liblog::tail(&log, 10));
                }
                link.map_err(err)?
            } else {
                let fd = self.cgroup_root(config)?.as_raw_fd();
                prog.attach_cgroup(fd).map_err(err)?
            };
            self.links.insert(name, link);
        }
        Ok(())
    }

    fn cgroup_root(&mut self, config: &ActivityConfig) -> Result<&File, ProbeError> {
        if self.cgroup.is_none() {
            let root = match &config.cgroup_root {
                Some(root) => root.clone(),
                None => cgroup2_root().ok_or_else(|| {
                    ProbeError::Config(
                        "no cgroup2 mount found for the DNS programs (mount one, or disable dns)"
                            .into(),
                    )
                })?,
            };
            let file = File::open(&root).map_err(|e| {
                ProbeError::Config(format!(
                    "opening the cgroup v2 root {}: {e}",
                    root.display()
                ))
            })?;
            self.cgroup = Some(file);
        }
        Ok(self.cgroup.as_ref().expect("just set"))
    }
}

/// The mount point of the cgroup v2 hierarchy root, from /proc/self/mountinfo.
pub fn cgroup2_root() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    cgroup2_root_in(&info)
}

fn cgroup2_root_in(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (pre, post) = line.split_once(" - ")?;
        let mut pre = pre.split(' ');
        let root = pre.nth(3)?;
        let mount_point = pre.next()?;
        (post.split(' ').next()? == "cgroup2" && root == "/")
            .then(|| PathBuf::from(unescape(mount_point)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_root() {
        let info = "25 30 0:22 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n\
                    35 25 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_root_in(info),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let nested = "40 30 0:30 /sub /x rw - cgroup2 cgroup2 rw\n41 30 0:30 / /my\\040cg rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_root_in(nested), Some(PathBuf::from("/my cg")));
        assert_eq!(cgroup2_root_in("1 0 0:1 / / rw - ext4 /dev/sda rw\n"), None);
    }
}
