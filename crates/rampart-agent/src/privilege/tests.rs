//! The privilege-history check on constructed record sequences: each test plays what the kernel reports for
//! a real scenario (an exploit's `commit_creds` followed by an exec or an open, a set-user-id binary, glibc's
//! thread-by-thread setuid, user namespaces, processes already running when the agent starts).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rampart_model::events::{CapsetEvent, OpenEvent, SetuidEvent};
use rampart_model::{EventData, EventType, ExitCause, FileInfo};
use rampart_probe::record::{
    ActivityRecord, ExecRecord, ExitRecord, ForkRecord, ProbeRecord, TaskCreds, TaskInfo,
};

use super::reach::{CAP_SETGID, CAP_SETUID};
use super::*;

/// Every capability of this kernel (41 of them): what root holds.
const FULL: u64 = (1 << 41) - 1;
const CAP_NET_RAW: u64 = 1 << 13;
const CAP_SYS_ADMIN: u64 = 1 << 21;

/// A thread whose ids are all `uid`/`gid`, in the host's user namespace.
fn creds(uid: u32, gid: u32, caps: u64) -> TaskCreds {
    TaskCreds {
        uid,
        euid: uid,
        suid: uid,
        fsuid: uid,
        gid,
        egid: gid,
        sgid: gid,
        fsgid: gid,
        cap_effective: caps,
        cap_permitted: caps,
        init_user_ns: true,
    }
}

fn root() -> TaskCreds {
    creds(0, 0, FULL)
}

fn user() -> TaskCreds {
    creds(1000, 1000, 0)
}

fn task(pid: u32, tid: u32, ppid: u32, c: TaskCreds) -> TaskInfo {
    let mut t = TaskInfo {
        pid,
        tid,
        ppid,
        suid: c.suid,
        sgid: c.sgid,
        init_user_ns: c.init_user_ns,
        ..Default::default()
    };
    let m = &mut t.credentials;
    (m.uid, m.euid, m.fsuid) = (c.uid, c.euid, c.fsuid);
    (m.gid, m.egid, m.fsgid) = (c.gid, c.egid, c.fsgid);
    (m.cap_effective, m.cap_permitted) = (c.cap_effective, c.cap_permitted);
    t
}

/// A file as an exec record carries it.
fn file(path: &str, mode: u32, uid: u32, gid: u32) -> FileInfo {
    FileInfo {
        mode,
        uid,
        gid,
        ..FileInfo::from_path(path)
    }
}

fn shell() -> FileInfo {
    file("/bin/sh", 0o100755, 0, 0)
}

/// The user's credentials after the exec of a set-user-id root binary.
fn set_uid_root_exec() -> TaskCreds {
    TaskCreds {
        euid: 0,
        suid: 0,
        fsuid: 0,
        cap_effective: FULL,
        cap_permitted: FULL,
        ..user()
    }
}

const TS: u64 = 1_000;

fn exec(pid: u32, ppid: u32, c: TaskCreds, image: FileInfo) -> ProbeRecord {
    ProbeRecord::Exec(ExecRecord {
        timestamp_boot_ns: TS,
        task: task(pid, pid, ppid, c),
        file: image,
        ..Default::default()
    })
}

fn fork(parent: u32, parent_tid: u32, pid: u32, tid: u32, c: TaskCreds) -> ProbeRecord {
    ProbeRecord::Fork(ForkRecord {
        timestamp_boot_ns: TS,
        parent_pid: parent,
        parent_tid,
        child: task(pid, tid, parent, c),
    })
}

fn activity(pid: u32, tid: u32, c: Option<TaskCreds>, data: EventData) -> ProbeRecord {
    ProbeRecord::Activity(ActivityRecord {
        timestamp_boot_ns: TS,
        pid,
        tid,
        creds: c,
        origin: Default::default(),
        data,
    })
}

