use super::*;
use rampart_model::{EventType, ExitCause, FileInfo};

fn cache_with_proc_root(root: &std::path::Path, max_entries: usize) -> ProcessCache {
    let config = CacheConfig {
        max_entries,
        proc_root: root.to_path_buf(),
        max_lineage: 64,
    };
    ProcessCache::new(config, |path| {
        path.strip_prefix("/ctr/").map(str::to_string)
    })
}

fn task(pid: u32, tid: u32, ppid: u32) -> TaskInfo {
    TaskInfo {
        pid,
        tid,
        ppid,
        comm: format!("c{pid}"),
        ..Default::default()
    }
}

fn exec(pid: u32, ppid: u32, path: &str, argv: &[&str]) -> ProbeRecord {
    ProbeRecord::Exec(ExecRecord {
        timestamp_boot_ns: 1,
        task: task(pid, pid, ppid),
        file: FileInfo::from_path(path),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
}

fn fork(parent: u32, child: u32, tid: u32) -> ProbeRecord {
    ProbeRecord::Fork(ForkRecord {
        timestamp_boot_ns: 1,
        parent_pid: parent,
        parent_tid: parent,
        child: task(child, tid, parent),
    })
}

fn exit(pid: u32, group_dead: bool, cause: ExitCause, code: u32) -> ProbeRecord {
    ProbeRecord::Exit(ExitRecord {
        timestamp_boot_ns: 1,
        pid,
        tid: pid,
        group_dead,
        cause,
        code,
    })
}

fn lineage(event: &Event) -> Vec<(u32, String)> {
    event
        .process
        .ancestors()
        .map(|p| (p.pid, p.file.path.clone()))
        .collect()
}

#[test]
fn fork_exec_exit_builds_and_frees_lineage() {
    let empty = tempfile::tempdir().unwrap();
    let mut cache = cache_with_proc_root(empty.path(), 100);
    let shell = cache.handle(exec(100, 1, "/bin/bash", &["bash"])).unwrap();
    assert_eq!(shell.event_type(), EventType::Exec);
    assert!(lineage(&shell).is_empty());

    let forked = cache.handle(fork(100, 200, 200)).unwrap();
    assert_eq!(forked.event_type(), EventType::Fork);
    assert!(
        forked.process.is_thread,
        "a fork copy runs its parent's image"
    );
    assert_eq!(forked.process.file.path, "/bin/bash");
    assert_eq!(lineage(&forked), [(100, "/bin/bash".to_string())]);

    // sh replaces the fork copy: its parent is bash, not the copy.
    let sh = cache
        .handle(exec(
            200,
            100,
            "/bin/sh",
            &["sh", "-c", "exec /bin/true a \"b c\""],
        ))
        .unwrap();
    assert!(!sh.process.is_thread);
    assert_eq!(lineage(&sh), [(100, "/bin/bash".to_string())]);

    // `exec` inside sh: the new image descends from sh (same pid), then bash.
    let tru = cache
        .handle(exec(200, 100, "/usr/bin/true", &["/bin/true", "a", "b c"]))
        .unwrap();
    assert_eq!(
        lineage(&tru),
        [(200, "/bin/sh".to_string()), (100, "/bin/bash".to_string())]
    );
    let EventData::Exec(image) = &tru.data else {
        panic!("not an exec")
    };
    assert_eq!(image.argv, ["a", "b c"]);
    assert_eq!(image.argv0, "/bin/true");

    let gone = cache.handle(exit(200, true, ExitCause::Exited, 0)).unwrap();
    let EventData::Exit(e) = &gone.data else {
        panic!("not an exit")
    };
    assert_eq!((e.cause, e.code), (ExitCause::Exited, 0));
    assert_eq!(
        gone.process.file.path, "/usr/bin/true",
        "the exit carries the last image"
    );
    assert!(cache.get(200).is_none());
    assert_eq!(cache.stats().entries, 1);
}

#[test]
fn threads_update_nothing_visible() {
    let empty = tempfile::tempdir().unwrap();
    let mut cache = cache_with_proc_root(empty.path(), 100);
    cache.handle(exec(100, 1, "/usr/sbin/nginx", &["nginx"]));
    assert!(
        cache.handle(fork(100, 100, 101)).is_none(),
        "a new thread is not a new process"
    );
    assert!(
        cache
            .handle(exit(100, false, ExitCause::Exited, 0))
            .is_none(),
        "one thread leaving"
    );
    assert!(cache.get(100).is_some());
}

#[test]
fn container_id_comes_from_the_cgroup_path() {
    let empty = tempfile::tempdir().unwrap();
    let mut cache = cache_with_proc_root(empty.path(), 100);
    let mut rec = exec(300, 1, "/bin/busybox", &["sh"]);
    if let ProbeRecord::Exec(r) = &mut rec {
        r.task.cgroup_path = "/ctr/abc".into();
        r.task.cgroup_id = 77;
    }
    let ev = cache.handle(rec).unwrap();
    assert_eq!(
        ev.process.container.as_ref().map(|c| c.id.as_str()),
        Some("abc")
    );
    assert_eq!(ev.process.cgroup.id, 77);
}

#[test]
fn unknown_exit_is_reported_and_counted() {
    let empty = tempfile::tempdir().unwrap();
    let mut cache = cache_with_proc_root(empty.path(), 100);
    let ev = cache
        .handle(exit(999, true, ExitCause::Signaled, 9))
        .unwrap();
    assert_eq!(ev.process.pid, 999);
    assert_eq!(cache.stats().misses, 1);
}

#[test]
fn full_cache_sweeps_dead_then_evicts_oldest() {
    let root = tempfile::tempdir().unwrap();
    for pid in [1, 2, 3] {
        std::fs::create_dir(root.path().join(pid.to_string())).unwrap();
    }
    let mut cache = cache_with_proc_root(root.path(), 2);
    cache.handle(exec(1, 0, "/a", &["a"]));
    cache.handle(exec(2, 0, "/b", &["b"]));
    cache.handle(exec(3, 0, "/c", &["c"]));
    assert!(cache.get(1).is_none(), "oldest evicted");
    assert!(cache.get(2).is_some() && cache.get(3).is_some());
    assert_eq!(cache.stats().evicted, 1);

    std::fs::remove_dir(root.path().join("2")).unwrap();
    cache.handle(exec(4, 0, "/d", &["d"]));
    assert!(
        cache.get(2).is_none(),
        "pid 2 is gone from /proc: swept, not evicted"
    );
    assert_eq!(cache.stats().swept, 1);
    assert_eq!(cache.stats().evicted, 1);
}

#[test]
fn exec_loops_keep_a_bounded_lineage() {
    let empty = tempfile::tempdir().unwrap();
    let config = CacheConfig {
        max_entries: 10,
        proc_root: empty.path().to_path_buf(),
        max_lineage: 5,
    };
    let mut cache = ProcessCache::new(config, |_| None);
    let mut last = None;
    for i in 0..20 {
        last = cache.handle(exec(50, 1, &format!("/bin/step{i}"), &["x"]));
    }
    let chain = lineage(&last.unwrap());
    assert_eq!(chain.len(), 4);
    assert_eq!(chain[0].1, "/bin/step18", "nearest ancestors are kept");
}

#[test]
fn seeding_gives_running_processes_their_ancestors() {
    let mut cache = ProcessCache::new(CacheConfig::default(), |_| None);
    let seeded = cache.seed_from_procfs();
    assert!(seeded > 1);
    let me = cache
        .get(std::process::id())
        .expect("the test process is seeded");
    assert_eq!(me.process.ppid, std::os::unix::process::parent_id());
    let parent = me.parent.as_ref().expect("its parent is seeded too");
    assert_eq!(parent.process.pid, std::os::unix::process::parent_id());
    assert!(
        me.process.created_at > 1_600_000_000_000_000_000,
        "epoch ns"
    );
    // The chain ends at a process whose parent is 0 (init or kthreadd).
    let root = me.ancestors().last().unwrap();
    assert_eq!(root.ppid, 0);
}

#[test]
fn activity_records_get_the_process_context() {
    use rampart_model::events::FileEvent;
    use rampart_probe::record::Origin;
    let empty = tempfile::tempdir().unwrap();
    let mut cache = cache_with_proc_root(empty.path(), 100);
    cache.handle(exec(100, 1, "/bin/bash", &["bash"]));
    cache.handle(fork(100, 200, 200));
    cache.handle(exec(200, 100, "/usr/bin/vim", &["vim", "/etc/shadow"]));
    let record = |origin| {
        ProbeRecord::Activity(ActivityRecord {
            timestamp_boot_ns: 5,
            pid: 200,
            tid: 200,
            creds: None,
            origin,
            data: EventData::Chmod(FileEvent::default()),
        })
    };
    let ev = cache.handle(record(Origin::Syscall)).unwrap();
    assert_eq!(ev.event_type(), EventType::Chmod);
    assert_eq!(ev.process.file.path, "/usr/bin/vim");
    assert_eq!(lineage(&ev), [(100, "/bin/bash".to_string())]);
    assert!(!ev.event.is_async);
    // the same call submitted through io_uring: `event.async`
    let ev = cache
        .handle(record(Origin::IoUring { completed: true }))
        .unwrap();
    assert!(ev.event.is_async);
}

#[test]
fn ia32_images_and_compat_calls() {
    use rampart_model::events::FileEvent;
    let empty = tempfile::tempdir().unwrap();
    let mut cache = cache_with_proc_root(empty.path(), 100);
    cache.handle(exec(100, 1, "/bin/bash", &["bash"]));
    let ProbeRecord::Exec(mut r) = exec(200, 100, "/opt/old/tool32", &["tool32"]) else {
        unreachable!()
    };
    r.is_ia32 = true;
    let ev = cache.handle(ProbeRecord::Exec(r)).unwrap();
    assert!(ev.process.is_ia32 && !ev.process.parent().unwrap().is_ia32);
    // a fork runs its parent's image
    let ev = cache.handle(fork(200, 300, 300)).unwrap();
    assert!(ev.process.is_ia32);
    let activity = |cache: &mut ProcessCache, pid: u32, origin: Origin| {
        cache
            .handle(ProbeRecord::Activity(ActivityRecord {
                timestamp_boot_ns: 5,
                pid,
                tid: pid,
                creds: None,
                origin,
                data: EventData::Chmod(FileEvent::default()),
            }))
            .unwrap()
    };
    let ev = activity(&mut cache, 300, Origin::Ia32);
    assert!(ev.event.compat && ev.process.is_ia32);
    // a 64-bit program's int $0x80: the evasion signature
    let ev = activity(&mut cache, 100, Origin::Ia32);
    assert!(ev.event.compat && !ev.process.is_ia32);
    assert!(!activity(&mut cache, 100, Origin::Syscall).event.compat);
}
