//! Real-kernel tests of the kernel-activity family: each test makes real syscalls (in this thread, filtered
//! by tid, or in a python3 child, filtered by pid) and asserts the decoded fields. They need root.

mod kernel_common;

use std::ffi::CString;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use kernel_common::*;
use rampart_model::{EventData, EventType};
use rampart_probe::kernel::config::ActivityConfig;
use rampart_probe::ProbeConfig;

const PROT_READ: i32 = 1;
const PROT_WRITE: i32 = 2;
const PROT_EXEC: i32 = 4;

fn sleeper() -> std::process::Child {
    Command::new("sleep")
        .arg("30")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawning sleep")
}

/// A zeroed bpf_attr with `fields` (offset, bytes) written in.
fn bpf_attr(fields: &[(usize, &[u8])]) -> [u8; 128] {
    let mut attr = [0u8; 128];
    for (off, bytes) in fields {
        attr[*off..*off + bytes.len()].copy_from_slice(bytes);
    }
    attr
}

fn sys_bpf(cmd: i64, attr: &[u8]) -> i64 {
    // SAFETY: `attr` is a live buffer of the size passed.
    unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_ptr(), attr.len() as u32) }
}

fn name16(name: &str) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..name.len()].copy_from_slice(name.as_bytes());
    b
}

#[test]
fn bpf_map_create_and_prog_load() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    let map_attr = bpf_attr(&[
        (0, &2u32.to_ne_bytes()), // BPF_MAP_TYPE_ARRAY
        (4, &4u32.to_ne_bytes()),
        (8, &8u32.to_ne_bytes()),
        (12, &1u32.to_ne_bytes()),
        (28, &name16("rampart_tmap")),
    ]);
    let map_fd = sys_bpf(0, &map_attr[..72]);
    assert!(
        map_fd >= 0,
        "BPF_MAP_CREATE failed: {}",
        std::io::Error::last_os_error()
    );
    // r0 = 0; exit
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let license = CString::new("GPL").unwrap();
    let prog_attr = bpf_attr(&[
        (0, &1u32.to_ne_bytes()), // BPF_PROG_TYPE_SOCKET_FILTER
        (4, &2u32.to_ne_bytes()),
        (8, &(insns.as_ptr() as u64).to_ne_bytes()),
        (16, &(license.as_ptr() as u64).to_ne_bytes()),
        (48, &name16("rampart_tprog")),
    ]);
    let prog_fd = sys_bpf(5, &prog_attr[..72]);
    assert!(
        prog_fd >= 0,
        "BPF_PROG_LOAD failed: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: closing descriptors this test opened.
    unsafe {
        libc::close(map_fd as i32);
        libc::close(prog_fd as i32);
    }

    let got = gather(
        &mut probe,
        |a| match &a.data {
            EventData::Bpf(b) if a.tid == tid && (b.cmd == 0 || b.cmd == 5) => Some(b.clone()),
            _ => None,
        },
        |v| v.len() >= 2,
    );
    assert_eq!(got.len(), 2, "{got:#?}");
    let (map, prog) = (got[0].clone(), got[1].clone());
    let m = map.map.expect("map details");
    assert_eq!(
        (m.map_type, m.name.as_str(), map.retval),
        (2, "rampart_tmap", map_fd)
    );
    assert!(map.prog.is_none());
    let p = prog.prog.expect("prog details");
    assert_eq!(
        (p.prog_type, p.name.as_str(), prog.retval),
        (1, "rampart_tprog", prog_fd)
    );
    assert_eq!(p.tag.len(), 16, "the kernel's program tag, hex: {p:?}");
    assert!(p.tag.chars().all(|c| c.is_ascii_hexdigit()) && p.tag != "0000000000000000");
}

#[test]
fn bpf_cmd_filter_drops_in_kernel() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut config = ProbeConfig::default();
    config.activity.bpf_cmds = Some([0u32].into_iter().collect()); // BPF_MAP_CREATE only
    let mut probe = load_with(config);
    let tid = gettid();
    // BPF_OBJ_GET_INFO_BY_FD (15) on a bad fd: a command the filter drops
    let attr = bpf_attr(&[(0, &u32::MAX.to_ne_bytes())]);
    assert!(sys_bpf(15, &attr[..16]) < 0);
    let map_attr = bpf_attr(&[
        (0, &2u32.to_ne_bytes()),
        (4, &4u32.to_ne_bytes()),
        (8, &4u32.to_ne_bytes()),
        (12, &1u32.to_ne_bytes()),
    ]);
    let fd = sys_bpf(0, &map_attr[..72]);
    assert!(fd >= 0);
    // SAFETY: closing a descriptor this test opened.
    unsafe { libc::close(fd as i32) };
    let seen = drain_thread(&mut probe, tid, Duration::from_millis(300));
    let cmds: Vec<u32> = seen
        .iter()
        .filter_map(|d| match d {
            EventData::Bpf(b) => Some(b.cmd),
            _ => None,
        })
        .collect();
    assert_eq!(cmds, vec![0], "only BPF_MAP_CREATE passes the filter");
    let stats = probe.stats().unwrap();
    assert!(stats.activity["bpf"].filtered >= 1, "{:?}", stats.activity);
}