fn open(pid: u32, tid: u32, c: TaskCreds) -> ProbeRecord {
    activity(pid, tid, Some(c), EventData::Open(OpenEvent::default()))
}

/// A set*id call's record: the payload and the thread's credentials after it.
fn setuid(pid: u32, tid: u32, c: TaskCreds) -> ProbeRecord {
    let payload = SetuidEvent {
        uid: c.uid,
        euid: c.euid,
        fsuid: c.fsuid,
        ..Default::default()
    };
    activity(pid, tid, Some(c), EventData::Setuid(payload))
}

fn thread_exit(pid: u32, tid: u32) -> ProbeRecord {
    ProbeRecord::Exit(ExitRecord {
        timestamp_boot_ns: TS,
        pid,
        tid,
        group_dead: false,
        cause: ExitCause::Exited,
        code: 0,
    })
}

/// A check with no /proc behind it (an empty directory: file capabilities cannot be read).
fn check() -> (tempfile::TempDir, PrivilegeCheck) {
    let dir = tempfile::tempdir().unwrap();
    let check = PrivilegeCheck::new(dir.path());
    (dir, check)
}

/// Feeds `records`; returns the gains, in order.
fn play(check: &mut PrivilegeCheck, records: impl IntoIterator<Item = ProbeRecord>) -> Vec<Gain> {
    records
        .into_iter()
        .filter_map(|r| check.observe(&r))
        .collect()
}

/// A shell of uid 1000 (pid 100), exec'd by a parent of the same user (pid 10).
fn user_shell(check: &mut PrivilegeCheck) {
    let gains = play(
        check,
        [
            exec(10, 1, user(), file("/usr/bin/tmux", 0o100755, 0, 0)),
            fork(10, 10, 100, 100, user()),
            exec(100, 10, user(), file("/bin/bash", 0o100755, 0, 0)),
        ],
    );
    assert_eq!(gains, []);
}

const ALL_IDS: [&str; 8] = [
    "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid",
];

#[test]
fn exploit_then_exec_of_a_shell_is_caught_at_the_exec() {
    let (_d, mut check) = check();
    user_shell(&mut check);
    // commit_creds(prepare_kernel_cred(0)) changes no record; the execve("/bin/sh") that follows shows root
    let gains = play(&mut check, [exec(100, 10, root(), shell())]);
    assert_eq!(gains.len(), 1, "{gains:?}");
    let g = &gains[0];
    assert_eq!((g.pid, g.seen_at), (100, EventType::Exec));
    assert_eq!(g.gained.ids, ALL_IDS);
    assert_eq!(
        g.gained.caps, FULL,
        "root's capabilities are not root's to have"
    );
    assert_eq!(g.previous, user());
    assert_eq!(g.current, root());
    // reported once: the new image starts from what it was seen with
    assert_eq!(play(&mut check, [open(100, 100, root())]), []);
}

#[test]
fn exploit_then_open_is_caught_at_the_open() {
    let (_d, mut check) = check();
    user_shell(&mut check);
    assert_eq!(play(&mut check, [open(100, 100, user())]), []);
    let gains = play(&mut check, [open(100, 100, root()), open(100, 100, root())]);
    assert_eq!(
        gains.len(),
        1,
        "one event per change, not per record: {gains:?}"
    );
    assert_eq!(gains[0].seen_at, EventType::Open);
    assert_eq!(gains[0].gained.ids, ALL_IDS);
    // only capabilities: an exploit that raised cap_sys_admin and nothing else
    let (_d, mut check) = super::tests::check();
    user_shell(&mut check);
    let caps_only = creds(1000, 1000, CAP_SYS_ADMIN);
    let gains = play(&mut check, [open(100, 100, caps_only)]);
    assert_eq!(gains.len(), 1);
    assert_eq!(gains[0].gained.ids, Vec::<&str>::new());
    assert_eq!(gains[0].gained.caps, CAP_SYS_ADMIN);
}

