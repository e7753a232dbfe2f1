//! Real-kernel tests of the ia32 compat path (bpf/compat.h): a 32-bit static program (`driver32`) and a
//! 64-bit one using `int $0x80` perform each file, kernel-activity and network operation for real; the
//! records must be those a native call makes, marked `Origin::Ia32`. Root only (`require!`). Records are
//! picked by the pid of the program each test ran.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rampart_model::events::SocketEvent;
use rampart_model::{EventData, EventType};
use rampart_probe::file::{file_target, FileFilters, FileKind, Mode, SideFilter, TypeFilter};
use rampart_probe::kernel::config::ActivityConfig;
use rampart_probe::record::{ActivityRecord, ExecRecord, Origin};
use rampart_probe::{Probe, ProbeConfig, ProbeRecord};

const DEADLINE: Duration = Duration::from_secs(10);

fn driver32() -> PathBuf {
    rampart_testkit::cc::driver32().expect("building the 32-bit driver (gcc-multilib)")
}

fn int80() -> PathBuf {
    rampart_testkit::cc::int80().expect("building the int $0x80 program (gcc)")
}

/// Runs `program ARGS` to completion and returns its pid; it must succeed.
fn run(program: &Path, args: &[&str]) -> u32 {
    let mut child = Command::new(program)
        .args(args)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    let pid = child.id();
    let status = child.wait().expect("waiting for the program");
    assert!(
        status.success(),
        "{} {args:?} failed: {status}",
        program.display()
    );
    pid
}
const AT_FDCWD: i64 = -100;
const O_CREAT: u32 = 0o100;
const O_WRONLY: u32 = 0o1;
const O_TRUNC: u32 = 0o1000;
const O_LARGEFILE: u32 = 0o100000;

/// A loaded probe and the records polled but not yet claimed.
struct Rec {
    probe: Probe,
    activity: Vec<ActivityRecord>,
    execs: Vec<ExecRecord>,
}

impl Rec {
    fn load(config: ProbeConfig, files: &FileFilters) -> Rec {
        let mut probe = Probe::load(config)
            .unwrap_or_else(|e| panic!("loading the probe failed (tests need root): {e}"));
        probe.apply_file_filters(files).expect("file filters");
        Rec {
            probe,
            activity: Vec::new(),
            execs: Vec::new(),
        }
    }

    fn poll(&mut self) {
        let (activity, execs) = (&mut self.activity, &mut self.execs);
        self.probe
            .poll(Duration::from_millis(50), &mut |r| match r {
                ProbeRecord::Activity(a) => activity.push(a),
                ProbeRecord::Exec(e) => execs.push(e),
                _ => {}
            })
            .expect("polling the ring buffer");
        // the host's own activity must not grow the backlog without end
        if self.activity.len() > 100_000 {
            self.activity.drain(..50_000);
        }
    }

    /// The first record of process `pid` satisfying `pred`; panics after DEADLINE naming `what`.
    fn wait(
        &mut self,
        pid: u32,
        what: &str,
        pred: impl Fn(&ActivityRecord) -> bool,
    ) -> ActivityRecord {
        let start = Instant::now();
        loop {
            if let Some(i) = self.activity.iter().position(|r| r.pid == pid && pred(r)) {
                return self.activity.remove(i);
            }
            assert!(start.elapsed() < DEADLINE, "no {what} record of pid {pid}");
            self.poll();
        }
    }

    /// The record of type `t` of process `pid` on `path`.
    fn file(&mut self, pid: u32, t: EventType, path: &Path) -> ActivityRecord {
        let want = path.to_str().unwrap().to_string();
        let r = self.wait(pid, &format!("{t} {want}"), |r| {
            r.data.event_type() == t && file_target(&r.data).is_some_and(|f| f.file.path == want)
        });
        assert_eq!(r.origin, Origin::Ia32, "{t} {want}");
        r
    }

    /// Every record of process `pid` that arrives within `d`.
    fn all_of(&mut self, pid: u32, d: Duration) -> Vec<ActivityRecord> {
        let start = Instant::now();
        while start.elapsed() < d {
            self.poll();
        }
        let (mine, rest) = std::mem::take(&mut self.activity)
            .into_iter()
            .partition(|r| r.pid == pid);
        self.activity = rest;
        mine
    }

