//! File-system events: the FIM family (`open`, `chmod`, `rename`, …), `splice`, `mmap`, `chdir`, `mount`.

use serde::{Deserialize, Serialize};

use super::is_default;
use crate::file::FileInfo;

/// The new state of a file an event changes (`*.file.destination.*`): new mode for chmod/mkdir/open,
/// new owner for chown, new path for rename/link, attribute name/namespace for xattr events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Destination {
    #[serde(flatten)]
    pub file: FileInfo,
    /// Extended attribute namespace (`user`, `security`, …) for setxattr/removexattr.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// `F(x)` plus its optional `destination`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileTarget {
    #[serde(flatten)]
    pub file: FileInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
}

impl FileTarget {
    pub fn from_path(path: &str) -> Self {
        FileTarget {
            file: FileInfo::from_path(path),
            destination: None,
        }
    }

    pub fn destination_file(&self) -> Option<&FileInfo> {
        self.destination.as_ref().map(|d| &d.file)
    }
}

/// `*.syscall.*`: the raw syscall arguments, captured before path resolution.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyscallArgs {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<SyscallPath>,
    #[serde(skip_serializing_if = "is_default")]
    pub flags: u32,
    #[serde(skip_serializing_if = "is_default")]
    pub mode: u32,
    #[serde(skip_serializing_if = "is_default")]
    pub uid: u32,
    #[serde(skip_serializing_if = "is_default")]
    pub gid: u32,
    #[serde(skip_serializing_if = "is_default")]
    pub dirfd: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyscallPath {
    pub path: String,
}

/// A file event with no field of its own beyond the file and the return value
/// (`chmod`, `chown`, `mkdir`, `rmdir`, `rename`, `link`, `utimes`, `setxattr`, `removexattr`, `chdir`, `truncate`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileEvent {
    pub file: FileTarget,
    pub retval: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscall: Option<SyscallArgs>,
}

/// `open.*`; the creation mode is `open.file.destination.mode`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenEvent {
    pub file: FileTarget,
    pub flags: u32,
    pub retval: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscall: Option<SyscallArgs>,
}

/// `unlink.*`; `flags` holds `AT_REMOVEDIR`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnlinkEvent {
    pub file: FileTarget,
    pub flags: u32,
    pub retval: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscall: Option<SyscallArgs>,
}

/// `splice.*`: pipe buffer flags before and after the call (Dirty Pipe detection).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpliceEvent {
    pub file: FileTarget,
    pub pipe_entry_flag: u32,
    pub pipe_exit_flag: u32,
    pub retval: i64,
}

/// `mmap.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MmapEvent {
    pub file: FileTarget,
    pub protection: u64,
    pub flags: u64,
    pub retval: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountPath {
    pub path: String,
}

/// `mount.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountEvent {
    pub fs_type: String,
    pub mountpoint: MountPath,
    pub source: MountPath,
    pub root: MountPath,
    pub mount_id: u32,
    pub detached: bool,
    pub visible: bool,
    pub retval: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscall: Option<SyscallArgs>,
}

/// `umount.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UmountEvent {
    pub mount_id: u32,
    pub mountpoint: MountPath,
    pub retval: i64,
}
