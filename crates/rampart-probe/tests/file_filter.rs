//! The kernel file filter drops, before the ring buffer, what no approver admits: activity outside the
//! watched directory reaches user space zero times, and the kernel's counters say why it was dropped.

mod file_support;

use std::time::Duration;

use file_support::*;
use rampart_model::{EventData, EventType};
use rampart_probe::file::{FileFilters, FileKind, Mode, SideFilter, TypeFilter};

fn filter(kind: FileKind, source: SideFilter) -> FileFilters {
    let mut f = FileFilters::default();
    f.types.insert(
        kind,
        TypeFilter {
            mode: Mode::Filter,
            source,
            ..Default::default()
        },
    );
    f
}

#[test]
fn activity_outside_a_watched_directory_never_reaches_user_space() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let (_keep, dir) = temp_dir();
    let watched = dir.join("watched");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&watched).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let prefix = format!("{}/", watched.display());
    let mut rec = load(&filter(
        FileKind::Open,
        SideFilter {
            prefixes: [prefix.clone()].into(),
            ..Default::default()
        },
    ));
    let before = rec.probe.file_stats().unwrap().get(FileKind::Open);

    const N: usize = 200;
    for i in 0..N {
        std::fs::write(elsewhere.join(format!("f{i}")), b"x").unwrap();
        let _ = std::fs::read(elsewhere.join(format!("f{i}"))).unwrap();
    }
    std::fs::write(watched.join("hit"), b"x").unwrap();

    let hit = rec.wait_for(EventType::Open, &watched.join("hit"));
    assert_eq!(path_of(&hit), watched.join("hit").to_str());
    let outside = elsewhere.to_str().unwrap().to_string();
    let leaked = rec.collect_for(Duration::from_millis(300), |r| {
        path_of(r).is_some_and(|p| p.starts_with(&outside))
    });
    assert!(
        leaked.is_empty(),
        "{} events from outside the watched directory reached user space",
        leaked.len()
    );

    let after = rec.probe.file_stats().unwrap().get(FileKind::Open);
    let dropped = (after.approver_drop - before.approver_drop)
        + (after.discarder_drop - before.discarder_drop);
    assert!(
        dropped >= 2 * N as u64,
        "kernel drops {dropped} < {} opens done outside",
        2 * N
    );
    // After the first miss in `elsewhere` the directory is a discarder: later opens skip the path walk.
    assert!(after.discarder_added > before.discarder_added, "{after:?}");
    assert!(
        after.discarder_drop - before.discarder_drop >= N as u64,
        "{after:?}"
    );
    assert!(after.sent > before.sent);
}

/// Discarders (the kernel's map, and the per-CPU copy of the last one hit) are forgotten when the directory
/// moves and when the filter changes: a directory that was discarded is watched once it lies under a
/// watched prefix.
#[test]
fn discarded_directory_is_watched_after_a_move_or_a_new_filter() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let (_keep, dir) = temp_dir();
    let watched = dir.join("watched");
    let outside = dir.join("outside");
    std::fs::create_dir_all(&watched).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let only_watched = filter(
        FileKind::Open,
        SideFilter {
            prefixes: [format!("{}/", watched.display())].into(),
            ..Default::default()
        },
    );
    let mut rec = load(&only_watched);
    let discard_outside = |rec: &mut Recorder, dir: &std::path::Path| {
        let before = rec.probe.file_stats().unwrap().get(FileKind::Open);
        for _ in 0..50 {
            let _ = std::fs::read(dir.join("f"));
        }
        let after = rec.probe.file_stats().unwrap().get(FileKind::Open);
        assert!(
            after.discarder_drop - before.discarder_drop >= 40,
            "{after:?}"
        );
    };
    std::fs::write(outside.join("f"), b"x").unwrap();
    discard_outside(&mut rec, &outside);

    let moved = watched.join("moved");
    std::fs::rename(&outside, &moved).unwrap();
    std::fs::write(moved.join("after-move"), b"x").unwrap();
    rec.wait_for(EventType::Open, &moved.join("after-move"));

    let second = dir.join("second");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::write(second.join("f"), b"x").unwrap();
    discard_outside(&mut rec, &second);
    rec.probe
        .apply_file_filters(&filter(
            FileKind::Open,
            SideFilter {
                prefixes: [format!("{}/", second.display())].into(),
                ..Default::default()
            },
        ))
        .unwrap();
    std::fs::write(second.join("after-reload"), b"x").unwrap();
    rec.wait_for(EventType::Open, &second.join("after-reload"));
}