    fn exec_of(&mut self, pid: u32) -> ExecRecord {
        let start = Instant::now();
        loop {
            if let Some(e) = self.execs.iter().find(|e| e.task.pid == pid) {
                return e.clone();
            }
            assert!(start.elapsed() < DEADLINE, "no exec record of pid {pid}");
            self.poll();
        }
    }
}

fn temp_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("rampart-ia32-")
        .tempdir()
        .expect("temp dir");
    let canon = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
    (dir, canon)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn everything() -> ProbeConfig {
    ProbeConfig::default()
}

#[test]
fn file_calls_of_a_32bit_program_are_file_events() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = Rec::load(everything(), &FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    let d = &driver32();
    let f = dir.join("f");
    std::fs::write(&f, b"0123456789").unwrap();

    let pid = run(d, &["openat", s(&f)]);
    let r = rec.file(pid, EventType::Open, &f);
    let EventData::Open(open) = &r.data else {
        unreachable!()
    };
    // glibc's i386 open() adds O_LARGEFILE, which the native ABI implies: it is not part of the flags
    assert_eq!(open.flags, 0, "O_RDONLY without O_LARGEFILE");
    assert_eq!(open.file.file.inode, std::fs::metadata(&f).unwrap().ino());
    assert_eq!(open.syscall.as_ref().unwrap().dirfd, AT_FDCWD);
    assert!(open.retval >= 0);

    let pid = run(d, &["open", s(&f)]);
    let r = rec.file(pid, EventType::Open, &f);
    let EventData::Open(open) = &r.data else {
        unreachable!()
    };
    assert_eq!(open.flags & O_LARGEFILE, 0);

    let created = dir.join("created");
    let pid = run(d, &["creat", s(&created)]);
    let r = rec.file(pid, EventType::Open, &created);
    let EventData::Open(open) = &r.data else {
        unreachable!()
    };
    assert_eq!(open.flags, O_CREAT | O_WRONLY | O_TRUNC);

    let pid = run(d, &["chmod", s(&f)]);
    let r = rec.file(pid, EventType::Chmod, &f);
    let dest = |r: &ActivityRecord| file_target(&r.data).unwrap().destination.clone().unwrap();
    assert_eq!(dest(&r).file.mode & 0o7777, 0o640);
    let pid = run(d, &["fchmodat2", s(&f)]);
    assert_eq!(
        dest(&rec.file(pid, EventType::Chmod, &f)).file.mode & 0o7777,
        0o604
    );

    // chown(2) of i386 takes 16-bit ids: 0xffff is -1 ("unchanged"), as chown32's -1 is
    let pid = run(d, &["chown16", s(&f)]);
    let r = rec.file(pid, EventType::Chown, &f);
    assert_eq!((dest(&r).file.uid, dest(&r).file.gid), (u32::MAX, 0));
    let pid = run(d, &["chown32", s(&f)]);
    let r = rec.file(pid, EventType::Chown, &f);
    assert_eq!((dest(&r).file.uid, dest(&r).file.gid), (0, u32::MAX));

    let pid = run(d, &["truncate64", s(&f)]);
    rec.file(pid, EventType::Truncate, &f);
    let pid = run(d, &["ftruncate64", s(&f)]);
    rec.file(pid, EventType::Truncate, &f);
    assert_eq!(std::fs::metadata(&f).unwrap().len(), 3, "the 64-bit length");
    let pid = run(d, &["utimensat_time64", s(&f)]);
    rec.file(pid, EventType::Utimes, &f);
    let pid = run(d, &["utime", s(&f)]);
    rec.file(pid, EventType::Utimes, &f);
    let pid = run(d, &["setxattr", s(&f)]);
    let r = rec.file(pid, EventType::Setxattr, &f);
    assert_eq!(dest(&r).file.name, "user.rampart");

    let sub = dir.join("sub");
    let pid = run(d, &["mkdir", s(&sub)]);
    let r = rec.file(pid, EventType::Mkdir, &sub);
    assert_eq!(dest(&r).file.mode & 0o777, 0o750);
    let pid = run(d, &["chdir", s(&sub)]);
    rec.file(pid, EventType::Chdir, &sub);
    let hard = dir.join("hard");
    let pid = run(d, &["link", s(&f), s(&hard)]);
    let r = rec.file(pid, EventType::Link, &f);
    assert_eq!(dest(&r).file.path, s(&hard));
    let moved = dir.join("moved");
    let pid = run(d, &["rename", s(&hard), s(&moved)]);
    let r = rec.file(pid, EventType::Rename, &hard);
    assert_eq!(dest(&r).file.path, s(&moved));
    let pid = run(d, &["unlink", s(&moved)]);
    rec.file(pid, EventType::Unlink, &moved);
    let pid = run(d, &["rmdir", s(&sub)]);
    rec.file(pid, EventType::Rmdir, &sub);
}