#[test]
fn a_setuid_root_binary_is_legitimate_its_look_alike_is_not() {
    let (_d, mut check) = check();
    user_shell(&mut check);
    // sudo: set-user-id root, so euid, saved and filesystem uid become 0, and root's exec gets capabilities
    let after_exec = set_uid_root_exec();
    let sudo = file("/usr/bin/sudo", 0o104755, 0, 0);
    let gains = play(
        &mut check,
        [
            fork(100, 100, 200, 200, user()),
            exec(200, 100, after_exec, sudo),
            // sudo's setresuid(0, 0, 0), then the command it runs
            setuid(200, 200, root()),
            fork(200, 200, 201, 201, root()),
            exec(201, 200, root(), file("/usr/bin/id", 0o100755, 0, 0)),
        ],
    );
    assert_eq!(gains, [], "sudo, its setuid and its child");

    // the same credentials from a binary without the bit: euid, suid and fsuid are not explained (the real uid
    // stays the user's, as the kernel never changes it at exec)
    let gains = play(
        &mut check,
        [
            fork(100, 100, 300, 300, user()),
            exec(300, 100, after_exec, file("/tmp/sudo", 0o100755, 0, 0)),
        ],
    );
    assert_eq!(gains.len(), 1);
    assert_eq!(gains[0].gained.ids, ["euid", "suid", "fsuid"]);
    assert_eq!(gains[0].gained.caps, FULL);
    // set-user-id, but owned by someone else than the euid seen
    let gains = play(
        &mut check,
        [
            fork(100, 100, 301, 301, user()),
            exec(301, 100, after_exec, file("/tmp/x", 0o104755, 1001, 0)),
        ],
    );
    assert_eq!(gains.len(), 1);
}

#[test]
fn setgid_binaries_need_group_execute() {
    let (_d, mut check) = check();
    user_shell(&mut check);
    let crontab = TaskCreds {
        egid: 42,
        sgid: 42,
        fsgid: 42,
        ..user()
    };
    let gains = play(
        &mut check,
        [
            fork(100, 100, 200, 200, user()),
            exec(200, 100, crontab, file("/usr/bin/crontab", 0o102755, 0, 42)),
        ],
    );
    assert_eq!(gains, []);
    // without S_IXGRP the kernel ignores the set-group-id bit (mandatory locking marker)
    let gains = play(
        &mut check,
        [
            fork(100, 100, 201, 201, user()),
            exec(201, 100, crontab, file("/tmp/lock", 0o102745, 0, 42)),
        ],
    );
    assert_eq!(gains.len(), 1);
    assert_eq!(gains[0].gained.ids, ["egid", "sgid", "fsgid"]);
}

#[test]
fn shebang_scripts_take_set_id_bits_from_their_interpreter() {
    let (_d, mut check) = check();
    user_shell(&mut check);
    let after_exec = set_uid_root_exec();
    let script = |interpreter: FileInfo| {
        ProbeRecord::Exec(ExecRecord {
            timestamp_boot_ns: TS,
            task: task(200, 200, 100, after_exec),
            file: FileInfo::from_path("/home/u/run.sh"),
            interpreter: Some(interpreter),
            ..Default::default()
        })
    };
    let gains = play(
        &mut check,
        [
            fork(100, 100, 200, 200, user()),
            script(file("/usr/bin/sudo", 0o104755, 0, 0)),
        ],
    );
    assert_eq!(
        gains,
        [],
        "#!/usr/bin/sudo: the interpreter is set-user-id root"
    );
    let gains = play(
        &mut check,
        [fork(100, 100, 200, 200, user()), script(shell())],
    );
    assert_eq!(gains.len(), 1, "a script's own bits do not count for #!");
}