#[test]
fn ptrace_attach_names_the_tracee() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    let mut child = sleeper();
    let pid = child.id() as i32;
    // SAFETY: plain ptrace/waitpid calls on our own child.
    let (attach, detach) = unsafe {
        let attach = libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0);
        let mut status = 0;
        libc::waitpid(pid, &mut status, libc::__WALL);
        let detach = libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
        (attach, detach)
    };
    assert_eq!(
        (attach, detach),
        (0, 0),
        "{}",
        std::io::Error::last_os_error()
    );
    child.kill().ok();
    child.wait().ok();
    let ev = wait_for(&mut probe, "ptrace attach", |a| match &a.data {
        EventData::Ptrace(p) if a.tid == tid && p.request == libc::PTRACE_ATTACH => Some(p.clone()),
        _ => None,
    });
    assert_eq!(ev.retval, 0);
    assert_eq!(ev.tracee.expect("tracee pid").pid, pid as u32);
}

/// (resource, rlim_cur, rlim_max, target pid, retval) of a setrlimit record.
type Limits = (u32, u64, u64, u32, i64);

#[test]
fn setrlimit_and_prlimit64_report_the_new_limits_and_target() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    let me = std::process::id();
    let mut child = sleeper();
    let pid = child.id();
    let core = libc::RLIMIT_CORE;
    let nofile = libc::RLIMIT_NOFILE;
    let mut old = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let lowered = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: libc::RLIM64_INFINITY,
    };
    let child_limits = libc::rlimit64 {
        rlim_cur: 64,
        rlim_max: 128,
    };
    // SAFETY: plain limit syscalls with live structs; the core limit is only lowered (and restored below), the
    // descriptor limit is our own child's.
    let rets = unsafe {
        // a read-only prlimit64 (what getrlimit is): not reported
        let get = libc::syscall(
            libc::SYS_prlimit64,
            0,
            core,
            std::ptr::null::<u8>(),
            &mut old,
        );
        let set = libc::syscall(libc::SYS_setrlimit, core, &lowered);
        let other = libc::syscall(
            libc::SYS_prlimit64,
            pid,
            nofile,
            &child_limits,
            std::ptr::null::<u8>(),
        );
        libc::syscall(libc::SYS_prlimit64, 0, core, &old, std::ptr::null::<u8>());
        (get, set, other)
    };
    assert_eq!(rets, (0, 0, 0), "{}", std::io::Error::last_os_error());
    child.kill().ok();
    child.wait().ok();
    let got: Vec<Limits> = gather(
        &mut probe,
        |a| match &a.data {
            EventData::Setrlimit(s) if a.tid == tid => {
                let target = s.target.as_ref().map_or(0, |t| t.pid);
                Some((s.resource, s.rlim_cur, s.rlim_max, target, s.retval))
            }
            _ => None,
        },
        |v| v.len() >= 3,
    );
    assert_eq!(
        got,
        [
            (core, 0, u64::MAX, me, 0),
            (nofile, 64, 128, pid, 0),
            (core, old.rlim_cur, old.rlim_max, me, 0),
        ]
    );
}