#[test]
fn activity_of_a_32bit_program_is_reported() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = Rec::load(everything(), &FileFilters::default());
    let (_keep, dir) = temp_dir();
    let d = &driver32();
    let f = dir.join("lib.so");
    std::fs::write(&f, vec![0u8; 8192]).unwrap();
    let ia32 = |r: &ActivityRecord| r.origin == Origin::Ia32;

    // credentials: the 16-bit and the 32-bit calls, reported on success with the new ids
    let pid = run(d, &["setuid16", "0"]);
    let r = rec.wait(pid, "setuid16", |r| matches!(r.data, EventData::Setuid(_)));
    assert!(ia32(&r));
    let pid = run(d, &["setuid32", "0"]);
    rec.wait(pid, "setuid32", |r| {
        matches!(r.data, EventData::Setuid(_)) && ia32(r)
    });
    let pid = run(d, &["setresgid32", "0"]);
    rec.wait(pid, "setresgid32", |r| {
        matches!(r.data, EventData::Setgid(_)) && ia32(r)
    });
    // setfsuid returns the previous id: reported when it asks for another one, not for a query
    let pid = run(d, &["setfsuid16", "7"]);
    let r = rec.wait(pid, "setfsuid16", |r| {
        matches!(r.data, EventData::Setuid(_))
    });
    let EventData::Setuid(su) = &r.data else {
        unreachable!()
    };
    assert_eq!(su.fsuid, 7);
    let query = run(d, &["setfsuid16", "65535"]);

    // signals: kill and tgkill, normalised like the native calls
    let mut victim = Command::new("sleep").arg("30").spawn().unwrap();
    let vpid = victim.id();
    let pid = run(d, &["kill", &vpid.to_string(), "0"]);
    let r = rec.wait(pid, "kill", |r| matches!(r.data, EventData::Signal(_)));
    let EventData::Signal(sig) = &r.data else {
        unreachable!()
    };
    assert_eq!(
        (sig.pid, sig.signal_type, r.origin),
        (vpid, 0, Origin::Ia32)
    );
    let pid = run(d, &["tgkill", &vpid.to_string(), "15"]);
    let r = rec.wait(pid, "tgkill", |r| matches!(r.data, EventData::Signal(_)));
    let EventData::Signal(sig) = &r.data else {
        unreachable!()
    };
    assert_eq!((sig.pid, sig.signal_type), (vpid, 15));
    let _ = victim.wait();
    // the queued and pidfd signal paths, like kill
    let victim = Command::new("sleep").arg("30").spawn().unwrap();
    let vpid = victim.id();
    for op in ["sigqueue", "pidfd-signal"] {
        let pid = run(d, &[op, &vpid.to_string(), "0"]);
        let r = rec.wait(pid, op, |r| matches!(r.data, EventData::Signal(_)));
        let EventData::Signal(sig) = &r.data else {
            unreachable!()
        };
        assert_eq!(
            (sig.pid, sig.signal_type, r.origin),
            (vpid, 0, Origin::Ia32),
            "{op}"
        );
    }
    let mut victim = victim;
    let _ = victim.kill();
    let _ = victim.wait();

    // memory: mmap2 (offset in pages) and the old one-pointer mmap of a file, mprotect (read at sys_enter)
    for op in ["mmap2", "old_mmap"] {
        let pid = run(d, &[op, s(&f)]);
        let r = rec.wait(pid, op, |r| matches!(r.data, EventData::Mmap(_)));
        let EventData::Mmap(m) = &r.data else {
            unreachable!()
        };
        assert_eq!(m.file.file.path, s(&f), "{op}");
        assert_eq!(
            m.protection,
            (libc::PROT_READ | libc::PROT_EXEC) as u64,
            "{op}"
        );
        assert!(ia32(&r) && m.retval > 0, "{op}");
    }
    let pid = run(d, &["mprotect"]);
    let r = rec.wait(pid, "mprotect", |r| {
        matches!(r.data, EventData::Mprotect(_))
    });
    let EventData::Mprotect(m) = &r.data else {
        unreachable!()
    };
    assert_eq!(m.req_protection, (libc::PROT_READ | libc::PROT_EXEC) as u64);
    assert_eq!(
        m.vm_protection & 0x3,
        0x3,
        "VM_READ|VM_WRITE before the call"
    );

    let pid = run(d, &["memfd_create", "ia32-memfd"]);
    let r = rec.wait(pid, "memfd_create", |r| {
        matches!(r.data, EventData::MemfdCreate(_))
    });
    let EventData::MemfdCreate(m) = &r.data else {
        unreachable!()
    };
    assert_eq!(m.name, "ia32-memfd");
    let pid = run(d, &["prctl", "ia32-name"]);
    let r = rec.wait(pid, "prctl", |r| matches!(r.data, EventData::Prctl(_)));
    let EventData::Prctl(p) = &r.data else {
        unreachable!()
    };
    assert_eq!(p.new_name, "ia32-name");
    let pid = run(d, &["bpf"]);
    let r = rec.wait(pid, "bpf", |r| matches!(r.data, EventData::Bpf(_)));
    let EventData::Bpf(b) = &r.data else {
        unreachable!()
    };
    assert_eq!(b.map.as_ref().unwrap().name, "rampart_ia32");
    let pid = run(d, &["splice", s(&f)]);
    let r = rec.wait(pid, "splice", |r| matches!(r.data, EventData::Splice(_)));
    let EventData::Splice(sp) = &r.data else {
        unreachable!()
    };
    assert_eq!(sp.file.file.path, s(&f));
    let pid = run(d, &["unshare"]);
    rec.wait(pid, "unshare", |r| {
        matches!(r.data, EventData::Unshare(_)) && ia32(r)
    });
    // setrlimit's compat_rlimit (32-bit, infinity 0xffffffff) and prlimit64's two u64, as a native call's
    let pid = run(d, &["setrlimit"]);
    for what in ["setrlimit", "prlimit64"] {
        let r = rec.wait(pid, what, |r| {
            matches!(r.data, EventData::Setrlimit(_)) && ia32(r)
        });
        let EventData::Setrlimit(l) = &r.data else {
            unreachable!()
        };
        let target = l.target.as_ref().map(|t| t.pid);
        assert_eq!(
            (l.resource, l.rlim_cur, l.rlim_max, target, l.retval),
            (libc::RLIMIT_CORE, 0, u64::MAX, Some(pid), 0),
            "{what}"
        );
    }

    // mount, then the one-argument umount
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let pid = run(d, &["mount", s(&mnt)]);
    let r = rec.wait(pid, "mount", |r| matches!(r.data, EventData::Mount(_)));
    let EventData::Mount(m) = &r.data else {
        unreachable!()
    };
    assert_eq!(
        (m.mountpoint.path.as_str(), m.fs_type.as_str()),
        (s(&mnt), "tmpfs")
    );
    assert_eq!(m.source.path, "rampart-ia32");
    let r = rec.wait(pid, "umount", |r| matches!(r.data, EventData::Umount(_)));
    let EventData::Umount(u) = &r.data else {
        unreachable!()
    };
    assert_eq!(u.mountpoint.path, s(&mnt));

    // the new mount API: fsmount makes a detached tmpfs, move_mount attaches it, open_tree clones a tree
    let pid = run(d, &["newmount", s(&mnt)]);
    let made = rec.wait(
        pid,
        "fsmount",
        |r| matches!(&r.data, EventData::Mount(m) if m.detached),
    );
    let moved = rec.wait(
        pid,
        "move_mount",
        |r| matches!(&r.data, EventData::Mount(m) if !m.detached),
    );
    let (EventData::Mount(made_m), EventData::Mount(moved_m)) = (&made.data, &moved.data) else {
        unreachable!()
    };
    assert_eq!((made.origin, moved.origin), (Origin::Ia32, Origin::Ia32));
    assert_eq!(made_m.fs_type, "tmpfs");
    assert_eq!(
        (moved_m.mountpoint.path.as_str(), moved_m.mount_id),
        (s(&mnt), made_m.mount_id)
    );
    let pid = run(d, &["open-tree", s(&dir)]);
    let r = rec.wait(pid, "open_tree", |r| matches!(r.data, EventData::Mount(_)));
    let EventData::Mount(clone) = &r.data else {
        unreachable!()
    };
    assert!(clone.detached && r.origin == Origin::Ia32, "{clone:?}");

    // the setfsuid query was not reported
    assert!(
        !rec.all_of(query, Duration::from_millis(300))
            .iter()
            .any(|r| matches!(r.data, EventData::Setuid(_))),
        "setfsuid(-1) only queries"
    );
}

