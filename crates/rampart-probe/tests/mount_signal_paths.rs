//! Real-kernel tests of the other ways to mount and to signal: the new mount API (fsmount, open_tree,
//! move_mount) produces `mount` records and pidfd_send_signal / rt_sigqueueinfo / rt_tgsigqueueinfo produce
//! `signal` records, with the fields mount(2) and kill(2) give. Test programs are built at test time; mounts
//! happen in private mount namespaces. Needs root.

mod kernel_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use kernel_common::*;
use rampart_model::events::MountEvent;
use rampart_model::{EventData, EventType};
use rampart_probe::kernel::config::ActivityConfig;
use rampart_probe::ProbeConfig;

fn probe_for(t: EventType) -> rampart_probe::Probe {
    load_with(ProbeConfig {
        activity: ActivityConfig::for_event_types([t]),
        ..ProbeConfig::default()
    })
}

/// Runs `newmount ARGS` in a private mount namespace; returns its pid (unshare execs it) and success.
fn newmount(args: &[&str]) -> (u32, bool) {
    let nm = rampart_testkit::cc::newmount().expect("building newmount (gcc, static libc)");
    let mut child = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(nm)
        .args(args)
        .spawn()
        .unwrap();
    let pid = child.id();
    (pid, child.wait().unwrap().success())
}

/// The mount records of `pid`, `n` of them (not unshare's own mount(2) making "/" private).
fn mounts_of(probe: &mut rampart_probe::Probe, pid: u32, n: usize) -> Vec<MountEvent> {
    gather(
        probe,
        |a| match &a.data {
            EventData::Mount(m)
                if a.pid == pid && !(m.fs_type.is_empty() && m.mountpoint.path == "/") =>
            {
                Some(m.clone())
            }
            _ => None,
        },
        |v| v.len() >= n,
    )
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let canon = std::fs::canonicalize(d.path()).unwrap();
    (d, canon)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn new_mount_api_mounts_are_mount_events() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = probe_for(EventType::Mount);
    let (_keep, dir) = temp();
    let mnt = dir.join("mnt");
    let src = dir.join("src");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::create_dir(&src).unwrap();

    // fsopen + fsmount + move_mount: a detached mount (its device and type), then attached
    let (pid, ok) = newmount(&["fsmount", "tmpfs", "rampart-src", s(&mnt)]);
    assert!(ok);
    let got = mounts_of(&mut probe, pid, 2);
    assert_eq!(got.len(), 2, "{got:#?}");
    let (made, moved) = (&got[0], &got[1]);
    assert_eq!(
        (
            made.fs_type.as_str(),
            made.source.path.as_str(),
            made.detached,
            made.retval >= 0
        ),
        ("tmpfs", "rampart-src", true, true),
        "{made:?}"
    );
    assert!(made.mountpoint.path.is_empty(), "{made:?}");
    assert_eq!(
        (
            moved.fs_type.as_str(),
            moved.source.path.as_str(),
            moved.mountpoint.path.as_str(),
            moved.detached,
            moved.retval
        ),
        ("tmpfs", "rampart-src", s(&mnt), false, 0),
        "{moved:?}"
    );
    assert!(made.mount_id > 0 && moved.mount_id == made.mount_id);

    // open_tree(OPEN_TREE_CLONE): a detached copy of a tree, named by its path, then attached
    let (pid, ok) = newmount(&["clone", s(&src), s(&mnt)]);
    assert!(ok);
    let got = mounts_of(&mut probe, pid, 2);
    assert_eq!(got.len(), 2, "{got:#?}");
    let tail = format!("/{}/src", dir.file_name().unwrap().to_str().unwrap());
    for m in &got {
        assert!(
            m.source.path.ends_with(&tail),
            "the cloned tree's path: {m:?}"
        );
        assert!(!m.fs_type.is_empty(), "{m:?}");
    }
    assert!(got[0].detached && !got[1].detached);
    assert_eq!(got[1].mountpoint.path, s(&mnt));

    // a target relative to a directory descriptor; a failed move names the path it was given, resolved
    let (pid, ok) = newmount(&["at", "tmpfs", "x", s(&dir), "mnt"]);
    assert!(ok);
    let got = mounts_of(&mut probe, pid, 2);
    assert_eq!(
        got.get(1).map(|m| m.mountpoint.path.as_str()),
        Some(s(&mnt)),
        "{got:#?}"
    );
    let (pid, ok) = newmount(&["at", "tmpfs", "x", s(&dir), "missing/../mnt2"]);
    assert!(!ok, "moving onto a missing directory fails");
    let got = mounts_of(&mut probe, pid, 2);
    let failed = got.get(1).expect("the failed move_mount");
    assert_eq!(failed.mountpoint.path, s(&dir.join("mnt2")), "{failed:?}");
    assert_eq!(failed.retval, -(libc::ENOENT as i64));

    // a detached mount read through its descriptor, never attached, is still reported
    let (pid, ok) = newmount(&["detached", "tmpfs", "-"]);
    assert!(ok);
    let got = mounts_of(&mut probe, pid, 1);
    assert!(
        got.first()
            .is_some_and(|m| m.detached && m.fs_type == "tmpfs"),
        "{got:#?}"
    );
}

#[test]
fn signals_without_kill_are_signal_events() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = probe_for(EventType::Signal);
    let sigsend = rampart_testkit::cc::sigsend().expect("building sigsend");
    for how in ["pidfd", "procfd", "sigqueue", "tgsigqueue"] {
        let mut target = Command::new("sleep").arg("30").spawn().unwrap();
        let tpid = target.id();
        let mut sender = Command::new(&sigsend)
            .args([how, &tpid.to_string(), "15"])
            .spawn()
            .unwrap();
        let spid = sender.id();
        assert!(sender.wait().unwrap().success(), "{how}");
        target.wait().unwrap();
        let sig = wait_for(&mut probe, &format!("{how} signal"), |a| match &a.data {
            EventData::Signal(s) if a.pid == spid => Some(s.clone()),
            _ => None,
        });
        assert_eq!(
            (sig.pid, sig.signal_type, sig.retval),
            (tpid, 15, 0),
            "{how}: {sig:?}"
        );
    }
}
