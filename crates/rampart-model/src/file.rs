//! `F(x)`: the file group shared by every file-bearing field (`exec.file`, `open.file`, `process.file`, …).

use serde::{Deserialize, Serialize};

/// A file as the kernel resolved it (absolute path from dentries, never from the user's string).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileInfo {
    /// Absolute path, as seen from the process's mount namespace root.
    pub path: String,
    /// Basename of `path`.
    pub name: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub inode: u64,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub mount_id: u32,
    /// Device of the filesystem (`stat`'s `st_dev`): with `inode`, the file's identity (Active Protection
    /// counts and protects executables by it). Not a rule field.
    #[serde(skip)]
    pub dev: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filesystem: String,
    /// Raw `i_mode` (type bits included).
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub mode: u32,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub uid: u32,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub gid: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Nanoseconds since the epoch.
    #[serde(skip_serializing_if = "is_zero")]
    pub change_time: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub modification_time: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_upper_layer: bool,
    /// `sha256:…`, `sha1:…`, `md5:…`, filled by the `hash` action.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<String>,
}

impl FileInfo {
    /// A file known only by its path; the name is derived from it.
    pub fn from_path(path: impl Into<String>) -> Self {
        let path = path.into();
        let name = basename(&path).to_string();
        FileInfo {
            path,
            name,
            ..Default::default()
        }
    }

    /// Permission bits only (what a user passes to chmod), as Datadog's `file.rights`.
    pub fn rights(&self) -> u32 {
        self.mode & 0o7777
    }

    /// The extension of the basename including its dot (`.yaml`), or "" when there is none.
    pub fn extension(&self) -> &str {
        match self.name.rfind('.') {
            Some(0) | None => "",
            Some(i) => &self.name[i..],
        }
    }
}

/// The last component of a path (`/usr/bin/ls` → `ls`; `/` → `/`).
pub fn basename(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() { "" } else { "/" };
    }
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

pub(crate) fn is_zero(v: &u64) -> bool {
    *v == 0
}

pub(crate) fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basename_edge_cases() {
        assert_eq!(basename("/usr/bin/ls"), "ls");
        assert_eq!(basename("/"), "/");
        assert_eq!(basename("/tmp/dir/"), "dir");
        assert_eq!(basename("rel"), "rel");
        assert_eq!(basename(""), "");
    }

    #[test]
    fn extension_and_rights() {
        let mut f = FileInfo::from_path("/etc/kubernetes/manifests/pod.yaml");
        f.mode = 0o100644;
        assert_eq!(f.name, "pod.yaml");
        assert_eq!(f.extension(), ".yaml");
        assert_eq!(f.rights(), 0o644);
        assert_eq!(FileInfo::from_path("/root/.bashrc").extension(), "");
    }
}