#[test]
fn daemons_dropping_privileges_and_exploits_afterwards() {
    let (_d, mut check) = check();
    // a root server forks a worker that drops to www-data (33) for good
    let www = creds(33, 33, 0);
    let gains = play(
        &mut check,
        [
            exec(50, 1, root(), file("/usr/sbin/nginx", 0o100755, 0, 0)),
            fork(50, 50, 51, 51, root()),
            setuid(51, 51, www),
            open(51, 51, www),
        ],
    );
    assert_eq!(gains, []);
    // the worker is exploited: it holds root again without a call
    let gains = play(&mut check, [open(51, 51, root())]);
    assert_eq!(gains.len(), 1);
    assert_eq!(gains[0].previous, www);
    // the master, still root, may become anyone: a lost setuid record is no gain
    assert_eq!(play(&mut check, [open(50, 50, creds(33, 33, 0))]), []);
}

#[test]
fn saved_ids_allow_a_return_without_privilege() {
    let (_d, mut check) = check();
    // seteuid(1000) keeping suid 0 (permitted kept, effective cleared), then seteuid(0) back
    let dropped = TaskCreds {
        uid: 1000,
        euid: 1000,
        fsuid: 1000,
        cap_effective: 0,
        ..root()
    };
    let back = TaskCreds {
        uid: 1000,
        ..root()
    };
    let gains = play(
        &mut check,
        [
            exec(60, 1, root(), file("/usr/sbin/daemon", 0o100755, 0, 0)),
            setuid(60, 60, dropped),
            setuid(60, 60, back),
            open(60, 60, back),
        ],
    );
    assert_eq!(gains, [], "the kernel allows returning to a saved id");
}

#[test]
fn a_set_id_call_the_caller_could_not_make_is_a_gain() {
    let (_d, mut check) = check();
    user_shell(&mut check);
    // an exploit that only granted CAP_SETUID, then a plain setuid(0): the call succeeds, but the thread as known
    // could not have made it
    let gains = play(&mut check, [setuid(100, 100, creds(0, 1000, 0))]);
    assert_eq!(gains.len(), 1);
    assert_eq!(gains[0].seen_at, EventType::Setuid);
    assert_eq!(gains[0].gained.ids, ["uid", "euid", "suid", "fsuid"]);
    // an unprivileged permutation of the thread's own ids is fine
    let (_d, mut check) = super::tests::check();
    let mixed = TaskCreds {
        suid: 2000,
        ..user()
    };
    play(
        &mut check,
        [exec(70, 1, mixed, file("/bin/x", 0o100755, 0, 0))],
    );
    let swapped = TaskCreds {
        euid: 2000,
        suid: 1000,
        ..user()
    };
    assert_eq!(play(&mut check, [setuid(70, 70, swapped)]), []);
}

#[test]
fn glibc_changes_threads_one_by_one() {
    let (_d, mut check) = check();
    let www = creds(33, 33, 0);
    let gains = play(
        &mut check,
        [
            exec(80, 1, root(), file("/usr/sbin/server", 0o100755, 0, 0)),
            fork(80, 80, 80, 81, root()),
            fork(80, 80, 80, 82, root()),
            // setuid(33): glibc signals each thread to make the call itself; 81 first
            setuid(80, 81, www),
            // 82 has not made its call yet: its records still show root
            open(80, 82, root()),
            open(80, 80, root()),
            setuid(80, 82, www),
            setuid(80, 80, www),
            open(80, 82, www),
        ],
    );
    assert_eq!(gains, [], "a thread keeps its own state until its own call");
    // once a thread dropped, root on that thread is a gain
    let gains = play(&mut check, [open(80, 81, root())]);
    assert_eq!(gains.len(), 1);
    assert_eq!(gains[0].tid, 81);
    // a thread that exits is forgotten; a new one starts from its creator
    let gains = play(
        &mut check,
        [
            thread_exit(80, 82),
            fork(80, 80, 80, 83, www),
            open(80, 83, www),
        ],
    );
    assert_eq!(gains, []);
}