/// A directory holding a watched file cannot be discarded as a whole; its other files are, one by one, and
/// the watched file still gets through.
#[test]
fn files_beside_a_watched_file_are_discarded_one_by_one() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let (_keep, dir) = temp_dir();
    let secret = dir.join("secret");
    let cache = dir.join("cache");
    std::fs::write(&secret, b"x").unwrap();
    std::fs::write(&cache, b"x").unwrap();
    let mut rec = load(&filter(
        FileKind::Open,
        SideFilter {
            exact_paths: [secret.display().to_string()].into(),
            ..Default::default()
        },
    ));
    let before = rec.probe.file_stats().unwrap().get(FileKind::Open);
    for _ in 0..50 {
        let _ = std::fs::read(&cache).unwrap();
    }
    let after = rec.probe.file_stats().unwrap().get(FileKind::Open);
    assert!(
        after.discarder_drop - before.discarder_drop >= 45,
        "{after:?}"
    );
    let _ = std::fs::read(&secret).unwrap();
    rec.wait_for(EventType::Open, &secret);
    let c = cache.to_str().unwrap().to_string();
    let leaked = rec.collect_for(Duration::from_millis(300), |r| {
        path_of(r) == Some(c.as_str())
    });
    assert!(leaked.is_empty(), "{leaked:?}");
}

#[test]
fn basename_approvers_drop_other_names_before_the_path_walk() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let (_keep, dir) = temp_dir();
    let target = dir.join("authorized_keys");
    let side = SideFilter {
        exact_paths: [target.display().to_string()].into(),
        path_basenames: Some(["authorized_keys".to_string()].into()),
        ..Default::default()
    };
    let mut rec = load(&filter(FileKind::Unlink, side));
    for i in 0..50 {
        let other = dir.join(format!("other{i}"));
        std::fs::write(&other, b"x").unwrap();
        std::fs::remove_file(&other).unwrap();
    }
    // Same basename elsewhere: passes the name gate, then fails the exact-path check.
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/authorized_keys"), b"x").unwrap();
    std::fs::remove_file(dir.join("sub/authorized_keys")).unwrap();
    std::fs::write(&target, b"x").unwrap();
    std::fs::remove_file(&target).unwrap();

    rec.wait_for(EventType::Unlink, &target);
    let d = dir.to_str().unwrap().to_string();
    let t = target.to_str().unwrap().to_string();
    let leaked = rec.collect_for(Duration::from_millis(300), |r| {
        path_of(r).is_some_and(|p| p.starts_with(&d) && p != t)
    });
    assert!(leaked.is_empty(), "{leaked:?}");
    assert!(
        rec.probe
            .file_stats()
            .unwrap()
            .get(FileKind::Unlink)
            .approver_drop
            >= 51
    );
}

#[test]
fn reads_are_dropped_unless_an_approver_asks_for_them() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let (_keep, dir) = temp_dir();
    let file = dir.join("data");
    std::fs::write(&file, b"x").unwrap();
    // `open.flags & (O_CREAT|O_WRONLY|O_RDWR|O_TRUNC) > 0`: writes only.
    let side = SideFilter {
        flags_mask: (libc::O_CREAT | libc::O_WRONLY | libc::O_RDWR | libc::O_TRUNC) as u32,
        ..Default::default()
    };
    let mut rec = load(&filter(FileKind::Open, side));
    for _ in 0..20 {
        std::fs::read(&file).unwrap();
    }
    std::fs::write(&file, b"y").unwrap();
    let w = rec.wait_for(EventType::Open, &file);
    let rampart_model::EventData::Open(o) = &w.data else {
        unreachable!()
    };
    assert_ne!(o.flags & libc::O_WRONLY as u32, 0);
    let p = file.to_str().unwrap().to_string();
    let reads = rec.collect_for(Duration::from_millis(300), |r| {
        path_of(r) == Some(p.as_str())
    });
    assert!(
        reads.is_empty(),
        "read-only opens reached user space: {reads:?}"
    );
}