#[test]
fn mmap_exec_of_a_file_is_reported_and_data_mappings_filtered() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("code.bin");
    std::fs::write(&path, vec![0xc3u8; 4096]).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    // SAFETY: mapping a file we own, unmapped below.
    let (exec_map, data_map) = unsafe {
        let x = libc::mmap(
            std::ptr::null_mut(),
            4096,
            PROT_READ | PROT_EXEC,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        );
        let d = libc::mmap(
            std::ptr::null_mut(),
            4096,
            PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        );
        (x, d)
    };
    assert_ne!(exec_map, libc::MAP_FAILED);
    let ev = wait_for(&mut probe, "mmap PROT_EXEC", |a| match &a.data {
        EventData::Mmap(m) if a.tid == tid && m.retval == exec_map as i64 => Some(m.clone()),
        _ => None,
    });
    let canonical = std::fs::canonicalize(&path).unwrap();
    assert_eq!(ev.file.file.path, canonical.to_str().unwrap());
    assert_eq!(ev.file.file.name, "code.bin");
    assert_ne!(ev.file.file.inode, 0);
    assert_eq!(
        (ev.protection, ev.flags),
        ((PROT_READ | PROT_EXEC) as u64, libc::MAP_PRIVATE as u64)
    );
    let rest = drain_thread(&mut probe, tid, Duration::from_millis(200));
    assert!(
        !rest
            .iter()
            .any(|d| matches!(d, EventData::Mmap(m) if m.retval == data_map as i64)),
        "a PROT_READ mapping passes the default filter"
    );
    assert!(probe.stats().unwrap().activity["mmap"].filtered >= 1);
    // SAFETY: unmapping what we mapped.
    unsafe {
        libc::munmap(exec_map, 4096);
        libc::munmap(data_map, 4096);
    }
}

#[test]
fn mprotect_to_exec_reports_old_vma_flags() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    // SAFETY: an anonymous mapping of our own.
    let (addr, rc) = unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            4096,
            PROT_READ | PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        let rc = libc::mprotect(addr, 4096, PROT_READ | PROT_EXEC);
        (addr, rc)
    };
    assert_eq!(rc, 0);
    let ev = wait_for(&mut probe, "mprotect", |a| match &a.data {
        EventData::Mprotect(m) if a.tid == tid => Some(m.clone()),
        _ => None,
    });
    assert_eq!(ev.req_protection, (PROT_READ | PROT_EXEC) as u64);
    // VM_READ | VM_WRITE before the call, not VM_EXEC
    assert_eq!(
        ev.vm_protection & 0x7,
        0x3,
        "vm_flags {:#x}",
        ev.vm_protection
    );
    assert_eq!(ev.retval, 0);
    // SAFETY: unmapping what we mapped.
    unsafe { libc::munmap(addr, 4096) };
}

#[test]
fn memfd_create_name_and_flags() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    let name = CString::new("rampart-memfd").unwrap();
    // SAFETY: a valid name; the fd is closed below.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: our descriptor.
    unsafe { libc::close(fd) };
    let ev = wait_for(&mut probe, "memfd_create", |a| match &a.data {
        EventData::MemfdCreate(m) if a.tid == tid => Some(m.clone()),
        _ => None,
    });
    assert_eq!(
        (ev.name.as_str(), ev.flags, ev.retval),
        ("rampart-memfd", libc::MFD_CLOEXEC, fd as i64)
    );
}

#[test]
fn splice_file_into_pipe_reports_file_and_pipe_flags() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    let mut tmp = tempfile::NamedTempFile::new().unwrap();
    tmp.write_all(&[b'x'; 100]).unwrap();
    let file = std::fs::File::open(tmp.path()).unwrap();
    let mut p = [0i32; 2];
    // SAFETY: a pipe of our own; a write then a splice into it.
    let n = unsafe {
        assert_eq!(libc::pipe(p.as_mut_ptr()), 0);
        assert_eq!(libc::write(p[1], b"hello".as_ptr().cast(), 5), 5);
        libc::splice(
            file.as_raw_fd(),
            std::ptr::null_mut(),
            p[1],
            std::ptr::null_mut(),
            100,
            0,
        )
    };
    assert_eq!(n, 100);
    let ev = wait_for(&mut probe, "splice", |a| match &a.data {
        EventData::Splice(s) if a.tid == tid => Some(s.clone()),
        _ => None,
    });
    // SAFETY: our descriptors.
    unsafe {
        libc::close(p[0]);
        libc::close(p[1]);
    }
    assert_eq!(ev.retval, 100);
    assert_eq!(
        ev.file.file.path,
        std::fs::canonicalize(tmp.path()).unwrap().to_str().unwrap()
    );
    const PIPE_BUF_FLAG_CAN_MERGE: u32 = 0x10;
    assert_eq!(
        ev.pipe_entry_flag & PIPE_BUF_FLAG_CAN_MERGE,
        PIPE_BUF_FLAG_CAN_MERGE,
        "{ev:?}"
    );
    assert_eq!(
        ev.pipe_exit_flag & PIPE_BUF_FLAG_CAN_MERGE,
        0,
        "a spliced page-cache page must not merge"
    );
}