#[test]
fn fork_and_clone_inherit_the_callers_credentials() {
    let (_d, mut check) = check();
    user_shell(&mut check);
    assert_eq!(play(&mut check, [fork(100, 100, 400, 400, user())]), []);
    let gains = play(&mut check, [fork(100, 100, 401, 401, root())]);
    assert_eq!(gains.len(), 1);
    assert_eq!((gains[0].pid, gains[0].seen_at), (401, EventType::Fork));
    let gains = play(&mut check, [fork(100, 100, 100, 102, root())]);
    assert_eq!(gains.len(), 1, "a new thread too");
    assert_eq!(gains[0].tid, 102);
}

#[test]
fn user_namespaces() {
    let (_d, mut check) = check();
    user_shell(&mut check);
    // unshare(CLONE_NEWUSER): every capability, inside the new namespace only
    let in_ns = TaskCreds {
        cap_effective: FULL,
        cap_permitted: FULL,
        init_user_ns: false,
        ..user()
    };
    assert_eq!(play(&mut check, [open(100, 100, in_ns)]), []);
    // the namespace's root sets a mapped id (kuid 100000): a call the kernel checks in the namespace
    let mapped = TaskCreds {
        init_user_ns: false,
        ..creds(100_000, 100_000, 0)
    };
    assert_eq!(play(&mut check, [setuid(100, 100, mapped)]), []);
    // host uid 0 without a call, or a return to the host's namespace, are gains
    let host_uid0 = TaskCreds {
        init_user_ns: false,
        ..creds(0, 100_000, 0)
    };
    let gains = play(&mut check, [open(100, 100, host_uid0)]);
    assert_eq!(gains.len(), 1);
    assert_eq!(gains[0].gained.ids, ["uid", "euid", "suid", "fsuid"]);
    let (_d, mut check) = super::tests::check();
    user_shell(&mut check);
    play(&mut check, [open(100, 100, in_ns)]);
    let gains = play(&mut check, [open(100, 100, creds(1000, 1000, FULL))]);
    assert_eq!(gains.len(), 1);
    assert_eq!(gains[0].gained.ids, ["user_ns"]);
    assert_eq!(gains[0].gained.caps, FULL);

    // clone(CLONE_NEWUSER) and an exec as the namespace's root (a rootless container's init)
    let (_d, mut check) = super::tests::check();
    user_shell(&mut check);
    let gains = play(
        &mut check,
        [
            fork(100, 100, 500, 500, in_ns),
            exec(500, 100, in_ns, file("/usr/bin/catatonit", 0o100755, 0, 0)),
        ],
    );
    assert_eq!(gains, []);
}

#[test]
fn capabilities_at_exec() {
    let (_d, mut check) = check();
    // a service with an ambient capability keeps it across exec
    let service = creds(998, 998, CAP_NET_RAW);
    let gains = play(
        &mut check,
        [
            exec(90, 1, service, file("/usr/bin/svc", 0o100755, 0, 0)),
            fork(90, 90, 91, 91, service),
            exec(91, 90, service, file("/usr/bin/helper", 0o100755, 0, 0)),
        ],
    );
    assert_eq!(gains, []);
    // a capability beyond, from a file whose capabilities cannot be read, is reported (and counted)
    let more = creds(998, 998, CAP_NET_RAW | CAP_SYS_ADMIN);
    let gains = play(
        &mut check,
        [
            fork(90, 90, 92, 92, service),
            exec(92, 90, more, file("/tmp/gone", 0o100755, 0, 0)),
        ],
    );
    assert_eq!(gains.len(), 1);
    assert_eq!(gains[0].gained.caps, CAP_SYS_ADMIN);
    assert_eq!(check.stats().unverified_file_caps, 1);
}

