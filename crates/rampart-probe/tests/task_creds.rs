//! Real-kernel test of the acting thread's credentials carried by the file, network and kernel-activity
//! records: a child drops privileges with setresgid/setresuid, then opens a file and connects; each record
//! carries the ids (and capabilities) the task had at that moment. Needs root.

use std::process::Command;
use std::time::{Duration, Instant};

use rampart_model::EventData;
use rampart_probe::file::FileFilters;
use rampart_probe::record::{ActivityRecord, TaskCreds};
use rampart_probe::{Probe, ProbeConfig, ProbeRecord};

const DEADLINE: Duration = Duration::from_secs(10);

#[test]
fn records_carry_the_credentials_after_a_privilege_drop() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = Probe::load(ProbeConfig::default())
        .unwrap_or_else(|e| panic!("loading the probe failed (tests need root): {e}"));
    probe
        .apply_file_filters(&FileFilters::send_all())
        .expect("file filter");
    let dir = tempfile::Builder::new()
        .prefix("rampart-creds-")
        .tempdir()
        .unwrap();
    let before = dir.path().join("opened-as-root");
    let after = dir.path().join("opened-after-drop");
    // Nothing listens on port 1: the connect fails, and is reported all the same.
    let script = format!(
        "import os, socket\n\
         open('{before}', 'w').close()\n\
         os.setresgid(4243, 4244, 4245)\n\
         os.setresuid(4242, 4246, 4247)\n\
         try: os.open('{after}', os.O_RDONLY)\n\
         except OSError: pass\n\
         socket.socket().connect_ex(('127.0.0.1', 1))\n",
        before = before.display(),
        after = after.display(),
    );
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .spawn()
        .expect("python3");
    let pid = child.id();
    assert!(child.wait().unwrap().success(), "{script}");

    let opened = |a: &ActivityRecord, name: &str| matches!(&a.data, EventData::Open(o) if o.syscall.as_ref().is_some_and(|s| s.path.ends_with(name)));
    let mut root_open = None;
    let mut user_open = None;
    let mut connect = None;
    let mut setuid = None;
    let start = Instant::now();
    while (root_open.is_none() || user_open.is_none() || connect.is_none() || setuid.is_none())
        && start.elapsed() < DEADLINE
    {
        probe
            .poll(Duration::from_millis(50), &mut |r| {
                let ProbeRecord::Activity(a) = r else { return };
                if a.pid != pid {
                    return;
                }
                if opened(&a, "opened-as-root") {
                    root_open = a.creds;
                } else if opened(&a, "opened-after-drop") {
                    user_open = a.creds;
                } else if matches!(&a.data, EventData::Connect(s) if s.addr.port == 1) {
                    connect = a.creds;
                } else if matches!(&a.data, EventData::Setuid(_)) {
                    setuid = a.creds;
                }
            })
            .unwrap();
    }
    let root = root_open.expect("the open before the drop carries credentials");
    assert_eq!((root.uid, root.euid, root.fsuid, root.gid), (0, 0, 0, 0));
    assert_ne!(root.cap_effective, 0, "root has capabilities: {root:?}");
    assert!(root.init_user_ns);

    let dropped = TaskCreds {
        uid: 4242,
        euid: 4246,
        suid: 4247,
        fsuid: 4246, // follows euid
        gid: 4243,
        egid: 4244,
        sgid: 4245,
        fsgid: 4244,
        cap_effective: 0, // cleared when no uid is 0 any more
        cap_permitted: 0,
        init_user_ns: true,
    };
    assert_eq!(user_open.expect("open after the drop"), dropped);
    assert_eq!(connect.expect("connect after the drop"), dropped);
    assert_eq!(
        setuid.expect("the setresuid record"),
        dropped,
        "the setuid record carries the new credentials"
    );
}