#[test]
fn prctl_set_name_with_truncation() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    let name = CString::new("rampart-prctl-name-long").unwrap();
    // SAFETY: PR_SET_NAME reads a NUL-terminated string.
    let rc = unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
    assert_eq!(rc, 0);
    let ev = wait_for(&mut probe, "prctl", |a| match &a.data {
        EventData::Prctl(p) if a.tid == tid && p.option == libc::PR_SET_NAME as u32 => {
            Some(p.clone())
        }
        _ => None,
    });
    assert_eq!(ev.new_name, "rampart-prctl-n");
    assert!(ev.is_name_truncated);
    assert_eq!(ev.retval, 0);
}

#[test]
fn kill_and_tgkill_name_signal_and_target() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    let mut child = sleeper();
    let pid = child.id() as i32;
    // SAFETY: signals to our own child.
    unsafe {
        assert_eq!(libc::kill(pid, 0), 0);
        assert_eq!(libc::syscall(libc::SYS_tgkill, pid, pid, libc::SIGTERM), 0);
    }
    child.wait().ok();
    let got = gather(
        &mut probe,
        |a| match &a.data {
            EventData::Signal(s) if a.tid == tid && s.pid == pid as u32 => {
                Some((s.signal_type, s.retval))
            }
            _ => None,
        },
        |v| v.len() >= 2,
    );
    assert_eq!(got, vec![(0, 0), (libc::SIGTERM as u32, 0)]);
}

#[test]
fn credential_changes_report_new_ids() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let pid = python(
        r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
os.setgid(4242)
libc.setfsuid(4343)
# capset: drop CAP_NET_RAW (13) from the effective set only
class Hdr(ctypes.Structure): _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Data(ctypes.Structure): _fields_ = [("eff", ctypes.c_uint32), ("perm", ctypes.c_uint32), ("inh", ctypes.c_uint32)]
h = Hdr(0x20080522, 0); d = (Data * 2)()
assert libc.capget(ctypes.byref(h), d) == 0
d[0].eff &= ~(1 << 13)
assert libc.capset(ctypes.byref(h), d) == 0
os.setreuid(4444, 4444)
"#,
    );
    let got = gather(
        &mut probe,
        |a| match &a.data {
            EventData::Setuid(_) | EventData::Setgid(_) | EventData::Capset(_) if a.pid == pid => {
                Some(a.data.clone())
            }
            _ => None,
        },
        |v| v.len() >= 4,
    );
    assert_eq!(got.len(), 4, "{got:#?}");
    match &got[0] {
        EventData::Setgid(g) => assert_eq!((g.gid, g.egid, g.fsgid), (4242, 4242, 4242)),
        other => panic!("expected setgid, got {other:?}"),
    }
    match &got[1] {
        EventData::Setuid(u) => assert_eq!((u.uid, u.euid, u.fsuid), (0, 0, 4343)),
        other => panic!("expected setfsuid, got {other:?}"),
    }
    match &got[2] {
        EventData::Capset(c) => {
            assert_eq!(c.cap_effective & (1 << 13), 0);
            assert_ne!(c.cap_permitted & (1 << 13), 0);
        }
        other => panic!("expected capset, got {other:?}"),
    }
    match &got[3] {
        EventData::Setuid(u) => assert_eq!((u.uid, u.euid, u.fsuid), (4444, 4444, 4444)),
        other => panic!("expected setreuid, got {other:?}"),
    }
}

#[test]
fn mount_and_umount_in_a_private_namespace() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let dir = tempfile::tempdir().unwrap();
    let target = std::fs::canonicalize(dir.path()).unwrap();
    let target = target.to_str().unwrap();
    let pid = python(&format!(
        r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
assert libc.unshare(0x00020000) == 0                       # CLONE_NEWNS
assert libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None) == 0   # MS_REC | MS_PRIVATE
assert libc.mount(b"rampart-src", b"{target}", b"tmpfs", 0, None) == 0, ctypes.get_errno()
assert libc.umount2(b"{target}", 0) == 0
"#
    ));
    let got = gather(
        &mut probe,
        |a| match &a.data {
            EventData::Mount(m) if a.pid == pid && m.source.path == "rampart-src" => {
                Some(a.data.clone())
            }
            EventData::Umount(_) | EventData::Unshare(_) if a.pid == pid => Some(a.data.clone()),
            _ => None,
        },
        |v| v.len() >= 3,
    );
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(
        matches!(&got[0], EventData::Unshare(u) if u.flags == 0x00020000 && u.retval == 0),
        "{got:#?}"
    );
    match &got[1] {
        EventData::Mount(m) => {
            assert_eq!(
                (m.fs_type.as_str(), m.mountpoint.path.as_str(), m.retval),
                ("tmpfs", target, 0)
            );
        }
        other => panic!("expected mount, got {other:?}"),
    }
    match &got[2] {
        EventData::Umount(u) => assert_eq!((u.mountpoint.path.as_str(), u.retval), (target, 0)),
        other => panic!("expected umount, got {other:?}"),
    }
}

