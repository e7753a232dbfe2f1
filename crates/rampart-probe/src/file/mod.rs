//! File activity (FIM): the kernel records of `bpf/file.h`, decoded into the model's file events, and the
//! in-kernel filter (approvers, discarders, per-type modes) that decides which of them reach user space.
//!
//! With no filter applied ([`crate::Probe::apply_file_filters`] never called, or every type `Off`), the file
//! program is not even attached: file monitoring costs nothing until some rule asks for a file event.

pub mod decode;
pub mod filters;
pub(crate) mod hooks;
mod maps;
pub(crate) mod touched;

pub use filters::{FileFilters, FilterReport, Mode, SideFilter, TypeFilter};
pub use maps::{FileStats, FileTypeStats};

use rampart_model::EventType;

use crate::skel::types::{file_ev, file_filter_limit};

/// The file event types the kernel reports, numbered `FILE_EV_*` (bpf/file_events.h): the number is the
/// record kind offset, the counter index and the filter slot of the source side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum FileKind {
    Open = file_ev::FILE_EV_OPEN.0,
    Chmod = file_ev::FILE_EV_CHMOD.0,
    Chown = file_ev::FILE_EV_CHOWN.0,
    Mkdir = file_ev::FILE_EV_MKDIR.0,
    Rmdir = file_ev::FILE_EV_RMDIR.0,
    Unlink = file_ev::FILE_EV_UNLINK.0,
    Rename = file_ev::FILE_EV_RENAME.0,
    Link = file_ev::FILE_EV_LINK.0,
    Utimes = file_ev::FILE_EV_UTIMES.0,
    Setxattr = file_ev::FILE_EV_SETXATTR.0,
    Removexattr = file_ev::FILE_EV_REMOVEXATTR.0,
    Truncate = file_ev::FILE_EV_TRUNCATE.0,
    Chdir = file_ev::FILE_EV_CHDIR.0,
}

// Every kernel type once, each at its own number: `from_index` is `ALL[i]`.
const _: () = {
    assert!(FileKind::ALL.len() == file_ev::FILE_EV_COUNT.0 as usize);
    let mut i = 0;
    while i < FileKind::ALL.len() {
        assert!(FileKind::ALL[i] as usize == i);
        i += 1;
    }
};

impl FileKind {
    pub const ALL: [FileKind; 13] = [
        FileKind::Open,
        FileKind::Chmod,
        FileKind::Chown,
        FileKind::Mkdir,
        FileKind::Rmdir,
        FileKind::Unlink,
        FileKind::Rename,
        FileKind::Link,
        FileKind::Utimes,
        FileKind::Setxattr,
        FileKind::Removexattr,
        FileKind::Truncate,
        FileKind::Chdir,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(i: usize) -> Option<FileKind> {
        FileKind::ALL.get(i).copied()
    }

    pub fn event_type(self) -> EventType {
        match self {
            FileKind::Open => EventType::Open,
            FileKind::Chmod => EventType::Chmod,
            FileKind::Chown => EventType::Chown,
            FileKind::Mkdir => EventType::Mkdir,
            FileKind::Rmdir => EventType::Rmdir,
            FileKind::Unlink => EventType::Unlink,
            FileKind::Rename => EventType::Rename,
            FileKind::Link => EventType::Link,
            FileKind::Utimes => EventType::Utimes,
            FileKind::Setxattr => EventType::Setxattr,
            FileKind::Removexattr => EventType::Removexattr,
            FileKind::Truncate => EventType::Truncate,
            FileKind::Chdir => EventType::Chdir,
        }
    }

    pub fn from_event_type(t: EventType) -> Option<FileKind> {
        FileKind::ALL.into_iter().find(|k| k.event_type() == t)
    }

    /// Rename and link also carry a destination file (with its own approvers).
    pub fn has_destination(self) -> bool {
        matches!(self, FileKind::Rename | FileKind::Link)
    }

    /// The kernel filter slot of the destination side (`FILE_SLOT_*_DST` in bpf/file_maps.h).
    pub(crate) fn destination_slot(self) -> Option<usize> {
        match self {
            FileKind::Rename => Some(file_filter_limit::FILE_SLOT_RENAME_DST.0 as usize),
            FileKind::Link => Some(file_filter_limit::FILE_SLOT_LINK_DST.0 as usize),
            _ => None,
        }
    }
}

/// The file (and destination) of a file event's payload, whatever its type.
pub fn file_target(data: &rampart_model::EventData) -> Option<&rampart_model::events::FileTarget> {
    data.file_target()
}

/// The return value of a file event's payload.
pub fn retval(data: &rampart_model::EventData) -> Option<i64> {
    data.file_retval()
}