#[test]
fn network_calls_of_a_32bit_program_direct_and_through_socketcall() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let config = ProbeConfig {
        activity: ActivityConfig::for_event_types([
            EventType::Connect,
            EventType::Bind,
            EventType::Accept,
        ]),
        ..Default::default()
    };
    let mut rec = Rec::load(config, &FileFilters::default());
    let d = &driver32();
    let sock = |r: &ActivityRecord| -> Option<SocketEvent> {
        match &r.data {
            EventData::Connect(s) | EventData::Bind(s) | EventData::Accept(s) => Some(s.clone()),
            _ => None,
        }
    };
    for op in ["connect", "socketcall_connect"] {
        let port = rampart_testkit::free_port();
        let pid = run(d, &[op, "127.0.0.1", &port.to_string()]);
        let r = rec.wait(pid, op, |r| matches!(r.data, EventData::Connect(_)));
        let s = sock(&r).unwrap();
        assert_eq!(
            (s.addr.ip.to_string(), s.addr.port),
            ("127.0.0.1".into(), port),
            "{op}"
        );
        assert_eq!(r.origin, Origin::Ia32, "{op}");
    }
    for op in ["bind", "socketcall_bind"] {
        let port = rampart_testkit::free_port();
        let pid = run(d, &[op, "127.0.0.1", &port.to_string()]);
        let r = rec.wait(pid, op, |r| matches!(r.data, EventData::Bind(_)));
        assert_eq!(sock(&r).unwrap().addr.port, port, "{op}");
        assert_eq!(r.origin, Origin::Ia32, "{op}");
    }
    for op in ["accept4", "socketcall_accept"] {
        let port = rampart_testkit::free_port();
        let pid = run(d, &[op, "127.0.0.1", &port.to_string()]);
        let r = rec.wait(pid, op, |r| {
            matches!(r.data, EventData::Accept(_)) && r.tid == r.pid
        });
        let s = sock(&r).unwrap();
        assert_eq!(s.addr.ip.to_string(), "127.0.0.1", "{op}: the peer");
        assert!(s.retval >= 0, "{op}");
        assert_eq!(r.origin, Origin::Ia32, "{op}");
    }

    // the compat programs are attached while some file or activity hook is, and only then
    assert!(rec.probe.ia32_attached());
    rec.probe
        .set_activity(&ActivityConfig::for_event_types([]))
        .unwrap();
    assert!(
        !rec.probe.ia32_attached(),
        "no file or activity hook: no compat hook"
    );
    rec.probe
        .apply_file_filters(&FileFilters::send_all())
        .unwrap();
    assert!(rec.probe.ia32_attached(), "the file family alone wants it");
    rec.probe
        .apply_file_filters(&FileFilters::default())
        .unwrap();
    assert!(!rec.probe.ia32_attached());
}