#[test]
fn off_types_detach_the_program() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let (_keep, dir) = temp_dir();
    let mut rec = load(&FileFilters::send_all());
    let report = rec
        .probe
        .apply_file_filters(&FileFilters::default())
        .unwrap();
    assert!(!report.attached);
    let before = rec.probe.file_stats().unwrap().total();
    std::fs::write(dir.join("x"), b"x").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        rec.probe.file_stats().unwrap().total().seen,
        before.seen,
        "no file syscall is even seen"
    );
}

#[test]
fn name_approvers_admit_by_dentry_name_anywhere() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let (_keep, dir) = temp_dir();
    let side = SideFilter {
        names: ["rampart-named-target".to_string()].into(),
        ..Default::default()
    };
    let mut rec = load(&filter(FileKind::Open, side));
    std::fs::create_dir(dir.join("deep")).unwrap();
    for i in 0..20 {
        std::fs::write(dir.join(format!("unnamed{i}")), b"x").unwrap();
    }
    std::fs::write(dir.join("deep/rampart-named-target"), b"x").unwrap();
    let hit = rec.wait_for(EventType::Open, &dir.join("deep/rampart-named-target"));
    assert!(
        rampart_probe::file::file_target(&hit.data)
            .unwrap()
            .file
            .inode
            > 0
    );
    let d = dir.to_str().unwrap().to_string();
    let others = rec.collect_for(Duration::from_millis(300), |r| {
        path_of(r).is_some_and(|p| p.starts_with(&d) && !p.ends_with("rampart-named-target"))
    });
    assert!(others.is_empty(), "{others:?}");
}

#[test]
fn name_prefix_approvers_admit_by_the_start_of_the_name() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let (_keep, dir) = temp_dir();
    let side = SideFilter {
        name_prefixes: [
            "rampart-id_".to_string(),
            "zz-a-much-longer-prefix-than-16".to_string(),
        ]
        .into(),
        ..Default::default()
    };
    let mut rec = load(&filter(FileKind::Open, side));
    for name in ["rampart-id", "rampart-ie_x", "other", "zz-a-much-longe"] {
        std::fs::write(dir.join(name), b"x").unwrap();
    }
    std::fs::write(dir.join("rampart-id_ed25519"), b"x").unwrap();
    // Cut to 16 bytes in the kernel: a name sharing only those passes too (user space decides).
    std::fs::write(dir.join("zz-a-much-longer-prefix-than-16-bytes"), b"x").unwrap();
    rec.wait_for(EventType::Open, &dir.join("rampart-id_ed25519"));
    rec.wait_for(
        EventType::Open,
        &dir.join("zz-a-much-longer-prefix-than-16-bytes"),
    );
    let d = dir.to_str().unwrap().to_string();
    let others = rec.collect_for(Duration::from_millis(300), |r| {
        path_of(r).is_some_and(|p| p.starts_with(&d))
    });
    assert!(
        others.is_empty(),
        "names without the prefix were sent: {others:?}"
    );
}

