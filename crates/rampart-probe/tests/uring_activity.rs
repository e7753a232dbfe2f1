//! Real-kernel tests of io_uring: file and network operations submitted through a ring (a liburing program,
//! `uring_ops`, built at test time) produce the records of their syscalls, marked with their origin, however
//! they are submitted (SQPOLL, io-wq, fixed files, linked, skipped or overflowed completions, a registered
//! personality). Needs root and liburing-dev.

mod file_support;
mod kernel_common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use file_support::*;
use rampart_model::{EventData, EventType};
use rampart_probe::file::{file_target, FileFilters, FileKind, Mode, SideFilter, TypeFilter};
use rampart_probe::kernel::config::ActivityConfig;
use rampart_probe::record::{ActivityRecord, Origin};
use rampart_probe::{ProbeConfig, ProbeRecord};

const COMPLETED: Origin = Origin::IoUring { completed: true };
const SUBMITTED: Origin = Origin::IoUring { completed: false };

fn uring_ops() -> PathBuf {
    rampart_testkit::cc::uring_ops().expect("building uring_ops (gcc, liburing-dev)")
}

/// Runs `uring_ops ARGS`; returns its pid and stdout. It must succeed.
fn run(args: &[&str]) -> (u32, String) {
    let child = Command::new(uring_ops())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "uring_ops {args:?} failed");
    (pid, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The first record of process `pid` satisfying `pred`.
fn record_of(
    rec: &mut Recorder,
    pid: u32,
    what: &str,
    pred: impl Fn(&ActivityRecord) -> bool,
) -> ActivityRecord {
    rec.wait_match(|r| r.pid == pid && pred(r))
        .unwrap_or_else(|| panic!("no {what} record of pid {pid}"))
}

fn open_of(rec: &mut Recorder, pid: u32, path: &Path) -> ActivityRecord {
    let want = path.to_str().unwrap().to_string();
    record_of(rec, pid, &format!("open of {want}"), |r| {
        r.data.event_type() == EventType::Open && path_of(r) == Some(want.as_str())
    })
}

fn file_with(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, b"secret\n").unwrap();
    p
}

#[test]
fn uring_opens_are_open_events_however_submitted() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    let target = file_with(&dir, "target");
    let inode = std::fs::metadata(&target).unwrap().ino();
    let t = target.to_str().unwrap();

    // plain, and the same through a symlink: the opened file's own path, as for open(2)
    let (pid, out) = run(&["open", t]);
    assert_eq!(out.trim(), "read 7");
    let r = open_of(&mut rec, pid, &target);
    assert_eq!(r.origin, COMPLETED);
    let EventData::Open(o) = &r.data else {
        unreachable!()
    };
    assert_eq!(o.file.file.inode, inode);
    assert_eq!(o.flags & 3, libc::O_RDONLY as u32);
    assert!(o.retval >= 0, "the new descriptor: {o:?}");
    assert_eq!(o.syscall.as_ref().unwrap().path, t);
    assert_eq!(r.tid, pid, "submitted by the main thread");
    assert!(r.creds.is_some_and(|c| c.uid == 0));
    std::os::unix::fs::symlink(&target, dir.join("alias")).unwrap();
    let (pid, _) = run(&["open", dir.join("alias").to_str().unwrap()]);
    assert_eq!(open_of(&mut rec, pid, &target).origin, COMPLETED);

    for variant in [
        &["openat2"][..],
        &["--sqpoll", "open"],
        &["--async", "open"],
        &["--link", "open"],
        &["--fixed", "open"],
        &["--fixed-alloc", "open"],
        &["--overflow", "open"],
        &["--sqpoll", "--fixed", "open"],
    ] {
        let mut args = variant.to_vec();
        args.push(t);
        let (pid, out) = run(&args);
        assert_eq!(out.trim(), "read 7", "{args:?}");
        let r = open_of(&mut rec, pid, &target);
        assert_eq!(r.origin, COMPLETED, "{args:?}");
        let EventData::Open(o) = &r.data else {
            unreachable!()
        };
        assert_eq!(
            o.file.file.inode, inode,
            "{args:?}: the opened file, from its dentry"
        );
        if args.contains(&"--sqpoll") {
            // the ring's poller thread (iou-sqp-PID) submitted it: a thread of the process
            assert_ne!(r.tid, pid, "{args:?}");
        }
    }

    // success posts no completion: reported at submission, the path as named (no inode), result unknown
    for variant in [
        &["--skip"][..],
        &["--skip", "--fixed"],
        &["--dup-user-data"],
    ] {
        let mut args = variant.to_vec();
        args.extend(["open", t]);
        let (pid, _) = run(&args);
        let r = open_of(&mut rec, pid, &target);
        assert_eq!(r.origin, SUBMITTED, "{args:?}");
        let EventData::Open(o) = &r.data else {
            unreachable!()
        };
        assert_eq!(o.retval, 0, "{args:?}");
    }

    let s = rec.probe.stats().unwrap().uring;
    assert!(
        s.overflowed >= 1 && s.skip_success >= 2 && s.duplicate_user_data >= 1,
        "{s:?}"
    );
    assert!(s.completed >= 10, "{s:?}");
}