/// A 64-bit program's `int $0x80`: ia32 records, and an exec record that does not call the image 32-bit.
#[test]
fn int80_of_a_64bit_program_the_exec_flag_and_the_compat_approver() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut rec = Rec::load(everything(), &FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    let f = dir.join("secret");
    std::fs::write(&f, b"x").unwrap();
    let before = rec.probe.stats().unwrap();

    let pid = run(&int80(), &["read", s(&f)]);
    let r = rec.file(pid, EventType::Open, &f);
    let EventData::Open(open) = &r.data else {
        unreachable!()
    };
    assert_eq!(open.flags, 0);
    assert!(!rec.exec_of(pid).is_ia32, "a 64-bit image");
    let pid = run(&int80(), &["native-read", s(&f)]);
    let r = rec.wait(pid, "native open", |r| {
        r.data.event_type() == EventType::Open
    });
    assert_eq!(r.origin, Origin::Syscall);
    let pid = run(&int80(), &["setuid32", "0"]);
    let r = rec.wait(pid, "int80 setuid32", |r| {
        matches!(r.data, EventData::Setuid(_))
    });
    assert_eq!(r.origin, Origin::Ia32);

    let pid = run(&driver32(), &["memfd_create", "ia32-counted"]);
    rec.wait(pid, "memfd_create", |r| {
        matches!(r.data, EventData::MemfdCreate(_))
    });
    assert!(rec.exec_of(pid).is_ia32, "a 32-bit image");
    let pid = run(Path::new("/bin/true"), &[]);
    assert!(!rec.exec_of(pid).is_ia32);

    // the per-type counters count ia32 calls like the native ones
    let after = rec.probe.stats().unwrap();
    let sent = |s: &rampart_probe::ProbeStats, k: &str| s.activity.get(k).map_or(0, |c| c.sent);
    assert!(sent(&after, "memfd_create") > sent(&before, "memfd_create"));
    assert!(sent(&after, "setuid") > sent(&before, "setuid"));
    assert!(after.file.get(FileKind::Open).sent > before.file.get(FileKind::Open).sent);
    assert!(rec.probe.ia32_attached());

    // a file filter that admits `event.compat` sends the ia32 calls and drops the same native ones in the
    // kernel
    let mut filters = FileFilters::default();
    filters.types.insert(
        FileKind::Open,
        TypeFilter {
            mode: Mode::Filter,
            source: SideFilter {
                compat: true,
                ..Default::default()
            },
            ..Default::default()
        },
    );
    rec.probe.apply_file_filters(&filters).unwrap();
    let pid = run(&driver32(), &["openat", s(&f)]);
    rec.file(pid, EventType::Open, &f);
    let pid = run(&int80(), &["read", s(&f)]);
    rec.file(pid, EventType::Open, &f);
    let native = run(&int80(), &["native-read", s(&f)]);
    assert!(
        !rec.all_of(native, Duration::from_millis(500))
            .iter()
            .any(|r| r.data.event_type() == EventType::Open),
        "a native open is not admitted"
    );
}

