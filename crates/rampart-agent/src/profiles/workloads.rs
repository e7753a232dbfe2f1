//! Finding the workloads to profile in the cgroup v2 tree: container cgroups (any runtime layout the
//! container module knows) and systemd services, each with the cgroup id the kernel tags events with.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::container::parse_cgroup_path;

/// A cgroup that holds a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadCgroup {
    /// The cgroup v2 id (the inode number of its directory).
    pub cgroup_id: u64,
    /// Path relative to the cgroup root.
    pub path: String,
    pub kind: WorkloadKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    Container(String),
    /// A systemd unit (`nginx.service`).
    Service(String),
}

const MAX_DEPTH: usize = 8;
const MAX_DIRS: usize = 20_000;

/// Walks the cgroup tree under `root` (bounded), returning container cgroups and, when `services`, the
/// `*.service` cgroups of `system.slice`.
pub fn scan(root: &Path, services: bool) -> Vec<WorkloadCgroup> {
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, usize)> = vec![(root.to_path_buf(), 0)];
    let mut seen = 0;
    while let Some((dir, depth)) = stack.pop() {
        seen += 1;
        if seen > MAX_DIRS {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_dir() {
                continue;
            }
            let path = e.path();
            let rel = format!(
                "/{}",
                path.strip_prefix(root).unwrap_or(&path).to_string_lossy()
            );
            let name = e.file_name().to_string_lossy().into_owned();
            // A container's cgroup and those nested in it (runtimes put the payload in a child such as
            // `…/container`): all are the container's, the kernel tags events with the innermost.
            if let Some(c) = parse_cgroup_path(&rel) {
                out.push(WorkloadCgroup {
                    cgroup_id: meta.ino(),
                    path: rel,
                    kind: WorkloadKind::Container(c.id),
                });
                if depth < MAX_DEPTH {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            if services && name.ends_with(".service") && rel.starts_with("/system.slice/") {
                out.push(WorkloadCgroup {
                    cgroup_id: meta.ino(),
                    path: rel,
                    kind: WorkloadKind::Service(name),
                });
                continue;
            }
            if depth < MAX_DEPTH {
                stack.push((path, depth + 1));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_containers_and_services() {
        let root = tempfile::tempdir().unwrap();
        let id = "a".repeat(64);
        for d in [
            format!("machine.slice/libpod-{id}.scope/container"),
            "system.slice/nginx.service".into(),
            "user.slice/user-1000.slice".into(),
        ] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        let mut found = scan(root.path(), true);
        found.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(
            found.len(),
            3,
            "the scope and its child, and the service: {found:?}"
        );
        assert_eq!(found[0].kind, WorkloadKind::Container(id.clone()));
        assert_eq!(found[1].kind, WorkloadKind::Container(id));
        assert_ne!(found[0].cgroup_id, found[1].cgroup_id);
        assert_eq!(found[2].kind, WorkloadKind::Service("nginx.service".into()));
        assert_eq!(scan(root.path(), false).len(), 2);
    }
}
