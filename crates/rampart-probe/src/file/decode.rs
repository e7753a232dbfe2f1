//! File records (`struct file_event`, bpf/file_events.h) → [`ActivityRecord`]s carrying the model's file
//! event payloads. Bounds-checked; never panics.

use rampart_model::events::{
    Destination, FileEvent, FileTarget, OpenEvent, SyscallArgs, SyscallPath, UnlinkEvent,
};
use rampart_model::{EventData, FileInfo};

use super::FileKind;
use crate::abi::{has, lossy, read_record};
use crate::decode::DecodeError;
use crate::record::ActivityRecord;
use crate::skel::types::{file_event, file_flag, file_info, record_kind};

const O_CREAT: u32 = libc::O_CREAT as u32;

/// Decodes one file record (its kind already known to be in the file range).
pub fn decode(bytes: &[u8]) -> Result<ActivityRecord, DecodeError> {
    let (e, mut sections) = read_record::<file_event>(bytes)?;
    let kind = e
        .hdr
        .kind
        .checked_sub(record_kind::RECORD_FILE_BASE.0)
        .and_then(|i| FileKind::from_index(i as usize))
        .ok_or(DecodeError::UnknownKind(e.hdr.kind))?;

    let mut take = |len: u16| sections.take(len);
    let src_path = take(e.src_path_len)?;
    let dst_path = take(e.dst_path_len)?;
    let sys_path = lossy(take(e.sys_path_len)?);
    let sys_dst_path = lossy(take(e.sys_dst_path_len)?);
    let xattr_name = lossy(take(e.xattr_name_len)?);

    let resolved = has(e.flags, file_flag::FILE_SRC_RESOLVED.0);
    let src_info = has(
        e.flags,
        file_flag::FILE_SRC_RESOLVED.0 | file_flag::FILE_SRC_INODE.0,
    );
    let mut file = file_from(
        path_string(
            src_path,
            resolved,
            has(e.flags, file_flag::FILE_SRC_TRUNCATED.0),
        ),
        src_info.then_some(&e.src),
    );
    file.in_upper_layer = has(e.flags, file_flag::FILE_SRC_UPPER.0);
    let syscall = SyscallArgs {
        path: sys_path,
        destination: e
            .dst_path_len
            .gt(&0)
            .then_some(SyscallPath { path: sys_dst_path }),
        flags: e.sys_flags,
        mode: e.sys_mode,
        uid: e.sys_uid,
        gid: e.sys_gid,
        dirfd: e.sys_dirfd as i64,
    };
    let retval = e.retval;
    let target = |destination: Option<Destination>| FileTarget {
        file: file.clone(),
        destination,
    };
    let with_mode = |mode: u32| Destination {
        file: FileInfo {
            mode: (file.mode & libc::S_IFMT) | mode,
            ..Default::default()
        },
        namespace: String::new(),
    };
    let plain = |destination: Option<Destination>| FileEvent {
        file: target(destination),
        retval,
        syscall: Some(syscall.clone()),
    };

    let data = match kind {
        FileKind::Open => EventData::Open(OpenEvent {
            file: target((e.sys_flags & O_CREAT != 0).then(|| with_mode(e.sys_mode))),
            flags: e.sys_flags,
            retval,
            syscall: Some(syscall.clone()),
        }),
        FileKind::Unlink => EventData::Unlink(UnlinkEvent {
            file: target(None),
            flags: e.sys_flags,
            retval,
            syscall: Some(syscall.clone()),
        }),
        FileKind::Chmod => EventData::Chmod(plain(Some(with_mode(e.sys_mode)))),
        FileKind::Mkdir => EventData::Mkdir(plain(Some(with_mode(e.sys_mode)))),
        FileKind::Chown => EventData::Chown(plain(Some(Destination {
            file: FileInfo {
                uid: e.sys_uid,
                gid: e.sys_gid,
                ..Default::default()
            },
            namespace: String::new(),
        }))),
        FileKind::Rename | FileKind::Link => {
            let dst = Destination {
                file: file_from(
                    path_string(
                        dst_path,
                        false,
                        has(e.flags, file_flag::FILE_DST_TRUNCATED.0),
                    ),
                    has(e.flags, file_flag::FILE_DST_INODE.0).then_some(&e.dst),
                ),
                namespace: String::new(),
            };
            let ev = plain(Some(dst));
            if kind == FileKind::Rename {
                EventData::Rename(ev)
            } else {
                EventData::Link(ev)
            }
        }
        FileKind::Setxattr | FileKind::Removexattr => {
            let namespace = xattr_name
                .split_once('.')
                .map_or("", |(ns, _)| ns)
                .to_string();
            let dst = Destination {
                file: FileInfo {
                    name: xattr_name,
                    ..Default::default()
                },
                namespace,
            };
            let ev = plain(Some(dst));
            if kind == FileKind::Setxattr {
                EventData::Setxattr(ev)
            } else {
                EventData::Removexattr(ev)
            }
        }
        FileKind::Rmdir => EventData::Rmdir(plain(None)),
        FileKind::Utimes => EventData::Utimes(plain(None)),
        FileKind::Truncate => EventData::Truncate(plain(None)),
        FileKind::Chdir => EventData::Chdir(plain(None)),
    };
    Ok(ActivityRecord {
        timestamp_boot_ns: e.hdr.timestamp_ns,
        pid: e.pid,
        tid: e.tid,
        creds: Some(crate::decode::task_creds(&e.creds)),
        origin: crate::record::Origin::from_raw(e.origin),
        data,
    })
}