/// A full completion queue sends completions to the overflow list, where the kernel names them by
/// user_data only. An attacker gives a read the user_data of a pending open and lets the read complete
/// first: the open must still be reported with its own result (its new descriptor and file), not the read's.
#[test]
fn overflowed_completions_are_not_confused_by_a_shared_user_data() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    let fifo = dir.join("fifo");
    let (pid, out) = run(&["overflow-dup", fifo.to_str().unwrap()]);
    let fd: i64 = out.trim().strip_prefix("opened ").unwrap().parse().unwrap();
    assert!(fd > 2, "{out}");
    // (the program opens the FIFO for writing with open(2) too: take the io_uring one)
    let want = fifo.to_str().unwrap().to_string();
    let r = record_of(&mut rec, pid, "io_uring open of the FIFO", |r| {
        r.origin.is_async() && path_of(r) == Some(want.as_str())
    });
    assert_eq!(r.origin, COMPLETED);
    let EventData::Open(o) = &r.data else {
        unreachable!()
    };
    assert_eq!(o.retval, fd, "the open's own result, not the read's (1)");
    assert_eq!(
        o.file.file.mode & 0o170000,
        0o010000,
        "the FIFO, from the opened file"
    );
    let s = rec.probe.stats().unwrap().uring;
    assert!(s.foreign >= 1 && s.overflowed >= 2, "{s:?}");
}

#[test]
fn uring_path_operations_are_file_events() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let (pid, _) = run(&["create", &p("made")]);
    let r = open_of(&mut rec, pid, &dir.join("made"));
    let EventData::Open(o) = &r.data else {
        unreachable!()
    };
    assert_eq!(o.flags & libc::O_CREAT as u32, libc::O_CREAT as u32);
    assert_eq!(
        o.file.destination.as_ref().unwrap().file.mode & 0o777,
        0o640
    );

    let cases: [(&[&str], EventType, &str, Option<&str>); 8] = [
        (&["truncate", &p("made")], EventType::Truncate, "made", None),
        (
            &["--fixed", "truncate", &p("made")],
            EventType::Truncate,
            "made",
            None,
        ),
        (&["mkdir", &p("d")], EventType::Mkdir, "d", None),
        (
            &["rename", &p("made"), &p("moved")],
            EventType::Rename,
            "made",
            Some("moved"),
        ),
        (
            &["link", &p("moved"), &p("hard")],
            EventType::Link,
            "moved",
            Some("hard"),
        ),
        (&["unlink", &p("hard")], EventType::Unlink, "hard", None),
        (
            &["--async", "unlink", &p("moved")],
            EventType::Unlink,
            "moved",
            None,
        ),
        (&["rmdir", &p("d")], EventType::Rmdir, "d", None),
    ];
    for (args, t, src, dst) in cases {
        let (pid, _) = run(args);
        let want = p(src);
        let r = record_of(&mut rec, pid, &format!("{t} of {want}"), |r| {
            r.data.event_type() == t && path_of(r) == Some(want.as_str())
        });
        assert_eq!(r.origin, COMPLETED, "{args:?}");
        assert_eq!(rampart_probe::file::retval(&r.data), Some(0), "{args:?}");
        if t == EventType::Truncate {
            let ino = std::fs::metadata(dir.join(src)).unwrap().ino();
            assert_eq!(
                file_target(&r.data).unwrap().file.inode,
                ino,
                "{args:?}: the request's own file"
            );
        }
        if let Some(dst) = dst {
            assert_eq!(dest_of(&r), Some(p(dst).as_str()), "{args:?}");
        }
    }
    // no completion on success: reported at submission, its file from the descriptor it names
    std::fs::write(dir.join("kept"), b"x").unwrap();
    let (pid, _) = run(&["--skip", "truncate", &p("kept")]);
    let want = p("kept");
    let r = record_of(&mut rec, pid, "truncate at submission", |r| {
        r.data.event_type() == EventType::Truncate && path_of(r) == Some(want.as_str())
    });
    assert_eq!(r.origin, SUBMITTED);
}

