//! The Debian package: built with cargo-deb from this build's binary (`--no-build`: the suite already
//! built it, and a release build would cost CI a quarter of an hour), installed into a clean Debian
//! bookworm container, then upgraded to a newer revision. Asserts the binary runs, the rampart user and
//! the data directories exist with their owners and modes, the conffiles are in place, and the upgrade
//! keeps the data and an edited setting.

use std::path::{Path, PathBuf};
use std::process::Command;

use rampart_testkit::Podman;

use super::{repo, run};

/// `cargo deb` for this build's binary, revision `revision`, into `out`; returns the .deb's path.
fn build_deb(out: &Path, revision: &str) -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_rampart"));
    // cargo-deb takes `target/release/rampart` from the profile's directory: name the test's.
    let profile_dir = bin.parent().unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let profile = profile_dir.file_name().unwrap().to_str().unwrap();
    let cargo_profile = if profile == "debug" { "dev" } else { profile };
    let deb = out.join(format!("rampart-{revision}.deb"));
    run(Command::new(env!("CARGO"))
        .current_dir(repo())
        .args(["deb", "-p", "rampart", "--no-build", "--strip", "--fast"])
        .args(["--profile", cargo_profile])
        .args(["--deb-revision", revision])
        .env("CARGO_TARGET_DIR", target_dir)
        .arg("--output")
        .arg(&deb));
    deb
}

#[test]
fn the_deb_installs_into_a_clean_debian_and_upgrades_in_place_keeping_data() {
    rampart_testkit::require!(debian_packaging, "installs the .deb in a Debian container");
    let work = tempfile::tempdir().unwrap();
    let first = build_deb(work.path(), "1");
    let second = build_deb(work.path(), "2");
    let podman = Podman::new().unwrap();
    let image = podman.ensure_debian_image().unwrap();
    let name = format!("rampart-test-{}-deb", std::process::id());
    let _ = podman.run(&["rm", "-f", "-t", "0", &name]);
    let mount = format!("{}:/debs:ro", work.path().display());
    podman
        .run(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "-v",
            &mount,
            image,
            "sleep",
            "infinity",
        ])
        .unwrap();
    struct Remove<'a>(&'a Podman, &'a str);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["rm", "-f", "-t", "0", self.1]);
        }
    }
    let _remove = Remove(&podman, &name);
    let sh = |script: &str| -> String {
        podman
            .run(&["exec", &name, "sh", "-ec", script])
            .unwrap_or_else(|e| panic!("in the Debian container: {script}: {e:#}"))
    };
    let deb = |p: &Path| format!("/debs/{}", p.file_name().unwrap().to_string_lossy());

    // A clean system: no rampart user, no /var/lib/rampart.
    assert_eq!(sh("getent passwd rampart || echo none"), "none");
    sh(&format!("dpkg -i {}", deb(&first)));
    assert_eq!(
        sh("rampart --version"),
        format!("rampart {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        sh("dpkg-query -W -f '${Version}' rampart"),
        format!("{}-1", env!("CARGO_PKG_VERSION"))
    );
    let user = sh("getent passwd rampart");
    assert!(
        user.contains(":/var/lib/rampart/server:/usr/sbin/nologin"),
        "{user}"
    );
    let uid: u32 = user.split(':').nth(2).unwrap().parse().unwrap();
    assert!(uid < 1000, "a system user: {user}");
    let modes = sh(
        "stat -c '%n %U:%G %a' /var/lib/rampart /var/lib/rampart/server /var/lib/rampart/agent \
         /var/lib/rampart/up /etc/rampart/agent.yaml /etc/rampart/server.yaml /usr/bin/rampart",
    );
    assert_eq!(
        modes,
        "/var/lib/rampart root:root 755\n\
         /var/lib/rampart/server rampart:rampart 700\n\
         /var/lib/rampart/agent root:root 700\n\
         /var/lib/rampart/up root:root 700\n\
         /etc/rampart/agent.yaml root:root 644\n\
         /etc/rampart/server.yaml root:rampart 640\n\
         /usr/bin/rampart root:root 755"
    );
    let units = sh("ls /lib/systemd/system/ | grep rampart");
    assert_eq!(
        units,
        "rampart-agent.service\nrampart-server.service\nrampart-up.service"
    );
    let conffiles = sh("cat /var/lib/dpkg/info/rampart.conffiles");
    assert!(conffiles.contains("/etc/rampart/agent.yaml"), "{conffiles}");
    assert!(
        conffiles.contains("/etc/rampart/server.yaml"),
        "{conffiles}"
    );
    // The packaged settings are ones the server and agent accept (unknown keys would be refused).
    sh("rampart server --config /etc/rampart/server.yaml --help >/dev/null");

    // Data and an edited setting, then the upgrade.
    sh("echo keep > /var/lib/rampart/server/kept && chown rampart:rampart /var/lib/rampart/server/kept");
    sh("echo spooled > /var/lib/rampart/agent/batch-1");
    sh("sed -i 's/^listen: .*/listen: 0.0.0.0:7878/' /etc/rampart/server.yaml");
    sh(&format!("dpkg -i --force-confold {}", deb(&second)));
    assert_eq!(
        sh("dpkg-query -W -f '${Version}' rampart"),
        format!("{}-2", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(sh("cat /var/lib/rampart/server/kept"), "keep");
    assert_eq!(sh("stat -c '%U' /var/lib/rampart/server/kept"), "rampart");
    assert_eq!(sh("cat /var/lib/rampart/agent/batch-1"), "spooled");
    assert!(sh("cat /etc/rampart/server.yaml").contains("listen: 0.0.0.0:7878"));
    assert_eq!(sh("getent passwd rampart"), user, "the same user");
    assert_eq!(
        sh("stat -c '%U:%G %a' /var/lib/rampart/server"),
        "rampart:rampart 700"
    );
    // The packaged server, as the rampart user, with the packaged settings, starts and stores its data.
    sh("cd / && setpriv --reuid rampart --regid rampart --init-groups \
        rampart server --config /etc/rampart/server.yaml --listen 127.0.0.1:7979 > /tmp/server.log 2>&1 & \
        for i in $(seq 1 100); do grep -q 'Rampart is up' /tmp/server.log && break; sleep 0.2; done; \
        cat /tmp/server.log; kill $!");
    let files = sh("ls /var/lib/rampart/server");
    assert!(
        files.contains("secrets.key") && files.contains("rampart.db"),
        "{files}"
    );
}
