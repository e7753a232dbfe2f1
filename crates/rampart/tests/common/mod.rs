//! Shared by the end-to-end tests that run the real `rampart server` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Child;

use rampart_testkit::rampart_process::{admin_token, Launch, RampartProcess};

/// A child process stopped with SIGTERM (and waited for) on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// A `rampart server` on a loopback port with its own data directory, signed in as the admin.
pub struct Server {
    _proc: RampartProcess,
    pub url: String,
    pub token: String,
    pub data: PathBuf,
}

/// Starts `rampart server` (plus `extra` flags) with its data under `dir/server`, waits for its URL and the
/// admin password it prints on the first run, and signs in.
pub fn start_server(dir: &Path, extra: &[&str]) -> Server {
    let data = dir.join("server");
    let proc = Launch::server(env!("CARGO_BIN_EXE_rampart"))
        .args(extra)
        .data_dir(&data)
        .start();
    let url = proc.url().expect("the server prints its URL").to_owned();
    let token = admin_token(
        &url,
        proc.admin_password()
            .expect("the first run prints the admin password"),
    );
    Server {
        _proc: proc,
        url,
        token,
        data,
    }
}