fn file_from(path: String, info: Option<&file_info>) -> FileInfo {
    match info {
        Some(f) => crate::decode::file(f, path),
        None => FileInfo::from_path(path),
    }
}

/// A path from the kernel: dentry-resolved paths are used as they are; a base directory joined with the
/// user's string is normalised lexically (`.`, `..`, repeated and trailing `/`).
fn path_string(bytes: &[u8], resolved: bool, truncated: bool) -> String {
    if truncated || resolved {
        crate::decode::path_string(bytes, truncated)
    } else {
        normalize(&lossy(bytes))
    }
}

/// Lexical normalisation of an absolute path; `..` never climbs above `/`.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(path.len());
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize("/tmp/a/./b/../c"), "/tmp/a/c");
        assert_eq!(normalize("//etc//passwd/"), "/etc/passwd");
        assert_eq!(normalize("/../.."), "/");
        assert_eq!(normalize("/"), "/");
    }

    fn record(kind: FileKind, flags: u32, sections: [&[u8]; 5]) -> Vec<u8> {
        let mut e = file_event::default();
        e.hdr.kind = record_kind::RECORD_FILE_BASE.0 + kind.index() as u32;
        e.hdr.timestamp_ns = 7;
        e.pid = 10;
        e.tid = 11;
        e.retval = 0;
        e.flags = flags;
        e.sys_mode = 0o640;
        e.sys_flags = O_CREAT | 1;
        e.src.inode = 99;
        e.src.mode = 0o100600;
        e.src_path_len = sections[0].len() as u16;
        e.dst_path_len = sections[1].len() as u16;
        e.sys_path_len = sections[2].len() as u16;
        e.sys_dst_path_len = sections[3].len() as u16;
        e.xattr_name_len = sections[4].len() as u16;
        let mut out = crate::abi::bytes_of(&e).to_vec();
        for s in sections {
            out.extend_from_slice(s);
        }
        out
    }

    #[test]
    fn open_with_creation_mode() {
        let bytes = record(
            FileKind::Open,
            file_flag::FILE_SRC_RESOLVED.0,
            [b"/tmp/x/f", b"", b"f", b"", b""],
        );
        let r = decode(&bytes).unwrap();
        let EventData::Open(o) = r.data else {
            panic!("{:?}", r.data)
        };
        assert_eq!(o.file.file.path, "/tmp/x/f");
        assert_eq!(o.file.file.name, "f");
        assert_eq!(o.file.file.inode, 99);
        assert_eq!(o.file.destination.unwrap().file.mode, 0o100640);
        assert_eq!(o.syscall.unwrap().path, "f");
        assert_eq!((r.pid, r.tid, r.timestamp_boot_ns), (10, 11, 7));
    }

    #[test]
    fn rename_joins_and_normalises_unresolved_paths() {
        let bytes = record(
            FileKind::Rename,
            0,
            [
                b"/tmp/a/../b/old",
                b"/tmp//c/new",
                b"../b/old",
                b"/tmp//c/new",
                b"",
            ],
        );
        let r = decode(&bytes).unwrap();
        let EventData::Rename(ev) = r.data else {
            panic!()
        };
        assert_eq!(ev.file.file.path, "/tmp/b/old");
        assert_eq!(ev.file.file.inode, 0, "no inode for a joined path");
        assert_eq!(ev.file.destination.unwrap().file.path, "/tmp/c/new");
        assert_eq!(ev.syscall.unwrap().destination.unwrap().path, "/tmp//c/new");
    }

    #[test]
    fn xattr_namespace_and_short_records() {
        let bytes = record(
            FileKind::Setxattr,
            file_flag::FILE_SRC_RESOLVED.0,
            [b"/f", b"", b"/f", b"", b"user.comment"],
        );
        let EventData::Setxattr(ev) = decode(&bytes).unwrap().data else {
            panic!()
        };
        let d = ev.file.destination.unwrap();
        assert_eq!(
            (d.file.name.as_str(), d.namespace.as_str()),
            ("user.comment", "user")
        );
        assert!(matches!(
            decode(&bytes[..bytes.len() - 3]),
            Err(DecodeError::Sections { .. })
        ));
        assert!(matches!(
            decode(&bytes[..8]),
            Err(DecodeError::Short { .. })
        ));
    }
}
