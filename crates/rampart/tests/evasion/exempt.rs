//! Exemptions by program name hold only for the installed program. The default policy spares some programs by
//! name (bpftool loading BPF, sudo reading /etc/shadow, anything under dpkg writing cron files); an attacker
//! renames a copy, puts it under a path an old glob exempted, runs it in a container or injects a library
//! into the real one. Each of those must match; the installed program doing the same must not.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rampart_testkit::{ContainerSpec, MonitorProcess, Podman};
use serde_json::Value;

const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../rampart-policy/policies/default.policy"
);
const WAIT: Duration = Duration::from_secs(15);

/// bpf(BPF_PROG_LOAD) of a two-instruction socket filter (`r0 = 0; exit`), as any BPF loader does first.
const LOADER_C: &str = r#"
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    struct bpf_insn insns[2];
    union bpf_attr attr;
    memset(insns, 0, sizeof insns);
    insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
    insns[1].code = BPF_JMP | BPF_EXIT;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insn_cnt = 2;
    attr.insns = (unsigned long)insns;
    attr.license = (unsigned long)"GPL";
    int fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    if (fd < 0) { perror("BPF_PROG_LOAD"); return 1; }
    close(fd);
    return 0;
}
"#;

/// The same program as an object file for `bpftool prog load`.
const PROG_C: &str = r#"
__attribute__((section("socket"), used)) int rampart_evasion(void *ctx) { return 0; }
char _license[] __attribute__((section("license"), used)) = "GPL";
"#;

fn sh(script: &str) {
    let st = Command::new("sh").args(["-c", script]).status().unwrap();
    assert!(st.success(), "`{script}` failed: {st}");
}

/// Runs `cmd` to completion (it must succeed) and returns its pid.
fn run(cmd: &mut Command) -> u32 {
    let child = super::spawn(cmd.stdout(Stdio::null()).stderr(Stdio::piped()));
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    pid
}

fn copy_to(src: &Path, dst: &Path, mode: u32) {
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    std::fs::copy(src, dst).unwrap();
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A directory that is removed (with what it holds) when the test ends, whatever happens.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
        }
    }
}

/// A temporary directory readable by everyone (a container mounts it).
fn temp_dir() -> tempfile::TempDir {
    let tmp = tempfile::Builder::new()
        .prefix("rampart-evasion-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    tmp
}

/// Builds the BPF loader in `dir` (`flags`: extra `cc` flags, e.g. `-static`).
fn build_loader(dir: &Path, flags: &str) -> PathBuf {
    let src = dir.join("loader.c");
    std::fs::write(&src, LOADER_C).unwrap();
    let loader = dir.join("loader");
    sh(&format!(
        "cc {flags} -O1 -o {} {}",
        loader.display(),
        src.display()
    ));
    loader
}

/// Whether `v` (an event or match) was caused by process `pid` or one of its descendants.
fn caused_by(v: &Value, pid: u32) -> bool {
    v["process"]["pid"] == pid
        || v["process"]["ancestors"]
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p["pid"] == pid))
}

fn is_match(rule: &'static str, pid: u32) -> impl Fn(&Value) -> bool {
    move |v| v["rule"]["id"] == rule && caused_by(v, pid)
}

fn monitor() -> MonitorProcess {
    MonitorProcess::start_with_policy(Path::new(env!("CARGO_BIN_EXE_rampart")), POLICY).unwrap()
}