#[test]
fn uring_network_operations_are_socket_events() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load_with(
        ProbeConfig {
            activity: ActivityConfig::for_event_types([
                EventType::Connect,
                EventType::Bind,
                EventType::Accept,
            ]),
            ..ProbeConfig::default()
        },
        &FileFilters::default(),
    );
    let port = rampart_testkit::free_port();
    let ps = port.to_string();
    // nothing listens: the connect is refused, and reported with the address the kernel copied (the
    // program wipes its buffer right after submitting)
    let (pid, _) = run(&["connect", "127.0.0.7", &ps]);
    let (pid_fixed, _) = run(&["--fixed", "connect", "127.0.0.7", &ps]);
    let (pid_bind, _) = run(&["bind", "127.0.0.1", &ps]);
    let accept_port = rampart_testkit::free_port().to_string();
    let (pid_accept, out) = run(&["accept", &accept_port]);
    assert!(out.starts_with("accept "), "{out}");

    let mut seen = Vec::new();
    let start = Instant::now();
    while seen.len() < 4 && start.elapsed() < DEADLINE {
        rec.probe
            .poll(Duration::from_millis(50), &mut |r| {
                let ProbeRecord::Activity(a) = r else { return };
                if [pid, pid_fixed, pid_bind, pid_accept].contains(&a.pid) && a.origin.is_async() {
                    seen.push(a);
                }
            })
            .unwrap();
    }
    let find = |p: u32| {
        seen.iter()
            .find(|a| a.pid == p)
            .unwrap_or_else(|| panic!("no io_uring socket record of {p}: {seen:#?}"))
    };
    for p in [pid, pid_fixed] {
        let EventData::Connect(c) = &find(p).data else {
            panic!("{seen:#?}")
        };
        assert_eq!(c.addr.ip.to_string(), "127.0.0.7");
        assert_eq!((c.addr.port, c.addr.family, c.protocol), (port, 2, 6));
        assert_eq!(c.retval, -(libc::ECONNREFUSED as i64));
    }
    let EventData::Bind(b) = &find(pid_bind).data else {
        panic!("{seen:#?}")
    };
    assert_eq!(
        (b.addr.ip.to_string().as_str(), b.addr.port, b.retval),
        ("127.0.0.1", port, 0)
    );
    let EventData::Accept(a) = &find(pid_accept).data else {
        panic!("{seen:#?}")
    };
    assert_eq!(
        (a.addr.ip.to_string().as_str(), a.protocol),
        ("127.0.0.1", 6)
    );
    assert!(a.retval >= 0 && a.addr.port != 0, "{a:?}");
}

#[test]
fn uring_records_carry_the_credentials_the_request_runs_with() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load(&FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    let target = file_with(&dir, "root-only");
    // a personality registered as root, then the process drops to uid 4321 and submits with it: the
    // open runs (and is reported) as root
    let (pid, out) = run(&["--personality", "4321", "open", target.to_str().unwrap()]);
    assert_eq!(out.trim(), "read 7");
    let r = open_of(&mut rec, pid, &target);
    let creds = r.creds.expect("credentials");
    assert_eq!((creds.uid, creds.euid), (0, 0), "{creds:?}");
}

#[test]
fn uring_setup_is_reported() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = load_with(
        ProbeConfig {
            activity: ActivityConfig::for_event_types([EventType::IoUringSetup]),
            ..ProbeConfig::default()
        },
        &FileFilters::default(),
    );
    let (_keep, dir) = temp_dir();
    let (pid, _) = run(&["--sqpoll", "mkdir", dir.join("x").to_str().unwrap()]);
    let (setup, origin) =
        kernel_common::wait_for(&mut rec.probe, "io_uring_setup", |a| match &a.data {
            EventData::IoUringSetup(s) if a.pid == pid => Some((s.clone(), a.origin)),
            _ => None,
        });
    assert_eq!((setup.sq_entries, setup.cq_entries), (8, 16), "{setup:?}");
    assert_eq!(setup.flags & 2, 2, "IORING_SETUP_SQPOLL: {setup:?}");
    assert!(setup.retval >= 0, "the ring's descriptor: {setup:?}");
    assert_eq!(origin, Origin::Syscall);
}

/// The kernel filter applies to io_uring requests as to syscalls: with a watched directory, requests on
/// files elsewhere are dropped in the kernel and never reach user space.
#[test]
fn uring_requests_go_through_the_kernel_filter() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let (_keep, dir) = temp_dir();
    let watched = dir.join("watched");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&watched).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let mut filters = FileFilters::default();
    filters.types.insert(
        FileKind::Open,
        TypeFilter {
            mode: Mode::Filter,
            source: SideFilter {
                prefixes: [format!("{}/", watched.display())].into(),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let mut rec = load(&filters);
    let before = rec.probe.file_stats().unwrap().get(FileKind::Open);
    let outside = file_with(&elsewhere, "f");
    let inside = file_with(&watched, "f");
    let (pid_out, _) = run(&["open", outside.to_str().unwrap()]);
    let (pid_in, _) = run(&["open", inside.to_str().unwrap()]);
    assert_eq!(open_of(&mut rec, pid_in, &inside).origin, COMPLETED);
    let leaked = rec.collect_for(Duration::from_millis(300), |r| {
        r.pid == pid_out && r.origin.is_async()
    });
    assert!(leaked.is_empty(), "{leaked:#?}");
    let after = rec.probe.file_stats().unwrap().get(FileKind::Open);
    assert!(
        after.approver_drop + after.discarder_drop > before.approver_drop + before.discarder_drop
    );
}