#[test]
fn failed_calls_are_dropped_unless_denied_or_asked_for() {
    rampart_testkit::require!(root, "loads eBPF programs");
    use std::os::unix::fs::PermissionsExt;
    let (_keep, dir) = temp_dir();
    let secret = dir.join("secret");
    std::fs::write(&secret, b"x").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let missing = dir.join("missing");
    let attempts = format!(
        "cat {m} 2>/dev/null; setpriv --reuid=65534 --regid=65534 --clear-groups cat {s} 2>/dev/null; true",
        m = missing.display(),
        s = secret.display()
    );
    let mut every_open = FileFilters::default();
    every_open.types.insert(
        FileKind::Open,
        TypeFilter {
            mode: Mode::All,
            errors: false,
            ..Default::default()
        },
    );
    let mut rec = load(&every_open);
    sh(&attempts);
    let denied = rec.wait_for(EventType::Open, &secret);
    let EventData::Open(o) = &denied.data else {
        unreachable!()
    };
    assert_eq!(o.retval, -(libc::EACCES as i64), "a denial is kept");
    let d = dir.to_str().unwrap().to_string();
    let missed = rec.collect_for(Duration::from_millis(300), |r| {
        path_of(r).is_some_and(|p| p.starts_with(&d) && p.ends_with("missing"))
    });
    assert!(missed.is_empty(), "ENOENT is dropped: {missed:?}");
    drop(rec);

    // A rule on retval asks for every failed call.
    every_open.types.get_mut(&FileKind::Open).unwrap().errors = true;
    let mut rec = load(&every_open);
    sh(&attempts);
    let r = rec.wait_for(EventType::Open, &missing);
    let EventData::Open(o) = &r.data else {
        unreachable!()
    };
    assert_eq!(o.retval, -(libc::ENOENT as i64));
}

/// A 16-byte name whose kernel name hash (word-wise FNV-1a 64, `file::filters::name_hash`) equals that of
/// `target` (also 16 bytes): after word 1 the states differ; word 2 is chosen to cancel the difference (the
/// multiplication by the odd FNV prime that follows is a bijection, so equal states stay equal). Retries the
/// first word until the second contains no NUL and no '/'.
fn colliding_name(target: &[u8; 16]) -> Vec<u8> {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x100_0000_01b3;
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap());
    let h0 = OFFSET ^ 16;
    let state_b = (h0 ^ word(&target[..8])).wrapping_mul(PRIME);
    for i in 0u32.. {
        let first = format!("decoy{i:03}");
        let state_a = (h0 ^ word(first.as_bytes())).wrapping_mul(PRIME);
        let second = (state_a ^ state_b ^ word(&target[8..])).to_le_bytes();
        if second.iter().all(|b| *b != 0 && *b != b'/') {
            let name = [first.as_bytes(), &second[..]].concat();
            assert_eq!(
                rampart_probe::file::filters::name_hash(&name),
                rampart_probe::file::filters::name_hash(target),
                "the collision model matches the kernel's hash"
            );
            assert_ne!(&name[..], &target[..]);
            return name;
        }
    }
    unreachable!()
}

/// Per-name discarders are keyed by a hash anyone can collide: a name with the watched file's hash (same length),
/// opened first in its directory, gets a discarder for that key. The kernel must confirm the name before it
/// drops, so the watched file's open still arrives.
#[test]
fn a_colliding_name_opened_first_does_not_hide_a_watched_file() {
    rampart_testkit::require!(root, "loads eBPF programs");
    use std::os::unix::ffi::OsStrExt;
    let (_keep, dir) = temp_dir();
    let watched_name = *b"watched-secret01";
    let decoy_name = colliding_name(&watched_name);
    let watched = dir.join(std::ffi::OsStr::from_bytes(&watched_name));
    let decoy = dir.join(std::ffi::OsStr::from_bytes(&decoy_name));
    std::fs::write(&watched, b"x").unwrap();
    std::fs::write(&decoy, b"x").unwrap();
    let mut rec = load(&filter(
        FileKind::Open,
        SideFilter {
            exact_paths: [watched.display().to_string()].into(),
            ..Default::default()
        },
    ));
    let before = rec.probe.file_stats().unwrap().get(FileKind::Open);
    for _ in 0..20 {
        let _ = std::fs::read(&decoy).unwrap();
    }
    let after = rec.probe.file_stats().unwrap().get(FileKind::Open);
    // The decoy got its own discarder (the attack's precondition, so the check below is not vacuous).
    assert!(
        after.discarder_drop - before.discarder_drop >= 15,
        "{after:?}"
    );
    let _ = std::fs::read(&watched).unwrap();
    rec.wait_for(EventType::Open, &watched);
}
