//! io_uring: a dropped binary reads /etc/shadow and connects to a mining pool through a ring instead of
//! syscalls, in every way a ring allows (skipped completions, fixed files, an SQPOLL thread, io-wq, linked
//! requests, an overflowing completion queue, a symlink); the same rules must match, marked `event.async`.
//! The same program installed outside the writable directories, reading its own file, matches nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{finish, monitor, rules_of, run, wait_all};

/// Copies the `uring_ops` test program to `path` (executable).
fn install(path: &Path) -> PathBuf {
    let ops = rampart_testkit::cc::uring_ops().expect("building uring_ops (gcc, liburing-dev)");
    std::fs::copy(ops, path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

#[test]
fn io_uring_tricks_are_seen_and_normal_use_stays_quiet() {
    rampart_testkit::require!(
        root,
        "the evasion suite loads eBPF programs and changes the host"
    );
    let m = monitor();
    // the attacker's binary, dropped in /tmp
    let drop = tempfile::Builder::new()
        .prefix("rampart-evasion-")
        .tempdir_in("/tmp")
        .unwrap();
    let rd = install(&drop.path().join("rd"));
    let alias = drop.path().join("notes.txt");
    std::os::unix::fs::symlink("/etc/shadow", &alias).unwrap();
    // the benign twin: the same program installed outside the writable directories, on its own data
    let installed = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    assert!(
        !installed.path().starts_with("/tmp"),
        "the build directory must not be under /tmp for the benign twin: {}",
        installed.path().display()
    );
    let reader = install(&installed.path().join("uring-reader"));
    let data = installed.path().join("data.txt");
    std::fs::write(&data, b"own data\n").unwrap();
    let data = data.to_str().unwrap();

    let alias = alias.to_str().unwrap();
    let shadow_reads: Vec<(&str, Vec<&str>)> = vec![
        ("plain", vec!["open", "/etc/shadow"]),
        ("openat2", vec!["openat2", "/etc/shadow"]),
        (
            "no completion",
            vec!["--skip", "--fixed", "open", "/etc/shadow"],
        ),
        (
            "no completion, descriptor",
            vec!["--skip", "open", "/etc/shadow"],
        ),
        ("fixed file", vec!["--fixed", "open", "/etc/shadow"]),
        (
            "kernel-picked slot",
            vec!["--fixed-alloc", "open", "/etc/shadow"],
        ),
        ("SQPOLL thread", vec!["--sqpoll", "open", "/etc/shadow"]),
        ("io-wq worker", vec!["--async", "open", "/etc/shadow"]),
        ("linked", vec!["--link", "open", "/etc/shadow"]),
        (
            "completion queue overflow",
            vec!["--overflow", "open", "/etc/shadow"],
        ),
        ("through a symlink", vec!["open", alias]),
    ];
    let mut want = Vec::new();
    let mut names = Vec::new();
    for (name, args) in &shadow_reads {
        want.push(("shadow_file_read", run(&rd, args)));
        names.push(*name);
    }
    // a mining pool on a non-loopback address (in a network namespace whose loopback carries it, so the
    // connection is refused at once)
    let script = format!(
        "ip link set lo up && ip addr add 10.250.0.1/32 dev lo && exec {} connect 10.250.0.1 3333",
        rd.display()
    );
    let pool = run(Path::new("unshare"), &["-n", "bash", "-c", &script]);
    want.push(("miner_pool_port_connection", pool));
    names.push("connect to a pool port");
    // wiping a log with an io_uring ftruncate
    let log = std::path::PathBuf::from(format!(
        "/var/log/rampart-evasion-{}.log",
        std::process::id()
    ));
    std::fs::write(&log, b"evidence\n").unwrap();
    want.push((
        "log_file_truncate_syscall",
        run(&rd, &["truncate", log.to_str().unwrap()]),
    ));
    names.push("truncate a log");
    std::fs::remove_file(&log).unwrap();
    // a ring created by a binary dropped in /tmp
    want.push(("io_uring_created_by_unexpected_program", want[0].1));
    names.push("ring setup");

    // benign twins
    let quiet = [
        run(&reader, &["open", data]),
        run(&reader, &["--fixed", "--sqpoll", "open", data]),
        run(&reader, &["connect", "127.0.0.1", "3333"]),
        run(&reader, &["truncate", data]),
    ];

    let found = wait_all(&m, &want, Duration::from_secs(20));
    let mut failures = Vec::new();
    for (((rule, pid), name), hit) in want.iter().zip(&names).zip(&found) {
        match hit {
            None => failures.push(format!(
                "{name}: no `{rule}` match for pid {pid} (its matches: {:?})",
                rules_of(&m, *pid)
            )),
            Some(v)
                if *rule != "io_uring_created_by_unexpected_program"
                    && v["event"]["async"] != true =>
            {
                failures.push(format!("{name}: `{rule}` matched without event.async: {v}"))
            }
            Some(v) if v["process"]["file"]["path"] != rd.to_str().unwrap() => {
                failures.push(format!(
                    "{name}: attributed to {} instead of the dropped binary",
                    v["process"]["file"]["path"]
                ))
            }
            Some(_) => {}
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    for pid in quiet {
        let rules = rules_of(&m, pid);
        if !rules.is_empty() {
            failures.push(format!("benign io_uring use (pid {pid}) matched {rules:?}"));
        }
    }
    finish(m, &failures);
}
