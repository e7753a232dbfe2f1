//! The credentials of processes that already run, from `/proc`: every thread's (threads may differ, e.g.
//! a file server impersonating users per thread), and whether they are in the host's user namespace.

use std::fs;
use std::path::{Path, PathBuf};

use rampart_probe::record::TaskCreds;

use crate::process_cache::procfs::StatusIds;

/// Reads the credentials of processes under one proc root.
pub(crate) struct ProcCreds {
    root: PathBuf,
    /// `/proc/1/ns/user`'s link text: the host's user namespace (None: unknown, taken as the host's).
    host_user_ns: Option<PathBuf>,
}

impl ProcCreds {
    pub(crate) fn new(root: &Path) -> Self {
        ProcCreds {
            root: root.to_path_buf(),
            host_user_ns: fs::read_link(root.join("1/ns/user")).ok(),
        }
    }

    /// The distinct credentials of `pid`'s threads (the main thread's first), at most `max`; empty when the
    /// process is gone.
    pub(crate) fn threads(&self, pid: u32, max: usize) -> Vec<TaskCreds> {
        let dir = self.root.join(pid.to_string());
        let Ok(status) = fs::read_to_string(dir.join("status")) else {
            return Vec::new();
        };
        // user namespaces are per process: the kernel refuses to move one thread of several
        let init_user_ns = match &self.host_user_ns {
            Some(host) => fs::read_link(dir.join("ns/user")).map_or(true, |ns| &ns == host),
            None => true,
        };
        let main = StatusIds::parse(&status);
        let mut states = vec![creds(&main, init_user_ns)];
        if main.threads > 1 {
            let tasks = fs::read_dir(dir.join("task")).into_iter().flatten();
            for task in tasks.filter_map(Result::ok) {
                if states.len() >= max {
                    break;
                }
                let Ok(text) = fs::read_to_string(task.path().join("status")) else {
                    continue;
                };
                let c = creds(&StatusIds::parse(&text), init_user_ns);
                if !states.contains(&c) {
                    states.push(c);
                }
            }
        }
        states
    }

    /// Every process under the root.
    pub(crate) fn pids(&self) -> Vec<u32> {
        crate::process_cache::procfs::list_pids(&self.root)
    }
}

fn creds(ids: &StatusIds, init_user_ns: bool) -> TaskCreds {
    let ([uid, euid, suid, fsuid], [gid, egid, sgid, fsgid]) = (ids.uids, ids.gids);
    TaskCreds {
        uid,
        euid,
        suid,
        fsuid,
        gid,
        egid,
        sgid,
        fsgid,
        cap_effective: ids.cap_effective,
        cap_permitted: ids.cap_permitted,
        init_user_ns,
    }
}
