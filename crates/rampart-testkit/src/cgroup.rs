//! Processes placed where a test wants them: a fresh cgroup v2 directory (removed on drop) and a hook that
//! moves a command's child into it, then drops to another user, before it execs.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// A cgroup v2 directory made for a test.
pub struct TestCgroup {
    dir: PathBuf,
    /// Its path from the hierarchy's root, as the kernel and /proc/PID/cgroup write it (`/name`).
    pub path: String,
}

impl TestCgroup {
    /// Makes `root/name`; `root` is the cgroup v2 mount (e.g. `rampart_probe::kernel::attach::cgroup2_root()`).
    pub fn new(root: &Path, name: &str) -> Result<TestCgroup> {
        let dir = root.join(name);
        std::fs::create_dir(&dir).with_context(|| format!("creating cgroup {}", dir.display()))?;
        Ok(TestCgroup {
            dir,
            path: format!("/{name}"),
        })
    }

    /// The cgroup id (the directory's inode on cgroup v2).
    pub fn id(&self) -> u64 {
        std::fs::metadata(&self.dir).map_or(0, |m| m.ino())
    }

    /// Makes `cmd`'s child join this cgroup and, when `user` is given, switch to that uid and gid (with no
    /// supplementary groups) before it execs: `Command::uid` would drop root before the move.
    pub fn run_in(&self, cmd: &mut Command, user: Option<u32>) {
        let procs =
            std::ffi::CString::new(self.dir.join("cgroup.procs").as_os_str().as_encoded_bytes())
                .expect("a cgroup path has no NUL");
        // SAFETY: the hook calls only async-signal-safe functions, on data prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(id) = user {
                    if libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setgid(id) != 0
                        || libc::setuid(id) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // a cgroup directory goes with rmdir once its processes have exited
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(&self.dir).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