/// The compat programs run only while something wants them, and not at all when turned off.
#[test]
fn the_compat_hooks_follow_what_is_wanted_and_can_be_turned_off() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let off = ProbeConfig {
        ia32_syscalls: false,
        ..Default::default()
    };
    let mut rec = Rec::load(off, &FileFilters::send_all());
    assert!(!rec.probe.ia32_attached());
    let (_keep, dir) = temp_dir();
    let f = dir.join("unseen");
    std::fs::write(&f, b"x").unwrap();
    let ia32_pid = run(&driver32(), &["openat", s(&f)]);
    let native_pid = run(&int80(), &["native-read", s(&f)]);
    rec.wait(native_pid, "native open", |r| {
        r.data.event_type() == EventType::Open
    });
    assert!(
        rec.all_of(ia32_pid, Duration::from_millis(500)).is_empty(),
        "turned off: the 32-bit program's calls are not seen"
    );
}

/// Where the file family hooks every syscall's exit (kernels without per-syscall tracepoints), that hook
/// takes the ia32 file calls, once.
#[test]
fn the_every_syscall_fallback_reports_ia32_file_calls_once() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let config = ProbeConfig {
        file_hook_every_syscall: true,
        ..Default::default()
    };
    let mut rec = Rec::load(config, &FileFilters::send_all());
    let (_keep, dir) = temp_dir();
    let f = dir.join("f");
    std::fs::write(&f, b"x").unwrap();
    let pid = run(&driver32(), &["chmod", s(&f)]);
    rec.file(pid, EventType::Chmod, &f);
    let more: Vec<_> = rec
        .all_of(pid, Duration::from_millis(500))
        .into_iter()
        .filter(|r| r.data.event_type() == EventType::Chmod)
        .collect();
    assert!(more.is_empty(), "a second chmod record: {more:?}");
}