/// Asserts each attack matched `rule` and no benign twin did, with every failure in one message.
fn verdict(
    m: &MonitorProcess,
    rule: &'static str,
    attacks: &[(&str, u32)],
    benign: &[(&str, u32)],
) {
    let mut failures = Vec::new();
    for (what, pid) in attacks {
        if m.wait_for(WAIT, is_match(rule, *pid)).is_none() {
            failures.push(format!("{what}: no `{rule}` match"));
        }
    }
    // The attacks' matches arrived: the twins' events (run earlier) went through the same pipeline.
    std::thread::sleep(Duration::from_secs(1));
    for (what, pid) in benign {
        let hits = m.all(is_match(rule, *pid));
        if !hits.is_empty() {
            failures.push(format!("{what}: matched `{rule}`: {}", hits[0]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A BPF loader renamed `bpftool` (not owned by root, in /tmp), under a path the old policy's test-build glob
/// exempted (`/**/target/*/deps/*-*`), or installed group-writable in a system directory: all load unseen
/// no more. The installed bpftool, and a root-owned copy in a system directory, load BPF without a match.
#[test]
fn a_bpf_loader_named_like_a_known_tool_is_reported() {
    rampart_testkit::require!(
        root,
        "the evasion suite loads eBPF programs and changes the host"
    );
    let m = monitor();
    let id = std::process::id();
    let tmp = temp_dir();
    let loader = build_loader(tmp.path(), "");
    let system_dir = PathBuf::from(format!("/usr/lib/rampart-evasion-{id}"));
    let bpffs = tmp.path().join("bpffs");
    let _cleanup = Cleanup(vec![system_dir.clone()]);

    let renamed = tmp.path().join("bin/bpftool");
    copy_to(&loader, &renamed, 0o755);
    std::os::unix::fs::chown(&renamed, Some(65534), Some(65534)).unwrap();
    let deps = tmp.path().join("target/x/deps/a-b");
    copy_to(&loader, &deps, 0o755);
    let group_writable = system_dir.join("writable/bpftool");
    copy_to(&loader, &group_writable, 0o775);
    let installed = system_dir.join("bpftool");
    copy_to(&loader, &installed, 0o755);

    // benign twins first: the real bpftool loading an object file (pinned on a private bpffs), and a
    // root-owned copy in a system directory
    std::fs::write(tmp.path().join("prog.c"), PROG_C).unwrap();
    sh(&format!(
        "cd {d} && clang -O2 -target bpf -c prog.c -o prog.o && mkdir bpffs && mount -t bpf bpf bpffs",
        d = tmp.path().display()
    ));
    let real = run(Command::new("/usr/sbin/bpftool").args([
        "prog",
        "load",
        tmp.path().join("prog.o").to_str().unwrap(),
        bpffs.join("p").to_str().unwrap(),
        "type",
        "socket",
    ]));
    sh(&format!("umount {}", bpffs.display()));
    let benign = [
        ("the installed /usr/sbin/bpftool", real),
        (
            "a root-owned copy installed in /usr/lib",
            run(&mut Command::new(&installed)),
        ),
    ];
    let attacks = [
        (
            "a copy named bpftool, owned by nobody, in /tmp",
            run(&mut Command::new(&renamed)),
        ),
        (
            "a root-owned copy at /tmp/…/target/x/deps/a-b",
            run(&mut Command::new(&deps)),
        ),
        (
            "a group-writable copy named bpftool in /usr/lib",
            run(&mut Command::new(&group_writable)),
        ),
        (
            "the installed copy with LD_PRELOAD",
            run(Command::new(&installed).env("LD_PRELOAD", "libm.so.6")),
        ),
    ];
    verdict(&m, "bpf_program_loaded_unexpected", &attacks, &benign);
}

/// `cat` copied as `sudo` (an authentication program the rule spares) reads /etc/shadow: reported. The
/// installed passwd reading it (`passwd -S`) is not; the installed chage with an injected library is.
#[test]
fn a_copy_named_like_an_auth_program_reading_shadow_is_reported() {
    rampart_testkit::require!(
        root,
        "the evasion suite loads eBPF programs and changes the host"
    );
    let m = monitor();
    let tmp = temp_dir();
    let sudo = tmp.path().join("sudo");
    copy_to(Path::new("/usr/bin/cat"), &sudo, 0o755);
    let benign = [(
        "the installed passwd -S",
        run(Command::new("/usr/bin/passwd").args(["-S", "root"])),
    )];
    let attacks = [
        (
            "cat copied as sudo",
            run(Command::new(&sudo).arg("/etc/shadow")),
        ),
        (
            "the installed chage with LD_PRELOAD",
            run(Command::new("/usr/bin/chage")
                .args(["-l", "root"])
                .env("LD_PRELOAD", "libm.so.6")),
        ),
    ];
    verdict(&m, "shadow_file_read", &attacks, &benign);
}

/// bash copied as `dpkg` runs `tee` into /etc/cron.d: the package-manager exemption (an ancestor named dpkg)
/// no longer applies. apt installing a package that ships a cron file is not reported.
#[test]
fn a_shell_named_like_the_package_manager_writing_cron_is_reported() {
    rampart_testkit::require!(
        root,
        "the evasion suite loads eBPF programs and changes the host"
    );
    let m = monitor();
    let id = std::process::id();
    let tmp = temp_dir();
    let pkg = format!("rampart-evasion-{id}");
    let cron_by_attack = format!("/etc/cron.d/rampart-evasion-attack-{id}");
    let cron_by_package = format!("/etc/cron.d/{pkg}");
    let _cleanup = Cleanup(vec![
        PathBuf::from(&cron_by_attack),
        PathBuf::from(&cron_by_package),
    ]);
    let dpkg = tmp.path().join("dpkg");
    copy_to(Path::new("/usr/bin/bash"), &dpkg, 0o755);

    sh(&format!(
        "set -e; cd {d}; mkdir -p p/DEBIAN p/etc/cron.d
        printf 'Package: {pkg}\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: Rampart <dev@rampart.invalid>\\nDescription: evasion suite probe\\n' > p/DEBIAN/control
        echo '# nothing' > p/etc/cron.d/{pkg}
        dpkg-deb -b p {pkg}.deb > /dev/null",
        d = tmp.path().display()
    ));
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.args(["-y", "-q", "-o", "DPkg::Lock::Timeout=120"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    let deb = tmp.path().join(format!("{pkg}.deb"));
    let benign = [(
        "apt installing a package that ships a cron file",
        run(apt(&["install", deb.to_str().unwrap()]).current_dir(tmp.path())),
    )];
    run(&mut apt(&["purge", &pkg]));
    let attacks = [(
        "bash copied as dpkg, tee writing /etc/cron.d",
        run(Command::new(&dpkg).args([
            "-c",
            &format!("echo '# x' | tee {cron_by_attack} > /dev/null; true"),
        ])),
    )];
    verdict(&m, "cron_job_modified", &attacks, &benign);
}

/// In a container, a BPF loader written to /usr/sbin/bpftool (root-owned, mode 0755, a system directory: the
/// container's upper layer) is not the installed bpftool.
#[test]
fn a_program_written_inside_a_container_is_not_installed() {
    rampart_testkit::require!(
        podman,
        "the evasion suite loads eBPF programs and changes the host"
    );
    let m = monitor();
    let tmp = temp_dir();
    build_loader(tmp.path(), "-static");
    let podman = Podman::new().unwrap();
    let image = podman.ensure_busybox_image().unwrap();
    let ctr = podman
        .run_container(
            &ContainerSpec::new(
                image,
                &[
                    "sh",
                    "-c",
                    "mkdir -p /usr/sbin && cp /x/loader /usr/sbin/bpftool && /usr/sbin/bpftool && sleep 30",
                ],
            )
            .arg("--privileged")
            .arg("-v")
            .arg(&format!("{}:/x:ro", tmp.path().display())),
        )
        .unwrap();
    let cid = ctr.id().to_string();
    let hit = m.wait_for(WAIT, |v| {
        v["rule"]["id"] == "bpf_program_loaded_unexpected" && v["container"]["id"] == cid.as_str()
    });
    let hit = hit.unwrap_or_else(|| {
        panic!(
            "no bpf_program_loaded_unexpected match from the container; monitor stderr:\n{}",
            m.stderr()
        )
    });
    assert_eq!(hit["process"]["file"]["path"], "/usr/sbin/bpftool", "{hit}");
    assert_eq!(hit["process"]["file"]["in_upper_layer"], true, "{hit}");
}