#[test]
fn a_file_capability_explains_a_gain_at_exec() {
    rampart_testkit::require!(root, "setcap needs CAP_SETFCAP");
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("rampart-fcap-tool");
    std::fs::copy("/bin/true", &tool).unwrap();
    let status = std::process::Command::new("setcap")
        .arg("cap_net_raw+ep")
        .arg(&tool)
        .status()
        .unwrap();
    assert!(status.success(), "setcap");
    let opened = std::fs::File::open(&tool).unwrap();
    assert_eq!(image::read_file_caps(&opened).unwrap(), CAP_NET_RAW);
    let meta = opened.metadata().unwrap();
    let recorded = FileInfo {
        inode: meta.ino(),
        mount_id: crate::process_cache::procfs::mount_id_of(&opened).unwrap(),
        ..file(tool.to_str().unwrap(), 0o100755, 0, 0)
    };

    let (_d, mut check) = super::tests::check();
    user_shell(&mut check);
    let pinged = creds(1000, 1000, CAP_NET_RAW);
    let gains = play(
        &mut check,
        [
            fork(100, 100, 200, 200, user()),
            exec(200, 100, pinged, recorded.clone()),
        ],
    );
    assert_eq!(gains, [], "cap_net_raw+ep on the file");
    assert_eq!(check.stats().unverified_file_caps, 0);
    // the same path, but not the inode that was exec'd: nothing explains the capability
    let swapped = FileInfo {
        inode: meta.ino() + 1,
        ..recorded
    };
    let gains = play(
        &mut check,
        [
            fork(100, 100, 201, 201, user()),
            exec(201, 100, pinged, swapped),
        ],
    );
    assert_eq!(gains.len(), 1);
    assert_eq!(gains[0].gained.caps, CAP_NET_RAW);
}

#[test]
fn vfs_cap_data_revisions() {
    let le = |words: &[u32]| {
        words
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>()
    };
    // revision 2: permitted lo, inheritable lo, permitted hi, inheritable hi
    let v2 = le(&[0x0200_0001, 1 << 13, 1 << 1, 1 << 5, 0]);
    assert_eq!(
        image::parse_vfs_cap_data(&v2),
        (1 << 13) | (1 << 1) | (1 << 37)
    );
    let v3 = le(&[0x0300_0000, 1 << 7, 0, 0, 0, 100_000]);
    assert_eq!(image::parse_vfs_cap_data(&v3), CAP_SETUID);
    let v1 = le(&[0x0100_0000, CAP_SETGID as u32, 0]);
    assert_eq!(image::parse_vfs_cap_data(&v1), CAP_SETGID);
    assert_eq!(image::parse_vfs_cap_data(&v2[..10]), 0, "short");
    assert_eq!(
        image::parse_vfs_cap_data(&le(&[0x0900_0000, 1, 1, 1, 1])),
        0
    );
}

/// A fake `/proc` with one process of two threads in different states (a file server impersonating a user
/// on one thread) and one single-threaded process in a user namespace.
fn fake_proc(root: &Path) {
    let status = |uids: &str, caps: &str, threads: u32| {
        format!(
            "Name:\tx\nUid:\t{uids}\nGid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\n\
             CapPrm:\t{caps}\nCapEff:\t{caps}\nThreads:\t{threads}\n"
        )
    };
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let link = |rel: &str, target: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
    };
    link("1/ns/user", "user:[4026531837]");
    write("1/status", &status("0\t0\t0\t0", "000001ffffffffff", 1));
    write("700/status", &status("0\t0\t0\t0", "000001ffffffffff", 2));
    write(
        "700/task/700/status",
        &status("0\t0\t0\t0", "000001ffffffffff", 2),
    );
    write(
        "700/task/701/status",
        &status("0\t1001\t0\t1001", "000001ffffffffff", 2),
    );
    link("700/ns/user", "user:[4026531837]");
    write(
        "800/status",
        &status("1000\t1000\t1000\t1000", "000001ffffffffff", 1),
    );
    link("800/ns/user", "user:[4026532999]");
}