#[test]
fn unshare_and_setns_namespace_types() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let pid = python(
        r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
home = os.open("/proc/self/ns/uts", os.O_RDONLY)
assert libc.unshare(0x04000000) == 0                      # CLONE_NEWUTS
assert libc.setns(home, 0) == 0                           # type taken from the fd
assert libc.setns(home, 0x04000000) == 0
fd = os.open("/proc/self/ns/ipc", os.O_RDONLY)
assert libc.setns(fd, 0) == 0
"#,
    );
    let got = gather(
        &mut probe,
        |a| match &a.data {
            EventData::Unshare(n) if a.pid == pid => Some(("unshare", n.flags, n.retval)),
            EventData::Setns(n) if a.pid == pid => Some(("setns", n.flags, n.retval)),
            _ => None,
        },
        |v| v.len() >= 4,
    );
    assert_eq!(
        got,
        vec![
            ("unshare", 0x04000000, 0),
            ("setns", 0x04000000, 0),
            ("setns", 0x04000000, 0),
            ("setns", 0x08000000, 0), // CLONE_NEWIPC
        ]
    );
}

/// Module syscalls: reported through their tracepoints where the kernel has them; a kernel built
/// without CONFIG_MODULES has neither the syscalls nor the tracepoints, and the probe says so.
#[test]
fn module_load_and_unload() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let tid = gettid();
    let has_modules = std::path::Path::new("/proc/modules").exists();
    let stats = probe.stats().unwrap();
    if !has_modules {
        for s in ["init_module", "finit_module", "delete_module"] {
            assert!(
                stats.activity_unavailable.iter().any(|m| m == s),
                "{s} should be unavailable: {stats:?}"
            );
        }
        return;
    }
    let name = CString::new("rampart_no_such_module").unwrap();
    let args = CString::new("debug=1 mode=x").unwrap();
    let image = [0u8; 64];
    // SAFETY: invalid requests on purpose: a garbage image and an unknown module name.
    unsafe {
        assert!(
            libc::syscall(
                libc::SYS_init_module,
                image.as_ptr(),
                image.len(),
                args.as_ptr()
            ) < 0
        );
        assert!(libc::syscall(libc::SYS_delete_module, name.as_ptr(), 0) < 0);
    }
    let got = gather(
        &mut probe,
        |a| match &a.data {
            EventData::LoadModule(_) | EventData::UnloadModule(_) if a.tid == tid => {
                Some(a.data.clone())
            }
            _ => None,
        },
        |v| v.len() >= 2,
    );
    let (EventData::LoadModule(load), EventData::UnloadModule(unload)) = (&got[0], &got[1]) else {
        panic!("expected init_module then delete_module: {got:#?}");
    };
    assert!(load.loaded_from_memory && load.retval < 0);
    assert_eq!(
        (load.args.as_str(), load.argv.clone()),
        (
            "debug=1 mode=x",
            vec!["debug=1".to_string(), "mode=x".into()]
        )
    );
    assert_eq!(unload.name, "rampart_no_such_module");
    assert!(unload.retval < 0);
}

#[test]
fn unwanted_event_types_are_not_hooked() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let config = ProbeConfig {
        activity: ActivityConfig::for_event_types([EventType::MemfdCreate]),
        ..ProbeConfig::default()
    };
    let mut probe = load_with(config);
    let tid = gettid();
    let name = CString::new("rampart-only").unwrap();
    // SAFETY: as in memfd_create_name_and_flags; prctl PR_GET_DUMPABLE has no side effect.
    unsafe {
        libc::close(libc::memfd_create(name.as_ptr(), 0));
        libc::prctl(libc::PR_GET_DUMPABLE);
    }
    let seen = drain_thread(&mut probe, tid, Duration::from_millis(300));
    assert!(
        seen.iter()
            .any(|d| matches!(d, EventData::MemfdCreate(m) if m.name == "rampart-only")),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|d| matches!(d, EventData::MemfdCreate(_))),
        "{seen:?}"
    );
    let stats = probe.stats().unwrap();
    assert!(
        !stats.activity.contains_key("prctl"),
        "prctl was hooked: {:?}",
        stats.activity
    );
}
