//! File events: `F(<ev>.file)` and its destination, the raw `*.syscall.*` arguments, and the fields of `open`,
//! `chown`, `unlink`, `splice`, `mmap`, `mount` and `umount`.

use crate::event::{Event, EventData, EventType as T};
use crate::events::{FileTarget, SyscallArgs};
use crate::fields::builder::Builder;
use crate::fields::declare::fields;
use crate::fields::FieldScope;
use crate::file::FileInfo;

/// Events with a file (`<ev>.file.*`) and its raw path (`<ev>.syscall.path`).
const FILE_EVENTS: [T; 16] = [
    T::Open,
    T::Chmod,
    T::Chown,
    T::Mkdir,
    T::Rmdir,
    T::Unlink,
    T::Rename,
    T::Link,
    T::Utimes,
    T::Setxattr,
    T::Removexattr,
    T::Truncate,
    T::Chdir,
    T::Splice,
    T::Mmap,
    T::LoadModule,
];

fn file_target(e: &Event) -> Option<&FileTarget> {
    use EventData::*;
    match &e.data {
        Open(x) => Some(&x.file),
        Chmod(x) | Chown(x) | Mkdir(x) | Rmdir(x) | Rename(x) | Link(x) | Utimes(x)
        | Setxattr(x) | Removexattr(x) | Truncate(x) | Chdir(x) => Some(&x.file),
        Unlink(x) => Some(&x.file),
        Splice(x) => Some(&x.file),
        Mmap(x) => Some(&x.file),
        LoadModule(x) => Some(&x.file),
        _ => None,
    }
}

fn target_file(e: &Event) -> Option<&FileInfo> {
    file_target(e).map(|t| &t.file)
}

fn dest_file(e: &Event) -> Option<&FileInfo> {
    file_target(e).and_then(FileTarget::destination_file)
}

fn syscall_args(e: &Event) -> Option<&SyscallArgs> {
    use EventData::*;
    match &e.data {
        Open(x) => x.syscall.as_ref(),
        Unlink(x) => x.syscall.as_ref(),
        Mount(x) => x.syscall.as_ref(),
        Chmod(x) | Chown(x) | Mkdir(x) | Rmdir(x) | Rename(x) | Link(x) | Utimes(x)
        | Setxattr(x) | Removexattr(x) | Truncate(x) | Chdir(x) => x.syscall.as_ref(),
        _ => None,
    }
}

pub(super) fn declare(b: &mut Builder) {
    for t in FILE_EVENTS {
        let (scope, p) = (FieldScope::Event(t), t.as_str());
        b.file_group(&format!("{p}.file"), scope, target_file);
        fields!(b, scope, |e| {
            format!("{p}.syscall.path"), Str | PATH => syscall_args(e).map_or("", |s| s.path.as_str());
        });
    }
    for t in [T::Rename, T::Link] {
        let (scope, p) = (FieldScope::Event(t), t.as_str());
        b.file_group(&format!("{p}.file.destination"), scope, dest_file);
        fields!(b, scope, |e| {
            format!("{p}.syscall.destination.path"), Str | PATH =>
                syscall_args(e).and_then(|s| s.destination.as_ref()).map_or("", |d| d.path.as_str());
        });
    }
    for t in [T::Open, T::Chmod, T::Mkdir] {
        let (scope, p) = (FieldScope::Event(t), t.as_str());
        fields!(b, scope, |e| {
            format!("{p}.file.destination.mode"), Int => dest_file(e).map_or(0, |f| f.mode);
            format!("{p}.file.destination.rights"), Int @ computed => dest_file(e).map_or(0, |f| f.rights());
            format!("{p}.syscall.mode"), Int => syscall_args(e).map_or(0, |s| s.mode);
        });
    }
    fields!(b, FieldScope::Event(T::Chown), |e| {
        "chown.file.destination.uid", Int => dest_file(e).map_or(0, |f| f.uid);
        "chown.file.destination.gid", Int => dest_file(e).map_or(0, |f| f.gid);
        "chown.file.destination.user", Str => dest_file(e).map_or("", |f| f.user.as_str());
        "chown.file.destination.group", Str => dest_file(e).map_or("", |f| f.group.as_str());
        "chown.syscall.uid", Int => syscall_args(e).map_or(0, |s| s.uid);
        "chown.syscall.gid", Int => syscall_args(e).map_or(0, |s| s.gid);
    });
    for t in [T::Setxattr, T::Removexattr] {
        let (scope, p) = (FieldScope::Event(t), t.as_str());
        fields!(b, scope, |e| {
            format!("{p}.file.destination.name"), Str => dest_file(e).map_or("", |f| f.name.as_str());
            format!("{p}.file.destination.namespace"), Str =>
                file_target(e).and_then(|t| t.destination.as_ref()).map_or("", |d| d.namespace.as_str());
        });
    }
    fields!(b, FieldScope::Event(T::Open), |e| {
        "open.syscall.flags", Int => syscall_args(e).map_or(0, |s| s.flags);
    });
    fields!(b, FieldScope::Event(T::Open), EventData::Open(x) => {
        "open.flags", Int => x.flags;
    });
    fields!(b, FieldScope::Event(T::Unlink), |e| {
        "unlink.syscall.flags", Int => syscall_args(e).map_or(0, |s| s.flags);
        "unlink.syscall.dirfd", Int => syscall_args(e).map_or(0, |s| s.dirfd);
    });
    fields!(b, FieldScope::Event(T::Unlink), EventData::Unlink(x) => {
        "unlink.flags", Int => x.flags;
    });
    fields!(b, FieldScope::Event(T::Splice), EventData::Splice(x) => {
        "splice.pipe_entry_flag", Int => x.pipe_entry_flag;
        "splice.pipe_exit_flag", Int => x.pipe_exit_flag;
    });
    fields!(b, FieldScope::Event(T::Mmap), EventData::Mmap(x) => {
        "mmap.protection", Int => x.protection;
        "mmap.flags", Int => x.flags;
    });
    fields!(b, FieldScope::Event(T::Mount), EventData::Mount(x) => {
        "mount.fs_type", Str => &x.fs_type;
        "mount.mountpoint.path", Str | PATH => &x.mountpoint.path;
        "mount.source.path", Str | PATH => &x.source.path;
        "mount.root.path", Str | PATH => &x.root.path;
        "mount.detached", Bool => x.detached;
        "mount.visible", Bool => x.visible;
        // Datadog's raw-argument names; Rampart's mount values are the syscall's.
        "mount.syscall.fs_type", Str @ "mount.fs_type" => &x.fs_type;
        "mount.syscall.source.path", Str | PATH @ "mount.source.path" => &x.source.path;
        "mount.syscall.mountpoint.path", Str | PATH @ "mount.mountpoint.path" => &x.mountpoint.path;
    });
    fields!(b, FieldScope::Event(T::Umount), EventData::Umount(x) => {
        "umount.mountpoint.path", Str | PATH => &x.mountpoint.path;
    });
}