#[test]
fn processes_read_from_proc_start_from_what_every_thread_holds() {
    let dir = tempfile::tempdir().unwrap();
    fake_proc(dir.path());
    let mut check = PrivilegeCheck::seeded(dir.path());
    assert_eq!(check.stats().processes, 3);
    let later = crate::clock::BootClock::boot_now_ns() + 1_000_000_000;
    let at = |mut r: ProbeRecord| {
        if let ProbeRecord::Activity(a) = &mut r {
            a.timestamp_boot_ns = later;
        }
        r
    };
    let impersonating = TaskCreds {
        euid: 1001,
        fsuid: 1001,
        ..root()
    };
    let in_ns = TaskCreds {
        init_user_ns: false,
        ..creds(1000, 0, FULL)
    };
    let gains = play(
        &mut check,
        [
            at(open(700, 701, impersonating)),
            at(open(700, 700, root())),
            at(open(800, 800, in_ns)),
        ],
    );
    assert_eq!(gains, [], "what /proc showed is legitimate");
    let gains = play(&mut check, [at(open(800, 800, creds(0, 0, FULL)))]);
    assert_eq!(
        gains.len(),
        1,
        "a gain after the snapshot is one: {gains:?}"
    );
    // a record older than the snapshot is already reflected in it: ignored, whatever it shows
    let mut check = PrivilegeCheck::seeded(dir.path());
    assert_eq!(play(&mut check, [open(800, 800, root())]), []);
    assert_eq!(
        play(&mut check, [at(open(800, 800, in_ns))]),
        [],
        "and did not replace the snapshot's state"
    );
}

#[test]
fn history_stays_bounded() {
    let (_d, mut check) = check();
    play(
        &mut check,
        [exec(90, 1, root(), file("/usr/sbin/d", 0o100755, 0, 0))],
    );
    // set*id records without credentials (an older probe): each keeps the earlier states possible
    for uid in 0..50 {
        let payload = SetuidEvent {
            uid,
            euid: uid,
            fsuid: uid,
            ..Default::default()
        };
        check.observe(&activity(90, 90, None, EventData::Setuid(payload)));
    }
    let capset = CapsetEvent {
        cap_effective: 0,
        cap_permitted: 0,
    };
    check.observe(&activity(90, 90, None, EventData::Capset(capset)));
    let process = &check.processes[&90];
    let states = process.of_thread(90);
    assert_eq!(states.len(), MAX_STATES);
    assert_eq!(states[0].cap_permitted, 0, "the newest first");
    // threads: past the bound their states join the baseline, itself bounded
    for tid in 0..(MAX_THREADS as u32 + 100) {
        let c = creds(10_000 + tid, 0, 0);
        check.observe(&fork(90, 90, 90, 100_000 + tid, c));
    }
    let process = &check.processes[&90];
    assert_eq!(process.threads.len(), MAX_THREADS);
    assert!(process.baseline.len() <= MAX_STATES);
    assert_eq!(process.baseline[0], root(), "the exec's state stays");
}

#[test]
fn a_fifo_at_the_executables_path_is_never_opened_for_reading() {
    // another namespace's path is anyone's to fill: opening a FIFO there for reading would block the agent
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("rampart-fifo-exe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let meta = std::fs::metadata(&fifo).unwrap();
    let recorded = FileInfo {
        inode: meta.ino(),
        ..file(fifo.to_str().unwrap(), 0o100755, 0, 0)
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (_d, mut check) = check();
        user_shell(&mut check);
        let gains = play(
            &mut check,
            [
                fork(100, 100, 200, 200, user()),
                exec(200, 100, creds(1000, 1000, CAP_NET_RAW), recorded),
            ],
        );
        tx.send((gains.len(), check.stats().unverified_file_caps))
            .unwrap();
    });
    let (gains, unverified) = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the check blocked on the FIFO");
    assert_eq!((gains, unverified), (1, 1));
}
